//! What `apply` changes: the top-level members of a file that the stored pipeline does not
//! already hold.
//!
//! The server stores a definition with its defaults filled in (a parse stage gains `field` and
//! `onFailure`, `flush` its server values), so a file is compared as a subset: a member the file
//! leaves out is left as stored, and a member it gives must match what is stored.

use serde_json::Value;

/// Members added by the server, never part of a definition file.
const SERVER_MEMBERS: [&str; 7] = [
    "id",
    "stateReason",
    "version",
    "createdBy",
    "createdAt",
    "updatedAt",
    "pipelineId",
];

/// True when every member `file` gives is in `stored` with the same value.
pub fn contained(file: &Value, stored: &Value) -> bool {
    match (file, stored) {
        (Value::Object(f), Value::Object(s)) => f
            .iter()
            .all(|(k, v)| s.get(k).is_some_and(|sv| contained(v, sv))),
        (Value::Array(f), Value::Array(s)) => {
            f.len() == s.len() && f.iter().zip(s).all(|(a, b)| contained(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// The top-level members of `file` that differ from `stored`, by name.
pub fn changed(file: &Value, stored: &Value) -> Vec<String> {
    let Some(members) = file.as_object() else {
        return Vec::new();
    };
    members
        .iter()
        .filter(|(k, _)| !SERVER_MEMBERS.contains(&k.as_str()))
        .filter(|(k, v)| !stored.get(k.as_str()).is_some_and(|s| contained(v, s)))
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_filled_in_by_the_server_are_no_change() {
        let file = json!({"name": "a", "stages": [{"type": "parse", "formats": ["json"]}],
                          "topics": {"partitions": 1}});
        let stored = json!({"name": "a", "id": "x", "version": 3,
            "stages": [{"type": "parse", "field": "log_message", "formats": ["json"], "onFailure": "unknown"}],
            "topics": {"partitions": 1, "replicationFactor": 1, "input": "p.a.input"},
            "flush": {"maxItems": 10}});
        assert!(changed(&file, &stored).is_empty());
    }

    #[test]
    fn a_changed_or_new_member_is_named() {
        let stored = json!({"name": "a", "description": "old", "stages": [{"type": "hash"}]});
        let file = json!({"name": "a", "description": "new", "stages": [{"type": "hash"}, {"type": "hash"}],
                          "output": {"enabled": false}});
        assert_eq!(
            changed(&file, &stored),
            vec!["description", "output", "stages"]
        );
    }
}
