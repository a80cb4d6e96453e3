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
use chrono::{TimeZone, Utc};
use pipeline_common::failure::FailedAt;
use serde::{Deserialize, Serialize};
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
    #[param(value_type = Option<FailedAt>)]
    pub stage: Option<String>,
    /// Only dead letters whose `error.reason` header contains this text.
    pub reason: Option<String>,
    /// Cursor: the `next` value of the previous page (`partition:offset` pairs).
    #[param(pattern = "^[0-9]{1,9}:[0-9]{1,18}(,[0-9]{1,9}:[0-9]{1,18})*$")]
    pub after: Option<String>,
}

/// A page of dead letters. A read with a filter stops at the scan budget (config
/// `deadLetters.scanRecords`, `deadLetters.scanMs`): the page may then hold fewer than `limit`
/// items, even none, and `next` continues below what was scanned.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorPage {
    /// Dead letters, newest first.
    pub items: Vec<DeadLetterView>,
    /// Cursor of the next (older) page (pass it as `after`), `null` on the last.
    #[schema(pattern = "^[0-9]{1,9}:[0-9]{1,18}(,[0-9]{1,9}:[0-9]{1,18})*$")]
    pub next: Option<String>,
    /// How far this page read.
    pub scan: ScanReport,
}

/// How far one read of the error topic went.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanReport {
    /// Records read, over all partitions.
    #[schema(minimum = 0)]
    pub records: u64,
    /// `true` when the scan budget ended the read before the page was full or the oldest record
    /// was reached: follow `next` to scan further.
    pub budget_exhausted: bool,
    /// Timestamp of the oldest record read ("scanned back to"), `null` when none was read.
    #[schema(format = DateTime)]
    pub reached_back: Option<String>,
}

impl From<dead_letters::Scanned> for ScanReport {
    fn from(scanned: dead_letters::Scanned) -> Self {
        ScanReport {
            records: scanned.records,
            budget_exhausted: scanned.budget_exhausted,
            reached_back: scanned.reached_back.and_then(rfc3339_millis),
        }
    }
}

/// How a byte string is rendered: as text when it is UTF-8, else base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// UTF-8 text.
    Utf8,
    /// Standard base64 of bytes that are not UTF-8.
    Base64,
}

/// Text when the bytes are UTF-8, else base64; with the encoding used.
pub fn encoded(bytes: Option<&[u8]>) -> (Option<String>, Encoding) {
    match bytes {
        None => (None, Encoding::Utf8),
        Some(b) => match std::str::from_utf8(b) {
            Ok(text) => (Some(text.to_owned()), Encoding::Utf8),
            Err(_) => (
                Some(base64::engine::general_purpose::STANDARD.encode(b)),
                Encoding::Base64,
            ),
        },
    }
}

/// One record header of a dead letter.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeadLetterHeader {
    /// Header name.
    pub name: String,
    /// Header value, `null` when the header has none.
    pub value: Option<String>,
    /// How `value` is rendered.
    pub encoding: Encoding,
}

/// One record of a pipeline's error topic, as the API and the console show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = DeadLetter)]
pub struct DeadLetterView {
    /// Partition of the error topic.
    #[schema(minimum = 0)]
    pub partition: i32,
    /// Offset in that partition.
    #[schema(minimum = 0)]
    pub offset: i64,
    /// The record's timestamp (RFC 3339, UTC, milliseconds).
    #[schema(format = DateTime)]
    pub timestamp: Option<String>,
    /// The original key.
    pub key: Option<String>,
    /// How `key` is rendered.
    pub key_encoding: Encoding,
    /// Every header, in record order (`error.stage`, `error.reason`, `source.*`, …).
    pub headers: Vec<DeadLetterHeader>,
    /// The original value.
    pub value: Option<String>,
    /// How `value` is rendered.
    pub value_encoding: Encoding,
    /// The `error.stage` header.
    pub stage: Option<String>,
    /// The `error.reason` header.
    pub reason: Option<String>,
}

impl From<&dead_letters::DeadLetter> for DeadLetterView {
    fn from(letter: &dead_letters::DeadLetter) -> Self {
        let (key, key_encoding) = encoded(letter.key.as_deref());
        let (value, value_encoding) = encoded(letter.value.as_deref());
        let headers = letter
            .headers
            .iter()
            .map(|(name, v)| {
                let (value, encoding) = encoded(v.as_deref());
                DeadLetterHeader {
                    name: name.clone(),
                    value,
                    encoding,
                }
            })
            .collect();
        DeadLetterView {
            partition: letter.partition,
            offset: letter.offset,
            timestamp: letter.timestamp.and_then(rfc3339_millis),
            key,
            key_encoding,
            headers,
            value,
            value_encoding,
            stage: letter.stage().map(str::to_owned),
            reason: letter.reason().map(str::to_owned),
        }
    }
}

/// Milliseconds since the epoch as RFC 3339 in UTC, always with three decimals (so the texts
/// sort as the times do).
fn rfc3339_millis(ms: i64) -> Option<String> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| crate::rfc3339::text(&t))
}

/// The `stage` of a query or body, parsed; `Err` lists the accepted values.
pub fn parse_stage(stage: Option<&str>) -> Result<Option<FailedAt>, String> {
    stage
        .map(|s| s.parse::<FailedAt>().map_err(|e| e.to_string()))
        .transpose()
}

/// Recent dead letters of the pipeline's error topic, newest first, with a cursor. Reading
/// commits nothing and joins no consumer group. A filtered read scans at most the configured
/// budget and then answers with what it found, `scan.budgetExhausted` and a `next` cursor.
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
    let selector = dead_letters::Selector {
        stage: parse_stage(params.stage.as_deref()).map_err(ApiError::BadRequest)?,
        reason: params.reason,
    };
    let row = service::find(&state, id).await?;
    let page = service::dead_letter_page(&state, &row, limit, selector, after).await?;
    Ok(Json(ErrorPage {
        items: page.items.iter().map(DeadLetterView::from).collect(),
        next: page.next.map(|c| c.render()),
        scan: page.scanned.into(),
    }))
}
