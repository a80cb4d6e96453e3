//! Dry runs: sample events through a pipeline's stages, without side effects.

use crate::auth::CanWrite;
use crate::error::{ApiError, FieldProblem};
use crate::http::errors::{parse_stage, ScanReport};
use crate::http::extract::{ApiJson, ApiObject, PipelineId};
use crate::http::responses::{
    BadGateway, BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthorized,
    Unavailable, UnprocessableEntity, UnsupportedMediaType,
};
use crate::service::pipelines::invalid;
use crate::service::{self, dead_letters, find};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use pipeline_common::failure::FailedAt;
use pipeline_common::model::PipelineDefinition;
use pipeline_common::store::pipelines::PipelineRow;
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
    #[schema(value_type = PipelineDefinition)]
    pub definition: Value,
    /// Events: CloudEvents structured envelopes or plain objects.
    #[schema(value_type = Vec<Value>, max_items = 1000)]
    pub events: Vec<Value>,
}

/// Body of `POST /api/v1/pipelines/{id}/dry-run`: `events`, or `fromErrors` to take the
/// pipeline's latest dead letters; `definition`, when given, is run instead of the stored one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StoredDryRun {
    /// Events: CloudEvents structured envelopes or plain objects.
    #[schema(value_type = Option<Vec<Value>>, max_items = 1000)]
    pub events: Option<Vec<Value>>,
    /// Take the events from the pipeline's error topic, newest first.
    #[serde(default, deserialize_with = "crate::strict_json::optional_object")]
    pub from_errors: Option<FromErrors>,
    /// A proposed definition, not stored; the stored one when absent.
    #[schema(value_type = Option<PipelineDefinition>)]
    pub definition: Option<Value>,
}

/// Which dead letters a dry run takes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FromErrors {
    /// How many of the newest (default 50).
    #[schema(minimum = 1, maximum = 500)]
    #[serde(default, deserialize_with = "crate::strict_json::optional_whole")]
    pub limit: Option<usize>,
    /// Only those whose `error.stage` is this.
    #[schema(value_type = Option<FailedAt>)]
    pub stage: Option<String>,
    /// Only those whose `error.reason` contains this text.
    pub reason: Option<String>,
    /// Continue below this cursor: the `next` of a previous answer (`partition:offset` pairs).
    #[schema(pattern = "^[0-9]{1,9}:[0-9]{1,18}(,[0-9]{1,9}:[0-9]{1,18})*$")]
    pub after: Option<String>,
}

/// Results, in input order: `{"id", "document"}`, `{"dropped": true}` or
/// `{"error": {"stage", "reason"}}`. With `fromErrors`, also how far the error topic was read
/// (the same scan budget as `GET …/errors`) and the cursor to continue with.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunResults {
    /// One per event.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<Value>,
    /// `fromErrors` only: pass it as `fromErrors.after` to take older dead letters; absent on
    /// the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9]{1,9}:[0-9]{1,18}(,[0-9]{1,9}:[0-9]{1,18})*$")]
    pub next: Option<String>,
    /// `fromErrors` only: how far the error topic was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanReport>,
    /// `POST /api/v1/dry-run` only: the definition as the server would store it, every default
    /// spelled out (what `GET …/{id}` shows, less the members the server adds). `flowctl
    /// pipelines apply` compares it with the stored one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<PipelineDefinition>,
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
    let definition =
        PipelineDefinition::parse_at(&body.definition, "definition", &state.validation)
            .map_err(invalid)?;
    let canonical = definition.clone();
    let mut results = run(&state, definition, body.events).await?;
    results.definition = Some(canonical);
    Ok(Json(results))
}

/// Run events through a stored pipeline's stages, or a proposed definition; with `fromErrors`
/// the events are the pipeline's latest dead letters and each result names its `source`
/// (`partition`, `offset` in the error topic).
#[utoipa::path(post, path = "/api/v1/pipelines/{id}/dry-run", tag = "dry-run",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)")),
    request_body = StoredDryRun,
    responses(
        (status = 200, description = "one result per event", body = DryRunResults),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UnprocessableEntity),
        (status = 502, response = BadGateway),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn dry_run_stored(
    _: CanWrite,
    State(state): State<AppState>,
    PipelineId(id): PipelineId,
    ApiObject(body): ApiObject<StoredDryRun>,
) -> Result<Json<DryRunResults>, ApiError> {
    let row = find(&state, id).await?;
    let definition = match &body.definition {
        Some(proposed) => PipelineDefinition::parse_at(proposed, "definition", &state.validation)
            .map_err(invalid)?,
        None => PipelineDefinition::parse(&row.definition, &state.validation)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored definition invalid: {e}")))?,
    };
    match (body.events, body.from_errors) {
        (Some(events), None) => run(&state, definition, events).await.map(Json),
        (None, Some(from)) => from_errors(&state, &row, definition, from).await.map(Json),
        _ => Err(ApiError::Unprocessable {
            detail: "send either events or fromErrors".into(),
            errors: vec![FieldProblem {
                field: "events".into(),
                message: "exactly one of events and fromErrors is required".into(),
            }],
        }),
    }
}

/// The dead letters as events (their original bytes: JSON when they parse, else a string, which
/// fails at `decode` as it did in the worker), each result tagged with its source.
async fn from_errors(
    state: &AppState,
    row: &PipelineRow,
    definition: PipelineDefinition,
    from: FromErrors,
) -> Result<DryRunResults, ApiError> {
    let limit = from.limit.unwrap_or(50);
    if !(1..=crate::http::errors::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::Unprocessable {
            detail: "fromErrors.limit is out of range".into(),
            errors: vec![FieldProblem {
                field: "fromErrors.limit".into(),
                message: format!("must be between 1 and {}", crate::http::errors::MAX_LIMIT),
            }],
        });
    }
    let stage = parse_stage(from.stage.as_deref()).map_err(|message| ApiError::Unprocessable {
        detail: "fromErrors.stage is not a stage".into(),
        errors: vec![FieldProblem {
            field: "fromErrors.stage".into(),
            message,
        }],
    })?;
    let after = from
        .after
        .as_deref()
        .map(dead_letters::Cursor::parse)
        .transpose()
        .map_err(|message| ApiError::Unprocessable {
            detail: "fromErrors.after is not a cursor".into(),
            errors: vec![FieldProblem {
                field: "fromErrors.after".into(),
                message,
            }],
        })?;
    let selector = dead_letters::Selector {
        stage,
        reason: from.reason,
    };
    let page = service::dead_letter_page(state, row, limit, selector, after).await?;
    let events = page
        .items
        .iter()
        .map(|letter| {
            let bytes = letter.value.as_deref().unwrap_or_default();
            serde_json::from_slice(bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
        })
        .collect();
    let mut results = run(state, definition, events).await?;
    for (result, letter) in results.results.iter_mut().zip(&page.items) {
        if let Value::Object(map) = result {
            map.insert(
                "source".into(),
                serde_json::json!({"partition": letter.partition, "offset": letter.offset}),
            );
        }
    }
    results.next = page.next.map(|c| c.render());
    results.scan = Some(page.scanned.into());
    Ok(results)
}

/// The `oneOf` of a stored dry run's body: `events` or `fromErrors`, exactly one of them not
/// absent or `null`, which utoipa's derive cannot state.
pub fn stored_dry_run_one_of() -> Value {
    serde_json::json!([
        {
            "title": "events",
            "required": ["events"],
            "properties": {"events": {"type": "array"}, "fromErrors": {"type": "null"}},
        },
        {
            "title": "fromErrors",
            "required": ["fromErrors"],
            "properties": {"fromErrors": {"type": "object"}, "events": {"type": "null"}},
        },
    ])
}

async fn run(
    state: &AppState,
    definition: PipelineDefinition,
    events: Vec<Value>,
) -> Result<DryRunResults, ApiError> {
    if events.len() > MAX_EVENTS {
        return Err(ApiError::Unprocessable {
            detail: "too many events".into(),
            errors: vec![FieldProblem {
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
    Ok(DryRunResults {
        results,
        next: None,
        scan: None,
        definition: None,
    })
}
