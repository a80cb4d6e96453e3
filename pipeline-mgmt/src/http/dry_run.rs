//! Dry runs: sample events through a pipeline's stages, without side effects.

use crate::auth::CanWrite;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, PipelineId};
use crate::http::pipelines::{find, invalid};
use crate::http::responses::{
    BadRequest, Forbidden, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
    UnprocessableEntity, UnsupportedMediaType,
};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use pipeline_common::model::PipelineDefinition;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Most events one dry run takes; it is a debugging aid, not an ingest path.
const MAX_EVENTS: usize = 1000;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dry_run_definition))
        .routes(routes!(dry_run_stored))
}

/// Body of `POST /api/v1/dry-run`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefinitionDryRun {
    /// A pipeline definition (DESIGN §2), not stored.
    #[schema(value_type = crate::http::schema::PipelineDefinition)]
    pub definition: Value,
    /// Events: CloudEvents structured envelopes or plain objects.
    #[schema(value_type = Vec<Value>, max_items = 1000)]
    pub events: Vec<Value>,
}

/// Body of `POST /api/v1/pipelines/{id}/dry-run`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoredDryRun {
    /// Events: CloudEvents structured envelopes or plain objects.
    #[schema(value_type = Vec<Value>, max_items = 1000)]
    pub events: Vec<Value>,
}

/// Results, in input order: `{"id", "document"}`, `{"dropped": true}` or
/// `{"error": {"stage", "reason"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunResults {
    /// One per event.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<Value>,
}

/// Run events through a definition that is not stored.
#[utoipa::path(post, path = "/api/v1/dry-run", tag = "dry-run",
    request_body = DefinitionDryRun,
    responses(
        (status = 200, description = "one result per event", body = DryRunResults),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UnprocessableEntity)),
    security(("bearer" = [])))]
pub async fn dry_run_definition(
    _: CanWrite,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<DefinitionDryRun>,
) -> Result<Json<DryRunResults>, ApiError> {
    let definition = PipelineDefinition::parse(&body.definition, &state.validation)
        .map_err(|errors| prefix(invalid(errors), "definition"))?;
    run(&state, definition, body.events).await.map(Json)
}

/// Run events through a stored pipeline's stages.
#[utoipa::path(post, path = "/api/v1/pipelines/{id}/dry-run", tag = "dry-run",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)")),
    request_body = StoredDryRun,
    responses(
        (status = 200, description = "one result per event", body = DryRunResults),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UnprocessableEntity),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn dry_run_stored(
    _: CanWrite,
    State(state): State<AppState>,
    PipelineId(id): PipelineId,
    ApiJson(body): ApiJson<StoredDryRun>,
) -> Result<Json<DryRunResults>, ApiError> {
    let row = find(&state, &id).await?;
    let definition = PipelineDefinition::parse(&row.definition, &state.validation)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored definition invalid: {e}")))?;
    run(&state, definition, body.events).await.map(Json)
}

/// Field paths of a nested definition start with `definition.`.
fn prefix(err: ApiError, field: &str) -> ApiError {
    match err {
        ApiError::Unprocessable { detail, errors } => ApiError::Unprocessable {
            detail,
            errors: errors
                .into_iter()
                .map(|mut e| {
                    e.field = if e.field.is_empty() {
                        field.to_owned()
                    } else {
                        format!("{field}.{}", e.field)
                    };
                    e
                })
                .collect(),
        },
        other => other,
    }
}

async fn run(
    state: &AppState,
    definition: PipelineDefinition,
    events: Vec<Value>,
) -> Result<DryRunResults, ApiError> {
    if events.len() > MAX_EVENTS {
        return Err(ApiError::Unprocessable {
            detail: "too many events".into(),
            errors: vec![crate::error::FieldProblem {
                field: "events".into(),
                message: format!("at most {MAX_EVENTS} events per dry run"),
            }],
        });
    }
    let engine = Arc::clone(&state.engine);
    // Stages are CPU work (regexes, hashing): keep them off the async workers.
    let results = tokio::task::spawn_blocking(move || {
        pipeline_common::dry_run::dry_run(&definition, &engine, &events)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    let results = results
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(DryRunResults { results })
}
