//! Jobs whose replica died: every replica looks for running jobs whose lease has expired, takes
//! them over one by one (only one replica's claim succeeds), and runs them from their recorded
//! progress, or marks them failed with the reason when they cannot go on.

use super::runner::{self, Job, ReplayContext, Resume};
use super::store::{self, Claimed};
use super::ReplayFilter;
use crate::service::provisioned_topics;
use crate::state::AppState;
use pipeline_common::store::pipelines as rows;
use std::time::Duration;
use tokio::time::MissedTickBehavior;

/// How long a replica's lease on a running job lasts without a renewal (it renews with every
/// step): a job whose replica died is taken over after at most this, plus [`SCAN_EVERY`].
pub const LEASE: Duration = Duration::from_secs(20);

/// How often each replica looks for jobs to take over.
const SCAN_EVERY: Duration = Duration::from_secs(5);

/// The context of the jobs this replica runs.
pub fn context(state: &AppState) -> ReplayContext {
    ReplayContext {
        settings: state.settings.clone(),
        db: state.db.clone(),
        producer: state.producer.clone(),
        owner: state.replica.clone(),
        lease: LEASE,
    }
}

/// Takes over expired jobs every [`SCAN_EVERY`], until the task is dropped.
pub async fn take_over_expired(state: AppState) {
    let mut tick = tokio::time::interval(SCAN_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store::claim_expired(&state.db, &state.replica, LEASE).await {
            Ok(claimed) => {
                for job in claimed {
                    resume(&state, job).await;
                }
            }
            Err(error) => tracing::warn!(%error, "looking for replay jobs to take over failed"),
        }
    }
}

/// Runs a job this replica just claimed, or ends it as failed when it cannot go on.
async fn resume(state: &AppState, claimed: Claimed) {
    tracing::info!(job = %claimed.id, "taking over a replay job whose replica stopped renewing it");
    match job_of(state, &claimed).await {
        Ok(job) => {
            tokio::spawn(runner::run(context(state), job));
        }
        Err(reason) => {
            tracing::warn!(job = %claimed.id, %reason, "a replay job cannot be taken over");
            if let Err(error) = store::fail(&state.db, claimed.id, &state.replica, &reason).await {
                tracing::warn!(job = %claimed.id, %error, "marking a replay job failed failed");
            }
        }
    }
}

/// What the claimed job works on, or why it cannot go on (in words for the job's `error`).
async fn job_of(state: &AppState, claimed: &Claimed) -> Result<Job, String> {
    let row = rows::get(&state.db, claimed.pipeline_id)
        .await
        .map_err(|_| "taken over, but its pipeline could not be read".to_owned())?
        .ok_or_else(|| "taken over, but its pipeline no longer exists".to_owned())?;
    let topics = provisioned_topics(state, &row)
        .map_err(|_| format!("taken over, but its pipeline is {}", row.state))?;
    let filter: ReplayFilter = serde_json::from_value(claimed.filter.0.clone())
        .map_err(|_| "taken over, but its stored filter is not readable".to_owned())?;
    Ok(Job {
        id: claimed.id,
        error_topic: topics.error,
        input_topic: topics.input,
        filter,
        resume: Resume {
            ranges: claimed.ranges.as_ref().map(|r| r.0.clone()),
            progress: claimed
                .progress
                .as_ref()
                .map(|p| p.0.clone())
                .unwrap_or_default(),
            inflight: claimed.inflight.as_ref().map(|s| s.0.clone()),
            counts: claimed.counts(),
        },
    })
}
