//! The REST representation of a stored pipeline, and its version headers.

use crate::state::AppState;
use axum::http::{header, HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};
use pipeline_common::index_template::IndexingSpec;
use pipeline_common::model::{
    FlushSpec, IndexName, OutputSpec, PipelineDefinition, PipelineName, PipelineTopics, StageSpec,
    TopicSpec, ValidationContext,
};
use pipeline_common::store::pipelines::{CorruptRow, PipelineRow, PipelineState};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A stored pipeline: its definition in canonical form plus what the server adds (DESIGN §2):
/// `id`, topic names, the stored `state`, `stateReason`, `version`, `createdBy`, `createdAt`,
/// `updatedAt`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Pipeline)]
pub struct PipelineView {
    /// Its id, used in every `{id}` path.
    pub id: Uuid,
    /// Unique name.
    #[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub name: PipelineName,
    /// Free text.
    pub description: String,
    /// Target index or index pattern.
    #[schema(value_type = String)]
    pub index: IndexName,
    /// Topic settings and names.
    pub topics: StoredTopics,
    /// Explicit stages; absent when the default chain runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<StageSpec>>,
    /// Flush overrides; absent when the server defaults apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flush: Option<FlushSpec>,
    /// The output topic.
    pub output: OutputSpec,
    /// Index settings and mapping overrides; absent when the server defaults and the derived
    /// mapping apply.
    #[serde(skip_serializing_if = "IndexingSpec::is_default")]
    #[schema(required = false)]
    pub indexing: IndexingSpec,
    /// Stored state.
    pub state: PipelineState,
    /// Why the pipeline is in its state, when something went wrong.
    pub state_reason: Option<String>,
    /// Incremented by every change; the `ETag`, and what `If-Match` names.
    #[schema(minimum = 1)]
    pub version: i64,
    /// The principal that created it.
    pub created_by: String,
    /// Creation time.
    #[serde(serialize_with = "crate::rfc3339::millis")]
    pub created_at: DateTime<Utc>,
    /// Time of the last change.
    #[serde(serialize_with = "crate::rfc3339::millis")]
    pub updated_at: DateTime<Utc>,
}

/// The topics of a stored pipeline: their settings and names.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredTopics {
    /// Partitions, replication factor and retention.
    #[serde(flatten)]
    pub settings: TopicSpec,
    /// `<prefix>.<name>.input`.
    pub input: String,
    /// `<prefix>.<name>.output`.
    pub output: String,
    /// `<prefix>.<name>.error`.
    pub error: String,
}

impl PipelineView {
    /// The view of `row`. Its stored definition is parsed again, with geoip taken as available:
    /// a pipeline stays readable after `geoip.database` is unset (its worker reports that it
    /// cannot run it). A definition that does not parse is a corrupt row.
    pub fn of(row: &PipelineRow, state: &AppState) -> Result<PipelineView, CorruptRow> {
        let stored = ValidationContext {
            geoip_available: true,
            ..(*state.validation).clone()
        };
        let definition =
            PipelineDefinition::parse(&row.definition, &stored).map_err(|e| CorruptRow {
                id: row.id.hyphenated().to_string(),
                name: row.name.to_string(),
                problem: format!("stored definition does not validate: {e}"),
            })?;
        let names = PipelineTopics::new(&state.settings.kafka.topic_prefix, &row.name);
        Ok(PipelineView {
            id: row.id,
            name: row.name.clone(),
            description: definition.description().to_owned(),
            index: definition.index().clone(),
            topics: StoredTopics {
                settings: *definition.topics(),
                input: names.input,
                output: names.output,
                error: names.error,
            },
            stages: definition.stages().map(<[StageSpec]>::to_vec),
            flush: definition.flush(),
            output: definition.output(),
            indexing: definition.indexing().clone(),
            state: row.state,
            state_reason: row.state_reason.clone(),
            version: row.version,
            created_by: row.created_by.clone(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
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
