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
        let body = body_for(batch, &pending);
        metrics.bytes(body.len());
        let started = Instant::now();
        let response = tokio::select! {
            response = service.send(body) => response,
            () = cancel.cancelled() => {
                return FlushReport { outcomes, end: FlushEnd::Interrupted, consecutive_failures };
            }
        };
        let result = response.and_then(|r| classify_response(r.status, &r.body, pending.len()));
        metrics.duration(started.elapsed());
        let (last_error, credential_failure) = match result {
            Ok(items) => {
                let mut retry = Vec::new();
                let mut first_reason = None;
                // Set while every retried item so far failed on a credential (401/403).
                let mut credential = None;
                let mut all_credential = true;
                for (&index, outcome) in pending.iter().zip(items) {
                    if let ItemOutcome::Retry { status, reason } = &outcome {
                        retry.push(index);
                        first_reason.get_or_insert_with(|| format!("HTTP {status}: {reason}"));
                        match credentials::credential_failure(*status, reason, service.credential())
                        {
                            Some(why) => {
                                credential.get_or_insert(why);
                            }
                            None => all_credential = false,
                        }
                    }
                    outcomes[index] = outcome;
                }
                if retry.is_empty() {
                    alarm.clear();
                    metrics.request("success");
                    return FlushReport {
                        outcomes,
                        end: FlushEnd::Complete,
                        consecutive_failures: 0,
                    };
                }
                metrics.request("partial");
                let message = format!(
                    "{} of {} bulk items retryable, first: {}",
                    retry.len(),
                    pending.len(),
                    first_reason.unwrap_or_default()
                );
                pending = retry;
                (message, credential.filter(|_| all_credential))
            }
            Err(failure) => {
                metrics.request("failed");
                let credential = match &failure {
                    RequestFailure::Status { status, body } => {
                        credentials::credential_failure(*status, body, service.credential())
                    }
                    _ => None,
                };
                (failure.to_string(), credential)
            }
        };
        consecutive_failures = consecutive_failures.saturating_add(1);
        // A credential failure never gives up: giving up would restart the task into the same
        // refusal, while waiting keeps the batch (and the offsets behind it) until an operator
        // restores the credential or role.
        let credential = credential_failure.is_some();
        if let Some(reason) = credential_failure {
            alarm.raise(reason);
        }
        if !credential && consecutive_failures >= policy.failure_threshold {
            let reason = format!(
                "{consecutive_failures} consecutive failed bulk requests; last: {last_error}"
            );
            return FlushReport {
                outcomes,
                end: FlushEnd::GaveUp(reason),
                consecutive_failures,
            };
        }
        let delay = policy.backoff(consecutive_failures);
        tracing::warn!(
            attempt = consecutive_failures,
            delay_ms = delay.as_millis() as u64,
            error = %last_error,
            "bulk request failed, retrying"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = cancel.cancelled() => {
                return FlushReport { outcomes, end: FlushEnd::Interrupted, consecutive_failures };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
