//! `POST /api/v1/pipelines/{id}/events`: HTTP ingest into a pipeline's input topic.
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
use crate::http::extract::{media_type, LimitedBody, PipelineId};
use crate::http::responses::{
    BadGateway, BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthorized,
    Unavailable, UnsupportedMediaType,
};
use crate::service::find;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use pipeline_common::model::PipelineTopics;
use pipeline_common::store::pipelines::PipelineState;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureRecord, Producer};
use rdkafka::util::Timeout;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Longest wait to enqueue one record when the producer's queue is full.
const ENQUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// CloudEvents attributes every event must carry.
const REQUIRED_ATTRIBUTES: [&str; 4] = ["specversion", "id", "source", "type"];

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest))
}

/// Answer of an ingest.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Events written to the input topic and acknowledged by the broker.
    #[schema(minimum = 0)]
    pub accepted: usize,
}

/// One record to produce.
#[derive(Debug, Default)]
struct Record {
    key: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
    value: Vec<u8>,
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
    let row = find(&state, &id).await?;
    if !matches!(row.state, PipelineState::Running | PipelineState::Stopped) {
        return Err(ApiError::Conflict(format!(
            "the pipeline is {}; events are accepted once it is running or stopped",
            row.state
        )));
    }
    let topic = PipelineTopics::new(&state.settings.kafka.topic_prefix, &row.name).input;

    let records = decode(&headers, &body)?;
    let max_event = state.settings.server.max_event_bytes;
    if let Some(i) = records.iter().position(|r| r.value.len() > max_event) {
        return Err(ApiError::PayloadTooLarge(format!(
            "event {i} is larger than {max_event} bytes"
        )));
    }
    produce(&state, &topic, &records).await?;
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

/// Longest wait for fresh metadata of a topic before a retry.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends `records` and waits for every acknowledgement; those not acknowledged, with why.
async fn send_all<'r>(
    state: &AppState,
    topic: &str,
    records: &[&'r Record],
) -> Vec<(&'r Record, KafkaError)> {
    let sends = records.iter().map(|record| {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (key, value) in &record.headers {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut out = FutureRecord::<[u8], [u8]>::to(topic)
            .payload(&record.value)
            .headers(headers);
        if let Some(key) = &record.key {
            out = out.key(key);
        }
        state.producer.send(out, Timeout::After(ENQUEUE_TIMEOUT))
    });
    let results = futures::future::join_all(sends).await;
    records
        .iter()
        .zip(results)
        .filter_map(|(record, result)| result.err().map(|(e, _)| (*record, e)))
        .collect()
}

/// The producer's metadata of a topic that was deleted and created again (a pipeline deleted and
/// created under the same name) can be stale: its old partition count picks a partition the new
/// topic does not have.
fn stale_metadata(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::UnknownPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::UnknownTopicOrPartition
        )
    )
}

/// Produces every record and waits for every acknowledgement. Records refused for stale
/// metadata are sent once more after the topic's metadata is fetched again.
async fn produce(state: &AppState, topic: &str, records: &[Record]) -> Result<(), ApiError> {
    let all: Vec<&Record> = records.iter().collect();
    let mut errors = send_all(state, topic, &all).await;
    if !errors.is_empty() && errors.iter().all(|(_, e)| stale_metadata(e)) {
        let producer = state.producer.clone();
        let name = topic.to_owned();
        // A metadata response refreshes librdkafka's cache; fetching blocks, so off the workers.
        let refreshed = tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&name), METADATA_TIMEOUT)
        })
        .await;
        // The second attempt says what is still wrong; the refresh's own failure only explains.
        if let Ok(Err(error)) = refreshed {
            tracing::debug!(%error, topic, "refreshing the topic's metadata failed");
        }
        let again: Vec<&Record> = errors.iter().map(|(r, _)| *r).collect();
        errors = send_all(state, topic, &again).await;
    }
    let failed = errors.into_iter().map(|(_, e)| e);
    let mut first: Option<KafkaError> = None;
    let mut count = 0usize;
    for err in failed {
        count += 1;
        first.get_or_insert(err);
    }
    match first {
        None => Ok(()),
        Some(err) => {
            let timed_out = matches!(
                err.rdkafka_error_code(),
                Some(RDKafkaErrorCode::MessageTimedOut | RDKafkaErrorCode::QueueFull)
            );
            let cause = anyhow::Error::from(err).context(format!(
                "{count} of {} records not acknowledged",
                records.len()
            ));
            if timed_out {
                Err(ApiError::Unavailable {
                    detail: "the Kafka broker did not acknowledge the events in time; retry".into(),
                    source: Some(cause),
                })
            } else {
                Err(ApiError::bad_gateway(
                    crate::error::Dependency::Kafka,
                    cause,
                ))
            }
        }
    }
}
