//! The task's Kafka producer, for the output and the error topic. Its delivery reports complete
//! the offsets of the messages they belong to.
//!
//! The producer is polled by the task itself ([`serve_deliveries`]), not by a thread of its own:
//! each report then completes its ticket in place, with no channel, future or wake-up per record
//! (what rdkafka's `FutureProducer` cost in its polling thread is in the operator guide,
//! "Measurements behind some choices").

use crate::consumer::{lock, Shared};
use crate::metrics::TaskMetrics;
use crate::offsets::Ticket;
use pipeline_common::clients::kafka_producer_config;
use pipeline_common::config::Settings;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The producer of one task.
pub type OutputProducer = BaseProducer<DeliveryContext>;

/// At most this many delivery-report events are served in one [`serve_deliveries`] call, so
/// that a flood of reports cannot hold the task loop for long.
const MAX_EVENTS_PER_SERVE: usize = 64;

/// Builds the idempotent `acks=all` producer of one task. Its queue is bounded to a few flushes'
/// worth of bytes so that a slow broker pushes back instead of growing the process.
pub fn create_producer(
    settings: &Settings,
    shared: Arc<Shared>,
    metrics: Arc<TaskMetrics>,
) -> Result<OutputProducer, KafkaError> {
    let queue_kib = (u64::from(settings.server.flush_mib) * 1024 * 2).max(16 * 1024);
    kafka_producer_config(settings)
        .set("queue.buffering.max.kbytes", queue_kib.to_string())
        // Records arrive in bursts of a whole bulk response, which fill whole batches at once; the
        // linger only decides how long the tail of a burst waits. A long one lets librdkafka's
        // broker thread sleep while the idempotent producer waits for an acknowledgement, but
        // every record it holds stays in memory (and its offset uncommitted) that much longer,
        // and with bulk responses coming back to back those waits add up to the process's peak.
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("batch.size", "1000000")
        // Java's partitioner (what Kafka Connect and Streams use for the same key), and cheaper
        // than librdkafka's default CRC32 of the 64-byte `_id` (the operator guide has the
        // profile's figure).
        .set("partitioner", "murmur2_random")
        // A record that times out fails the task, which then waits for the watcher, while a
        // record still waiting costs nothing: its offset stays uncommitted. So the producer
        // waits out a broker restart as long as the consumer may go without a poll, not the 30 s
        // that suit an HTTP client waiting for its 202.
        .set(
            "message.timeout.ms",
            settings.kafka.max_poll_interval_ms.to_string(),
        )
        .create_with_context(DeliveryContext {
            shared,
            metrics,
            pending: AtomicUsize::new(0),
            failure: Mutex::new(None),
        })
}

/// What an acknowledged record completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completes {
    /// An indexed document's output record.
    Indexed,
    /// A dead letter, failed at this stage.
    DeadLetter(pipeline_common::failure::FailedAt),
}

/// What a record in flight belongs to.
#[derive(Debug)]
pub struct InFlight {
    ticket: Ticket,
    completes: Completes,
}

/// Turns delivery reports into done offsets and counters.
pub struct DeliveryContext {
    shared: Arc<Shared>,
    metrics: Arc<TaskMetrics>,
    /// Records handed to the producer and not reported yet.
    pending: AtomicUsize,
    /// The first record the broker did not take; the task fails on it.
    failure: Mutex<Option<DeliveryFailure>>,
}

/// A record the broker did not take: the task fails, and the offset stays uncommitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the broker did not take a record for offset {offset} of partition {partition}: {error}")]
pub struct DeliveryFailure {
    /// Partition of the input record.
    pub partition: i32,
    /// Offset of the input record.
    pub offset: i64,
    /// The delivery report's error.
    pub error: KafkaError,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<InFlight>;

    fn delivery(&self, result: &DeliveryResult<'_>, in_flight: Box<InFlight>) {
        self.pending.fetch_sub(1, Ordering::Relaxed);
        let InFlight { ticket, completes } = *in_flight;
        if let Err((error, _)) = result {
            // Never completed, so never committed: the message is consumed again after the
            // task restarts.
            lock(&self.failure).get_or_insert_with(|| DeliveryFailure {
                partition: ticket.partition,
                offset: ticket.offset,
                error: error.clone(),
            });
            return;
        }
        lock(&self.shared.tracker).complete(ticket);
        match completes {
            Completes::Indexed => self.metrics.indexed(1),
            Completes::DeadLetter(stage) => self.metrics.dead_lettered(stage),
        }
    }
}

/// Records handed to `producer` and not reported yet.
pub fn pending(producer: &OutputProducer) -> usize {
    producer.context().pending.load(Ordering::Relaxed)
}

/// Runs the delivery reports that have arrived (without waiting for more); `Err` once the broker
/// refused a record.
pub fn serve_deliveries(producer: &OutputProducer) -> Result<(), DeliveryFailure> {
    for _ in 0..MAX_EVENTS_PER_SERVE {
        let before = pending(producer);
        if before == 0 {
            break;
        }
        producer.poll(Duration::ZERO);
        if pending(producer) == before {
            break;
        }
    }
    match lock(&producer.context().failure).as_ref() {
        Some(failure) => Err(failure.clone()),
        None => Ok(()),
    }
}

/// Enqueues one record, waiting while the producer's queue is full (backpressure). Its delivery
/// report completes `ticket`.
pub async fn send(
    producer: &OutputProducer,
    topic: &str,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
    headers: Option<OwnedHeaders>,
    ticket: Ticket,
    completes: Completes,
) -> Result<(), KafkaError> {
    let mut record: BaseRecord<'_, [u8], [u8], Box<InFlight>> =
        BaseRecord::with_opaque_to(topic, Box::new(InFlight { ticket, completes }));
    if let Some(key) = key {
        record = record.key(key);
    }
    if let Some(payload) = payload {
        record = record.payload(payload);
    }
    if let Some(headers) = headers {
        record = record.headers(headers);
    }
    loop {
        // Counted before sending: a report can only arrive through our own poll.
        producer.context().pending.fetch_add(1, Ordering::Relaxed);
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((error, back)) => {
                producer.context().pending.fetch_sub(1, Ordering::Relaxed);
                if !matches!(
                    error,
                    KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
                ) {
                    return Err(error);
                }
                record = back;
                // Reports free queue space; serve them, then give the broker a moment. Once the
                // broker has refused a record the task fails anyway: stop waiting for space.
                if let Err(failure) = serve_deliveries(producer) {
                    tracing::debug!(%failure, "a delivery failed while the queue was full");
                    return Err(error);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}
