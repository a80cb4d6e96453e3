//! `POST /api/v1/pipelines/{id}/replay` and `GET …/replays[/{jobId}]`: dead letters back into
//! the input topic, as jobs.

use crate::auth::{CanRead, CanWrite};
use crate::error::{ApiError, Problem};
use crate::http::extract::{is_json, parse_json, ApiPath, ApiQuery, LimitedBody};
use crate::service::{self, replay::ReplayFilter};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
}

/// Start a replay: every dead letter matching the filter (all when the body is empty or `{}`)
/// is produced to the input topic with its original key and value and a `replay.of` header
/// (`<topic>/<partition>/<offset>`). Answers 202 with the job; follow it at `Location`.
#[utoipa::path(post, path = "/api/v1/pipelines/{id}/replay", tag = "dead-letters",
    params(("id" = String, Path, description = "pipeline id")),
    request_body(content = ReplayFilter, description = "which dead letters; optional"),
    responses(
        (status = 202, description = "the job, started", body = Object, headers(("Location" = String))),
        (status = 401, description = "no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "viewer or ingest role", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such pipeline", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the pipeline has no topics yet or any more", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "a body that is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid filter", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn start(
    CanWrite(who): CanWrite,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Result<Response, ApiError> {
    let filter: ReplayFilter = if body.iter().all(u8::is_ascii_whitespace) {
        ReplayFilter::default()
    } else if is_json(&headers) {
        parse_json(&body)?
    } else {
        return Err(ApiError::UnsupportedMediaType(
            "expected Content-Type: application/json".into(),
        ));
    };
    let job = service::start_replay(&state, &id, filter, &who.name).await?;
    let mut response = (StatusCode::ACCEPTED, Json(job.to_json())).into_response();
    let location = format!("/api/v1/pipelines/{}/replays/{}", job.pipeline_id, job.id);
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Query of the job list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobListParams {
    /// How many of the newest jobs, 1 to 100 (default 20).
    pub limit: Option<u32>,
}

/// The newest replay jobs of a pipeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    /// Jobs, newest first.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
}

/// The newest replay jobs of a pipeline.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}/replays", tag = "dead-letters",
    params(("id" = String, Path, description = "pipeline id"), JobListParams),
    responses(
        (status = 200, description = "jobs, newest first", body = JobList),
        (status = 400, description = "bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such pipeline", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_jobs(
    _: CanRead,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<JobListParams>,
) -> Result<Json<JobList>, ApiError> {
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 100".into(),
        ));
    }
    let jobs = service::replay_jobs(&state, &id, limit).await?;
    Ok(Json(JobList {
        items: jobs.iter().map(|j| j.to_json()).collect(),
    }))
}

/// One replay job: state (running, succeeded, failed), matched, replayed (acknowledged by the
/// broker), failed, who started it and when.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}/replays/{jobId}", tag = "dead-letters",
    params(("id" = String, Path, description = "pipeline id"),
           ("jobId" = String, Path, description = "replay job id")),
    responses(
        (status = 200, description = "the job", body = Object),
        (status = 401, description = "no valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such pipeline or job", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_job(
    _: CanRead,
    State(state): State<AppState>,
    ApiPath((id, job_id)): ApiPath<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let job = service::replay_job(&state, &id, &job_id).await?;
    Ok(Json(job.to_json()))
}
