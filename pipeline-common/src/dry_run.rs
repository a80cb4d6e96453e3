//! Dry-run: sample events through a definition's stages, without side effects (DESIGN §3).

use crate::chain::{Chain, EngineContext, Outcome};
use crate::document::SourceMeta;
use crate::event::decode_value;
use crate::failure::FailedAt;
use crate::model::PipelineDefinition;
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;

/// Topic name used for dry-run documents' fallback `_id` (`dry-run-0-<n>`).
pub const DRY_RUN_TOPIC: &str = "dry-run";

/// The result for one sample event: `{"id": …, "document": {…}}`, `{"dropped": true}` or
/// `{"error": {"stage": …, "reason": …}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum DryRunResult {
    /// The document that would be indexed.
    Document {
        /// Its `_id`.
        id: String,
        /// Its source.
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        document: Value,
    },
    /// A filter dropped it.
    Dropped {
        /// Always `true`.
        dropped: bool,
    },
    /// It would be dead-lettered.
    Error {
        /// Where and why.
        error: DryRunFailure,
    },
}

/// Why a sample event would be dead-lettered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DryRunFailure {
    /// `decode`, or the failing stage's type.
    pub stage: FailedAt,
    /// Why.
    pub reason: String,
}

impl DryRunResult {
    fn error(stage: FailedAt, reason: String) -> DryRunResult {
        DryRunResult::Error {
            error: DryRunFailure { stage, reason },
        }
    }
}

/// Runs each event (a CloudEvents structured envelope or a plain object) through `def`'s stages;
/// results are in input order. The n-th event gets partition 0, offset n on topic `dry-run`.
/// When the chain cannot be built here (geoip stage without a database), every event reports it.
pub fn dry_run(
    def: &PipelineDefinition,
    ctx: &EngineContext,
    events: &[Value],
) -> Vec<DryRunResult> {
    let chain = match Chain::build(def, ctx) {
        Ok(c) => c,
        Err(e) => {
            return events
                .iter()
                .map(|_| DryRunResult::error(FailedAt::Geoip, e.to_string()))
                .collect()
        }
    };
    let now = Utc::now();
    events
        .iter()
        .enumerate()
        .map(|(i, ev)| {
            let meta = SourceMeta {
                topic: DRY_RUN_TOPIC,
                partition: 0,
                offset: i as i64,
                ingested_at: now,
            };
            match decode_value(ev, &ctx.limits) {
                Err(e) => DryRunResult::error(FailedAt::Decode, e.to_string()),
                Ok(event) => match chain.process(event, &meta) {
                    Outcome::Document(d) => DryRunResult::Document {
                        id: d.id.clone(),
                        document: d.into_value(),
                    },
                    Outcome::Dropped => DryRunResult::Dropped { dropped: true },
                    Outcome::Failed { stage, reason } => DryRunResult::error(stage, reason),
                },
            }
        })
        .collect()
}
