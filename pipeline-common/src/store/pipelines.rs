//! The `pipelines` table: one row per pipeline, holding its definition and desired state.
//!
//! pipeline-mgmt writes it; pipeline-worker reads it to learn which pipelines to run, and writes
//! only `state_reason` when one of its tasks fails or recovers (`store::worker_tasks`).

use crate::model::PipelineName;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{MySqlExecutor, MySqlPool};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The `state` column: where a pipeline is in its life cycle.
///
/// Workers run exactly the pipelines in [`PipelineState::Running`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PipelineState {
    /// Created in the database, topics not provisioned yet.
    Provisioning,
    /// Desired running: workers consume it.
    Running,
    /// Desired stopped: no worker consumes it.
    Stopped,
    /// Being deleted: topics are being removed.
    Deleting,
}

impl PipelineState {
    /// Every state, in a stable order (for gauges and documentation).
    pub const ALL: [PipelineState; 4] = [
        PipelineState::Provisioning,
        PipelineState::Running,
        PipelineState::Stopped,
        PipelineState::Deleting,
    ];

    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            PipelineState::Provisioning => "provisioning",
            PipelineState::Running => "running",
            PipelineState::Stopped => "stopped",
            PipelineState::Deleting => "deleting",
        }
    }
}

impl fmt::Display for PipelineState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `state` value that names no [`PipelineState`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown pipeline state `{0}`")]
pub struct UnknownState(pub String);

impl FromStr for PipelineState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PipelineState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// One row of `pipelines`.
#[derive(Debug, Clone)]
pub struct PipelineRow {
    /// The pipeline's id (stored as hyphenated lowercase text).
    pub id: Uuid,
    /// Unique pipeline name.
    pub name: PipelineName,
    /// The stored definition (`PipelineDefinition::to_json()`); its own `state` is ignored.
    pub definition: serde_json::Value,
    /// Desired state; this column, not the definition, rules.
    pub state: PipelineState,
    /// Why the pipeline is in its state (e.g. a provisioning failure), if anything is known.
    pub state_reason: Option<String>,
    /// Starts at 1 and grows by one with every change.
    pub version: i64,
    /// Principal that created the pipeline.
    pub created_by: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Time of the last change.
    pub updated_at: DateTime<Utc>,
}

/// The raw shape read from MariaDB, before the state is checked.
#[derive(sqlx::FromRow)]
struct RawRow {
    id: String,
    name: String,
    definition: Json<serde_json::Value>,
    state: String,
    state_reason: Option<String>,
    version: i64,
    created_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A stored row that does not decode into a [`PipelineRow`]: the database holds something mgmt
/// never writes (a hand edit, a bad restore). Callers decide what to do with it; nothing
/// defaults it into a usable row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored pipeline row `{id}` is corrupt: {problem}")]
pub struct CorruptRow {
    /// The `id` column as stored, which may itself be the bad value.
    pub id: String,
    /// The `name` column as stored (keyset pagination continues after it).
    pub name: String,
    /// What does not decode, e.g. "name `Web`: must be lowercase".
    pub problem: String,
}

/// Why reading one pipeline failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The query failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// The row is there but does not decode.
    #[error(transparent)]
    Corrupt(#[from] CorruptRow),
}

/// Parses an `id` column: only the canonical hyphenated lowercase form that is written, so the
/// id binds back to the same row.
pub fn parse_id(raw: &str) -> Result<Uuid, String> {
    match Uuid::try_parse(raw) {
        Ok(id) if id.hyphenated().to_string() == raw => Ok(id),
        Ok(_) => Err(format!("id `{raw}` is not in hyphenated lowercase form")),
        Err(e) => Err(format!("id `{raw}` is not a UUID: {e}")),
    }
}

impl TryFrom<RawRow> for PipelineRow {
    type Error = CorruptRow;

    fn try_from(raw: RawRow) -> Result<Self, Self::Error> {
        let corrupt = |problem: String| CorruptRow {
            id: raw.id.clone(),
            name: raw.name.clone(),
            problem,
        };
        let id = parse_id(&raw.id).map_err(corrupt)?;
        let name = PipelineName::parse(&raw.name)
            .map_err(|e| corrupt(format!("name `{}`: {e}", raw.name)))?;
        let state = raw
            .state
            .parse::<PipelineState>()
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(PipelineRow {
            id,
            name,
            definition: raw.definition.0,
            state,
            state_reason: raw.state_reason,
            version: raw.version,
            created_by: raw.created_by,
            created_at: raw.created_at,
            updated_at: raw.updated_at,
        })
    }
}

/// The column list of every `SELECT` of a full row, in `RawRow` order.
pub const COLUMNS: &str =
    "id, name, definition, state, state_reason, version, created_by, created_at, updated_at";

/// Rows of a listing, each decoded on its own: one corrupt row does not hide the others.
pub type Decoded = Vec<Result<PipelineRow, CorruptRow>>;

fn convert(rows: Vec<RawRow>) -> Decoded {
    rows.into_iter().map(PipelineRow::try_from).collect()
}

/// The pipeline with `id`, if any.
pub async fn get<'e>(
    executor: impl MySqlExecutor<'e>,
    id: Uuid,
) -> Result<Option<PipelineRow>, ReadError> {
    let sql = format!("SELECT {COLUMNS} FROM pipelines WHERE id = ?");
    Ok(sqlx::query_as::<_, RawRow>(&sql)
        .bind(id.hyphenated().to_string())
        .fetch_optional(executor)
        .await?
        .map(PipelineRow::try_from)
        .transpose()?)
}

/// The pipeline named `name`, if any.
pub async fn get_by_name<'e>(
    executor: impl MySqlExecutor<'e>,
    name: &PipelineName,
) -> Result<Option<PipelineRow>, ReadError> {
    let sql = format!("SELECT {COLUMNS} FROM pipelines WHERE name = ?");
    Ok(sqlx::query_as::<_, RawRow>(&sql)
        .bind(name.as_str())
        .fetch_optional(executor)
        .await?
        .map(PipelineRow::try_from)
        .transpose()?)
}

/// Every pipeline whose desired state is `running`: what workers must run.
pub async fn list_running(pool: &MySqlPool) -> Result<Decoded, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM pipelines WHERE state = 'running' ORDER BY name");
    Ok(convert(
        sqlx::query_as::<_, RawRow>(&sql).fetch_all(pool).await?,
    ))
}

/// One page of pipelines ordered by name: those after `after` (exclusive), optionally only in
/// `state`, at most `limit` rows.
pub async fn list_page(
    pool: &MySqlPool,
    state: Option<PipelineState>,
    after: Option<&str>,
    limit: u32,
) -> Result<Decoded, sqlx::Error> {
    // Keyset pagination on the unique name: stable under concurrent inserts, no OFFSET scans.
    let sql = format!(
        "SELECT {COLUMNS} FROM pipelines \
         WHERE (? IS NULL OR state = ?) AND (? IS NULL OR name > ?) \
         ORDER BY name LIMIT ?"
    );
    let state = state.map(PipelineState::as_str);
    let rows = sqlx::query_as::<_, RawRow>(&sql)
        .bind(state)
        .bind(state)
        .bind(after)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(convert(rows))
}

/// How many pipelines are in each state (states without pipelines are absent).
pub async fn count_by_state(pool: &MySqlPool) -> Result<Vec<(PipelineState, i64)>, sqlx::Error> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM pipelines GROUP BY state")
            .fetch_all(pool)
            .await?;
    rows.into_iter()
        .map(|(state, n)| {
            let state = state
                .parse::<PipelineState>()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok((state, n))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(id: &str, name: &str) -> RawRow {
        RawRow {
            id: id.to_owned(),
            name: name.to_owned(),
            definition: Json(serde_json::json!({})),
            state: "running".to_owned(),
            state_reason: None,
            version: 1,
            created_by: "test".to_owned(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    const ID: &str = "0b4f5c1e-8d2a-4f6b-9c3d-2e1f0a9b8c7d";

    #[test]
    fn a_valid_row_decodes_into_domain_types() {
        let row = PipelineRow::try_from(raw(ID, "web-logs")).unwrap();
        assert_eq!(row.id.hyphenated().to_string(), ID);
        assert_eq!(row.name.as_str(), "web-logs");
    }

    #[test]
    fn a_bad_name_is_rejected_with_the_raw_id() {
        for bad in ["", "Web", "a_b", "-a"] {
            let err = PipelineRow::try_from(raw(ID, bad)).unwrap_err();
            assert_eq!(err.id, ID);
            assert!(err.problem.starts_with(&format!("name `{bad}`")), "{err}");
        }
    }

    #[test]
    fn a_bad_id_is_rejected_with_the_raw_id() {
        let upper = ID.to_uppercase();
        let simple = ID.replace('-', "");
        for bad in ["", "not-a-uuid", upper.as_str(), simple.as_str()] {
            let err = PipelineRow::try_from(raw(bad, "web")).unwrap_err();
            assert_eq!(err.id, bad);
            assert!(err.problem.starts_with("id `"), "{err}");
        }
    }

    #[test]
    fn a_bad_state_is_rejected() {
        let mut r = raw(ID, "web");
        r.state = "sleeping".to_owned();
        let err = PipelineRow::try_from(r).unwrap_err();
        assert!(err.problem.contains("sleeping"), "{err}");
    }
}
