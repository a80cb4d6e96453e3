//! A bare consume → produce pipe for benchmarks (scripts/bench-worker): every record of one topic
//! is produced, unchanged, to another, with the worker's own client library and librdkafka
//! settings and no processing, no bulk request and no offset commits. Set beside the worker, it
//! shows what the Kafka side of the worker's job costs by itself.
//!
//! `kafka-pipe INPUT OUTPUT COUNT` reads the broker address from the worker's configuration
//! (`FLOW__MQ__MQ_HOST`, `FLOW__MQ__MQ_PORT`, ...), consumes INPUT from the beginning in a fresh
//! group until COUNT records have arrived, waits until the broker has acknowledged every output
//! record, prints `{"records", "firstMs", "lastMs"}` (Unix ms of the first record consumed and of
//! the last acknowledgement) and exits when its stdin closes, so that the caller can read its
//! counters in /proc first.

use anyhow::Context;
use pipeline_common::clients::kafka_producer_config;
use pipeline_common::config::{ConfigSource, Settings};
use pipeline_worker::consumer::consumer_config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Message};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest the pipe waits for the next record before it gives up.
const IDLE_LIMIT: Duration = Duration::from_secs(120);

/// Counts the records the broker refused, so that a lost record fails the run.
#[derive(Default)]
struct Refusals(AtomicU64);

impl ClientContext for Refusals {}

impl ProducerContext for Refusals {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if result.is_err() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, count] = args.as_slice() else {
        anyhow::bail!("usage: kafka-pipe INPUT OUTPUT COUNT");
    };
    let count: u64 = count.parse().context("COUNT")?;
    let settings = Settings::load(&ConfigSource::from_process(None))?;
    let (consumer, producer) = clients(&settings)?;
    consumer.subscribe(&[input.as_str()])?;
    let first_ms = pipe(&consumer, &producer, output, count)?;
    producer.flush(Duration::from_secs(60))?;
    let refused = producer.context().0.load(Ordering::Relaxed);
    if refused > 0 {
        anyhow::bail!("the broker refused {refused} output records");
    }
    let last_ms = now_ms();
    println!(
        "{}",
        serde_json::json!({"records": count, "firstMs": first_ms, "lastMs": last_ms})
    );
    // The caller reads /proc while the process still exists, then closes stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}

/// A consumer in a fresh group reading from the beginning, and the worker's output producer
/// (src/producer.rs) without its delivery bookkeeping.
fn clients(settings: &Settings) -> anyhow::Result<(BaseConsumer, BaseProducer<Refusals>)> {
    let group = format!("kafka-pipe-{}-{}", std::process::id(), now_ms());
    let consumer: BaseConsumer = consumer_config(settings, &group, "kafka-pipe")
        .set("auto.offset.reset", "earliest")
        .create()?;
    let queue_kib = (u64::from(settings.server.flush_mib) * 1024 * 2).max(16 * 1024);
    let producer: BaseProducer<Refusals> = kafka_producer_config(settings)
        .set("queue.buffering.max.kbytes", queue_kib.to_string())
        .set("linger.ms", "200")
        .set("batch.num.messages", "10000")
        .set("batch.size", "1000000")
        .set("partitioner", "murmur2_random")
        .create_with_context(Refusals::default())?;
    Ok((consumer, producer))
}

/// Produces the first `count` records `consumer` reads to `output`; the Unix ms of the first.
fn pipe(
    consumer: &BaseConsumer,
    producer: &BaseProducer<Refusals>,
    output: &str,
    count: u64,
) -> anyhow::Result<i64> {
    let mut records = 0u64;
    let mut first_ms = 0i64;
    let mut last_input = Instant::now();
    while records < count {
        if last_input.elapsed() > IDLE_LIMIT {
            anyhow::bail!("only {records} of {count} records arrived");
        }
        let Some(polled) = consumer.poll(Duration::from_millis(100)) else {
            producer.poll(Duration::ZERO);
            continue;
        };
        let message = match polled {
            Ok(message) => message,
            Err(KafkaError::PartitionEOF(_)) => continue,
            Err(error) => return Err(error.into()),
        };
        if first_ms == 0 {
            first_ms = now_ms();
        }
        last_input = Instant::now();
        let key = key_of(message.partition(), message.offset());
        let payload = message.payload().unwrap_or_default();
        send(producer, output, key.as_bytes(), payload)?;
        records += 1;
    }
    Ok(first_ms)
}

/// A key as long as the worker's `_id` (64 hex digits), spread over the partitions like it, but
/// without hashing the value: the pipe does no processing.
fn key_of(partition: i32, offset: i64) -> String {
    let (partition, offset) = (partition as u64, offset as u64);
    format!(
        "{partition:016x}{offset:016x}{:016x}{:016x}",
        offset.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        offset ^ 0x5bd1_e995
    )
}

/// Enqueues one record, waiting while the producer's queue is full.
fn send(
    producer: &BaseProducer<Refusals>,
    output: &str,
    key: &[u8],
    payload: &[u8],
) -> anyhow::Result<()> {
    let mut record = BaseRecord::<[u8], [u8]>::to(output)
        .key(key)
        .payload(payload);
    loop {
        match producer.send(record) {
            Ok(()) => break,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(5));
            }
            Err((error, _)) => return Err(error.into()),
        }
    }
    producer.poll(Duration::ZERO);
    Ok(())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
