//! Dry-run: sample events through a definition's stages, without side effects (DESIGN §3).

use crate::chain::{Chain, EngineContext, Outcome};
use crate::document::SourceMeta;
use crate::event::decode_value;
use crate::failure::FailedAt;
use crate::model::PipelineDefinition;
use crate::trigger::{Admission, Rejection, Trigger};
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
    /// A filter dropped it: a `filter` stage, or a broker source's filter (`reason` then says
    /// which part turned it away).
    Dropped {
        /// Always `true`.
        dropped: bool,
        /// Set when the source's filter turned it away: it never reaches the stages.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
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
    let trigger = def
        .source()
        .map(Trigger::new)
        .filter(|t| !t.takes_everything());
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
            if let Some(rejected) = trigger.as_ref().and_then(|t| source_rejects(t, ev, ctx)) {
                return rejected;
            }
            match decode_value(ev, &ctx.limits) {
                Err(e) => DryRunResult::error(FailedAt::Decode, e.to_string()),
                Ok(event) => match chain.process(event, &meta) {
                    Outcome::Document(d) => DryRunResult::Document {
                        id: d.id.clone(),
                        document: d.into_value(),
                    },
                    Outcome::Dropped => DryRunResult::Dropped {
                        dropped: true,
                        reason: None,
                    },
                    Outcome::Failed { stage, reason } => DryRunResult::error(stage, reason),
                },
            }
        })
        .collect()
}

/// What a broker source's filter says of `event`, when it turns the event away: as at run time,
/// a CEL expression that gives no boolean is a non-match, and the reason says so.
fn source_rejects(trigger: &Trigger, event: &Value, ctx: &EngineContext) -> Option<DryRunResult> {
    let bytes = serde_json::to_vec(event).ok()?;
    let reason = match trigger.admit(std::iter::empty(), &bytes, &ctx.limits) {
        Admission::Admitted(_) => return None,
        Admission::Rejected(Rejection::NoMatch) => "the source's filter does not match".to_owned(),
        Admission::Rejected(Rejection::CelError(error)) => {
            format!("the source's CEL expression gave no boolean, a non-match: {error}")
        }
    };
    Some(DryRunResult::Dropped {
        dropped: true,
        reason: Some(reason),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ValidationContext;
    use serde_json::json;

    #[test]
    fn a_broker_sources_filter_turns_events_away_before_the_stages() {
        let def = PipelineDefinition::parse(
            &json!({"name": "orders", "source": {"broker": "default", "filter": {
                "attributes": {"type": "order.created"}, "cel": "data.amount > 1000"}}}),
            &ValidationContext::default(),
        )
        .unwrap();
        let event = |ty: &str, data: Value| json!({"specversion": "1.0", "id": "1", "source": "/shop", "type": ty, "data": data});
        let results = dry_run(
            &def,
            &EngineContext::default(),
            &[
                event("order.created", json!({"amount": 1500})),
                event("order.created", json!({"amount": 10})),
                event("order.cancelled", json!({"amount": 1500})),
                event("order.created", json!({"total": 1500})),
            ],
        );
        assert!(
            matches!(results[0], DryRunResult::Document { .. }),
            "{results:?}"
        );
        let reasons: Vec<&str> = results[1..]
            .iter()
            .map(|r| match r {
                DryRunResult::Dropped {
                    reason: Some(reason),
                    ..
                } => reason.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(reasons[0], "the source's filter does not match");
        assert_eq!(reasons[1], "the source's filter does not match");
        assert!(
            reasons[2].starts_with("the source's CEL expression gave no boolean, a non-match: "),
            "{}",
            reasons[2]
        );
        let dropped = serde_json::to_value(&results[1]).unwrap();
        assert_eq!(dropped["dropped"], true);
    }
}
