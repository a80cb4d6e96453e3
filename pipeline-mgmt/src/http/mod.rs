//! The HTTP surface: one module per resource, each with its own `router()`, assembled here.

pub mod console;
pub mod dry_run;
pub mod errors;
pub mod events;
pub mod extract;
pub mod ops;
pub mod pipelines;
pub mod replay;
pub mod view;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::any::Any;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

/// Top-level OpenAPI metadata; paths come from the handlers' `#[utoipa::path]` attributes,
/// collected by the same `routes!` calls that build the router, so the two cannot drift.
#[derive(OpenApi)]
#[openapi(
    info(title = "flow-stream pipeline-mgmt", description = "Pipeline management REST API"),
    modifiers(&BearerAuth),
    tags(
        (name = "pipelines", description = "pipeline definitions and life cycle"),
        (name = "ingest", description = "HTTP ingest"),
        (name = "dry-run", description = "run events through stages without side effects"),
        (name = "dead-letters", description = "a pipeline's error topic: browse and replay"),
        (name = "ops", description = "health, readiness, version, metrics, this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The router with every route, plus its OpenAPI document.
pub fn router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let max_body = state.settings.server.max_request_bytes;
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(pipelines::router())
        .merge(events::router())
        .merge(dry_run::router())
        .merge(errors::router())
        .merge(replay::router())
        .merge(ops::router())
        .split_for_parts();
    let api = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());
    // The console forwards with a fresh request (no outer extensions), so its copy carries
    // the body limit itself.
    let forwarded = api.clone().layer(DefaultBodyLimit::max(max_body));
    let router = console::router(state.clone(), forwarded)
        .merge(api)
        .layer(DefaultBodyLimit::max(max_body))
        // Inside the metrics layer, so that a panic is counted as the 500 it becomes.
        .layer(CatchPanicLayer::custom(panicked))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    (router, openapi)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn panicked(_: Box<dyn Any + Send + 'static>) -> Response {
    ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
}
