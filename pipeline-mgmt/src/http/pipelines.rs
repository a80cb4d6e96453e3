//! `/api/v1/pipelines`: create, list, read, replace, change state, status and delete.

use crate::auth::{CanRead, CanWrite};
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery, PipelineId};
use crate::http::responses::{
    BadGateway, BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, PreconditionFailed,
    PreconditionRequired, Unauthorized, Unavailable, UnprocessableEntity, UnsupportedMediaType,
};
use crate::http::view::{self, IfMatch, PipelineView};
pub use crate::service::status::{PipelineStatus, WorkerStatus};
use crate::service::{self, find, pipelines as lifecycle};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pipeline_common::model::{DesiredState, PipelineDefinition};
use pipeline_common::store::pipelines::{self as rows, PipelineRow, PipelineState, ReadError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest page of a list.
pub(crate) const MAX_LIMIT: u32 = 1000;
/// Page size when `limit` is not given.
const DEFAULT_LIMIT: u32 = 100;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, replace, delete))
        .routes(routes!(change_state))
        .routes(routes!(status))
}

fn pipeline_response(
    state: &AppState,
    status: StatusCode,
    row: &PipelineRow,
) -> Result<Response, ApiError> {
    let body = PipelineView::of(row, state).map_err(ReadError::Corrupt)?;
    Ok((status, view::etag(row.version), Json(body)).into_response())
}

/// Create a pipeline: validate, check or create the index, insert it as `provisioning`, create
/// its three topics, then set it `running` or `stopped`. A failure undoes what was done.
#[utoipa::path(post, path = "/api/v1/pipelines", tag = "pipelines",
    request_body = PipelineDefinition,
    responses(
        (status = 201, description = "created", body = PipelineView,
            headers(("Location" = String, description = "/api/v1/pipelines/{id}"),
                    ("ETag" = String, description = "the version, e.g. \"1\"")),
            links(
                ("GetPipeline" = (operation_id = "get_one", parameters(("path.id" = "$response.body#/id")))),
                ("ReplacePipeline" = (operation_id = "replace", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                ("ChangeState" = (operation_id = "change_state", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                ("PipelineStatus" = (operation_id = "status", parameters(("path.id" = "$response.body#/id")))),
                ("PipelineIndices" = (operation_id = "indices", parameters(("path.id" = "$response.body#/id")))),
                ("DeletePipeline" = (operation_id = "delete", parameters(("path.id" = "$response.body#/id")))),
                ("IngestEvents" = (operation_id = "ingest", parameters(("path.id" = "$response.body#/id")))),
                ("DryRunStored" = (operation_id = "dry_run_stored", parameters(("path.id" = "$response.body#/id")))),
                ("ListErrors" = (operation_id = "list_errors", parameters(("path.id" = "$response.body#/id")))),
                ("StartReplay" = (operation_id = "start_replay", parameters(("path.id" = "$response.body#/id")))),
                ("ListReplays" = (operation_id = "list_replays", parameters(("path.id" = "$response.body#/id")))),
                ("GetReplay" = (operation_id = "get_replay", parameters(("path.id" = "$response.body#/id"))))
            )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UnprocessableEntity),
        (status = 502, response = BadGateway),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn create(
    CanWrite(who): CanWrite,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let definition =
        PipelineDefinition::parse(&body, &state.validation).map_err(lifecycle::invalid)?;
    let row = lifecycle::create(&state, definition, &who.name).await?;
    let mut response = pipeline_response(&state, StatusCode::CREATED, &row)?;
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/pipelines/{}", row.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Query of the list endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only pipelines in this state.
    #[param(value_type = Option<PipelineState>)]
    pub state: Option<String>,
    /// Page size (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Cursor: the `next` value of the previous page (a pipeline name).
    pub after: Option<String>,
}

/// A page of pipelines.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page {
    /// Pipelines, ordered by name.
    pub items: Vec<PipelineView>,
    /// Cursor of the next page (pass it as `after`), `null` on the last.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub next: Option<String>,
}

/// List pipelines ordered by name, with cursor pagination.
#[utoipa::path(get, path = "/api/v1/pipelines", tag = "pipelines", params(ListParams),
    responses(
        (status = 200, description = "a page", body = Page),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn list(
    _: CanRead,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page>, ApiError> {
    let filter = match params.state.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<PipelineState>().map_err(|e| {
            ApiError::BadRequest(format!(
                "{e}; expected provisioning, running, stopped or deleting"
            ))
        })?),
    };
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let after = params.after.as_deref().filter(|s| !s.is_empty());
    let mut found = rows::list_page(&state.db, filter, after, limit + 1).await?;
    // The cursor is the last name of the page as stored, corrupt row or not, so paging goes on
    // past a corrupt row, which is logged and left out.
    let next = if found.len() > limit as usize {
        found.truncate(limit as usize);
        found.last().map(|r| match r {
            Ok(row) => row.name.to_string(),
            Err(bad) => bad.name.clone(),
        })
    } else {
        None
    };
    let items = crate::service::usable(found)
        .iter()
        .map(|row| PipelineView::of(row, &state))
        .filter_map(|view| view.map_err(crate::service::log_corrupt).ok())
        .collect();
    Ok(Json(Page { items, next }))
}

/// One pipeline.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}", tag = "pipelines",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)")),
    responses(
        (status = 200, description = "the pipeline", body = PipelineView,
            headers(("ETag" = String, description = "the version, e.g. \"3\""))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn get_one(
    _: CanRead,
    State(state): State<AppState>,
    PipelineId(id): PipelineId,
) -> Result<Response, ApiError> {
    let row = find(&state, id).await?;
    pipeline_response(&state, StatusCode::OK, &row)
}

/// Replace a definition. `If-Match: "<version>"` is required (428 without it, 412 when stale;
/// `*` accepts any version). Name and topic settings cannot change; `state`, when present in the
/// body, becomes the desired state.
#[utoipa::path(put, path = "/api/v1/pipelines/{id}", tag = "pipelines",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)"),
           ("If-Match" = String, Header, pattern = r#"^(\*|(W/)?"[0-9]{1,18}"|[0-9]{1,18})$"#, description = "the version being replaced, as sent in ETag (e.g. \"3\"), or * for any")),
    request_body = PipelineDefinition,
    responses(
        (status = 200, description = "replaced", body = PipelineView,
            headers(("ETag" = String, description = "the new version"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 412, response = PreconditionFailed),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UnprocessableEntity),
        (status = 428, response = PreconditionRequired),
        (status = 502, response = BadGateway),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn replace(
    CanWrite(who): CanWrite,
    State(state): State<AppState>,
    PipelineId(id): PipelineId,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let expected = match view::if_match(&headers).map_err(ApiError::BadRequest)? {
        IfMatch::Absent => {
            return Err(ApiError::PreconditionRequired(
                "send If-Match with the version you are replacing (or *)".into(),
            ))
        }
        IfMatch::Any => None,
        IfMatch::Version(v) => Some(v),
    };
    let definition =
        PipelineDefinition::parse(&body, &state.validation).map_err(lifecycle::invalid)?;
    let with_state = body.get("state").is_some();
    let row = lifecycle::replace(&state, id, expected, definition, with_state, &who.name).await?;
    pipeline_response(&state, StatusCode::OK, &row)
}

/// Body of `PATCH …/state`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateChange {
    /// The desired state.
    #[schema(example = "stopped")]
    pub state: DesiredState,
}

/// Start or stop a pipeline. `If-Match` is optional here: a state change is a whole-value
/// command, so a lost update cannot merge badly; when sent, a stale version gives 412.
#[utoipa::path(patch, path = "/api/v1/pipelines/{id}/state", tag = "pipelines",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)"),
           ("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"[0-9]{1,18}"|[0-9]{1,18})$"#, description = "optional: the version being changed; 412 when stale")),
    request_body = StateChange,
    responses(
        (status = 200, description = "the pipeline", body = PipelineView,
            headers(("ETag" = String, description = "the version"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 412, response = PreconditionFailed),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UnprocessableEntity),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn change_state(
    CanWrite(who): CanWrite,
    State(state): State<AppState>,
    PipelineId(id): PipelineId,
    headers: HeaderMap,
    ApiJson(body): ApiJson<StateChange>,
) -> Result<Response, ApiError> {
    let expected = match view::if_match(&headers).map_err(ApiError::BadRequest)? {
        IfMatch::Version(v) => Some(v),
        IfMatch::Absent | IfMatch::Any => None,
    };
    let row = lifecycle::change_state(&state, id, expected, body.state, &who.name).await?;
    pipeline_response(&state, StatusCode::OK, &row)
}

/// Desired vs observed state and per-worker tasks, from the workers' heartbeats.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}/status", tag = "pipelines",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)")),
    responses(
        (status = 200, description = "status", body = PipelineStatus),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn status(
    _: CanRead,
    State(state): State<AppState>,
    PipelineId(id): PipelineId,
) -> Result<Json<PipelineStatus>, ApiError> {
    let row = find(&state, id).await?;
    Ok(Json(service::status::observed(&state, &row).await?))
}

/// Query of DELETE.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Delete even while running (or provisioning).
    #[param(value_type = Option<bool>)]
    pub force: Option<bool>,
}

/// Delete a pipeline: 409 while running unless `force=true`; otherwise mark it `deleting` (so
/// workers stop it), delete its three topics, then the row. The index is kept: it holds data.
#[utoipa::path(delete, path = "/api/v1/pipelines/{id}", tag = "pipelines",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)"), DeleteParams),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 502, response = BadGateway),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn delete(
    CanWrite(who): CanWrite,
    State(state): State<AppState>,
    PipelineId(id): PipelineId,
    ApiQuery(params): ApiQuery<DeleteParams>,
) -> Result<StatusCode, ApiError> {
    lifecycle::delete(&state, id, params.force.unwrap_or(false), &who.name).await?;
    Ok(StatusCode::NO_CONTENT)
}
