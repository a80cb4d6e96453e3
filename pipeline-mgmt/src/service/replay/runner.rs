//! The task that runs a job on the replica that owns it: fix the error-topic ranges to read (the
//! ends at the job's start), then, step by step, record the step about to be written, produce
//! its matches to the input topic, and record the acknowledged progress and counts, renewing the
//! replica's lease each time.
//!
//! A replica that takes the job over runs the same task from the recorded progress. A step that
//! was in flight when the owner died is settled first: the input topic, read from its end
//! offsets before the step, shows which of the step's letters the job already wrote
//! (`replay.job` names it, `replay.of` the letter), and only the others are written. So a
//! takeover replays no dead letter twice. (A replica that only stalled past its lease, rather
//! than died, finds the job taken at its next step and stops; a write it was in the middle of
//! can still land after the takeover read the input topic.)

use super::store::{begin_step, end_step, record, set_ranges};
use super::store::{Counts, ErrorRange, InFlight, JobState, Progress};
use super::ReplayFilter;
use crate::service::dead_letters::{DeadLetter, TopicReader};
use anyhow::Context;
use pipeline_common::config::Settings;
use pipeline_common::failure::headers;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use sqlx::MySqlPool;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Records read and produced per step; the job row is updated before and after each.
const STEP: i64 = 500;
/// Records of the input topic read per request while settling a step in flight.
const SCAN: i64 = 5_000;
/// Longest wait to enqueue one record when the producer's queue is full.
const ENQUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a job needs to run.
#[derive(Clone)]
pub struct ReplayContext {
    /// Connection settings for the readers.
    pub settings: Arc<Settings>,
    /// Job rows.
    pub db: MySqlPool,
    /// The idempotent `acks=all` producer.
    pub producer: FutureProducer,
    /// This replica, the owner of the jobs it runs.
    pub owner: Arc<str>,
    /// How long this replica's lease on a job lasts without a renewal.
    pub lease: Duration,
}

/// One job to run: what to read, where to write, which letters, and where a previous owner
/// left it.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job's id.
    pub id: Uuid,
    /// The pipeline's error topic.
    pub error_topic: String,
    /// The pipeline's input topic.
    pub input_topic: String,
    /// Which dead letters.
    pub filter: ReplayFilter,
    /// What a previous owner recorded (nothing for a new job).
    pub resume: Resume,
}

/// What a job's previous owner recorded.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    pub(super) ranges: Option<Vec<ErrorRange>>,
    pub(super) progress: Progress,
    pub(super) inflight: Option<InFlight>,
    pub(super) counts: Counts,
}

/// How a run ended on this replica.
enum Ended {
    /// Every range was read.
    Finished,
    /// Another replica owns the job now; it writes the rest, and the end.
    TakenOver,
}

/// Runs `job` to its end on this replica (or until another one takes it over) and records the
/// outcome.
pub async fn run(ctx: ReplayContext, job: Job) {
    let mut counts = job.resume.counts;
    let outcome = replay(&ctx, &job, &mut counts).await;
    let finished = match &outcome {
        Ok(Ended::Finished) if counts.failed == 0 => (JobState::Succeeded, None),
        Ok(Ended::Finished) => (
            JobState::Failed,
            Some("some records were not acknowledged by the broker"),
        ),
        Ok(Ended::TakenOver) => {
            tracing::info!(job = %job.id, "replay job taken over by another replica");
            return;
        }
        Err(err) => {
            tracing::warn!(job = %job.id, error = format!("{err:#}"), "replay failed");
            (
                JobState::Failed,
                Some("reading the error topic or producing failed"),
            )
        }
    };
    if let Err(err) = record(&ctx.db, job.id, &ctx.owner, counts, Some(finished)).await {
        tracing::error!(job = %job.id, error = %err, "recording the end of a replay failed");
    }
}

/// Runs blocking Kafka work on the blocking pool.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work).await.context(what)?
}

/// The job's readers: the error topic (its letters) and the input topic (its ends, and what a
/// step in flight wrote).
struct Readers {
    errors: Arc<TopicReader>,
    input: Arc<TopicReader>,
}

impl Readers {
    async fn open(ctx: &ReplayContext, job: &Job) -> anyhow::Result<Readers> {
        let open = |topic: &str| {
            let (settings, topic) = (Arc::clone(&ctx.settings), topic.to_owned());
            blocking("reader task", move || TopicReader::open(&settings, &topic))
        };
        Ok(Readers {
            errors: Arc::new(open(&job.error_topic).await?),
            input: Arc::new(open(&job.input_topic).await?),
        })
    }

    async fn letters(
        &self,
        partition: i32,
        start: i64,
        end: i64,
    ) -> anyhow::Result<Vec<DeadLetter>> {
        let reader = Arc::clone(&self.errors);
        blocking("read task", move || {
            reader.read_range(partition, start, end)
        })
        .await
    }

    /// End offsets of the input topic, `[partition, offset]`.
    async fn input_ends(&self) -> anyhow::Result<Vec<(i32, i64)>> {
        let reader = Arc::clone(&self.input);
        let marks = blocking("watermarks task", move || reader.watermarks()).await?;
        Ok(marks.into_iter().map(|m| (m.partition, m.high)).collect())
    }

    /// The letters (`replay.of`) that job `id` wrote to the input topic since `ends`.
    async fn written_since(
        &self,
        job: Uuid,
        ends: &[(i32, i64)],
    ) -> anyhow::Result<HashSet<String>> {
        let id = job.hyphenated().to_string();
        let now = self.input_ends().await?;
        let mut written = HashSet::new();
        for &(partition, from) in ends {
            let to = now
                .iter()
                .find(|(p, _)| *p == partition)
                .map_or(from, |e| e.1);
            let mut start = from;
            while start < to {
                let end = (start + SCAN).min(to);
                let reader = Arc::clone(&self.input);
                let records = blocking("scan task", move || {
                    reader.read_range(partition, start, end)
                })
                .await?;
                written.extend(
                    records
                        .iter()
                        .filter(|r| r.header(headers::REPLAY_JOB) == Some(&*id))
                        .filter_map(|r| r.header(headers::REPLAY_OF).map(str::to_owned)),
                );
                start = end;
            }
        }
        Ok(written)
    }
}

/// The ranges the job reads: those fixed at its start, or (first run) the error topic's offsets
/// now, within the filter, kept in the row for a later owner. `None`: the job is not ours.
async fn ranges_of(
    ctx: &ReplayContext,
    job: &Job,
    readers: &Readers,
) -> anyhow::Result<Option<Vec<ErrorRange>>> {
    if let Some(ranges) = &job.resume.ranges {
        return Ok(Some(ranges.clone()));
    }
    let reader = Arc::clone(&readers.errors);
    let marks = blocking("watermarks task", move || reader.watermarks()).await?;
    let ranges: Vec<ErrorRange> = marks
        .into_iter()
        .filter_map(|mark| {
            let (from, to) = job.filter.bounds(mark.partition, mark.low, mark.high)?;
            Some(ErrorRange {
                partition: mark.partition,
                from,
                to,
            })
        })
        .collect();
    let ours = set_ranges(&ctx.db, job.id, &ctx.owner, &ranges).await?;
    Ok(ours.then_some(ranges))
}

async fn replay(ctx: &ReplayContext, job: &Job, counts: &mut Counts) -> anyhow::Result<Ended> {
    let readers = Readers::open(ctx, job).await?;
    let Some(ranges) = ranges_of(ctx, job, &readers).await? else {
        return Ok(Ended::TakenOver);
    };
    let mut run = Run {
        ctx,
        job,
        readers,
        progress: job.resume.progress.clone(),
        counts,
    };
    if let Some(step) = &job.resume.inflight {
        if let Ended::TakenOver = run.settle(step).await? {
            return Ok(Ended::TakenOver);
        }
    }
    for range in ranges {
        let mut start = run.progress.start_of(&range);
        while start < range.to {
            let end = (start + STEP).min(range.to);
            if let Ended::TakenOver = run.step(range.partition, start, end).await? {
                return Ok(Ended::TakenOver);
            }
            start = end;
        }
    }
    Ok(Ended::Finished)
}

/// A job being run on this replica.
struct Run<'a> {
    ctx: &'a ReplayContext,
    job: &'a Job,
    readers: Readers,
    progress: Progress,
    counts: &'a mut Counts,
}

impl Run<'_> {
    /// One step: record it, write its matching letters, record the acknowledged progress.
    async fn step(&mut self, partition: i32, start: i64, end: i64) -> anyhow::Result<Ended> {
        let letters = self.readers.letters(partition, start, end).await?;
        let matching: Vec<&DeadLetter> = letters
            .iter()
            .filter(|l| self.job.filter.keeps(l))
            .collect();
        let step = InFlight {
            partition,
            start,
            end,
            input_ends: self.readers.input_ends().await?,
        };
        let (db, id, owner, lease) = (&self.ctx.db, self.job.id, &self.ctx.owner, self.ctx.lease);
        if !begin_step(db, id, owner, lease, &step).await? {
            return Ok(Ended::TakenOver);
        }
        let (acked, refused) = produce(&self.ctx.producer, self.job, &matching).await;
        self.counts.matched += count(matching.len());
        self.counts.replayed += acked;
        self.counts.failed += refused;
        self.finish(partition, end).await
    }

    /// Settles the step a previous owner left in flight: writes only the letters it did not.
    async fn settle(&mut self, step: &InFlight) -> anyhow::Result<Ended> {
        let letters = self
            .readers
            .letters(step.partition, step.start, step.end)
            .await?;
        let written = self
            .readers
            .written_since(self.job.id, &step.input_ends)
            .await?;
        let (done, left): (Vec<&DeadLetter>, Vec<&DeadLetter>) = letters
            .iter()
            .filter(|l| self.job.filter.keeps(l))
            .partition(|l| written.contains(&origin(&self.job.error_topic, l)));
        tracing::info!(job = %self.job.id, partition = step.partition, written = done.len(),
            left = left.len(), "settling the step the previous owner left in flight");
        let (acked, refused) = produce(&self.ctx.producer, self.job, &left).await;
        self.counts.matched += count(done.len() + left.len());
        self.counts.replayed += count(done.len()) + acked;
        self.counts.failed += refused;
        self.finish(step.partition, step.end).await
    }

    async fn finish(&mut self, partition: i32, end: i64) -> anyhow::Result<Ended> {
        self.progress.advance(partition, end);
        let (db, id, owner, lease) = (&self.ctx.db, self.job.id, &self.ctx.owner, self.ctx.lease);
        let ours = end_step(db, id, owner, lease, &self.progress, *self.counts).await?;
        Ok(if ours {
            Ended::Finished
        } else {
            Ended::TakenOver
        })
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `<error topic>/<partition>/<offset>`: what `replay.of` says of a letter.
fn origin(error_topic: &str, letter: &DeadLetter) -> String {
    format!("{error_topic}/{}/{}", letter.partition, letter.offset)
}

/// Produces `letters` to the input topic and waits for every acknowledgement: (acknowledged,
/// refused). Each record keeps the letter's key and value and names its job and origin.
async fn produce(producer: &FutureProducer, job: &Job, letters: &[&DeadLetter]) -> (i64, i64) {
    let job_id = job.id.hyphenated().to_string();
    let sends = letters.iter().map(|letter| {
        let origin = origin(&job.error_topic, letter);
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: headers::REPLAY_OF,
                value: Some(origin.as_bytes()),
            })
            .insert(Header {
                key: headers::REPLAY_JOB,
                value: Some(job_id.as_bytes()),
            });
        let mut out = FutureRecord::<[u8], [u8]>::to(&job.input_topic).headers(headers);
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
    (count(acked), count(results.len() - acked))
}
