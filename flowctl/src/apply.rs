//! What `apply` changes: the top-level members in which the file's definition, as the server
//! would store it, differs from the stored one.
//!
//! The server stores a definition with its defaults filled in (a parse stage gains `field` and
//! `onFailure`, `flush` its server values), so the file is first sent to `POST /api/v1/dry-run`,
//! which answers with that canonical form. The two whole definitions are then compared: a member,
//! stage or map entry removed from the file is a change, as one added or edited is.

use serde_json::{Map, Value};

/// Members the server adds to a stored pipeline, never part of a definition.
const SERVER_MEMBERS: [&str; 7] = [
    "id",
    "stateReason",
    "version",
    "createdBy",
    "createdAt",
    "updatedAt",
    "pipelineId",
];

/// Members of `topics` the server adds (the topic names).
const TOPIC_NAMES: [&str; 3] = ["input", "output", "error"];

/// The definition part of a pipeline: no server members, no topic names, no `null` members, and
/// `state` only when `with_state` (a file without `state` leaves the desired state alone).
fn definition_part(pipeline: &Value, with_state: bool) -> Map<String, Value> {
    let mut out = match without_nulls(pipeline) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for member in SERVER_MEMBERS {
        out.remove(member);
    }
    if !with_state {
        out.remove("state");
    }
    if let Some(Value::Object(topics)) = out.get_mut("topics") {
        for name in TOPIC_NAMES {
            topics.remove(name);
        }
    }
    out
}

fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Equal as JSON values, numbers by value (`1` is `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (x, y) => x == y,
    }
}

/// The top-level members, by name, in which `canonical` (the file as the server would store it)
/// differs from `stored`; `with_state` when the file gives a `state`.
pub fn changed(canonical: &Value, stored: &Value, with_state: bool) -> Vec<String> {
    let file = definition_part(canonical, with_state);
    let stored = definition_part(stored, with_state);
    let mut names: Vec<&String> = file.keys().chain(stored.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|k| match (file.get(*k), stored.get(*k)) {
            (Some(a), Some(b)) => !same(a, b),
            _ => true,
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored() -> Value {
        json!({"name": "a", "id": "x", "version": 3, "state": "stopped", "stateReason": null,
            "stages": [{"type": "parse", "field": "log_message", "formats": ["json"], "onFailure": "unknown"},
                       {"type": "rename", "fields": {"a": "b", "c": "d"}}],
            "topics": {"partitions": 1, "replicationFactor": 1, "retentionMs": null, "input": "p.a.input",
                       "output": "p.a.output", "error": "p.a.error"},
            "flush": {"maxItems": 10}})
    }

    #[test]
    fn what_the_server_adds_is_no_change() {
        let canonical = json!({"name": "a", "state": "running",
            "stages": [{"type": "parse", "field": "log_message", "formats": ["json"], "onFailure": "unknown"},
                       {"type": "rename", "fields": {"a": "b", "c": "d"}}],
            "topics": {"partitions": 1, "replicationFactor": 1.0},
            "flush": {"maxItems": 10}});
        assert!(changed(&canonical, &stored(), false).is_empty());
        assert_eq!(changed(&canonical, &stored(), true), vec!["state"]);
    }

    #[test]
    fn a_removed_stage_map_entry_or_member_is_a_change() {
        let one_stage = json!({"name": "a",
            "stages": [{"type": "parse", "field": "log_message", "formats": ["json"], "onFailure": "unknown"}],
            "topics": {"partitions": 1, "replicationFactor": 1}, "flush": {"maxItems": 10}});
        assert_eq!(changed(&one_stage, &stored(), false), vec!["stages"]);
        let fewer_renames = json!({"name": "a",
            "stages": [{"type": "parse", "field": "log_message", "formats": ["json"], "onFailure": "unknown"},
                       {"type": "rename", "fields": {"a": "b"}}],
            "topics": {"partitions": 1, "replicationFactor": 1}, "flush": {"maxItems": 10}});
        assert_eq!(changed(&fewer_renames, &stored(), false), vec!["stages"]);
        let no_flush = json!({"name": "a", "description": "new",
            "stages": stored()["stages"].clone(), "topics": {"partitions": 1, "replicationFactor": 1}});
        assert_eq!(
            changed(&no_flush, &stored(), false),
            vec!["description", "flush"]
        );
    }
}
