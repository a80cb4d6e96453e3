//! `/api/v1/pipelines`: create, list, read, replace, change state, status and delete.

use crate::auth::{CanRead, CanWrite};
use crate::error::{ApiError, Dependency, FieldProblem};
use crate::http::extract::{ApiJson, ApiQuery, PipelineId};
use crate::http::responses::{
    BadGateway, BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, PreconditionFailed,
    PreconditionRequired, Unauthorized, Unavailable, UnprocessableEntity, UnsupportedMediaType,
};
use crate::http::view::{self, IfMatch};
use crate::provision;
use crate::provision::topics::TopicSpec;
use crate::state::AppState;
use crate::store::{self, AuditAction, Change, Guarded, NewPipeline};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use pipeline_common::model::{
    DesiredState, PipelineDefinition, PipelineName, PipelineTopics, ValidationErrors,
};
use pipeline_common::store::pipelines::{self as rows, PipelineRow, PipelineState};
use pipeline_common::store::worker_tasks::{self, TaskStatus};
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

pub(crate) fn invalid(errors: ValidationErrors) -> ApiError {
    ApiError::Unprocessable {
        detail: "the pipeline definition is invalid".into(),
        errors: errors
            .into_iter()
            .map(|e| FieldProblem {
                field: e.field,
                message: e.message,
            })
            .collect(),
    }
}

fn field_error(field: &str, message: &str) -> ApiError {
    ApiError::Unprocessable {
        detail: "the pipeline definition is invalid".into(),
        errors: vec![FieldProblem {
            field: field.into(),
            message: message.into(),
        }],
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("no pipeline with this id".into())
}

/// The row of `id`, or 404.
pub(crate) async fn find(state: &AppState, id: &str) -> Result<PipelineRow, ApiError> {
    rows::get(&state.db, id).await?.ok_or_else(not_found)
}

fn pipeline_response(state: &AppState, status: StatusCode, row: &PipelineRow) -> Response {
    let body = view::pipeline_json(row, &state.settings.kafka.topic_prefix);
    (status, view::etag(row.version), Json(body)).into_response()
}

fn topic_spec(state: &AppState, definition: &PipelineDefinition) -> TopicSpec {
    let names = PipelineTopics::new(&state.settings.kafka.topic_prefix, definition.name());
    let topics = definition.topics();
    TopicSpec {
        names: vec![names.input, names.output, names.error],
        partitions: topics.partitions,
        replication_factor: i32::from(topics.replication_factor),
        retention_ms: topics.retention_ms,
    }
}

fn topic_names(state: &AppState, row: &PipelineRow) -> Vec<String> {
    match PipelineName::parse(&row.name) {
        Ok(name) => {
            let t = PipelineTopics::new(&state.settings.kafka.topic_prefix, &name);
            vec![t.input, t.output, t.error]
        }
        Err(_) => Vec::new(),
    }
}

fn desired(state: DesiredState) -> PipelineState {
    match state {
        DesiredState::Running => PipelineState::Running,
        DesiredState::Stopped => PipelineState::Stopped,
    }
}

/// Create a pipeline: validate, check or create the index, insert it as `provisioning`, create
/// its three topics, then set it `running` or `stopped`. A failure undoes what was done.
#[utoipa::path(post, path = "/api/v1/pipelines", tag = "pipelines",
    request_body = crate::http::schema::PipelineDefinition,
    responses(
        (status = 201, description = "created", body = crate::http::schema::Pipeline,
            headers(("Location" = String, description = "/api/v1/pipelines/{id}"),
                    ("ETag" = String, description = "the version, e.g. \"1\"")),
            links(
                ("GetPipeline" = (operation_id = "get_one", parameters(("path.id" = "$response.body#/id")))),
                ("ReplacePipeline" = (operation_id = "replace", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                ("ChangeState" = (operation_id = "change_state", parameters(("path.id" = "$response.body#/id"), ("header.If-Match" = "$response.header.ETag")))),
                ("PipelineStatus" = (operation_id = "status", parameters(("path.id" = "$response.body#/id")))),
                ("DeletePipeline" = (operation_id = "delete", parameters(("path.id" = "$response.body#/id")))),
                ("IngestEvents" = (operation_id = "ingest", parameters(("path.id" = "$response.body#/id")))),
                ("DryRunStored" = (operation_id = "dry_run_stored", parameters(("path.id" = "$response.body#/id"))))
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
    let definition = PipelineDefinition::parse(&body, &state.validation).map_err(invalid)?;
    // The saga runs in its own task: a client that hangs up must not leave it half done.
    let task_state = state.clone();
    let row = tokio::spawn(async move { create_saga(&task_state, &definition, &who.name).await })
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    let mut response = pipeline_response(&state, StatusCode::CREATED, &row);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/pipelines/{}", row.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn create_saga(
    state: &AppState,
    definition: &PipelineDefinition,
    actor: &str,
) -> Result<PipelineRow, ApiError> {
    let name = definition.name().as_str();
    // Cheap early answer for the common duplicate; the unique key is the real guard.
    if rows::get_by_name(&state.db, name).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "a pipeline named {name} already exists"
        )));
    }
    // A date pattern gets today's index; later days are created by OpenSearch on first write.
    provision::index::ensure(&state.search, &definition.index().concrete_for_check())
        .await
        .map_err(ApiError::from)?;

    let id = uuid::Uuid::new_v4().to_string();
    let stored = definition.to_json();
    store::insert(
        &state.db,
        &NewPipeline {
            id: &id,
            name,
            definition: &stored,
            created_by: actor,
        },
    )
    .await?;

    let spec = topic_spec(state, definition);
    if let Err(failure) = state.topics.create(&spec).await {
        undo_create(state, &id, &failure.created).await;
        return Err(ApiError::bad_gateway(Dependency::Kafka, failure.error));
    }
    if let Err(err) =
        store::set_provisioning_state(&state.db, &id, desired(definition.state()), None).await
    {
        undo_create(state, &id, &spec.names).await;
        return Err(err.into());
    }
    rows::get(&state.db, &id).await?.ok_or_else(not_found)
}

/// Best effort: delete what the saga created. Failures are logged; the row goes in any case so
/// the name can be used again (a retry treats existing topics as its own).
async fn undo_create(state: &AppState, id: &str, topics: &[String]) {
    if let Err(err) = state.topics.delete(topics).await {
        tracing::warn!(
            pipeline = id,
            ?topics,
            error = format!("{err:#}"),
            "undo: deleting topics failed"
        );
    }
    if let Err(err) = store::remove_unprovisioned(&state.db, id).await {
        tracing::error!(pipeline = id, error = %err, "undo: removing the row failed");
    }
}

/// Query of the list endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only pipelines in this state.
    #[param(value_type = Option<crate::http::schema::PipelineState>)]
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
    #[schema(value_type = Vec<crate::http::schema::Pipeline>)]
    pub items: Vec<Value>,
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
    let next = if found.len() > limit as usize {
        found.truncate(limit as usize);
        found.last().map(|r| r.name.clone())
    } else {
        None
    };
    let prefix = &state.settings.kafka.topic_prefix;
    Ok(Json(Page {
        items: found
            .iter()
            .map(|r| view::pipeline_json(r, prefix))
            .collect(),
        next,
    }))
}

/// One pipeline.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}", tag = "pipelines",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)")),
    responses(
        (status = 200, description = "the pipeline", body = crate::http::schema::Pipeline,
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
    let row = find(&state, &id).await?;
    Ok(pipeline_response(&state, StatusCode::OK, &row))
}

/// Replace a definition. `If-Match: "<version>"` is required (428 without it, 412 when stale;
/// `*` accepts any version). Name and topic settings cannot change; `state`, when present in the
/// body, becomes the desired state.
#[utoipa::path(put, path = "/api/v1/pipelines/{id}", tag = "pipelines",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)"),
           ("If-Match" = String, Header, pattern = r#"^(\*|(W/)?"[0-9]{1,18}"|[0-9]{1,18})$"#, description = "the version being replaced, as sent in ETag (e.g. \"3\"), or * for any")),
    request_body = crate::http::schema::PipelineDefinition,
    responses(
        (status = 200, description = "replaced", body = crate::http::schema::Pipeline,
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
    let definition = PipelineDefinition::parse(&body, &state.validation).map_err(invalid)?;
    let current = find(&state, &id).await?;
    if let Some(v) = expected.filter(|v| *v != current.version) {
        return Err(stale(v, current.version));
    }
    if definition.name().as_str() != current.name {
        return Err(field_error("name", "cannot change; create a new pipeline"));
    }
    let current_def = PipelineDefinition::parse(&current.definition, &state.validation);
    if let Ok(current_def) = &current_def {
        if current_def.topics() != definition.topics() {
            return Err(field_error(
                "topics",
                "partitions, replicationFactor and retentionMs cannot change after creation",
            ));
        }
    }
    if matches!(
        current.state,
        PipelineState::Provisioning | PipelineState::Deleting
    ) {
        return Err(ApiError::Conflict(format!(
            "the pipeline is {}",
            current.state
        )));
    }
    if current_def
        .as_ref()
        .map_or(true, |d| d.index().as_str() != definition.index().as_str())
    {
        provision::index::ensure(&state.search, &definition.index().concrete_for_check())
            .await
            .map_err(ApiError::from)?;
    }
    let new_state = body.get("state").map(|_| desired(definition.state()));
    let stored = definition.to_json();
    let change = Change {
        id: &id,
        expected_version: Some(expected.unwrap_or(current.version)),
        definition: Some(&stored),
        state: new_state,
        actor: &who.name,
        action: AuditAction::Update,
    };
    guarded(&state, &change).await
}

fn stale(expected: i64, current: i64) -> ApiError {
    ApiError::PreconditionFailed(format!(
        "If-Match names version {expected}, but the pipeline is at version {current}"
    ))
}

async fn guarded(state: &AppState, change: &Change<'_>) -> Result<Response, ApiError> {
    match store::update(&state.db, change).await? {
        Guarded::Updated(row) => Ok(pipeline_response(state, StatusCode::OK, &row)),
        Guarded::Missing => Err(not_found()),
        Guarded::Stale { current } => Err(stale(change.expected_version.unwrap_or(0), current)),
    }
}

/// Body of `PATCH …/state`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateChange {
    /// The desired state.
    #[schema(value_type = crate::http::schema::DesiredState, example = "stopped")]
    pub state: DesiredState,
}

/// Start or stop a pipeline. `If-Match` is optional here: a state change is a whole-value
/// command, so a lost update cannot merge badly; when sent, a stale version gives 412.
#[utoipa::path(patch, path = "/api/v1/pipelines/{id}/state", tag = "pipelines",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)"),
           ("If-Match" = Option<String>, Header, pattern = r#"^(\*|(W/)?"[0-9]{1,18}"|[0-9]{1,18})$"#, description = "optional: the version being changed; 412 when stale")),
    request_body = StateChange,
    responses(
        (status = 200, description = "the pipeline", body = crate::http::schema::Pipeline,
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
    let current = find(&state, &id).await?;
    if let Some(v) = expected.filter(|v| *v != current.version) {
        return Err(stale(v, current.version));
    }
    let target = desired(body.state);
    match current.state {
        PipelineState::Provisioning | PipelineState::Deleting => Err(ApiError::Conflict(format!(
            "the pipeline is {}",
            current.state
        ))),
        s if s == target => Ok(pipeline_response(&state, StatusCode::OK, &current)),
        _ => {
            let change = Change {
                id: &id,
                expected_version: Some(expected.unwrap_or(current.version)),
                definition: None,
                state: Some(target),
                actor: &who.name,
                action: AuditAction::State,
            };
            guarded(&state, &change).await
        }
    }
}

/// One worker's task.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerStatus {
    /// Worker id.
    pub worker: String,
    /// The task's status.
    #[schema(value_type = crate::http::schema::TaskStatus)]
    pub status: String,
    /// Assigned partitions.
    pub partitions: Vec<i32>,
    /// Events consumed.
    pub consumed: i64,
    /// Documents indexed.
    pub indexed: i64,
    /// Events dead-lettered.
    pub dead_lettered: i64,
    /// Events filtered out.
    pub filtered: i64,
    /// Consumer lag, when known.
    pub lag: Option<i64>,
    /// Last error, if any.
    pub last_error: Option<String>,
    /// Milliseconds since the last heartbeat.
    pub heartbeat_age_ms: i64,
}

/// Desired versus observed state.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineStatus {
    /// The stored state.
    #[schema(value_type = crate::http::schema::PipelineState)]
    pub desired: String,
    /// From live worker heartbeats.
    #[schema(value_type = crate::http::schema::ObservedState)]
    pub observed: String,
    /// Why, when something is wrong.
    pub reason: Option<String>,
    /// Live worker tasks.
    pub workers: Vec<WorkerStatus>,
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
    let row = find(&state, &id).await?;
    let now = Utc::now();
    // A task whose heartbeat is older than three intervals counts as gone.
    let window = state
        .settings
        .worker
        .heartbeat_interval_ms
        .saturating_mul(3);
    let since = now - chrono::Duration::milliseconds(i64::try_from(window).unwrap_or(i64::MAX / 2));
    let tasks: Vec<_> = worker_tasks::list_for_pipeline(&state.db, &row.id)
        .await?
        .into_iter()
        .filter(|t| t.heartbeat_at >= since)
        .collect();
    let running = tasks
        .iter()
        .filter(|t| t.report.status == TaskStatus::Running)
        .count();
    let failed: Vec<_> = tasks
        .iter()
        .filter(|t| t.report.status == TaskStatus::Failed)
        .collect();
    let observed = match (running, failed.len()) {
        (0, 0) => "stopped",
        (_, 0) => "running",
        (0, _) => "failed",
        _ => "degraded",
    };
    let reason = failed
        .iter()
        .find_map(|t| t.report.last_error.clone())
        .or_else(|| row.state_reason.clone());
    let workers = tasks
        .into_iter()
        .map(|t| WorkerStatus {
            heartbeat_age_ms: (now - t.heartbeat_at).num_milliseconds().max(0),
            worker: t.report.worker_id,
            status: t.report.status.as_str().to_owned(),
            partitions: t.report.partitions,
            consumed: t.report.consumed,
            indexed: t.report.indexed,
            dead_lettered: t.report.dead_lettered,
            filtered: t.report.filtered,
            lag: t.report.lag,
            last_error: t.report.last_error,
        })
        .collect();
    Ok(Json(PipelineStatus {
        desired: row.state.as_str().to_owned(),
        observed: observed.to_owned(),
        reason,
        workers,
    }))
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
    let row = find(&state, &id).await?;
    let force = params.force.unwrap_or(false);
    if matches!(
        row.state,
        PipelineState::Running | PipelineState::Provisioning
    ) && !force
    {
        return Err(ApiError::Conflict(format!(
            "the pipeline is {}; stop it first or delete with force=true",
            row.state
        )));
    }
    let task_state = state.clone();
    tokio::spawn(async move { delete_flow(&task_state, row, &who.name).await })
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_flow(state: &AppState, row: PipelineRow, actor: &str) -> Result<(), ApiError> {
    // Workers run only `running` pipelines: this stops them at their next reconciliation.
    store::set_provisioning_state(&state.db, &row.id, PipelineState::Deleting, None).await?;
    let topics = topic_names(state, &row);
    if let Err(err) = state.topics.delete(&topics).await {
        let reason = "deleting the topics failed; retry DELETE";
        store::set_provisioning_state(&state.db, &row.id, PipelineState::Deleting, Some(reason))
            .await?;
        return Err(ApiError::bad_gateway(Dependency::Kafka, err));
    }
    store::delete(&state.db, &row, actor).await?;
    Ok(())
}
