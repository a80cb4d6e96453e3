//! Replay jobs: dead letters matching a filter, re-injected into the input topic.
//!
//! A job is a row of `replay_jobs` and a task. The task snapshots the error topic's end offsets,
//! reads up to them, and produces every matching record to the input topic with its original key
//! and value plus a `replay.of` header. Only records the broker acknowledged count as replayed.
//! Replaying twice is harmless: the worker gives an event the same `_id` each time.
//!
//! The [`filter`] says which records a job takes, [`store`] keeps its row, the [`runner`] does
//! the work; the entry points below are what the HTTP handlers and the console call.

mod filter;
mod runner;
mod store;

pub use filter::{OffsetRange, ReplayFilter};
pub use runner::ReplayContext;
pub use store::{JobRow, JobState};

use crate::error::ApiError;
use crate::service::{find, provisioned_topics};
use crate::state::AppState;
use uuid::Uuid;

/// Starts a replay job of pipeline `id` (its row and audit row first, then the task).
pub async fn start(
    state: &AppState,
    id: Uuid,
    filter: ReplayFilter,
    actor: &str,
) -> Result<JobRow, ApiError> {
    let problems = filter.problems();
    if !problems.is_empty() {
        return Err(ApiError::Unprocessable {
            detail: "the replay filter is invalid".into(),
            errors: problems
                .into_iter()
                .map(|(field, message)| crate::error::FieldProblem { field, message })
                .collect(),
        });
    }
    let row = find(state, id).await?;
    let topics = provisioned_topics(state, &row)?;
    let job = store::insert(&state.db, (row.id, row.name.as_str()), &filter, actor).await?;
    let ctx = ReplayContext {
        settings: state.settings.clone(),
        db: state.db.clone(),
        producer: state.producer.clone(),
    };
    tokio::spawn(runner::run(ctx, job.id, topics.error, topics.input, filter));
    Ok(job)
}

/// Replay job `job_id` of pipeline `id`, or 404.
pub async fn job(state: &AppState, id: Uuid, job_id: Uuid) -> Result<JobRow, ApiError> {
    let row = find(state, id).await?;
    store::get(&state.db, row.id, job_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no replay job with this id".into()))
}

/// The newest replay jobs of pipeline `id`.
pub async fn jobs(state: &AppState, id: Uuid, limit: u32) -> Result<Vec<JobRow>, ApiError> {
    let row = find(state, id).await?;
    Ok(store::list(&state.db, row.id, limit).await?)
}
