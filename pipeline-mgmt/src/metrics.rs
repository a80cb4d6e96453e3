//! Prometheus metrics of this service.
//!
//! Each [`Application`](crate::Application) owns its own recorder instead of installing a
//! process-global one, so several apps in one test process keep separate numbers. Recording goes
//! through `metrics::with_local_recorder`, which is synchronous and cheap.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use pipeline_common::store::pipelines::PipelineState;
use std::sync::Arc;
use std::time::Instant;

/// Request latency histogram buckets, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Dated indices this process deleted because they were past their pipeline's retention.
const RETENTION_DELETED: &str = "flow_retention_indices_deleted_total";

/// The recorder and its render handle.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Metrics {
    /// A fresh recorder with histogram buckets for request latency.
    pub fn new() -> anyhow::Result<Self> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(
                    "http_request_duration_seconds".to_owned(),
                ),
                LATENCY_BUCKETS,
            )?
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Metrics { recorder, handle };
        // Present from the start, so that an alert on its rate sees a zero rather than no series.
        metrics::with_local_recorder(&metrics.recorder, || {
            metrics::counter!(RETENTION_DELETED).absolute(0);
        });
        Ok(metrics)
    }

    /// Counts one index deleted by retention.
    pub fn record_retention_delete(&self) {
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!(RETENTION_DELETED).increment(1);
        });
    }

    /// Records one finished request.
    pub fn record_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!(
                "http_requests_total",
                "method" => method.to_owned(),
                "route" => route.to_owned(),
                "status" => status.to_string()
            )
            .increment(1);
            metrics::histogram!("http_request_duration_seconds", "route" => route.to_owned())
                .record(seconds);
        });
    }

    /// Sets the `pipelines{state}` gauge; states missing from `counts` are set to 0.
    pub fn set_pipeline_counts(&self, counts: &[(PipelineState, i64)]) {
        metrics::with_local_recorder(&self.recorder, || {
            for state in PipelineState::ALL {
                let n = counts
                    .iter()
                    .find(|(s, _)| *s == state)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("pipelines", "state" => state.as_str()).set(n as f64);
            }
        });
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }
}

/// Middleware recording every request by its matched route template (never the raw path, whose
/// ids would explode the label set). Unmatched requests are labelled `unmatched`.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    metrics.record_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
