//! Reading a `_bulk` response item by item (DESIGN §4.6), as pure logic.
//!
//! | per-item outcome | action |
//! |---|---|
//! | 2xx; 409 on `create` | done |
//! | 429, 5xx, `rejected_execution_exception` (`es_rejected_execution_exception` on older servers) | retry only these items |
//! | 400, 404 | dead-letter with the OpenSearch error |
//! | 401/403 (and 408) | retry: credentials and outages are not bad data |
//!
//! Whole-request failures (connection errors, timeouts, a non-2xx status of the request itself, a
//! body that is not a bulk response) are never dead-lettered: the whole batch is retried.

use serde::Deserialize;

/// What to do with one bulk item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Indexed (or already there).
    Done,
    /// Transient: send this item again after a backoff.
    Retry {
        /// HTTP status of the item.
        status: u16,
        /// The OpenSearch error, as JSON text.
        reason: String,
    },
    /// The document itself is bad: dead-letter it with the OpenSearch error.
    DeadLetter {
        /// HTTP status of the item.
        status: u16,
        /// The OpenSearch error, as JSON text.
        reason: String,
    },
}

/// Why a whole bulk request must be retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestFailure {
    /// The request did not get an HTTP response: connection refused or reset, timeout.
    #[error("bulk request failed: {0}")]
    Transport(String),
    /// The request got a non-2xx status (401, 403, 413, 429, 5xx…).
    #[error("bulk request answered HTTP {status}: {body}")]
    Status {
        /// The status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// A 2xx response whose body is not a bulk response for this request.
    #[error("bulk response unreadable: {0}")]
    Malformed(String),
}

#[derive(Deserialize)]
struct BulkResponse {
    // `errors` is not read: the per-item statuses are the truth either way.
    items: Vec<BulkItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum BulkItem {
    Index(ItemResult),
    Create(ItemResult),
    Update(ItemResult),
    Delete(ItemResult),
}

#[derive(Deserialize)]
struct ItemResult {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Classifies the response to a bulk request of `expected` items, in request order.
pub fn classify_response(
    http_status: u16,
    body: &[u8],
    expected: usize,
) -> Result<Vec<ItemOutcome>, RequestFailure> {
    if !(200..300).contains(&http_status) {
        let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
        return Err(RequestFailure::Status {
            status: http_status,
            body: text,
        });
    }
    if all_succeeded(body, expected) {
        return Ok(vec![ItemOutcome::Done; expected]);
    }
    let response: BulkResponse =
        serde_json::from_slice(body).map_err(|e| RequestFailure::Malformed(e.to_string()))?;
    if response.items.len() != expected {
        return Err(RequestFailure::Malformed(format!(
            "{} items answered for {expected} sent",
            response.items.len()
        )));
    }
    Ok(response.items.into_iter().map(classify_item).collect())
}

/// Whether the response says, in the compact form OpenSearch writes, that every one of the
/// `expected` items succeeded: `"errors":false` at the top, exactly `expected` item statuses,
/// each 2xx, and the body closes its items array and itself (a body cut short must never pass
/// for a success). Anything else (an error, another count, other spacing) goes through the full
/// item-by-item reading, so this only skips parsing the common all-success response.
fn all_succeeded(body: &[u8], expected: usize) -> bool {
    if !body.trim_ascii_end().ends_with(b"}]}") {
        return false;
    }
    let head = &body[..body.len().min(256)];
    if memchr::memmem::find(head, b"\"errors\":false").is_none() {
        return false;
    }
    let mut statuses = 0;
    for at in memchr::memmem::find_iter(body, b"\"status\":") {
        if body.get(at + 9) != Some(&b'2') {
            return false;
        }
        statuses += 1;
    }
    statuses == expected
}

fn classify_item(item: BulkItem) -> ItemOutcome {
    let (is_create, result) = match item {
        BulkItem::Create(r) => (true, r),
        BulkItem::Index(r) | BulkItem::Update(r) | BulkItem::Delete(r) => (false, r),
    };
    classify_status(result.status, is_create, result.error.as_ref())
}

/// The outcome for one item's status, operation and error object.
pub fn classify_status(
    status: u16,
    is_create: bool,
    error: Option<&serde_json::Value>,
) -> ItemOutcome {
    let reason = || match error {
        Some(e) => e.to_string(),
        None => format!("HTTP {status}"),
    };
    let rejected = error
        .and_then(|e| e.get("type"))
        .and_then(|t| t.as_str())
        .is_some_and(|t| {
            t == "rejected_execution_exception" || t == "es_rejected_execution_exception"
        });
    match status {
        _ if rejected => ItemOutcome::Retry {
            status,
            reason: reason(),
        },
        200..=299 => ItemOutcome::Done,
        409 if is_create => ItemOutcome::Done,
        401 | 403 | 408 | 429 | 500..=599 => ItemOutcome::Retry {
            status,
            reason: reason(),
        },
        // 400 (mapper_parsing_exception…), 404 (index missing and not auto-created) and any other
        // client error are about this document: it cannot succeed by retrying.
        _ => ItemOutcome::DeadLetter {
            status,
            reason: reason(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(body: &str, expected: usize) -> Result<Vec<ItemOutcome>, RequestFailure> {
        classify_response(200, body.as_bytes(), expected)
    }

    #[test]
    fn all_success() {
        let body = r#"{"took":3,"errors":false,"items":[
            {"index":{"_index":"a","_id":"1","status":201,"result":"created"}},
            {"index":{"_index":"a","_id":"2","status":200,"result":"updated"}}]}"#;
        assert_eq!(
            classify(body, 2).unwrap(),
            vec![ItemOutcome::Done, ItemOutcome::Done]
        );
    }

    #[test]
    fn an_all_success_response_is_read_without_parsing_only_when_it_says_so() {
        let ok = r#"{"took":3,"errors":false,"items":[{"index":{"_id":"1","status":201}},{"index":{"_id":"2","status":200}}]}"#;
        assert!(all_succeeded(ok.as_bytes(), 2));
        assert!(!all_succeeded(ok.as_bytes(), 3), "count must match");
        let lying = r#"{"took":3,"errors":false,"items":[{"index":{"_id":"1","status":201}},{"index":{"_id":"2","status":400,"error":{"type":"mapper_parsing_exception"}}}]}"#;
        assert!(!all_succeeded(lying.as_bytes(), 2));
        match &classify(lying, 2).unwrap()[1] {
            ItemOutcome::DeadLetter { status: 400, .. } => {}
            other => panic!("{other:?}"),
        }
        let errors = ok.replace("\"errors\":false", "\"errors\":true");
        assert!(!all_succeeded(errors.as_bytes(), 2));
        let spaced = ok.replace("\"status\":", "\"status\": ");
        assert!(!all_succeeded(spaced.as_bytes(), 2));
        assert_eq!(
            classify(&spaced, 2).unwrap(),
            vec![ItemOutcome::Done, ItemOutcome::Done],
            "the full reading still accepts it"
        );
    }

    #[test]
    fn a_body_cut_short_is_never_taken_for_a_success() {
        let whole = r#"{"took":1,"errors":false,"items":[{"index":{"_id":"1","status":201}},{"index":{"_id":"2","status":201}}]}"#;
        assert!(all_succeeded(whole.as_bytes(), 2));
        for cut in [whole.len() - 1, whole.len() - 3, whole.len() - 12] {
            let short = &whole.as_bytes()[..cut];
            assert!(!all_succeeded(short, 2), "cut at {cut}");
            assert!(
                classify(std::str::from_utf8(short).unwrap(), 2).is_err(),
                "the full reading refuses it too (cut at {cut})"
            );
        }
    }

    #[test]
    fn mixed_items_are_classified_one_by_one() {
        let body = r#"{"took":3,"errors":true,"items":[
            {"index":{"_id":"ok","status":201}},
            {"create":{"_id":"dup","status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
            {"index":{"_id":"busy","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"index":{"_id":"down","status":503,"error":{"type":"unavailable_shards_exception","reason":"no shard"}}},
            {"index":{"_id":"bad","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [a]"}}},
            {"index":{"_id":"gone","status":404,"error":{"type":"index_not_found_exception","reason":"no such index"}}},
            {"index":{"_id":"rej","status":400,"error":{"type":"es_rejected_execution_exception","reason":"rejected"}}},
            {"index":{"_id":"auth","status":403,"error":{"type":"security_exception","reason":"no permission"}}},
            {"index":{"_id":"conflict","status":409,"error":{"type":"version_conflict_engine_exception","reason":"v"}}},
            {"index":{"_id":"os-rej","status":400,"error":{"type":"rejected_execution_exception","reason":"rejected"}}}
        ]}"#;
        let outcomes = classify(body, 10).unwrap();
        assert_eq!(outcomes[0], ItemOutcome::Done);
        assert_eq!(
            outcomes[1],
            ItemOutcome::Done,
            "409 on create: already there"
        );
        assert!(matches!(
            outcomes[2],
            ItemOutcome::Retry { status: 429, .. }
        ));
        assert!(matches!(
            outcomes[3],
            ItemOutcome::Retry { status: 503, .. }
        ));
        match &outcomes[4] {
            ItemOutcome::DeadLetter { status, reason } => {
                assert_eq!(*status, 400);
                assert!(reason.contains("mapper_parsing_exception"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            outcomes[5],
            ItemOutcome::DeadLetter { status: 404, .. }
        ));
        assert!(
            matches!(outcomes[6], ItemOutcome::Retry { status: 400, .. }),
            "es_rejected_execution_exception is retried whatever the status"
        );
        assert!(matches!(
            outcomes[7],
            ItemOutcome::Retry { status: 403, .. }
        ));
        assert!(
            matches!(outcomes[9], ItemOutcome::Retry { status: 400, .. }),
            "OpenSearch's name for a rejection is retried whatever the status"
        );
        assert!(
            matches!(outcomes[8], ItemOutcome::DeadLetter { status: 409, .. }),
            "409 on index is not the create-exists case"
        );
    }

    #[test]
    fn whole_request_statuses_retry_the_batch() {
        for status in [401, 403, 413, 429, 500, 502, 503] {
            let err = classify_response(status, b"{\"error\":\"x\"}", 1).unwrap_err();
            assert!(
                matches!(err, RequestFailure::Status { status: s, .. } if s == status),
                "{err:?}"
            );
        }
    }

    #[test]
    fn unreadable_or_mismatched_responses_retry_the_batch() {
        assert!(matches!(
            classify("<html>gateway</html>", 1),
            Err(RequestFailure::Malformed(_))
        ));
        let one = r#"{"errors":false,"items":[{"index":{"status":201}}]}"#;
        assert!(matches!(
            classify(one, 2),
            Err(RequestFailure::Malformed(_))
        ));
    }
}
