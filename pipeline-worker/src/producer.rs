//! The task's Kafka producer, for the output and the error topic, and the [`Delivery`] futures
//! that turn broker acknowledgements into "this message is done".

use crate::offsets::Ticket;
use pipeline_common::clients::kafka_producer_config;
use pipeline_common::config::Settings;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Builds the idempotent `acks=all` producer of one task. Its queue is bounded to a few flushes'
/// worth of bytes so that a slow broker pushes back instead of growing the process.
pub fn create_producer(settings: &Settings) -> Result<FutureProducer, KafkaError> {
    let queue_kib = (u64::from(settings.server.flush_mib) * 1024 * 2).max(16 * 1024);
    kafka_producer_config(settings)
        .set("queue.buffering.max.kbytes", queue_kib.to_string())
        // Records arrive in bursts of a whole bulk response. While the idempotent producer waits
        // for a slow broker's acknowledgement, librdkafka's broker thread wakes again and again
        // for the records queued behind it. Measured with scripts/bench-worker against a busy
        // tansu: 3.5-5.8 µs of that thread's CPU per record with a 50 ms linger, 0.7 µs with
        // 200 or 500 ms, at the same rate. The linger delays only the output record and the
        // offset commit, never indexing.
        .set("linger.ms", "200")
        .set("batch.num.messages", "10000")
        .set("batch.size", "1000000")
        .create()
}

/// What an acknowledged record completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completes {
    /// An indexed document's output record.
    Indexed,
    /// A dead letter, failed at this stage.
    DeadLetter(String),
}

/// A record on its way to the broker.
pub struct Delivery {
    future: DeliveryFuture,
    ticket: Ticket,
    completes: Option<Completes>,
}

/// A delivery's result: the ticket to complete, or why the record was not written.
pub struct Acknowledged {
    /// The message the record belongs to.
    pub ticket: Ticket,
    /// What it completes.
    pub completes: Completes,
    /// `Err` with the broker's or the client's error when the record was not written.
    pub result: Result<(), String>,
}

impl Future for Delivery {
    type Output = Acknowledged;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        Pin::new(&mut this.future).poll(cx).map(|result| {
            let result = match result {
                Ok(Ok(_)) => Ok(()),
                Ok(Err((error, _))) => Err(error.to_string()),
                Err(_) => Err(String::from("producer dropped before delivery")),
            };
            Acknowledged {
                ticket: this.ticket,
                completes: this.completes.take().unwrap_or(Completes::Indexed),
                result,
            }
        })
    }
}

/// Enqueues one record, waiting while the producer's queue is full (backpressure).
pub async fn send(
    producer: &FutureProducer,
    topic: &str,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
    headers: Option<OwnedHeaders>,
    ticket: Ticket,
    completes: Completes,
) -> Result<Delivery, KafkaError> {
    let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
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
        match producer.send_result(record) {
            Ok(future) => {
                return Ok(Delivery {
                    future,
                    ticket,
                    completes: Some(completes),
                })
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((error, _)) => return Err(error),
        }
    }
}
