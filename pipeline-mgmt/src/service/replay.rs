//! Replay jobs: dead letters matching a filter, re-injected into the input topic.
//!
//! A job is a row of `replay_jobs` and a task. The task snapshots the error topic's end offsets,
//! reads up to them, and produces every matching record to the input topic with its original key
//! and value plus a `replay.of` header. Only records the broker acknowledged count as replayed.
//! Replaying twice is harmless: the worker gives an event the same `_id` each time.

use crate::service::dead_letters::{DeadLetter, TopicReader};
use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use pipeline_common::config::Settings;
use pipeline_common::failure::{headers, FailedAt};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::MySqlPool;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// Records read and produced per step; the job row is updated after each.
const STEP: i64 = 500;
/// Longest wait to enqueue one record when the producer's queue is full.
const ENQUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// An inclusive offset range of one partition of the error topic.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OffsetRange {
    /// Partition of the error topic.
    #[schema(minimum = 0, maximum = 2147483647)]
    #[serde(deserialize_with = "crate::strict_json::whole")]
    pub partition: i32,
    /// First offset (default: the first readable).
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    #[serde(default, deserialize_with = "crate::strict_json::optional_whole")]
    pub from: Option<i64>,
    /// Last offset, inclusive, not below `from` (default: the last at the job's start).
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    #[serde(default, deserialize_with = "crate::strict_json::optional_whole")]
    pub to: Option<i64>,
}

/// Which dead letters a replay takes; every part given must match.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReplayFilter {
    /// `error.stage` equals this.
    #[schema(value_type = Option<FailedAt>)]
    pub stage: Option<String>,
    /// `error.reason` contains this.
    pub reason: Option<String>,
    /// Only these partitions and offsets; absent means every partition.
    #[serde(default, deserialize_with = "crate::strict_json::optional_objects")]
    pub offsets: Option<Vec<OffsetRange>>,
}

impl ReplayFilter {
    /// Field problems of a filter that can match nothing sensible.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(Err(err)) = self.stage.as_deref().map(str::parse::<FailedAt>) {
            out.push(("stage".to_owned(), err.to_string()));
        }
        for (i, range) in self.offsets.iter().flatten().enumerate() {
            if range.partition < 0 {
                out.push((format!("offsets[{i}].partition"), "must be >= 0".to_owned()));
            }
            if range.from.is_some_and(|f| f < 0) {
                out.push((format!("offsets[{i}].from"), "must be >= 0".to_owned()));
            }
            if range.to.is_some_and(|t| t < 0) {
                out.push((format!("offsets[{i}].to"), "must be >= 0".to_owned()));
            }
            if let (Some(f), Some(t)) = (range.from, range.to) {
                if t < f {
                    out.push((format!("offsets[{i}].to"), "must be >= from".to_owned()));
                }
            }
        }
        out
    }

    fn keeps(&self, letter: &DeadLetter) -> bool {
        self.stage
            .as_deref()
            .is_none_or(|s| letter.stage() == Some(s))
            && self
                .reason
                .as_deref()
                .is_none_or(|r| letter.reason().is_some_and(|have| have.contains(r)))
    }

    /// The offsets of `partition` to read, within `low..high`; `None` when none.
    fn bounds(&self, partition: i32, low: i64, high: i64) -> Option<(i64, i64)> {
        let (from, to) = match &self.offsets {
            None => (low, high),
            Some(ranges) => {
                let range = ranges.iter().find(|r| r.partition == partition)?;
                (
                    range.from.unwrap_or(low).max(low),
                    range.to.map_or(high, |t| t.saturating_add(1)).min(high),
                )
            }
        };
        (from < to).then_some((from, to))
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ReplayState)]
pub enum JobState {
    /// Reading and producing.
    Running,
    /// Every matching record was acknowledged.
    Succeeded,
    /// Stopped on an error, or some records were not acknowledged.
    Failed,
}

impl JobState {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
        }
    }
}

impl TryFrom<String> for JobState {
    type Error = String;

    fn try_from(column: String) -> Result<Self, Self::Error> {
        [JobState::Running, JobState::Succeeded, JobState::Failed]
            .into_iter()
            .find(|s| s.as_str() == column)
            .ok_or_else(|| format!("unknown replay job state {column:?}"))
    }
}

/// An instant as RFC 3339 in UTC with milliseconds, the form every time of the API takes.
fn millis<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn optional_millis<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => millis(t, s),
        None => s.serialize_none(),
    }
}

/// A `replay_jobs` row, which is also its REST form.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ReplayJob)]
pub struct JobRow {
    /// Job id, used in `…/replays/{jobId}`.
    #[schema(format = Uuid)]
    pub id: String,
    /// The pipeline.
    #[schema(format = Uuid)]
    pub pipeline_id: String,
    /// Where the job is.
    #[sqlx(try_from = "String")]
    pub state: JobState,
    /// The filter as given.
    #[schema(value_type = ReplayFilter)]
    pub filter: Json<Value>,
    /// Records that matched the filter.
    #[schema(minimum = 0)]
    pub matched: i64,
    /// Records the broker acknowledged in the input topic.
    #[schema(minimum = 0)]
    pub replayed: i64,
    /// Matching records that were not acknowledged.
    #[schema(minimum = 0)]
    pub failed: i64,
    /// Why the job failed.
    pub error: Option<String>,
    /// The principal that started it.
    pub started_by: String,
    /// Start.
    #[serde(serialize_with = "millis")]
    pub started_at: DateTime<Utc>,
    /// End, once finished.
    #[serde(serialize_with = "optional_millis")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// The job `id` of `pipeline_id`, if any.
pub async fn get(
    db: &MySqlPool,
    pipeline_id: &str,
    id: &str,
) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, pipeline_id, state, filter, matched, replayed, failed, error, started_by, \
         started_at, finished_at FROM replay_jobs WHERE id = ? AND pipeline_id = ?",
    )
    .bind(id)
    .bind(pipeline_id)
    .fetch_optional(db)
    .await
}

/// The newest jobs of `pipeline_id`.
pub async fn list(
    db: &MySqlPool,
    pipeline_id: &str,
    limit: u32,
) -> Result<Vec<JobRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, pipeline_id, state, filter, matched, replayed, failed, error, started_by, \
         started_at, finished_at FROM replay_jobs WHERE pipeline_id = ? \
         ORDER BY started_at DESC LIMIT ?",
    )
    .bind(pipeline_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Inserts a running job and its `replay` audit row in one transaction.
pub async fn insert(
    db: &MySqlPool,
    pipeline: (&str, &str),
    filter: &ReplayFilter,
    actor: &str,
) -> Result<JobRow, sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    let filter = serde_json::to_value(filter).unwrap_or(Value::Null);
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO replay_jobs (id, pipeline_id, state, filter, started_by, started_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(pipeline.0)
    .bind(JobState::Running.as_str())
    .bind(Json(&filter))
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO audit_log (pipeline_id, pipeline_name, actor, action, version_before, \
         version_after, at) VALUES (?, ?, ?, 'replay', NULL, NULL, ?)",
    )
    .bind(pipeline.0)
    .bind(pipeline.1)
    .bind(actor)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let row = sqlx::query_as(
        "SELECT id, pipeline_id, state, filter, matched, replayed, failed, error, started_by, \
         started_at, finished_at FROM replay_jobs WHERE id = ?",
    )
    .bind(&id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row)
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    matched: i64,
    replayed: i64,
    failed: i64,
}

async fn record(
    db: &MySqlPool,
    id: &str,
    counts: Counts,
    finished: Option<(JobState, Option<&str>)>,
) -> Result<(), sqlx::Error> {
    let (state, error, finished_at) = match finished {
        Some((state, error)) => (state, error, Some(Utc::now())),
        None => (JobState::Running, None, None),
    };
    sqlx::query(
        "UPDATE replay_jobs SET matched = ?, replayed = ?, failed = ?, state = ?, \
         error = COALESCE(?, error), finished_at = ? WHERE id = ?",
    )
    .bind(counts.matched)
    .bind(counts.replayed)
    .bind(counts.failed)
    .bind(state.as_str())
    .bind(error)
    .bind(finished_at)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

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
    id: String,
    error_topic: String,
    input_topic: String,
    filter: ReplayFilter,
) {
    let mut counts = Counts::default();
    let outcome = replay(&ctx, &id, &error_topic, &input_topic, &filter, &mut counts).await;
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
    if let Err(err) = record(&ctx.db, &id, counts, Some(finished)).await {
        tracing::error!(job = %id, error = %err, "recording the end of a replay failed");
    }
}

async fn replay(
    ctx: &ReplayContext,
    id: &str,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(stage: &str, reason: &str) -> DeadLetter {
        DeadLetter {
            partition: 0,
            offset: 0,
            timestamp: None,
            key: None,
            headers: vec![
                ("error.stage".into(), Some(stage.as_bytes().to_vec())),
                ("error.reason".into(), Some(reason.as_bytes().to_vec())),
            ],
            value: None,
        }
    }

    #[test]
    fn filter_matches_stage_and_reason_substring() {
        let f = ReplayFilter {
            stage: Some("parse".into()),
            reason: Some("no pattern".into()),
            offsets: None,
        };
        assert!(f.keeps(&letter("parse", "no pattern matched")));
        assert!(!f.keeps(&letter("decode", "no pattern matched")));
        assert!(!f.keeps(&letter("parse", "other")));
        assert!(ReplayFilter::default().keeps(&letter("x", "y")));
    }

    #[test]
    fn bounds_clip_to_the_watermarks() {
        let all = ReplayFilter::default();
        assert_eq!(all.bounds(0, 3, 10), Some((3, 10)));
        assert_eq!(all.bounds(0, 5, 5), None);
        let some = ReplayFilter {
            offsets: Some(vec![OffsetRange {
                partition: 1,
                from: Some(4),
                to: Some(6),
            }]),
            ..ReplayFilter::default()
        };
        assert_eq!(some.bounds(0, 0, 10), None);
        assert_eq!(some.bounds(1, 0, 10), Some((4, 7)));
        assert_eq!(some.bounds(1, 5, 6), Some((5, 6)));
        assert!(some.problems().is_empty());
        let bad = ReplayFilter {
            offsets: Some(vec![OffsetRange {
                partition: -1,
                from: Some(4),
                to: Some(2),
            }]),
            ..ReplayFilter::default()
        };
        assert_eq!(bad.problems().len(), 2);
    }
}
