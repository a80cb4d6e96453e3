//! `POST /api/v1/pipelines/{id}/events` and `POST /api/v1/pipelines/by-name/{name}/events`:
//! HTTP ingest into a pipeline's input topic. The by-name form lets a producer keep its URL when
//! the pipeline is deleted and created again (a new id, the same name and topic).
//!
//! Accepted forms (by `Content-Type`, or `Ce-Specversion` for binary mode):
//!
//! | form | Kafka record |
//! |---|---|
//! | CloudEvents binary: `Ce-*` headers, body = JSON data | value = body; headers `ce_<attr>` and `content-type` (the Kafka protocol binding) |
//! | `application/cloudevents+json` | value = the envelope; header `content-type` |
//! | `application/cloudevents-batch+json` | one record per envelope |
//! | `application/x-ndjson` | one record per line, each a JSON object |
//! | `application/json` | one record, a JSON object |
//!
//! The answer, 202 `{"accepted": n}`, comes only after the broker acknowledged every record
//! (idempotent producer, `acks=all`), as a Knative broker ingress does. Nothing is answered early:
//! a client that sees 202 can forget the events.

use crate::auth::CanIngest;
use crate::error::ApiError;
use crate::http::extract::{media_type, LimitedBody, PipelineId, PipelineNamePath};
use crate::http::responses::{
    BadGateway, BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthorized,
    Unavailable, UnsupportedMediaType,
};
use crate::service::ingest::{self, Record};
use crate::service::ingest_cache::PipelineRef;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// CloudEvents attributes every event must carry.
const REQUIRED_ATTRIBUTES: [&str; 4] = ["specversion", "id", "source", "type"];

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ingest))
        .routes(routes!(ingest_by_name))
}

/// Answer of an ingest.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Events written to the input topic and acknowledged by the broker.
    #[schema(minimum = 0)]
    pub accepted: usize,
}

/// Post events to a pipeline's input topic.
#[utoipa::path(post, path = "/api/v1/pipelines/{id}/events", tag = "ingest",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)")),
    request_body(description = "A structured CloudEvent, a batch of them, one JSON object, or NDJSON \
        (`application/x-ndjson`: one JSON object per line). A binary-mode CloudEvent is a JSON object \
        body with `Ce-Specversion`, `Ce-Id`, `Ce-Source` and `Ce-Type` headers (other `Ce-*` \
        headers are kept as attributes).",
        content(
            (Object = "application/json"),
            (crate::http::schema::CloudEvent = "application/cloudevents+json"),
            (Vec<crate::http::schema::CloudEvent> = "application/cloudevents-batch+json"),
            (String = "application/x-ndjson"))),
    responses(
        (status = 202, description = "every event acknowledged by the broker", body = Accepted),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 502, response = BadGateway),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn ingest(
    _: CanIngest,
    State(state): State<AppState>,
    PipelineId(id): PipelineId,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    // `PipelineId` holds the text of a UUID it has parsed already.
    let id = uuid::Uuid::try_parse(&id)
        .map_err(|_| ApiError::NotFound("no pipeline with this id".into()))?;
    ingest_into(&state, PipelineRef::Id(id), &headers, &body).await
}

/// Post events to the input topic of the pipeline named `name` (the same as by id; the URL
/// survives a delete and re-create of the pipeline).
#[utoipa::path(post, path = "/api/v1/pipelines/by-name/{name}/events", tag = "ingest",
    params(("name" = String, Path, pattern = "^[a-z0-9][a-z0-9-]{0,62}$",
        description = "pipeline name (anything that is not a valid name is 404)")),
    request_body(description = "As for `POST /api/v1/pipelines/{id}/events`.",
        content(
            (Object = "application/json"),
            (crate::http::schema::CloudEvent = "application/cloudevents+json"),
            (Vec<crate::http::schema::CloudEvent> = "application/cloudevents-batch+json"),
            (String = "application/x-ndjson"))),
    responses(
        (status = 202, description = "every event acknowledged by the broker", body = Accepted),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 502, response = BadGateway),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn ingest_by_name(
    _: CanIngest,
    State(state): State<AppState>,
    PipelineNamePath(name): PipelineNamePath,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    ingest_into(&state, PipelineRef::Name(name), &headers, &body).await
}

/// Resolves the pipeline, checks the whole body, then produces every record of it.
async fn ingest_into(
    state: &AppState,
    key: PipelineRef,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let target = ingest::resolve(state, key).await?;
    let records = decode(headers, body)?;
    let max_event = state.settings.server.max_event_bytes;
    if let Some(i) = records.iter().position(|r| r.value.len() > max_event) {
        return Err(ApiError::PayloadTooLarge(format!(
            "event {i} is larger than {max_event} bytes"
        )));
    }
    ingest::produce(state, &target.topic, &records).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            accepted: records.len(),
        }),
    ))
}

fn decode(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Record>, ApiError> {
    if headers.contains_key("ce-specversion") {
        return binary_mode(headers, body).map(|r| vec![r]);
    }
    match media_type(headers).as_deref() {
        Some("application/cloudevents+json") => {
            let event = parse_object(body, "the CloudEvent")?;
            structured(&event, body.to_vec()).map(|r| vec![r])
        }
        Some("application/cloudevents-batch+json") => {
            let batch: Vec<Value> = serde_json::from_slice(body)
                .map_err(|e| ApiError::BadRequest(format!("the batch is not a JSON array: {e}")))?;
            batch
                .iter()
                .enumerate()
                .map(|(i, event)| {
                    if !event.is_object() {
                        return Err(ApiError::BadRequest(format!(
                            "batch item {i} is not a JSON object"
                        )));
                    }
                    let bytes =
                        serde_json::to_vec(event).map_err(|e| ApiError::Internal(e.into()))?;
                    structured(event, bytes).map_err(|e| {
                        ApiError::BadRequest(format!("batch item {i}: {}", e.problem().detail))
                    })
                })
                .collect()
        }
        Some("application/x-ndjson" | "application/jsonl" | "application/json-seq") => body
            .split(|b| *b == b'\n')
            .enumerate()
            .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
            .map(|(n, line)| {
                parse_object(line, &format!("line {}", n + 1))?;
                Ok(Record {
                    value: line.to_vec(),
                    ..Record::default()
                })
            })
            .collect(),
        Some("application/json") => {
            parse_object(body, "the body")?;
            Ok(vec![Record {
                value: body.to_vec(),
                ..Record::default()
            }])
        }
        _ => Err(ApiError::UnsupportedMediaType(
            "send application/json, application/x-ndjson, application/cloudevents+json, \
             application/cloudevents-batch+json, or a binary-mode CloudEvent (Ce-* headers)"
                .into(),
        )),
    }
}

fn parse_object(bytes: &[u8], what: &str) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("{what} is not valid JSON: {e}")))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(ApiError::BadRequest(format!("{what} is not a JSON object")))
    }
}

/// Binary mode: attributes in `Ce-*` headers, the data in the body.
fn binary_mode(headers: &HeaderMap, body: &[u8]) -> Result<Record, ApiError> {
    let content_type = media_type(headers).unwrap_or_else(|| "application/json".into());
    if !(content_type == "application/json" || content_type.ends_with("+json")) {
        return Err(ApiError::UnsupportedMediaType(
            "binary-mode CloudEvents must carry JSON data".into(),
        ));
    }
    parse_object(body, "the event data")?;
    for attribute in REQUIRED_ATTRIBUTES {
        if !headers.contains_key(format!("ce-{attribute}").as_str()) {
            return Err(ApiError::BadRequest(format!(
                "binary-mode CloudEvent without the Ce-{attribute} header"
            )));
        }
    }
    let mut record = Record {
        value: body.to_vec(),
        ..Record::default()
    };
    for (name, value) in headers {
        // HeaderName is lowercase already; the Kafka binding names attributes ce_<attr>.
        if let Some(attribute) = name.as_str().strip_prefix("ce-") {
            if attribute == "partitionkey" {
                record.key = Some(value.as_bytes().to_vec());
            }
            record
                .headers
                .push((format!("ce_{attribute}"), value.as_bytes().to_vec()));
        }
    }
    record
        .headers
        .push(("content-type".into(), content_type.into_bytes()));
    Ok(record)
}

/// Structured mode: the envelope is the record value, unchanged.
fn structured(event: &Value, bytes: Vec<u8>) -> Result<Record, ApiError> {
    for attribute in REQUIRED_ATTRIBUTES {
        if !event.get(attribute).is_some_and(Value::is_string) {
            return Err(ApiError::BadRequest(format!(
                "CloudEvent without the `{attribute}` attribute"
            )));
        }
    }
    Ok(Record {
        key: event
            .get("partitionkey")
            .and_then(Value::as_str)
            .map(|k| k.as_bytes().to_vec()),
        headers: vec![(
            "content-type".into(),
            b"application/cloudevents+json".to_vec(),
        )],
        value: bytes,
    })
}
