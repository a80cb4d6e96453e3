//! Retrying a batch until every item is done or dead-lettered, with exponential backoff and
//! jitter, resending only what is retryable.

use super::buffer::Batch;
use super::classify::{classify_response, ItemOutcome, RequestFailure};
use super::credentials::{self, CredentialAlarm};
use super::request::body_for;
use super::service::BulkService;
use crate::metrics::BulkMetrics;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Backoff between attempts and when to give up.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Delay after the first failure.
    pub initial_backoff: Duration,
    /// Upper bound of the delay.
    pub max_backoff: Duration,
    /// Consecutive failed requests after which the task gives up (`server.failureThreshold`).
    pub failure_threshold: u32,
}

impl RetryPolicy {
    /// The delay after the `failures`-th consecutive failure (1-based): doubling from
    /// `initial_backoff`, capped, with "equal jitter" (half fixed, half random) so that many
    /// workers hitting one overloaded cluster do not retry in lock step.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        let full = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// How a flush ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlushEnd {
    /// Every item is done or dead-lettered.
    Complete,
    /// `failure_threshold` consecutive requests failed; the reason names the last failure.
    GaveUp(String),
    /// Shutdown interrupted the retries; undone items stay uncommitted.
    Interrupted,
}

/// The result of flushing one batch.
#[derive(Debug)]
pub struct FlushReport {
    /// Per item, in batch order: `Done`, `DeadLetter`, or `Retry` when the flush did not complete.
    pub outcomes: Vec<ItemOutcome>,
    /// How it ended.
    pub end: FlushEnd,
    /// Consecutive failed requests at the end (0 after a fully successful request).
    pub consecutive_failures: u32,
}

/// Sends `batch` until every item is settled, the threshold is hit, or `cancel` fires.
/// `consecutive_failures` carries the count over from the previous flush.
pub async fn flush(
    batch: &Batch,
    service: &BulkService,
    policy: &RetryPolicy,
    mut consecutive_failures: u32,
    metrics: &BulkMetrics,
    alarm: &CredentialAlarm,
    cancel: &CancellationToken,
) -> FlushReport {
    let mut outcomes = vec![
        ItemOutcome::Retry {
            status: 0,
            reason: String::from("not sent"),
        };
        batch.len()
    ];
    let mut pending: Vec<usize> = (0..batch.len()).collect();
    loop {
        let report = |outcomes, end, consecutive_failures| FlushReport {
            outcomes,
            end,
            consecutive_failures,
        };
        let Some(result) = send(batch, &pending, service, metrics, cancel).await else {
            return report(outcomes, FlushEnd::Interrupted, consecutive_failures);
        };
        let failed = match result {
            Ok(items) => match settle(&pending, items, &mut outcomes, service.credential()) {
                Settled::All => {
                    alarm.clear();
                    metrics.request("success");
                    return report(outcomes, FlushEnd::Complete, 0);
                }
                Settled::Some { retry, failed } => {
                    metrics.request("partial");
                    pending = retry;
                    failed
                }
            },
            Err(failure) => {
                metrics.request("failed");
                Failed::request(&failure, service.credential())
            }
        };
        consecutive_failures = consecutive_failures.saturating_add(1);
        // A credential failure never gives up: giving up would restart the task into the same
        // refusal, while waiting keeps the batch (and the offsets behind it) until an operator
        // restores the credential or role.
        let credential = failed.credential.is_some();
        if let Some(reason) = failed.credential {
            alarm.raise(reason);
        }
        if !credential && consecutive_failures >= policy.failure_threshold {
            let reason = format!(
                "{consecutive_failures} consecutive failed bulk requests; last: {}",
                failed.message
            );
            return report(outcomes, FlushEnd::GaveUp(reason), consecutive_failures);
        }
        let delay = policy.backoff(consecutive_failures);
        tracing::warn!(
            attempt = consecutive_failures,
            delay_ms = delay.as_millis() as u64,
            error = %failed.message,
            "bulk request failed, retrying"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = cancel.cancelled() => {
                return report(outcomes, FlushEnd::Interrupted, consecutive_failures);
            }
        }
    }
}

/// Sends the `pending` items of `batch` once: their outcomes in `pending` order, the request's
/// failure, or `None` when `cancel` fired first.
async fn send(
    batch: &Batch,
    pending: &[usize],
    service: &BulkService,
    metrics: &BulkMetrics,
    cancel: &CancellationToken,
) -> Option<Result<Vec<ItemOutcome>, RequestFailure>> {
    let body = body_for(batch, pending);
    metrics.bytes(body.len());
    let started = Instant::now();
    let response = tokio::select! {
        response = service.send(body) => response,
        () = cancel.cancelled() => return None,
    };
    let result = response.and_then(|r| classify_response(r.status, &r.body, pending.len()));
    metrics.duration(started.elapsed());
    Some(result)
}

/// What went wrong with an attempt: for the log and the give-up reason, and the credential
/// refusal behind it, if that is the whole story.
struct Failed {
    message: String,
    credential: Option<String>,
}

impl Failed {
    /// A request that failed as a whole.
    fn request(failure: &RequestFailure, credential: &str) -> Failed {
        let refused = match failure {
            RequestFailure::Status { status, body } => {
                credentials::credential_failure(*status, body, credential)
            }
            _ => None,
        };
        Failed {
            message: failure.to_string(),
            credential: refused,
        }
    }
}

/// An answered request's items, recorded.
enum Settled {
    /// Every item is done or dead-lettered.
    All,
    /// `retry` (batch indexes) must be sent again.
    Some { retry: Vec<usize>, failed: Failed },
}

/// Records the answer `items` to the `pending` items in `outcomes`. The failure is a credential
/// refusal only when every retried item was refused its credential (401/403).
fn settle(
    pending: &[usize],
    items: Vec<ItemOutcome>,
    outcomes: &mut [ItemOutcome],
    credential: &str,
) -> Settled {
    let mut retry = Vec::new();
    let mut first_reason = None;
    let mut refused = None;
    let mut all_refused = true;
    for (&index, outcome) in pending.iter().zip(items) {
        if let ItemOutcome::Retry { status, reason } = &outcome {
            retry.push(index);
            first_reason.get_or_insert_with(|| format!("HTTP {status}: {reason}"));
            match credentials::credential_failure(*status, reason, credential) {
                Some(why) => {
                    refused.get_or_insert(why);
                }
                None => all_refused = false,
            }
        }
        outcomes[index] = outcome;
    }
    if retry.is_empty() {
        return Settled::All;
    }
    let message = format!(
        "{} of {} bulk items retryable, first: {}",
        retry.len(),
        pending.len(),
        first_reason.unwrap_or_default()
    );
    Settled::Some {
        retry,
        failed: Failed {
            message,
            credential: refused.filter(|_| all_refused),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(status: u16, reason: &str) -> ItemOutcome {
        ItemOutcome::Retry {
            status,
            reason: reason.to_owned(),
        }
    }

    /// The answer's items land at their batch indexes; only the retryable ones are sent again,
    /// and a refused credential is the cause only when every retried item was refused.
    #[test]
    fn settling_records_outcomes_and_names_a_credential_refusal_only_when_it_is_all() {
        let mut outcomes = vec![retry(0, "not sent"); 4];
        let refused = retry(403, "no permissions for [indices:data/write/bulk[s]]");
        let Settled::Some {
            retry: again,
            failed,
        } = settle(
            &[1, 2, 3],
            vec![ItemOutcome::Done, refused.clone(), refused.clone()],
            &mut outcomes,
            "opensearch.username `flow_worker`",
        )
        else {
            panic!("two items are retryable")
        };
        assert_eq!(again, [2, 3]);
        assert_eq!(outcomes[1], ItemOutcome::Done);
        assert_eq!(outcomes[2], refused);
        assert!(failed
            .message
            .starts_with("2 of 3 bulk items retryable, first: HTTP 403"));
        assert!(failed.credential.unwrap().contains("flow_worker"));

        let Settled::Some { failed, .. } = settle(
            &[2, 3],
            vec![refused, retry(429, "too many requests")],
            &mut outcomes,
            "x",
        ) else {
            panic!("both items are retryable")
        };
        assert_eq!(failed.credential, None, "a 429 is not a credential problem");

        let all = settle(&[2, 3], vec![ItemOutcome::Done; 2], &mut outcomes, "x");
        assert!(matches!(all, Settled::All));
        assert_eq!(
            outcomes[0],
            retry(0, "not sent"),
            "not pending, not touched"
        );
        assert!(outcomes[1..].iter().all(|o| *o == ItemOutcome::Done));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            failure_threshold: 10,
        };
        for _ in 0..100 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.backoff(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = policy.backoff(30);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        }
    }
}
