//! `POST /api/v1/pipelines/{id}/replay` and `GET …/replays[/{jobId}]`: dead letters back into
//! the input topic, as jobs.

use crate::auth::{CanRead, CanWrite};
use crate::error::ApiError;
use crate::http::extract::{
    is_json, parse_json_object, ApiQuery, LimitedBody, PipelineId, ReplayJobId,
};
use crate::http::responses::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
    UnprocessableEntity, UnsupportedMediaType,
};
use crate::service::{self, replay::ReplayFilter};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Most jobs one list answers.
pub const MAX_JOBS: u32 = 100;
/// Jobs listed when `limit` is not given.
const DEFAULT_JOBS: u32 = 20;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_replay))
        .routes(routes!(list_replays))
        .routes(routes!(get_replay))
}

/// Start a replay: every dead letter matching the filter (all when the body is empty or `{}`)
/// is produced to the input topic with its original key and value and a `replay.of` header
/// (`<topic>/<partition>/<offset>`). Answers 202 with the job; follow it at `Location`.
#[utoipa::path(post, path = "/api/v1/pipelines/{id}/replay", tag = "dead-letters",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)")),
    request_body(content = Option<ReplayFilter>, description = "which dead letters; optional (all of them)"),
    responses(
        (status = 202, description = "the job, started", body = crate::service::replay::JobRow,
            headers(("Location" = String, description = "/api/v1/pipelines/{id}/replays/{jobId}")),
            links(
                ("GetReplay" = (operation_id = "get_replay", parameters(("path.id" = "$request.path.id"), ("path.jobId" = "$response.body#/id"))))
            )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UnprocessableEntity),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn start_replay(
    CanWrite(who): CanWrite,
    State(state): State<AppState>,
    PipelineId(id): PipelineId,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Result<Response, ApiError> {
    // No body, or JSON `null`, is no filter: every dead letter.
    let text = body.trim_ascii();
    let filter: ReplayFilter = if text.is_empty() || text == b"null" {
        ReplayFilter::default()
    } else if is_json(&headers) {
        parse_json_object(text)?
    } else {
        return Err(ApiError::UnsupportedMediaType(
            "expected Content-Type: application/json".into(),
        ));
    };
    let job = service::replay::start(&state, id, filter, &who.name).await?;
    let location = format!("/api/v1/pipelines/{}/replays/{}", job.pipeline_id, job.id);
    let mut response = (StatusCode::ACCEPTED, Json(job)).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Query of the job list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobListParams {
    /// How many of the newest jobs (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// The newest replay jobs of a pipeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    /// Jobs, newest first.
    pub items: Vec<crate::service::replay::JobRow>,
}

/// The newest replay jobs of a pipeline.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}/replays", tag = "dead-letters",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)"), JobListParams),
    responses(
        (status = 200, description = "jobs, newest first", body = JobList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn list_replays(
    _: CanRead,
    State(state): State<AppState>,
    PipelineId(id): PipelineId,
    ApiQuery(params): ApiQuery<JobListParams>,
) -> Result<Json<JobList>, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_JOBS);
    if !(1..=MAX_JOBS).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_JOBS}"
        )));
    }
    let jobs = service::replay::jobs(&state, id, limit).await?;
    Ok(Json(JobList { items: jobs }))
}

/// One replay job: state (running, succeeded, failed), matched, replayed (acknowledged by the
/// broker), failed, who started it and when.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}/replays/{jobId}", tag = "dead-letters",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)"),
           ("jobId" = String, Path, format = Uuid, description = "replay job id (a UUID; anything else is 404)")),
    responses(
        (status = 200, description = "the job", body = crate::service::replay::JobRow),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn get_replay(
    _: CanRead,
    State(state): State<AppState>,
    PipelineId(id): PipelineId,
    ReplayJobId(job_id): ReplayJobId,
) -> Result<Json<crate::service::replay::JobRow>, ApiError> {
    let job = service::replay::job(&state, id, job_id).await?;
    Ok(Json(job))
}
