//! `replay_jobs`: a job's row, which is also its REST form, and its queries.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::MySqlPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ReplayFilter;
use crate::store::{audit, AuditAction};

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ReplayState)]
pub enum JobState {
    /// Reading and producing.
    Running,
    /// Every matching record was acknowledged.
    Succeeded,
    /// Stopped on an error, or some records were not acknowledged.
    Failed,
}

impl JobState {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
        }
    }
}

impl TryFrom<String> for JobState {
    type Error = String;

    fn try_from(column: String) -> Result<Self, Self::Error> {
        [JobState::Running, JobState::Succeeded, JobState::Failed]
            .into_iter()
            .find(|s| s.as_str() == column)
            .ok_or_else(|| format!("unknown replay job state {column:?}"))
    }
}

/// Selects every column of [`JobRow`].
const SELECT_JOB: &str = "SELECT id, pipeline_id, state, filter, matched, replayed, failed, \
    error, started_by, started_at, finished_at FROM replay_jobs";

/// A `replay_jobs` row, which is also its REST form.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ReplayJob)]
pub struct JobRow {
    /// Job id, used in `…/replays/{jobId}`.
    #[sqlx(try_from = "String")]
    pub id: Uuid,
    /// The pipeline.
    #[sqlx(try_from = "String")]
    pub pipeline_id: Uuid,
    /// Where the job is.
    #[sqlx(try_from = "String")]
    pub state: JobState,
    /// The filter as given.
    #[schema(value_type = ReplayFilter)]
    pub filter: Json<Value>,
    /// Records that matched the filter.
    #[schema(minimum = 0)]
    pub matched: i64,
    /// Records the broker acknowledged in the input topic.
    #[schema(minimum = 0)]
    pub replayed: i64,
    /// Matching records that were not acknowledged.
    #[schema(minimum = 0)]
    pub failed: i64,
    /// Why the job failed.
    pub error: Option<String>,
    /// The principal that started it.
    pub started_by: String,
    /// Start.
    #[serde(serialize_with = "crate::rfc3339::millis")]
    pub started_at: DateTime<Utc>,
    /// End, once finished.
    #[serde(serialize_with = "crate::rfc3339::optional_millis")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// The job `id` of `pipeline_id`, if any.
pub async fn get(
    db: &MySqlPool,
    pipeline_id: Uuid,
    id: Uuid,
) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT_JOB} WHERE id = ? AND pipeline_id = ?"))
        .bind(id.hyphenated().to_string())
        .bind(pipeline_id.hyphenated().to_string())
        .fetch_optional(db)
        .await
}

/// The newest jobs of `pipeline_id`.
pub async fn list(
    db: &MySqlPool,
    pipeline_id: Uuid,
    limit: u32,
) -> Result<Vec<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT_JOB} WHERE pipeline_id = ? ORDER BY started_at DESC LIMIT ?"
    ))
    .bind(pipeline_id.hyphenated().to_string())
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Inserts a running job and its `replay` audit row in one transaction.
pub async fn insert(
    db: &MySqlPool,
    pipeline: (Uuid, &str),
    filter: &ReplayFilter,
    actor: &str,
) -> Result<JobRow, sqlx::Error> {
    let id = Uuid::new_v4().hyphenated().to_string();
    let now = Utc::now();
    let filter = serde_json::to_value(filter).unwrap_or(Value::Null);
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO replay_jobs (id, pipeline_id, state, filter, started_by, started_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(pipeline.0.hyphenated().to_string())
    .bind(JobState::Running.as_str())
    .bind(Json(&filter))
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        pipeline,
        actor,
        AuditAction::Replay,
        None,
        None,
        None,
    )
    .await?;
    let row = sqlx::query_as(&format!("{SELECT_JOB} WHERE id = ?"))
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(row)
}

#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub(super) matched: i64,
    pub(super) replayed: i64,
    pub(super) failed: i64,
}

pub(super) async fn record(
    db: &MySqlPool,
    id: Uuid,
    counts: Counts,
    finished: Option<(JobState, Option<&str>)>,
) -> Result<(), sqlx::Error> {
    let (state, error, finished_at) = match finished {
        Some((state, error)) => (state, error, Some(Utc::now())),
        None => (JobState::Running, None, None),
    };
    sqlx::query(
        "UPDATE replay_jobs SET matched = ?, replayed = ?, failed = ?, state = ?, \
         error = COALESCE(?, error), finished_at = ? WHERE id = ?",
    )
    .bind(counts.matched)
    .bind(counts.replayed)
    .bind(counts.failed)
    .bind(state.as_str())
    .bind(error)
    .bind(finished_at)
    .bind(id.hyphenated().to_string())
    .execute(db)
    .await?;
    Ok(())
}
