//! `replay_jobs`: a job's row, which is also its REST form, and its queries.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::MySqlPool;
use std::time::Duration;
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

/// Inserts a running job owned by `owner` for the next `lease` and its `replay` audit row, in one
/// transaction.
pub async fn insert(
    db: &MySqlPool,
    pipeline: (Uuid, &str),
    filter: &ReplayFilter,
    actor: &str,
    owner: &str,
    lease: Duration,
) -> Result<JobRow, sqlx::Error> {
    let id = Uuid::new_v4().hyphenated().to_string();
    let now = Utc::now();
    let filter = serde_json::to_value(filter).unwrap_or(Value::Null);
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO replay_jobs (id, pipeline_id, state, filter, started_by, started_at, owner, \
         lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, NOW(6) + INTERVAL ? MICROSECOND)",
    )
    .bind(&id)
    .bind(pipeline.0.hyphenated().to_string())
    .bind(JobState::Running.as_str())
    .bind(Json(&filter))
    .bind(actor)
    .bind(now)
    .bind(owner)
    .bind(micros(lease))
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

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A running job whose lease this replica just took over, with what its last owner left.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct Claimed {
    #[sqlx(try_from = "String")]
    pub(super) id: Uuid,
    #[sqlx(try_from = "String")]
    pub(super) pipeline_id: Uuid,
    pub(super) filter: Json<Value>,
    pub(super) ranges: Option<Json<Vec<ErrorRange>>>,
    pub(super) progress: Option<Json<Progress>>,
    pub(super) inflight: Option<Json<InFlight>>,
    pub(super) matched: i64,
    pub(super) replayed: i64,
    pub(super) failed: i64,
}

impl Claimed {
    /// The counts of the acknowledged steps.
    pub(super) fn counts(&self) -> Counts {
        Counts {
            matched: self.matched,
            replayed: self.replayed,
            failed: self.failed,
        }
    }
}

/// Takes over every running job whose lease has expired (its owner died or lost the
/// database), for `owner` and the next `lease`; the jobs it got.
pub(super) async fn claim_expired(
    db: &MySqlPool,
    owner: &str,
    lease: Duration,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let expired: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM replay_jobs WHERE state = 'running' AND lease_until < NOW(6)",
    )
    .fetch_all(db)
    .await?;
    let mut claimed = Vec::new();
    for id in expired {
        // Only one replica's update finds the lease still expired.
        let done = sqlx::query(
            "UPDATE replay_jobs SET owner = ?, lease_until = NOW(6) + INTERVAL ? MICROSECOND \
             WHERE id = ? AND state = 'running' AND lease_until < NOW(6)",
        )
        .bind(owner)
        .bind(micros(lease))
        .bind(&id)
        .execute(db)
        .await?;
        if done.rows_affected() == 1 {
            let job = sqlx::query_as(
                "SELECT id, pipeline_id, filter, ranges, progress, inflight, matched, replayed, \
                 failed FROM replay_jobs WHERE id = ?",
            )
            .bind(&id)
            .fetch_one(db)
            .await?;
            claimed.push(job);
        }
    }
    Ok(claimed)
}

/// Ends `owner`'s job `id` as failed with `reason`, keeping its counts.
pub(super) async fn fail(
    db: &MySqlPool,
    id: Uuid,
    owner: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE replay_jobs SET state = 'failed', error = ?, finished_at = ? \
         WHERE id = ? AND owner = ? AND state = 'running'",
    )
    .bind(reason)
    .bind(Utc::now())
    .bind(id.hyphenated().to_string())
    .bind(owner)
    .execute(db)
    .await?;
    Ok(())
}

/// Keeps the error-topic ranges job `id` reads, fixed at its start.
pub(super) async fn set_ranges(
    db: &MySqlPool,
    id: Uuid,
    owner: &str,
    ranges: &[ErrorRange],
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE replay_jobs SET ranges = ? WHERE id = ? AND owner = ?")
        .bind(Json(ranges))
        .bind(id.hyphenated().to_string())
        .bind(owner)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the step `owner` is about to write, renewing its lease; false when the job is no
/// longer `owner`'s (another replica took it over) or no longer running.
pub(super) async fn begin_step(
    db: &MySqlPool,
    id: Uuid,
    owner: &str,
    lease: Duration,
    step: &InFlight,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE replay_jobs SET inflight = ?, lease_until = NOW(6) + INTERVAL ? MICROSECOND \
         WHERE id = ? AND owner = ? AND state = 'running'",
    )
    .bind(Json(step))
    .bind(micros(lease))
    .bind(id.hyphenated().to_string())
    .bind(owner)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that the step in flight is acknowledged: the progress and counts it led to, no step
/// in flight, the lease renewed; false when the job is no longer `owner`'s.
pub(super) async fn end_step(
    db: &MySqlPool,
    id: Uuid,
    owner: &str,
    lease: Duration,
    progress: &Progress,
    counts: Counts,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE replay_jobs SET progress = ?, matched = ?, replayed = ?, failed = ?, \
         inflight = NULL, lease_until = NOW(6) + INTERVAL ? MICROSECOND \
         WHERE id = ? AND owner = ? AND state = 'running'",
    )
    .bind(Json(progress))
    .bind(counts.matched)
    .bind(counts.replayed)
    .bind(counts.failed)
    .bind(micros(lease))
    .bind(id.hyphenated().to_string())
    .bind(owner)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The offsets `from..to` of one partition of the error topic that a job reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct ErrorRange {
    pub(super) partition: i32,
    pub(super) from: i64,
    pub(super) to: i64,
}

/// Per partition of the error topic, the next offset a job reads: where its acknowledged steps
/// end.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Progress {
    next: std::collections::BTreeMap<i32, i64>,
}

impl Progress {
    /// Where the job goes on in `range`.
    pub(super) fn start_of(&self, range: &ErrorRange) -> i64 {
        self.next
            .get(&range.partition)
            .map_or(range.from, |n| (*n).max(range.from))
    }

    /// Everything of `partition` below `next` is done.
    pub(super) fn advance(&mut self, partition: i32, next: i64) {
        self.next.insert(partition, next);
    }
}

/// The step a job is writing: error-topic offsets `start..end` of `partition`, and the input
/// topic's end offsets before its first record (`[partition, offset]` pairs).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct InFlight {
    pub(super) partition: i32,
    pub(super) start: i64,
    pub(super) end: i64,
    pub(super) input_ends: Vec<(i32, i64)>,
}

/// A job's counts: matching letters read, acknowledged, refused.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub(super) matched: i64,
    pub(super) replayed: i64,
    pub(super) failed: i64,
}

/// Writes the counts of job `id` (and its end, when `finished`), if `owner` still owns it:
/// false when another replica took it over meanwhile.
pub(super) async fn record(
    db: &MySqlPool,
    id: Uuid,
    owner: &str,
    counts: Counts,
    finished: Option<(JobState, Option<&str>)>,
) -> Result<bool, sqlx::Error> {
    let (state, error, finished_at) = match finished {
        Some((state, error)) => (state, error, Some(Utc::now())),
        None => (JobState::Running, None, None),
    };
    let done = sqlx::query(
        "UPDATE replay_jobs SET matched = ?, replayed = ?, failed = ?, state = ?, \
         error = COALESCE(?, error), finished_at = ? WHERE id = ? AND owner = ?",
    )
    .bind(counts.matched)
    .bind(counts.replayed)
    .bind(counts.failed)
    .bind(state.as_str())
    .bind(error)
    .bind(finished_at)
    .bind(id.hyphenated().to_string())
    .bind(owner)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
