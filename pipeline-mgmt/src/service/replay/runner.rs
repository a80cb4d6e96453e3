//! The task that runs a job: read the error topic up to its end at the start, produce the
//! matches to the input topic, keep the row's counts current.

use super::store::{record, Counts, JobState};
use super::ReplayFilter;
use crate::service::dead_letters::{DeadLetter, TopicReader};
use anyhow::Context;
use pipeline_common::config::Settings;
use pipeline_common::failure::headers;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use sqlx::MySqlPool;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Records read and produced per step; the job row is updated after each.
const STEP: i64 = 500;
/// Longest wait to enqueue one record when the producer's queue is full.
const ENQUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a job needs to run.
#[derive(Clone)]
pub struct ReplayContext {
    /// Connection settings for the reader.
    pub settings: Arc<Settings>,
    /// Job rows.
    pub db: MySqlPool,
    /// The idempotent `acks=all` producer.
    pub producer: FutureProducer,
}

/// Runs job `id` to its end: read `error_topic` up to its end at the start, produce the matches
/// to `input_topic`, and keep the row's counts current.
pub async fn run(
    ctx: ReplayContext,
    id: Uuid,
    error_topic: String,
    input_topic: String,
    filter: ReplayFilter,
) {
    let mut counts = Counts::default();
    let outcome = replay(&ctx, id, &error_topic, &input_topic, &filter, &mut counts).await;
    let finished = match &outcome {
        Ok(()) if counts.failed == 0 => (JobState::Succeeded, None),
        Ok(()) => (
            JobState::Failed,
            Some("some records were not acknowledged by the broker"),
        ),
        Err(err) => {
            tracing::warn!(job = %id, error = format!("{err:#}"), "replay failed");
            (
                JobState::Failed,
                Some("reading the error topic or producing failed"),
            )
        }
    };
    if let Err(err) = record(&ctx.db, id, counts, Some(finished)).await {
        tracing::error!(job = %id, error = %err, "recording the end of a replay failed");
    }
}

async fn replay(
    ctx: &ReplayContext,
    id: Uuid,
    error_topic: &str,
    input_topic: &str,
    filter: &ReplayFilter,
    counts: &mut Counts,
) -> anyhow::Result<()> {
    let settings = Arc::clone(&ctx.settings);
    let topic = error_topic.to_owned();
    let reader = Arc::new(
        tokio::task::spawn_blocking(move || TopicReader::open(&settings, &topic))
            .await
            .context("reader task")??,
    );
    let snapshot = {
        let reader = Arc::clone(&reader);
        tokio::task::spawn_blocking(move || reader.watermarks())
            .await
            .context("watermarks task")??
    };
    for mark in snapshot {
        let Some((from, to)) = filter.bounds(mark.partition, mark.low, mark.high) else {
            continue;
        };
        let mut start = from;
        while start < to {
            let end = (start + STEP).min(to);
            let letters = {
                let reader = Arc::clone(&reader);
                let partition = mark.partition;
                tokio::task::spawn_blocking(move || reader.read_range(partition, start, end))
                    .await
                    .context("read task")??
            };
            let matching: Vec<&DeadLetter> = letters.iter().filter(|l| filter.keeps(l)).collect();
            counts.matched += i64::try_from(matching.len()).unwrap_or(i64::MAX);
            let (acked, refused) =
                produce(&ctx.producer, error_topic, input_topic, &matching).await;
            counts.replayed += acked;
            counts.failed += refused;
            record(&ctx.db, id, *counts, None).await?;
            start = end;
        }
    }
    Ok(())
}

/// Produces `letters` and waits for every acknowledgement: (acknowledged, refused).
async fn produce(
    producer: &FutureProducer,
    error_topic: &str,
    input_topic: &str,
    letters: &[&DeadLetter],
) -> (i64, i64) {
    let sends = letters.iter().map(|letter| {
        let origin = format!("{error_topic}/{}/{}", letter.partition, letter.offset);
        let headers = OwnedHeaders::new().insert(Header {
            key: headers::REPLAY_OF,
            value: Some(origin.as_bytes()),
        });
        let mut out = FutureRecord::<[u8], [u8]>::to(input_topic).headers(headers);
        if let Some(value) = &letter.value {
            out = out.payload(value.as_slice());
        }
        if let Some(key) = &letter.key {
            out = out.key(key.as_slice());
        }
        producer.send(out, Timeout::After(ENQUEUE_TIMEOUT))
    });
    let results = futures::future::join_all(sends).await;
    let acked = results.iter().filter(|r| r.is_ok()).count();
    let refused = results.len() - acked;
    (
        i64::try_from(acked).unwrap_or(i64::MAX),
        i64::try_from(refused).unwrap_or(i64::MAX),
    )
}
