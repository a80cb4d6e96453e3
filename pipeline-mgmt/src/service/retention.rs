//! Retention of dated indices: every `server.retentionIntervalSec`, the replica holding the
//! `retention` lease deletes each pipeline's dated indices that are past its
//! `indexing.retention` (the decision is [`Retention::is_due`], a pure function of
//! pipeline-common).
//!
//! What is never deleted: an index of the current or a future period, a name that does not
//! parse back to the pipeline's own pattern (`web-foo`), and any index the pipeline's template
//! does not claim (another pipeline's). Each deletion is a log line, an audit row
//! (`retention-delete`, the index in `detail`) and a count in
//! `flow_retention_indices_deleted_total`. Indices are deleted one at a time, each after renewing
//! the lease, so a replica that lost the lease stops within one deletion; an index found already
//! gone (deleted by hand, or by the previous holder just before a takeover) is neither audited
//! nor counted again.

use super::all_rows;
use crate::lease::Lease;
use crate::provision::index;
use crate::state::AppState;
use crate::store;
use chrono::{DateTime, Utc};
use pipeline_common::index_template::{IndexClaim, Retention};
use pipeline_common::model::PipelineDefinition;
use pipeline_common::store::pipelines::{PipelineRow, PipelineState};
use std::time::Duration;

/// The name of the lease one replica holds while it sweeps.
pub const LEASE: &str = "retention";

/// What one sweep did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sweep {
    /// Another replica holds the lease (or took it over during the sweep).
    NotHolder,
    /// This replica swept; the indices it deleted.
    Swept(Vec<String>),
}

/// Sweeps every `server.retentionIntervalSec` until the task is dropped. The lease lasts two
/// intervals, so another replica takes over when this one has missed two sweeps.
pub async fn run(state: AppState) {
    let interval = Duration::from_secs(state.settings.server.retention_interval_sec.max(1));
    let lease = Lease::new(LEASE, interval.saturating_mul(2));
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = sweep(&state, &lease, Utc::now()).await {
            tracing::warn!(
                error = format!("{err:#}"),
                "retention: sweep failed; retried at the next interval"
            );
        }
    }
}

/// One sweep at `now`, if this replica holds (or can take) the lease.
pub async fn sweep(state: &AppState, lease: &Lease, now: DateTime<Utc>) -> anyhow::Result<Sweep> {
    if !lease.try_hold(&state.db).await? {
        return Ok(Sweep::NotHolder);
    }
    let mut deleted = Vec::new();
    for row in all_rows(state).await? {
        let Some((definition, retention)) = retained(state, &row) else {
            continue;
        };
        let due = match due_indices(state, &definition, &retention, now).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(pipeline = %row.name, error = format!("{err:#}"),
                    "retention: listing the pipeline's indices failed; skipped this sweep");
                continue;
            }
        };
        for name in due {
            if !lease.try_hold(&state.db).await? {
                tracing::info!(
                    holder = lease.holder(),
                    "retention: lease lost; sweep stopped"
                );
                return Ok(Sweep::NotHolder);
            }
            if delete_one(state, &row, &retention, &name).await {
                deleted.push(name);
            }
        }
    }
    Ok(Sweep::Swept(deleted))
}

/// The definition and retention of `row`, when it is a provisioned pipeline with a retention.
fn retained(state: &AppState, row: &PipelineRow) -> Option<(PipelineDefinition, Retention)> {
    if !matches!(row.state, PipelineState::Running | PipelineState::Stopped) {
        return None;
    }
    let definition = match PipelineDefinition::parse(&row.definition, &state.validation) {
        Ok(d) => d,
        Err(_) => {
            tracing::warn!(pipeline = %row.name, "retention: stored definition does not validate; skipped");
            return None;
        }
    };
    let retention = definition.indexing().retention.clone()?;
    Some((definition, retention))
}

/// The pipeline's indices that are due at `now`, oldest first.
async fn due_indices(
    state: &AppState,
    definition: &PipelineDefinition,
    retention: &Retention,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<String>> {
    let pattern = definition.index();
    let claim = IndexClaim::of(pattern);
    let mut due: Vec<(DateTime<Utc>, String)> = index::list_names(&state.search, &claim.patterns())
        .await?
        .into_iter()
        .filter(|name| claim.covers(name) && retention.is_due(pattern, name, now))
        .filter_map(|name| Some((pattern.date_of(&name)?, name)))
        .collect();
    due.sort();
    Ok(due.into_iter().map(|(_, name)| name).collect())
}

/// Deletes `name` of pipeline `row`; true when this call deleted it.
async fn delete_one(
    state: &AppState,
    row: &PipelineRow,
    retention: &Retention,
    name: &str,
) -> bool {
    match index::delete(&state.search, name).await {
        Ok(index::Deleted::Now) => {
            tracing::info!(pipeline = %row.name, index = name, retention = retention.as_str(),
                "retention: deleted an index past the pipeline's retention");
            state.metrics.record_retention_delete();
            if let Err(err) = store::record_retention_delete(&state.db, row, name).await {
                tracing::warn!(pipeline = %row.name, index = name, error = %err,
                    "retention: the deletion's audit row could not be written");
            }
            true
        }
        Ok(index::Deleted::AlreadyGone) => false,
        Err(err) => {
            tracing::warn!(pipeline = %row.name, index = name, error = format!("{err:#}"),
                "retention: deleting an index failed; retried at the next sweep");
            false
        }
    }
}
