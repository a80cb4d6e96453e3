//! Observed state: what the workers' heartbeats say about a pipeline.

use crate::error::ApiError;
use crate::state::AppState;
use chrono::Utc;
use pipeline_common::model::Counters;
use pipeline_common::store::pipelines::{PipelineRow, PipelineState};
use pipeline_common::store::worker_tasks::{self, TaskStatus};
use serde::Serialize;
use utoipa::ToSchema;

/// One worker's task.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerStatus {
    /// Worker id.
    pub worker: String,
    /// The task's status.
    pub status: TaskStatus,
    /// Assigned partitions.
    pub partitions: Vec<i32>,
    /// What the task counted since it started (`consumed`, `indexed`, `deadLettered`,
    /// `filtered`).
    #[serde(flatten)]
    pub counters: Counters,
    /// Consumer lag, when known.
    pub lag: Option<i64>,
    /// Last error, if any.
    pub last_error: Option<String>,
    /// The pipeline version the worker runs.
    pub pipeline_version: i64,
    /// Milliseconds since the last heartbeat.
    pub heartbeat_age_ms: i64,
}

/// Observed state of a pipeline, from live worker heartbeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ObservedState {
    /// Every live task runs.
    Running,
    /// Some tasks run, some failed.
    Degraded,
    /// Every live task failed.
    Failed,
    /// No live task.
    Stopped,
}

impl ObservedState {
    /// The JSON value.
    pub fn as_str(self) -> &'static str {
        match self {
            ObservedState::Running => "running",
            ObservedState::Degraded => "degraded",
            ObservedState::Failed => "failed",
            ObservedState::Stopped => "stopped",
        }
    }
}

/// Desired versus observed state.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineStatus {
    /// The stored state.
    pub desired: PipelineState,
    /// From live worker heartbeats.
    pub observed: ObservedState,
    /// Why, when something is wrong.
    pub reason: Option<String>,
    /// Live worker tasks.
    pub workers: Vec<WorkerStatus>,
}

/// Desired versus observed state of `row`, from the live worker tasks.
pub async fn observed(state: &AppState, row: &PipelineRow) -> Result<PipelineStatus, ApiError> {
    let now = Utc::now();
    // A task whose heartbeat is older than three intervals counts as gone.
    let window = state
        .settings
        .worker
        .heartbeat_interval_ms
        .saturating_mul(3);
    let since = now - chrono::Duration::milliseconds(i64::try_from(window).unwrap_or(i64::MAX / 2));
    let tasks: Vec<_> = worker_tasks::list_for_pipeline(&state.db, row.id)
        .await?
        .into_iter()
        .filter(|t| t.heartbeat_at >= since)
        .collect();
    let running = tasks
        .iter()
        .filter(|t| t.report.status == TaskStatus::Running)
        .count();
    let failed: Vec<_> = tasks
        .iter()
        .filter(|t| t.report.status == TaskStatus::Failed)
        .collect();
    // A running task with an error is retrying through it (a refused OpenSearch credential).
    let impaired = tasks
        .iter()
        .filter(|t| t.report.status == TaskStatus::Running)
        .find_map(|t| t.report.last_error.clone());
    let observed = match (running, failed.len()) {
        (0, 0) => ObservedState::Stopped,
        (_, 0) if impaired.is_some() => ObservedState::Degraded,
        (_, 0) => ObservedState::Running,
        (0, _) => ObservedState::Failed,
        _ => ObservedState::Degraded,
    };
    let reason = failed
        .iter()
        .find_map(|t| t.report.last_error.clone())
        .or(impaired)
        .or_else(|| row.state_reason.clone());
    let workers = tasks
        .into_iter()
        .map(|t| WorkerStatus {
            heartbeat_age_ms: (now - t.heartbeat_at).num_milliseconds().max(0),
            worker: t.report.worker_id,
            status: t.report.status,
            partitions: t.report.partitions,
            counters: t.report.counters,
            lag: t.report.lag,
            last_error: t.report.last_error,
            pipeline_version: t.report.pipeline_version,
        })
        .collect();
    Ok(PipelineStatus {
        desired: row.state,
        observed,
        reason,
        workers,
    })
}
