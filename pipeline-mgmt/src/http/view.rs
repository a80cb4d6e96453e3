//! The REST representation of a stored pipeline.

use axum::http::{header, HeaderMap, HeaderValue};
use chrono::SecondsFormat;
use pipeline_common::model::PipelineTopics;
use pipeline_common::store::pipelines::PipelineRow;
use serde_json::{Map, Value};

/// The definition plus what the server adds (DESIGN §2): `id`, topic names, `state`,
/// `stateReason`, `version`, `createdBy`, `createdAt`, `updatedAt`.
pub fn pipeline_json(row: &PipelineRow, topic_prefix: &str) -> Value {
    let mut body = match &row.definition {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let mut topics = match body.remove("topics") {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    topics.entry("retentionMs").or_insert(Value::Null);
    let names = PipelineTopics::new(topic_prefix, &row.name);
    topics.insert("input".into(), names.input.into());
    topics.insert("output".into(), names.output.into());
    topics.insert("error".into(), names.error.into());
    // Rows stored before `output` existed take its default.
    body.entry("output")
        .or_insert_with(|| serde_json::json!({"enabled": true}));
    body.insert("id".into(), row.id.hyphenated().to_string().into());
    body.insert("name".into(), row.name.as_str().into());
    body.insert("topics".into(), Value::Object(topics));
    body.insert("state".into(), row.state.as_str().into());
    body.insert(
        "stateReason".into(),
        row.state_reason.clone().map_or(Value::Null, Value::from),
    );
    body.insert("version".into(), row.version.into());
    body.insert("createdBy".into(), row.created_by.clone().into());
    body.insert(
        "createdAt".into(),
        row.created_at
            .to_rfc3339_opts(SecondsFormat::Millis, true)
            .into(),
    );
    body.insert(
        "updatedAt".into(),
        row.updated_at
            .to_rfc3339_opts(SecondsFormat::Millis, true)
            .into(),
    );
    Value::Object(body)
}

/// `ETag: "<version>"`.
pub fn etag(version: i64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{version}\"")) {
        headers.insert(header::ETAG, value);
    }
    headers
}

/// What `If-Match` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    /// No header.
    Absent,
    /// `*`: any current version.
    Any,
    /// A version, from `"3"`, `W/"3"` or `3`.
    Version(i64),
}

fn quoted(t: &str) -> Option<&str> {
    t.strip_prefix('"').and_then(|t| t.strip_suffix('"'))
}

/// Parses `If-Match`: `*`, `"<version>"`, `W/"<version>"` or a bare version, the version being
/// at most 18 digits (as the document's pattern says); `Err` for anything else.
pub fn if_match(headers: &HeaderMap) -> Result<IfMatch, String> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(IfMatch::Absent);
    };
    let text = value
        .to_str()
        .map_err(|_| "If-Match is not ASCII".to_owned())?
        .trim();
    if text == "*" {
        return Ok(IfMatch::Any);
    }
    let digits = match text.strip_prefix("W/") {
        Some(weak) => quoted(weak),
        None => quoted(text).or(Some(text)),
    }
    .filter(|d| (1..=18).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    match digits.map(str::parse::<i64>) {
        Some(Ok(version)) => Ok(IfMatch::Version(version)),
        _ => Err(format!(
            "If-Match must be a pipeline version such as \"3\", or *, not {text}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_MATCH, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn if_match_forms() {
        assert_eq!(if_match(&HeaderMap::new()), Ok(IfMatch::Absent));
        assert_eq!(if_match(&headers("*")), Ok(IfMatch::Any));
        assert_eq!(if_match(&headers("\"3\"")), Ok(IfMatch::Version(3)));
        assert_eq!(if_match(&headers("W/\"4\"")), Ok(IfMatch::Version(4)));
        assert_eq!(if_match(&headers("5")), Ok(IfMatch::Version(5)));
        for bad in [
            "abc",
            "\"3",
            "3\"",
            "+3",
            "-3",
            "W/3",
            "\"\"",
            "1234567890123456789",
            "\"1\", \"2\"",
        ] {
            assert!(if_match(&headers(bad)).is_err(), "{bad}");
        }
    }
}
