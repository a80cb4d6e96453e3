//! HTTP ingest behind the handler: which input topic a request writes to (through the
//! [`IngestCache`](super::ingest_cache::IngestCache)), and producing its records with every
//! acknowledgement awaited.

use super::ingest_cache::{IngestTarget, PipelineRef};
use crate::error::{ApiError, Dependency};
use crate::state::AppState;
use pipeline_common::model::PipelineTopics;
use pipeline_common::store::pipelines::{self as rows, PipelineRow, PipelineState};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureRecord, Producer};
use rdkafka::util::Timeout;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait to enqueue one record when the producer's queue is full.
const ENQUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest wait for fresh metadata of a topic before a retry.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// One record to produce.
#[derive(Debug, Default)]
pub struct Record {
    /// The Kafka key, if any.
    pub key: Option<Vec<u8>>,
    /// Kafka headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The Kafka value.
    pub value: Vec<u8>,
}

/// The pipeline `key` names, if it accepts events: 404 when there is none, 409 while it is
/// provisioning or being deleted. Answered from the cache when it can be.
pub async fn resolve(state: &AppState, key: PipelineRef) -> Result<Arc<IngestTarget>, ApiError> {
    if let Some(target) = state.ingest.get(&key) {
        return Ok(target);
    }
    let read_under = state.ingest.generation();
    let row = match &key {
        PipelineRef::Id(id) => rows::get(&state.db, *id).await?,
        PipelineRef::Name(name) => rows::get_by_name(&state.db, name).await?,
    };
    let row = row.ok_or_else(|| not_found(&key))?;
    let target = Arc::new(accepting(state, row)?);
    state.ingest.insert(read_under, key, Arc::clone(&target));
    Ok(target)
}

fn not_found(key: &PipelineRef) -> ApiError {
    ApiError::NotFound(match key {
        PipelineRef::Id(_) => "no pipeline with this id".into(),
        PipelineRef::Name(_) => "no pipeline with this name".into(),
    })
}

/// The target of a pipeline whose topics exist (running or stopped; a stopped pipeline keeps its
/// events in the input topic until it runs again); 409 otherwise.
fn accepting(state: &AppState, row: PipelineRow) -> Result<IngestTarget, ApiError> {
    if !matches!(row.state, PipelineState::Running | PipelineState::Stopped) {
        return Err(ApiError::Conflict(format!(
            "the pipeline is {}; events are accepted once it is running or stopped",
            row.state
        )));
    }
    let topic = PipelineTopics::new(&state.settings.kafka.topic_prefix, &row.name).input;
    Ok(IngestTarget {
        id: row.id,
        name: row.name,
        topic,
    })
}

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
/// topic does not have. The records queued for such a partition fail with `UnknownPartition`, or
/// with `BrokerDestroy` when librdkafka drops the partition while they wait; none of them was
/// written, so sending them again is safe.
fn stale_metadata(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::UnknownPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::BrokerDestroy
        )
    )
}

/// Resends after stale metadata at most this many times, waiting longer each time: a topic
/// created a moment ago can still be missing, or have its old partition count, in the broker's
/// own metadata.
const STALE_METADATA_RETRIES: u32 = 5;

/// The wait before the first resend; it doubles with each further one.
const STALE_METADATA_BACKOFF: Duration = Duration::from_millis(25);

/// Produces every record and waits for every acknowledgement. Records refused for stale
/// metadata are sent again after the topic's metadata is fetched again.
pub async fn produce(state: &AppState, topic: &str, records: &[Record]) -> Result<(), ApiError> {
    let all: Vec<&Record> = records.iter().collect();
    let mut errors = send_all(state, topic, &all).await;
    let mut backoff = STALE_METADATA_BACKOFF;
    for _ in 0..STALE_METADATA_RETRIES {
        if errors.is_empty() || !errors.iter().all(|(_, e)| stale_metadata(e)) {
            break;
        }
        refresh_metadata(state, topic).await;
        let again: Vec<&Record> = errors.iter().map(|(r, _)| *r).collect();
        errors = send_all(state, topic, &again).await;
        if !errors.is_empty() {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    let count = errors.len();
    match errors.into_iter().next() {
        None => Ok(()),
        Some((_, err)) => Err(unacknowledged(err, count, records.len())),
    }
}

/// Asks the broker for `topic`'s metadata; the response refreshes librdkafka's cache.
async fn refresh_metadata(state: &AppState, topic: &str) {
    let producer = state.producer.clone();
    let name = topic.to_owned();
    // Fetching blocks, so off the runtime's workers.
    let refreshed = tokio::task::spawn_blocking(move || {
        producer
            .client()
            .fetch_metadata(Some(&name), METADATA_TIMEOUT)
    })
    .await;
    // The next attempt says what is still wrong; the refresh's own failure only explains.
    if let Ok(Err(error)) = refreshed {
        tracing::debug!(%error, topic, "refreshing the topic's metadata failed");
    }
}

/// The answer when `count` of `total` records were not acknowledged, `first` among them.
fn unacknowledged(first: KafkaError, count: usize, total: usize) -> ApiError {
    let timed_out = matches!(
        first.rdkafka_error_code(),
        Some(RDKafkaErrorCode::MessageTimedOut | RDKafkaErrorCode::QueueFull)
    );
    let cause =
        anyhow::Error::from(first).context(format!("{count} of {total} records not acknowledged"));
    if timed_out {
        ApiError::Unavailable {
            detail: "the Kafka broker did not acknowledge the events in time; retry".into(),
            source: Some(cause),
        }
    } else {
        ApiError::bad_gateway(Dependency::Kafka, cause)
    }
}
