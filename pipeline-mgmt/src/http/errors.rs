//! `GET /api/v1/pipelines/{id}/errors`: a pipeline's dead letters, newest first.

use crate::auth::CanRead;
use crate::error::ApiError;
use crate::http::extract::{ApiQuery, PipelineId};
use crate::http::responses::{
    BadGateway, BadRequest, Conflict, Forbidden, NotFound, Unauthorized, Unavailable,
};
use crate::service::{self, dead_letters};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use base64::Engine;
use chrono::{SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest page.
pub const MAX_LIMIT: usize = 500;
/// Page size when `limit` is not given.
const DEFAULT_LIMIT: usize = 50;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_errors))
}

/// Query of the errors endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ErrorParams {
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// Only dead letters whose `error.stage` header is this.
    #[param(value_type = Option<crate::http::schema::ErrorStage>)]
    pub stage: Option<String>,
    /// Cursor: the `next` value of the previous page (`partition:offset` pairs).
    #[param(pattern = "^[0-9]{1,9}:[0-9]{1,18}(,[0-9]{1,9}:[0-9]{1,18})*$")]
    pub after: Option<String>,
}

/// A page of dead letters.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorPage {
    /// Dead letters, newest first.
    #[schema(value_type = Vec<crate::http::schema::DeadLetter>)]
    pub items: Vec<Value>,
    /// Cursor of the next (older) page (pass it as `after`), `null` on the last.
    #[schema(pattern = "^[0-9]{1,9}:[0-9]{1,18}(,[0-9]{1,9}:[0-9]{1,18})*$")]
    pub next: Option<String>,
}

/// Text when the bytes are UTF-8, else base64; with the encoding used.
pub fn encoded(bytes: Option<&[u8]>) -> (Value, &'static str) {
    match bytes {
        None => (Value::Null, "utf8"),
        Some(b) => match std::str::from_utf8(b) {
            Ok(text) => (Value::from(text), "utf8"),
            Err(_) => (
                Value::from(base64::engine::general_purpose::STANDARD.encode(b)),
                "base64",
            ),
        },
    }
}

/// The REST form of one dead letter.
pub fn letter_json(letter: &dead_letters::DeadLetter) -> Value {
    let (key, key_encoding) = encoded(letter.key.as_deref());
    let (value, value_encoding) = encoded(letter.value.as_deref());
    let headers: Vec<Value> = letter
        .headers
        .iter()
        .map(|(name, v)| {
            let (value, encoding) = encoded(v.as_deref());
            json!({"name": name, "value": value, "encoding": encoding})
        })
        .collect();
    let timestamp = letter
        .timestamp
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true));
    json!({
        "partition": letter.partition,
        "offset": letter.offset,
        "timestamp": timestamp,
        "key": key,
        "keyEncoding": key_encoding,
        "headers": headers,
        "value": value,
        "valueEncoding": value_encoding,
        "stage": letter.stage(),
        "reason": letter.reason(),
    })
}

/// Recent dead letters of the pipeline's error topic, newest first, with a cursor. Reading
/// commits nothing and joins no consumer group.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}/errors", tag = "dead-letters",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)"), ErrorParams),
    responses(
        (status = 200, description = "a page of dead letters", body = ErrorPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 502, response = BadGateway),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn list_errors(
    _: CanRead,
    State(state): State<AppState>,
    PipelineId(id): PipelineId,
    ApiQuery(params): ApiQuery<ErrorParams>,
) -> Result<Json<ErrorPage>, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let after = params
        .after
        .as_deref()
        .map(dead_letters::Cursor::parse)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    if let Some(stage) = params.stage.as_deref() {
        dead_letters::check_stage(stage).map_err(ApiError::BadRequest)?;
    }
    let selector = dead_letters::Selector {
        stage: params.stage,
    };
    let page = service::dead_letter_page(&state, &id, limit, selector, after).await?;
    Ok(Json(ErrorPage {
        items: page.items.iter().map(letter_json).collect(),
        next: page.next.map(|c| c.render()),
    }))
}
