//! Operational endpoints: liveness, readiness, version, metrics and the OpenAPI document.
//! All open: probes and scrapers carry no token.

use crate::error::ApiError;
use crate::fleet_metrics::FleetSnapshot;
use crate::http::responses::Unavailable;
use crate::provision;
use crate::provision::search_access::{CertificateRejected, CredentialsRejected};
use crate::provision::topics::{AuthenticationFailed, TlsHandshakeFailed};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// How long each readiness check may take.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(version))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
}

/// Liveness body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: &'static str,
    /// The `…tlsSkipVerify` keys that are on: connections whose certificates nobody checks
    /// (development only). Absent when none is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unverified_tls: Vec<&'static str>,
}

/// Readiness: MariaDB, Kafka and OpenSearch all answer.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "every dependency answers", body = Ready),
        (status = 503, response = Unavailable)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    let db = async {
        tokio::time::timeout(READY_TIMEOUT, sqlx::query("SELECT 1").execute(&state.db))
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r.map(|_| ()).map_err(anyhow::Error::from))
    };
    let kafka = state.topics.ping(READY_TIMEOUT);
    let search = provision::index::ping(&state.search, READY_TIMEOUT);
    let (db, kafka, search) = tokio::join!(db, kafka, search);
    let mut down = Vec::new();
    for (name, result) in [("database", db), ("kafka", kafka), ("opensearch", search)] {
        if let Err(err) = result {
            tracing::warn!(dependency = name, error = format!("{err:#}"), "not ready");
            // Our own words only: the cause chain may carry addresses and server text.
            let why = if err.is::<AuthenticationFailed>() {
                "rejected the credentials (SASL authentication failed)"
            } else if err.is::<TlsHandshakeFailed>() {
                "failed the TLS handshake: certificate not trusted (check mq.caFile), \
                 name mismatch or client certificate refused"
            } else if err.is::<CertificateRejected>() {
                "failed the TLS handshake: certificate not trusted (check opensearch.caFile), \
                 name mismatch or client certificate refused"
            } else if err.is::<CredentialsRejected>() {
                "rejected the credentials (401/403: check opensearch.username and its roles)"
            } else {
                "unreachable"
            };
            down.push(format!("{name} {why}"));
        }
    }
    let unverified_tls = state.settings.unverified_tls();
    if down.is_empty() {
        Ok(Json(Ready {
            status: "ready",
            unverified_tls,
        }))
    } else {
        let mut detail = format!("not ready: {}", down.join(", "));
        if !unverified_tls.is_empty() {
            detail.push_str(&format!(
                " (TLS verification off: {})",
                unverified_tls.join(", ")
            ));
        }
        Err(ApiError::Unavailable {
            detail,
            source: None,
        })
    }
}

/// Build information.
#[derive(Debug, Serialize, ToSchema)]
pub struct Version {
    /// Binary name.
    pub name: String,
    /// Crate version.
    pub version: String,
    /// Compiler.
    pub rustc: String,
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
}

/// Name, version, compiler and platform.
#[utoipa::path(get, path = "/version", tag = "ops",
    responses((status = 200, description = "build information", body = Version)))]
pub async fn version() -> Json<Version> {
    let info = crate::cli::build_info();
    Json(Version {
        name: info.name.to_owned(),
        version: info.version.to_owned(),
        rustc: info.rustc.to_owned(),
        os: info.os.to_owned(),
        arch: info.arch.to_owned(),
    })
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus metrics", body = String, content_type = "text/plain; version=0.0.4")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    // The gauge is read at scrape time, so it is right whatever replica made the change.
    match pipeline_common::store::pipelines::count_by_state(&state.db).await {
        Ok(counts) => state.metrics.set_pipeline_counts(&counts),
        Err(err) => tracing::warn!(error = %err, "counting pipelines for /metrics"),
    }
    let mut text = state.metrics.render();
    // Same window as the status view: a task silent for three heartbeat intervals is gone.
    let live_window = Duration::from_millis(
        state
            .settings
            .worker
            .heartbeat_interval_ms
            .saturating_mul(3),
    );
    match FleetSnapshot::read(&state.db, live_window).await {
        Ok(fleet) => fleet.render(&mut text),
        Err(err) => tracing::warn!(error = %err, "reading worker heartbeats for /metrics"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "ops",
    responses((status = 200, description = "the OpenAPI 3.1 document of this service", body = Object)))]
pub async fn openapi(State(state): State<AppState>) -> Response {
    match state.openapi.get() {
        Some(doc) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            doc.clone(),
        )
            .into_response(),
        None => ApiError::Internal(anyhow::anyhow!("OpenAPI document not built")).into_response(),
    }
}
