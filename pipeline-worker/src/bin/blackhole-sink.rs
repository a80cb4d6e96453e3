//! A blackhole `_bulk` sink for benchmarks (DESIGN §8): parses every bulk body, answers success for
//! each item, keeps nothing but counts. Like Vector's benchmark sinks, it measures the worker, not
//! a search engine.
//!
//! `blackhole-sink [PORT]` (0 or none: any port) prints `listening on <addr>` and serves:
//! - `POST /_bulk`, `POST /{index}/_bulk`: per-item `201 created`;
//! - `GET /_stats`: `{"requests", "docs", "bytes", "firstMs", "lastMs", "firstDocs"}` (Unix ms of
//!   the first and last bulk request, and the documents of the first, which a rate over the window
//!   between them must leave out);
//! - `GET /`: a cluster-info stub; `GET|HEAD /_cat/health`: 200 (rsyslog's omelasticsearch checks
//!   it before sending).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    docs: AtomicU64,
    bytes: AtomicU64,
    first_ms: AtomicI64,
    last_ms: AtomicI64,
    first_docs: AtomicU64,
}

fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(serve(port))
}

async fn serve(port: u16) -> anyhow::Result<()> {
    let stats = Arc::new(Stats::default());
    let app = Router::new()
        .route("/", get(|| async { Json(serde_json::json!({"version": {"number": "2.11.0", "distribution": "blackhole"}})) }))
        .route("/_bulk", post(bulk))
        .route("/{index}/_bulk", post(bulk))
        .route("/_stats", get(stats_handler))
        .route("/_cat/health", get(|| async { "green\n" }))
        .layer(axum::extract::DefaultBodyLimit::max(512 * 1024 * 1024))
        .with_state(stats);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn stats_handler(State(stats): State<Arc<Stats>>) -> impl IntoResponse {
    Json(serde_json::json!({
        "requests": stats.requests.load(Ordering::Relaxed),
        "docs": stats.docs.load(Ordering::Relaxed),
        "bytes": stats.bytes.load(Ordering::Relaxed),
        "firstMs": stats.first_ms.load(Ordering::Relaxed),
        "lastMs": stats.last_ms.load(Ordering::Relaxed),
        "firstDocs": stats.first_docs.load(Ordering::Relaxed),
    }))
}

async fn bulk(State(stats): State<Arc<Stats>>, body: Bytes) -> impl IntoResponse {
    let now = chrono::Utc::now().timestamp_millis();
    let first = stats
        .first_ms
        .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok();
    let mut out = Vec::with_capacity(body.len() / 8 + 64);
    out.extend_from_slice(b"{\"took\":0,\"errors\":false,\"items\":[");
    let mut docs = 0u64;
    let mut lines = body.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    while let Some(action_line) = lines.next() {
        // Parse the action like a real cluster would; the source line is skipped unparsed.
        let action: serde_json::Value = match serde_json::from_slice(action_line) {
            Ok(v) => v,
            Err(_) => break,
        };
        let Some((op, meta)) = action.as_object().and_then(|o| o.iter().next()) else {
            break;
        };
        if op != "delete" {
            let _ = lines.next();
        }
        if docs > 0 {
            out.push(b',');
        }
        let item = serde_json::json!({op.as_str(): {
            "_index": meta.get("_index").cloned().unwrap_or_default(),
            "_id": meta.get("_id").cloned().unwrap_or_default(),
            "result": "created", "status": 201}});
        let _ = serde_json::to_writer(&mut out, &item);
        docs += 1;
    }
    out.extend_from_slice(b"]}");
    if first {
        stats.first_docs.store(docs, Ordering::Relaxed);
    }
    stats.requests.fetch_add(1, Ordering::Relaxed);
    stats.docs.fetch_add(docs, Ordering::Relaxed);
    stats.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    stats
        .last_ms
        .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    ([(header::CONTENT_TYPE, "application/json")], out)
}
