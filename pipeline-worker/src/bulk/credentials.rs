//! OpenSearch turning the worker's credentials away (401) or lacking a privilege (403): an
//! operator's problem, not the events'. The batch is kept and retried with backoff for as long as
//! it takes (never dead-lettered, never given up on, so nothing is committed past it), and the
//! task's report says `degraded` with a reason naming the credential, until a request succeeds.

use crate::consumer::lock;
use std::sync::Mutex;

/// The current credential failure of one task, read by the heartbeat.
#[derive(Debug, Default)]
pub struct CredentialAlarm(Mutex<Option<String>>);

impl CredentialAlarm {
    fn set(&self, reason: Option<String>) {
        *lock(&self.0) = reason;
    }

    /// Records `reason` as the current failure.
    pub fn raise(&self, reason: String) {
        self.set(Some(reason));
    }

    /// A request went through: the credentials work again.
    pub fn clear(&self) {
        self.set(None);
    }

    /// The current failure, if any.
    pub fn reason(&self) -> Option<String> {
        lock(&self.0).clone()
    }
}

/// Longest part of OpenSearch's own explanation kept in the reason.
const DETAIL_CHARS: usize = 300;

/// The reason for a 401/403, naming `credential` (e.g. "opensearch.username `flow_worker`");
/// `None` for any other status. `detail` is OpenSearch's text, which names the user and the
/// missing privilege but never a password.
pub fn credential_failure(status: u16, detail: &str, credential: &str) -> Option<String> {
    let what = match status {
        401 => "rejected the credentials of",
        403 => "denied a privilege to",
        _ => return None,
    };
    let detail: String = detail.chars().take(DETAIL_CHARS).collect();
    Some(format!(
        "OpenSearch {what} {credential} (HTTP {status}: {detail}); \
         the events are kept and retried until it is fixed"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_401_and_403_are_credential_failures_and_the_reason_names_the_credential() {
        let reason = credential_failure(
            403,
            "no permissions for [indices:data/write/bulk[s]]",
            "opensearch.username `flow_worker`",
        )
        .unwrap();
        assert!(reason.contains("flow_worker"), "{reason}");
        assert!(reason.contains("HTTP 403"), "{reason}");
        assert!(credential_failure(401, "", "x")
            .unwrap()
            .contains("rejected"));
        assert_eq!(credential_failure(429, "", "x"), None);
        assert_eq!(credential_failure(503, "", "x"), None);
        let long = "y".repeat(10_000);
        assert!(credential_failure(403, &long, "x").unwrap().len() < 500);
    }

    #[test]
    fn the_alarm_holds_the_last_reason_until_cleared() {
        let alarm = CredentialAlarm::default();
        assert_eq!(alarm.reason(), None);
        alarm.raise("a".into());
        alarm.raise("b".into());
        assert_eq!(alarm.reason().as_deref(), Some("b"));
        alarm.clear();
        assert_eq!(alarm.reason(), None);
    }
}
