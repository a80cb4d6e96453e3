//! Event decoding: the bytes and headers of a Kafka record → an event (CloudEvents binary or
//! structured mode, or a plain JSON object), then the default chain over it.
//!
//! Input: `name: value` header lines, an empty line, the payload (see `split_record`).
//! Properties: no panic; an accepted event respects the limits it was decoded under; a plain
//! event's data is what serde_json reads from the payload; every document the default chain
//! builds serializes exactly as serde_json would.
#![no_main]

use flow_stream_fuzz::{chain, checked_source, meta, split_record};
use libfuzzer_sys::fuzz_target;
use pipeline_common::chain::{Chain, Outcome};
use pipeline_common::event::{decode_message, DecodeLimits};
use serde_json::{json, Value};
use std::sync::LazyLock;

static DEFAULT_CHAIN: LazyLock<Chain> = LazyLock::new(|| chain(json!({"name": "fuzz"})));

const TIGHT: DecodeLimits = DecodeLimits {
    max_bytes: 512,
    max_depth: 4,
};

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let (headers, payload) = split_record(data);
    for limits in [DecodeLimits::default(), TIGHT] {
        if let Ok(event) = decode_message(headers.iter().copied(), payload, &limits) {
            assert!(payload.len() <= limits.max_bytes, "over max_bytes accepted");
            let data = event.data.to_map();
            if headers.is_empty() {
                if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(payload) {
                    if !m.contains_key("specversion") {
                        assert_eq!(data, m, "the document model read other data than serde_json");
                    }
                }
            }
            let d = depth(&Value::Object(data));
            // A structured event's data sits one level below the envelope.
            assert!(
                d <= limits.max_depth,
                "depth {d} over {} accepted",
                limits.max_depth
            );
        }
    }
    match DEFAULT_CHAIN.process_message(headers.iter().copied(), payload, &meta()) {
        Outcome::Document(doc) => {
            let source = checked_source(&doc);
            serde_json::from_str::<Value>(&source).expect("the source is JSON");
        }
        Outcome::Dropped => panic!("the default chain has no filter"),
        Outcome::Failed { .. } => {}
    }
});
