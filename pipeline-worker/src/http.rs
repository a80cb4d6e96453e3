//! The worker's own HTTP endpoints: `/healthz` (alive), `/readyz` (reconciling against MariaDB,
//! Kafka and OpenSearch answering), `/metrics` (Prometheus).

use crate::metrics::ProcessStats;
use crate::reconcile::Health;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use pipeline_common::clients::readiness::{KafkaProbe, SearchProbe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How long each dependency's readiness check may take.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The external dependencies `/readyz` pings, built from the worker's own settings so that
/// readiness sees the trust and credentials the tasks use.
#[derive(Clone)]
pub struct Dependencies {
    /// Kafka, through a producer that never sends.
    pub kafka: KafkaProbe,
    /// OpenSearch.
    pub search: SearchProbe,
}

#[derive(Clone)]
struct AppState {
    health: Arc<Health>,
    prometheus: PrometheusHandle,
    /// Ready while the last successful reconciliation is at most this old.
    stale_after_ms: i64,
    /// The `…tlsSkipVerify` keys that are on, named in every readiness answer.
    unverified_tls: Vec<&'static str>,
    dependencies: Dependencies,
}

/// The router of the worker's endpoints.
pub fn router(
    health: Arc<Health>,
    prometheus: PrometheusHandle,
    stale_after_ms: i64,
    unverified_tls: Vec<&'static str>,
    dependencies: Dependencies,
) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(AppState {
            health,
            prometheus,
            stale_after_ms,
            unverified_tls,
            dependencies,
        })
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (mut status, mut body) = readiness(&state);
    let down = dependencies_down(&state.dependencies).await;
    if !down.is_empty() {
        if status == StatusCode::OK {
            body.clear();
        }
        status = StatusCode::SERVICE_UNAVAILABLE;
        body.push_str(&format!("not ready: {}\n", down.join(", ")));
    }
    if !state.unverified_tls.is_empty() {
        body.push_str(&format!(
            "warning: TLS verification off ({}), development only\n",
            state.unverified_tls.join(", ")
        ));
    }
    (status, body)
}

fn readiness(state: &AppState) -> (StatusCode, String) {
    let last = state.health.last_reconcile_ms.load(Ordering::Relaxed);
    let age = chrono::Utc::now().timestamp_millis() - last;
    if last > 0 && age <= state.stale_after_ms {
        (StatusCode::OK, "ready\n".to_owned())
    } else if last == 0 {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no reconciliation against the database yet\n".to_owned(),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: last reconciliation against the database {age} ms ago\n"),
        )
    }
}

/// Kafka and OpenSearch, pinged together: one line part per dependency that is down.
async fn dependencies_down(dependencies: &Dependencies) -> Vec<String> {
    let (kafka, search) = tokio::join!(
        dependencies.kafka.ping(READY_TIMEOUT),
        dependencies.search.ping_authenticated(READY_TIMEOUT)
    );
    [("kafka", kafka), ("opensearch", search)]
        .into_iter()
        .filter_map(|(name, result)| {
            let why = result.err()?;
            tracing::warn!(dependency = name, %why, "not ready");
            Some(format!("{name} {why}"))
        })
        .collect()
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ProcessStats::publish_self();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.prometheus.render(),
    )
}
