//! decode + default chain + bulk serialization over the baseline's sample events, on one core.
//!
//! With `FLOW_BENCH_PREFIXES=1` it also times the default chain cut after each stage, to show what
//! each stage adds.
//!
//! Events come from the file named by `FLOW_BENCH_EVENTS` (JSON lines, as written by
//! `../shared/baseline/gen_events.py`); without it, 20 000 events are generated with that script.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pipeline_common::chain::{default_stages, Chain, EngineContext, Outcome};
use pipeline_common::document::SourceMeta;
use pipeline_common::event::{decode_message, DecodeLimits};
use pipeline_common::model::{PipelineDefinition, ValidationContext};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

fn events() -> Vec<Vec<u8>> {
    let text = match std::env::var_os("FLOW_BENCH_EVENTS") {
        Some(path) => std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("FLOW_BENCH_EVENTS={}: {e}", PathBuf::from(&path).display())
        }),
        None => {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let script = root.join("../shared/baseline/gen_events.py");
            let out = std::process::Command::new("python3")
                .arg(&script)
                .arg("20000")
                .current_dir(&root)
                .output()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run python3 {}: {e}; set FLOW_BENCH_EVENTS to an events file",
                        script.display()
                    )
                });
            assert!(
                out.status.success(),
                "python3 {} failed: {}; set FLOW_BENCH_EVENTS to an events file",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }
    };
    let lines: Vec<Vec<u8>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.as_bytes().to_vec())
        .collect();
    assert!(!lines.is_empty(), "no events to run");
    lines
}

/// Decode + default chain + bulk serialization of every event, once, into `out`.
#[inline(never)]
fn run_once(chain: &Chain, def: &PipelineDefinition, events: &[Vec<u8>], out: &mut Vec<u8>) {
    let no_headers: [(&str, &[u8]); 0] = [];
    let now = Utc::now();
    out.clear();
    for (i, e) in events.iter().enumerate() {
        let meta = SourceMeta {
            topic: "pipeline.bench.input",
            partition: 0,
            offset: i as i64,
            ingested_at: now,
        };
        match chain.process_message(no_headers, e, &meta) {
            Outcome::Document(d) => {
                let index = d.index_name(def.index());
                d.write_bulk(&index, out);
            }
            other => panic!("{other:?}"),
        }
    }
}

fn bench(c: &mut Criterion) {
    let events = events();
    // `FLOW_BENCH_ONCE=1`: one pass over the events and exit, for instruction counts, e.g.
    // `valgrind --tool=callgrind --toggle-collect='*run_once*' target/release/deps/stages-…`;
    // `FLOW_BENCH_ONCE=N`, N passes, for whole-process timings.
    if let Some(passes) = std::env::var_os("FLOW_BENCH_ONCE") {
        let passes: usize = passes.to_str().and_then(|p| p.parse().ok()).unwrap_or(1);
        let def = PipelineDefinition::parse(
            &serde_json::json!({"name": "bench"}),
            &ValidationContext::new(false),
        )
        .unwrap();
        let chain = Chain::build(&def, &EngineContext::default()).unwrap();
        let mut out = Vec::with_capacity(4 << 20);
        let passes = passes.max(1);
        // Timed like the seed's own loop: the passes only, not start-up or reading the file.
        let started = std::time::Instant::now();
        for _ in 0..passes {
            run_once(&chain, &def, &events, &mut out);
        }
        let seconds = started.elapsed().as_secs_f64();
        let processed = events.len() * passes;
        println!(
            "events={processed} seconds={seconds:.3} events_per_s={:.0} bulk_bytes={}",
            processed as f64 / seconds,
            out.len()
        );
        return;
    }
    let def = PipelineDefinition::parse(
        &serde_json::json!({"name": "bench"}),
        &ValidationContext::new(false),
    )
    .unwrap();
    let chain = Chain::build(&def, &EngineContext::default()).unwrap();
    let limits = DecodeLimits::default();
    let no_headers: [(&str, &[u8]); 0] = [];

    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(2));
    g.measurement_time(Duration::from_secs(8));

    g.bench_function("decode", |b| {
        b.iter(|| {
            for e in &events {
                black_box(decode_message(no_headers, e, &limits).unwrap());
            }
        })
    });

    let mut out = Vec::with_capacity(4 << 20);
    g.bench_function("default_chain", |b| {
        b.iter(|| {
            run_once(&chain, &def, &events, &mut out);
            black_box(out.len());
        })
    });
    g.finish();

    // What each stage of the default chain adds: the chain cut after its first k stages, with
    // document building and bulk serialization each time (`FLOW_BENCH_PREFIXES=1`).
    if std::env::var_os("FLOW_BENCH_PREFIXES").is_some() {
        let specs = default_stages(false);
        let mut g = c.benchmark_group("prefix");
        g.throughput(Throughput::Elements(events.len() as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(4));
        for k in 0..=specs.len() {
            let chain = Chain::from_specs("bench", &specs[..k], &EngineContext::default()).unwrap();
            let label = specs[..k]
                .iter()
                .map(|s| s.kind())
                .collect::<Vec<_>>()
                .join("+");
            g.bench_function(format!("decode+{label}+bulk"), |b| {
                b.iter(|| {
                    run_once(&chain, &def, &events, &mut out);
                    black_box(out.len());
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
