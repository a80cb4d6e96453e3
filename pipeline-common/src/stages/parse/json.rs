//! The `json` format: a line holding one JSON object, whose fields become `parsed`.

use super::{s, Parsed, TIME_KEYS};
use crate::event::exceeds_depth;
use crate::time::parse_log_time;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

fn time_of(m: &Map<String, Value>) -> Option<DateTime<Utc>> {
    TIME_KEYS
        .iter()
        .find_map(|k| m.get(*k).and_then(Value::as_str).and_then(parse_log_time))
}

/// One JSON object line, nested at most `max_depth` deep; `None` otherwise.
pub(super) fn parse(line: &str, max_depth: usize) -> Option<Parsed> {
    let t = line.trim();
    if !(t.starts_with('{') && t.ends_with('}')) || exceeds_depth(t.as_bytes(), max_depth) {
        return None;
    }
    let mut m: Map<String, Value> = serde_json::from_str(t).ok()?;
    m.insert("format".into(), s("json"));
    let time = time_of(&m);
    Some((m, time))
}
