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
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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
            (Attributes = "application/cloudevents+json"),
            (Vec<Attributes> = "application/cloudevents-batch+json"),
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
            (Attributes = "application/cloudevents+json"),
            (Vec<Attributes> = "application/cloudevents-batch+json"),
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
            structured(utf8(body, "the CloudEvent")?, "the CloudEvent").map(|r| vec![r])
        }
        Some("application/cloudevents-batch+json") => {
            let batch: Vec<&RawValue> = serde_json::from_str(utf8(body, "the batch")?)
                .map_err(|e| ApiError::BadRequest(format!("the batch is not a JSON array: {e}")))?;
            batch
                .iter()
                .enumerate()
                .map(|(i, event)| structured(event.get(), &format!("batch item {i}")))
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

/// `bytes` as text; JSON is UTF-8, and a string in it that is not would fail in the worker.
fn utf8<'b>(bytes: &'b [u8], what: &str) -> Result<&'b str, ApiError> {
    std::str::from_utf8(bytes)
        .map_err(|e| ApiError::BadRequest(format!("{what} is not valid JSON: not UTF-8 ({e})")))
}

/// Checks that `bytes` are one JSON object, without building it: the record keeps the bytes.
fn parse_object(bytes: &[u8], what: &str) -> Result<(), ApiError> {
    let text = utf8(bytes, what)?;
    serde_json::from_str::<IgnoredAny>(text)
        .map_err(|e| ApiError::BadRequest(format!("{what} is not valid JSON: {e}")))?;
    // Valid JSON, so only JSON whitespace can come before the value.
    if text.trim_start().starts_with('{') {
        Ok(())
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

/// A structured-mode CloudEvent (`application/cloudevents+json`): the four required context
/// attributes, the optional `partitionkey` (the Kafka record key), `data` and any others.
//
// The attributes ingest reads, borrowed from the envelope; the rest of it is only checked to be
// valid JSON, never built into a tree. They are `Option`s so that a missing or non-string one is
// a 400 naming it (`missing`), hence the schema's `required`.
#[derive(Deserialize, ToSchema)]
#[schema(as = CloudEvent)]
struct Attributes<'a> {
    /// CloudEvents version, e.g. `1.0`.
    #[serde(borrow)]
    #[schema(value_type = String, required = true)]
    specversion: Option<&'a RawValue>,
    /// Event id; kept in the document as `cloudevent.id`.
    #[serde(borrow)]
    #[schema(value_type = String, required = true)]
    id: Option<&'a RawValue>,
    /// Event source.
    #[serde(borrow)]
    #[schema(value_type = String, required = true)]
    source: Option<&'a RawValue>,
    /// Event type.
    #[serde(borrow, rename = "type")]
    #[schema(value_type = String, required = true)]
    kind: Option<&'a RawValue>,
    /// The Kafka record key (CloudEvents partitioning extension) when it is a string; any other
    /// value is kept in the envelope but not used as the key.
    #[serde(borrow)]
    #[schema(value_type = Option<serde_json::Value>)]
    partitionkey: Option<&'a RawValue>,
}

impl Attributes<'_> {
    /// The first of [`REQUIRED_ATTRIBUTES`] that is missing or not a string.
    fn missing(&self) -> Option<&'static str> {
        let present = [self.specversion, self.id, self.source, self.kind];
        REQUIRED_ATTRIBUTES
            .into_iter()
            .zip(present)
            .find(|(_, value)| !value.is_some_and(is_string))
            .map(|(name, _)| name)
    }
}

fn is_string(value: &RawValue) -> bool {
    value.get().starts_with('"')
}

/// Structured mode: the envelope `json` is the record value, byte for byte.
fn structured(json: &str, what: &str) -> Result<Record, ApiError> {
    if !json.trim_start().starts_with('{') {
        // Not an object; still say so for malformed JSON first.
        parse_object(json.as_bytes(), what)?;
        return Err(ApiError::BadRequest(format!("{what} is not a JSON object")));
    }
    let attributes: Attributes = serde_json::from_str(json)
        .map_err(|e| ApiError::BadRequest(format!("{what} is not a valid CloudEvent: {e}")))?;
    if let Some(attribute) = attributes.missing() {
        return Err(ApiError::BadRequest(format!(
            "{what}: CloudEvent without the `{attribute}` attribute"
        )));
    }
    let key = attributes
        .partitionkey
        .filter(|k| is_string(k))
        .and_then(|k| serde_json::from_str::<String>(k.get()).ok())
        .map(String::into_bytes);
    Ok(Record {
        key,
        headers: vec![(
            "content-type".into(),
            b"application/cloudevents+json".to_vec(),
        )],
        value: json.as_bytes().to_vec(),
    })
}
