//! Helpers shared by the stage tests.

use chrono::{DateTime, Utc};
use pipeline_common::chain::{Chain, EngineContext, Outcome};
use pipeline_common::document::{Document, SourceMeta};
use pipeline_common::event::{decode_message, DecodeLimits};
use pipeline_common::model::{PipelineDefinition, ValidationContext};
use serde_json::Value;

/// The baseline's sample events (gen_events.py 40 7).
pub const EVENTS: &str = include_str!("fixtures/events.jsonl");

pub fn fixture_events() -> Vec<Value> {
    EVENTS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn ingest_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub fn meta(offset: i64) -> SourceMeta<'static> {
    SourceMeta {
        topic: "pipeline.web.input",
        partition: 2,
        offset,
        ingested_at: ingest_time(),
    }
}

pub fn definition(json: Value) -> PipelineDefinition {
    PipelineDefinition::parse(&json, &ValidationContext::new(true)).unwrap()
}

pub fn default_chain() -> Chain {
    Chain::build(
        &definition(serde_json::json!({"name": "web"})),
        &EngineContext::default(),
    )
    .unwrap()
}

/// Runs raw bytes through decode and the chain.
pub fn run_bytes(chain: &Chain, bytes: &[u8]) -> Outcome {
    match decode_message(Vec::<(&str, &[u8])>::new(), bytes, &DecodeLimits::default()) {
        Ok(ev) => chain.process(ev, &meta(7)),
        Err(e) => Outcome::Failed {
            stage: pipeline_common::failure::FailedAt::Decode,
            reason: e.to_string(),
        },
    }
}

pub fn run_json(chain: &Chain, v: &Value) -> Outcome {
    run_bytes(chain, v.to_string().as_bytes())
}

pub fn document(o: Outcome) -> Document {
    match o {
        Outcome::Document(d) => d,
        other => panic!("expected a document, got {other:?}"),
    }
}

/// A plain event around one log line.
pub fn line_event(line: &str) -> Value {
    serde_json::json!({"specversion": "1.0", "id": "e1", "source": "test", "type": "log",
        "time": "2026-11-04T00:47:17Z", "data": {"log_message": line, "severity": "INFO"}})
}
