//! The `worker_tasks` table: one row per (pipeline, worker), the heartbeat and counters of that
//! worker's task for that pipeline.
//!
//! pipeline-worker writes it; pipeline-mgmt reads it to serve a pipeline's observed state.

use crate::model::Counters;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::MySqlPool;
use std::fmt;
use uuid::Uuid;

/// The `status` column; also the status of a task in a pipeline's REST status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Consuming.
    Running,
    /// Gave up (e.g. `failureThreshold` consecutive failed flushes); `last_error` says why.
    Failed,
    /// Stopped because the pipeline is no longer running.
    Stopped,
}

impl TaskStatus {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Running => "running",
            TaskStatus::Failed => "failed",
            TaskStatus::Stopped => "stopped",
        }
    }

    /// Parses a column value.
    pub fn parse(s: &str) -> Option<TaskStatus> {
        [TaskStatus::Running, TaskStatus::Failed, TaskStatus::Stopped]
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a worker reports about one task.
#[derive(Debug, Clone)]
pub struct TaskReport {
    /// `pipelines.id`.
    pub pipeline_id: Uuid,
    /// Reporting worker.
    pub worker_id: String,
    /// Task status.
    pub status: TaskStatus,
    /// Assigned partitions.
    pub partitions: Vec<i32>,
    /// What the task counted since it started.
    pub counters: Counters,
    /// Consumer lag over the assigned partitions, when known.
    pub lag: Option<i64>,
    /// The last error, for a failed task.
    pub last_error: Option<String>,
    /// The definition version the task runs.
    pub pipeline_version: i64,
}

/// One row of `worker_tasks`.
#[derive(Debug, Clone)]
pub struct TaskRow {
    /// The report.
    pub report: TaskReport,
    /// When it was written.
    pub heartbeat_at: DateTime<Utc>,
}

/// Inserts or replaces the row of (`pipeline_id`, `worker_id`), stamping the heartbeat; on the
/// pool or inside a transaction. Only while the pipeline exists: a heartbeat that lands after
/// mgmt deleted the pipeline (and its rows) in one transaction, before the worker's next
/// reconciliation stops the task, would otherwise bring the row back for good.
pub async fn upsert<'e, E>(executor: E, report: &TaskReport) -> Result<(), sqlx::Error>
where
    E: sqlx::MySqlExecutor<'e>,
{
    let pipeline_id = report.pipeline_id.hyphenated().to_string();
    sqlx::query(
        "INSERT INTO worker_tasks (pipeline_id, worker_id, status, partitions, consumed, indexed, \
         dead_lettered, filtered, matched, cel_errors, overflowed, lag, last_error, \
         pipeline_version, heartbeat_at) \
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6) FROM pipelines \
         WHERE id = ? \
         ON DUPLICATE KEY UPDATE status = VALUES(status), partitions = VALUES(partitions), \
         consumed = VALUES(consumed), indexed = VALUES(indexed), \
         dead_lettered = VALUES(dead_lettered), filtered = VALUES(filtered), \
         matched = VALUES(matched), cel_errors = VALUES(cel_errors), \
         overflowed = VALUES(overflowed), lag = VALUES(lag), \
         last_error = VALUES(last_error), pipeline_version = VALUES(pipeline_version), \
         heartbeat_at = VALUES(heartbeat_at)",
    )
    .bind(&pipeline_id)
    .bind(&report.worker_id)
    .bind(report.status.as_str())
    .bind(Json(&report.partitions))
    .bind(report.counters.consumed)
    .bind(report.counters.indexed)
    .bind(report.counters.dead_lettered)
    .bind(report.counters.filtered)
    .bind(report.counters.matched)
    .bind(report.counters.cel_errors)
    .bind(report.counters.overflowed)
    .bind(report.lag)
    .bind(report.last_error.as_deref())
    .bind(report.pipeline_version)
    .bind(&pipeline_id)
    .execute(executor)
    .await?;
    Ok(())
}

/// Records a failed task: its row with `status = failed` and `last_error`, and the pipeline's
/// `state_reason` naming the worker and the reason, in one transaction.
pub async fn record_failure(pool: &MySqlPool, report: &TaskReport) -> Result<(), sqlx::Error> {
    let reason = format!(
        "{}{}",
        failure_prefix(&report.worker_id),
        report.last_error.as_deref().unwrap_or("task failed")
    );
    let mut tx = pool.begin().await?;
    upsert(&mut *tx, report).await?;
    sqlx::query("UPDATE pipelines SET state_reason = ? WHERE id = ?")
        .bind(reason)
        .bind(report.pipeline_id.hyphenated().to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Clears the pipeline's `state_reason` if it is a failure this worker recorded (the task runs
/// again).
pub async fn clear_failure(
    pool: &MySqlPool,
    pipeline_id: Uuid,
    worker_id: &str,
) -> Result<(), sqlx::Error> {
    let prefix = failure_prefix(worker_id);
    sqlx::query(
        "UPDATE pipelines SET state_reason = NULL \
         WHERE id = ? AND LEFT(state_reason, CHAR_LENGTH(?)) = ?",
    )
    .bind(pipeline_id.hyphenated().to_string())
    .bind(&prefix)
    .bind(&prefix)
    .execute(pool)
    .await?;
    Ok(())
}

fn failure_prefix(worker_id: &str) -> String {
    format!("worker {worker_id}: ")
}

/// Sets the status of one row (e.g. `stopped` when the pipeline stopped).
pub async fn set_status(
    pool: &MySqlPool,
    pipeline_id: Uuid,
    worker_id: &str,
    status: TaskStatus,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE worker_tasks SET status = ?, heartbeat_at = UTC_TIMESTAMP(6) \
         WHERE pipeline_id = ? AND worker_id = ?",
    )
    .bind(status.as_str())
    .bind(pipeline_id.hyphenated().to_string())
    .bind(worker_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes every row of `worker_id` (a worker shutting down cleanly).
pub async fn delete_worker(pool: &MySqlPool, worker_id: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM worker_tasks WHERE worker_id = ?")
        .bind(worker_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

#[derive(sqlx::FromRow)]
struct RawRow {
    pipeline_id: String,
    worker_id: String,
    status: String,
    partitions: Json<Vec<i32>>,
    consumed: i64,
    indexed: i64,
    dead_lettered: i64,
    filtered: i64,
    matched: i64,
    cel_errors: i64,
    overflowed: i64,
    lag: Option<i64>,
    last_error: Option<String>,
    pipeline_version: i64,
    heartbeat_at: DateTime<Utc>,
}

/// Every row of a pipeline, ordered by worker.
pub async fn list_for_pipeline(
    pool: &MySqlPool,
    pipeline_id: Uuid,
) -> Result<Vec<TaskRow>, sqlx::Error> {
    let rows: Vec<RawRow> = sqlx::query_as(
        "SELECT pipeline_id, worker_id, status, partitions, consumed, indexed, dead_lettered, \
         filtered, matched, cel_errors, overflowed, lag, last_error, pipeline_version, \
         heartbeat_at \
         FROM worker_tasks WHERE pipeline_id = ? ORDER BY worker_id",
    )
    .bind(pipeline_id.hyphenated().to_string())
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|raw| {
            let status = TaskStatus::parse(&raw.status).ok_or_else(|| {
                sqlx::Error::Decode(format!("unknown task status `{}`", raw.status).into())
            })?;
            let pipeline_id = super::pipelines::parse_id(&raw.pipeline_id).map_err(|e| {
                sqlx::Error::Decode(format!("worker_tasks.pipeline_id: {e}").into())
            })?;
            Ok(TaskRow {
                report: TaskReport {
                    pipeline_id,
                    worker_id: raw.worker_id,
                    status,
                    partitions: raw.partitions.0,
                    counters: Counters {
                        consumed: raw.consumed,
                        indexed: raw.indexed,
                        dead_lettered: raw.dead_lettered,
                        filtered: raw.filtered,
                        matched: raw.matched,
                        cel_errors: raw.cel_errors,
                        overflowed: raw.overflowed,
                    },
                    lag: raw.lag,
                    last_error: raw.last_error,
                    pipeline_version: raw.pipeline_version,
                },
                heartbeat_at: raw.heartbeat_at,
            })
        })
        .collect()
}
