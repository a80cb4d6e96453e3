//! The `pipelines` table: one row per pipeline, holding its definition and desired state.
//!
//! pipeline-mgmt writes it; pipeline-worker reads it to learn which pipelines to run.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{MySqlExecutor, MySqlPool};
use std::fmt;
use std::str::FromStr;

/// The `state` column: where a pipeline is in its life cycle.
///
/// Workers run exactly the pipelines in [`PipelineState::Running`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// UUID v4, as text.
    pub id: String,
    /// Unique pipeline name.
    pub name: String,
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

impl TryFrom<RawRow> for PipelineRow {
    type Error = sqlx::Error;

    fn try_from(raw: RawRow) -> Result<Self, Self::Error> {
        let state = raw
            .state
            .parse::<PipelineState>()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        Ok(PipelineRow {
            id: raw.id,
            name: raw.name,
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

fn convert(rows: Vec<RawRow>) -> Result<Vec<PipelineRow>, sqlx::Error> {
    rows.into_iter().map(PipelineRow::try_from).collect()
}

/// The pipeline with `id`, if any.
pub async fn get<'e>(
    executor: impl MySqlExecutor<'e>,
    id: &str,
) -> Result<Option<PipelineRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM pipelines WHERE id = ?");
    sqlx::query_as::<_, RawRow>(&sql)
        .bind(id)
        .fetch_optional(executor)
        .await?
        .map(PipelineRow::try_from)
        .transpose()
}

/// The pipeline named `name`, if any.
pub async fn get_by_name<'e>(
    executor: impl MySqlExecutor<'e>,
    name: &str,
) -> Result<Option<PipelineRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM pipelines WHERE name = ?");
    sqlx::query_as::<_, RawRow>(&sql)
        .bind(name)
        .fetch_optional(executor)
        .await?
        .map(PipelineRow::try_from)
        .transpose()
}

/// Every pipeline whose desired state is `running`: what workers must run.
pub async fn list_running(pool: &MySqlPool) -> Result<Vec<PipelineRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM pipelines WHERE state = 'running' ORDER BY name");
    convert(sqlx::query_as::<_, RawRow>(&sql).fetch_all(pool).await?)
}

/// One page of pipelines ordered by name: those after `after` (exclusive), optionally only in
/// `state`, at most `limit` rows.
pub async fn list_page(
    pool: &MySqlPool,
    state: Option<PipelineState>,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<PipelineRow>, sqlx::Error> {
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
    convert(rows)
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
