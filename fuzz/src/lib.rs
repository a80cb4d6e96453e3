//! What the fuzz targets share: chains built from pipeline definitions (the public contract, so
//! the targets outlive changes inside the stage modules) and a readable input framing.

use chrono::{DateTime, Utc};
use pipeline_common::chain::{Chain, EngineContext, Outcome};
use pipeline_common::document::{Document, SourceMeta};
use pipeline_common::event::Event;
use pipeline_common::model::{PipelineDefinition, ValidationContext};
use serde_json::{Map, Value};

/// A fixed ingest time, so that runs are reproducible.
pub fn ingest_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_262_400, 0).unwrap_or_default()
}

/// Where every fuzzed event claims to come from.
pub fn meta() -> SourceMeta<'static> {
    SourceMeta {
        topic: "pipeline.fuzz.input",
        partition: 0,
        offset: 1,
        ingested_at: ingest_time(),
    }
}

/// The chain of a pipeline definition given as JSON; panics on a bad definition, which is a
/// defect of the target, not a finding.
pub fn chain(definition: Value) -> Chain {
    let def = PipelineDefinition::parse(&definition, &ValidationContext::new(false))
        .unwrap_or_else(|e| panic!("bad fuzz pipeline definition {definition}: {e:?}"));
    Chain::build(&def, &EngineContext::default()).expect("chain builds")
}

/// Runs a plain event with these fields through `chain`.
pub fn run_fields(chain: &Chain, fields: Map<String, Value>) -> Outcome {
    chain.process(Event::from_data(fields), &meta())
}

/// The document of an outcome; any other outcome is a failed property.
pub fn expect_document(outcome: Outcome, what: &str) -> Document {
    match outcome {
        Outcome::Document(d) => d,
        other => panic!("{what}: expected a document, got {other:?}"),
    }
}

/// Checks the document's fast serializer against serde_json's, which it promises to match byte
/// for byte, and returns the source text.
pub fn checked_source(doc: &Document) -> String {
    let mut fast = Vec::new();
    doc.write_source(&mut fast);
    let reference = serde_json::to_vec(&doc.clone().into_value()).expect("a Value serializes");
    assert_eq!(
        String::from_utf8_lossy(&fast),
        String::from_utf8_lossy(&reference),
        "write_source differs from serde_json"
    );
    String::from_utf8(fast).expect("write_source writes UTF-8")
}

/// Splits a fuzz input into Kafka headers and a payload, framed like an HTTP message so that the
/// seed files stay readable: `name: value` lines, an empty line, then the payload bytes. An input
/// without an empty line is all payload.
pub fn split_record(data: &[u8]) -> (Vec<(&str, &[u8])>, &[u8]) {
    let Some(at) = find(data, b"\n\n") else {
        return (Vec::new(), data);
    };
    let (head, payload) = (&data[..at], &data[at + 2..]);
    let headers = head
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let name = std::str::from_utf8(&line[..colon]).ok()?;
            let value = &line[colon + 1..];
            Some((name, value.strip_prefix(b" ").unwrap_or(value)))
        })
        .collect();
    (headers, payload)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
