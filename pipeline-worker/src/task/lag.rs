//! The consumer lag, reported off the task loop.

use super::Consumer_;
use crate::metrics::TaskMetrics;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Publishes the consumer lag (high watermark minus position, summed over the assigned
/// partitions) every `interval`. Watermark queries block on the broker, so they run off the
/// async threads, outside the task loop.
pub(super) async fn report_lag(
    consumer: Arc<Consumer_>,
    topic: String,
    metrics: Arc<TaskMetrics>,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let consumer = consumer.clone();
        let topic = topic.clone();
        let lag = tokio::task::spawn_blocking(move || lag_of(&consumer, &topic)).await;
        if let Ok(Some(lag)) = lag {
            metrics.lag(lag);
        }
    }
}

/// Broker round trips of one lag reading wait at most this long each.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// The summed lag of `topic`'s assigned partitions; `None` when the broker does not answer.
/// Blocks on the broker.
fn lag_of(consumer: &Consumer_, topic: &str) -> Option<i64> {
    let positions = consumer.position().ok()?;
    let mut total = 0i64;
    for element in positions.elements() {
        let partition = element.partition();
        let (_, high) = consumer
            .fetch_watermarks(topic, partition, QUERY_TIMEOUT)
            .ok()?;
        let position = match element.offset() {
            Offset::Offset(o) => o,
            _ => committed(consumer, topic, partition)?,
        };
        total += (high - position).max(0);
    }
    Some(total)
}

/// Where a partition without a position resumes: its committed offset, 0 when it has none.
fn committed(consumer: &Consumer_, topic: &str, partition: i32) -> Option<i64> {
    let mut one = TopicPartitionList::new();
    one.add_partition(topic, partition);
    let list = consumer.committed_offsets(one, QUERY_TIMEOUT).ok()?;
    Some(
        list.elements()
            .first()
            .and_then(|e| e.offset().to_raw())
            .filter(|o| *o >= 0)
            .unwrap_or(0),
    )
}
