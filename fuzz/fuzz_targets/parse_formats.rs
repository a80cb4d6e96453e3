//! The parse stage over arbitrary log lines: each built-in format alone, and all of them in the
//! default order (the default chain's parse stage), with `onFailure` `unknown` and `error`.
//!
//! Input: the log line (bytes that are not UTF-8 are replaced, as a JSON string must be text).
//! Properties: no panic; with `onFailure: unknown` every line gives a document whose
//! `parsed.format` is the format that matched or `unknown`; `onFailure: error` fails exactly the
//! lines that `unknown` marks unknown; the all-formats chain matches a line exactly when one of
//! the single formats does, and then the first of them in the default order.
#![no_main]

use flow_stream_fuzz::{chain, checked_source, expect_document, run_fields};
use libfuzzer_sys::fuzz_target;
use pipeline_common::chain::{Chain, Outcome};
use serde_json::{json, Map, Value};
use std::sync::LazyLock;

const FORMATS: [&str; 4] = ["nginx", "syslog", "json", "simple_split"];

struct Chains {
    single: Vec<(&'static str, Chain)>,
    all: Chain,
    all_strict: Chain,
}

static CHAINS: LazyLock<Chains> = LazyLock::new(|| {
    let parse_only = |formats: Vec<&str>, on_failure: &str| {
        chain(json!({"name": "fuzz", "stages": [
            {"type": "parse", "formats": formats, "onFailure": on_failure}
        ]}))
    };
    Chains {
        single: FORMATS
            .iter()
            .map(|f| (*f, parse_only(vec![*f], "unknown")))
            .collect(),
        all: parse_only(FORMATS.to_vec(), "unknown"),
        all_strict: parse_only(FORMATS.to_vec(), "error"),
    }
});

fn parsed_format(chain: &Chain, line: &str, with_time: bool) -> String {
    let doc = expect_document(
        run_fields(chain, fields(line, with_time)),
        "parse, onFailure unknown",
    );
    checked_source(&doc);
    match doc.fields.to_map().get("parsed").and_then(|p| p.get("format")) {
        Some(Value::String(f)) => f.clone(),
        other => panic!("parsed.format is {other:?}"),
    }
}

fn fields(line: &str, with_time: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("log_message".into(), Value::String(line.to_owned()));
    if with_time {
        // The event time is the reference year of RFC 3164 timestamps.
        m.insert(
            "timestamp".into(),
            Value::String("2026-01-01T00:00:30Z".into()),
        );
    }
    m
}

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let with_time = data.first().is_some_and(|b| b & 1 == 1);
    let mut first_match = None;
    for (name, chain) in &CHAINS.single {
        let got = parsed_format(chain, &line, with_time);
        assert!(
            got == *name || got == "unknown",
            "format {name} reported {got}"
        );
        if got != "unknown" && first_match.is_none() {
            first_match = Some(*name);
        }
    }
    let all = parsed_format(&CHAINS.all, &line, with_time);
    assert_eq!(
        all,
        first_match.unwrap_or("unknown"),
        "all-formats chain disagrees"
    );
    match CHAINS.all_strict.process(
        pipeline_common::event::Event::from_data(fields(&line, with_time)),
        &flow_stream_fuzz::meta(),
    ) {
        Outcome::Failed { stage, .. } => {
            assert_eq!(stage.as_str(), "parse");
            assert_eq!(all, "unknown", "onFailure error failed a line that parses");
        }
        Outcome::Document(_) => assert_ne!(
            all, "unknown",
            "onFailure error let an unknown line through"
        ),
        Outcome::Dropped => panic!("a parse stage dropped an event"),
    }
});
