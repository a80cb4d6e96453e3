//! One pipeline's task on this worker: consume → process → bulk index → output / dead letter →
//! commit the contiguous done offsets.
//!
//! Everything runs in one loop (`tokio::select!`), except the bulk flushes, which run as tokio
//! tasks of their own so that the next buffer fills while requests are in flight. At most
//! [`MAX_FLIGHTS`] flushes are in flight; when the next buffer is full too, the loop stops taking
//! messages from the consumer, which bounds memory at `MAX_FLIGHTS + 1` buffers plus the
//! consumer's bounded prefetch queue. Only when that wait is long are the partitions paused.

use crate::bulk::classify::ItemOutcome;
use crate::bulk::encoder::{Batch, BulkBuffer, FlushPolicy, Original};
use crate::bulk::retry::{flush, FlushEnd, FlushReport, RetryPolicy};
use crate::bulk::service::BulkService;
use crate::consumer::{consumer_config, lock, Shared, TaskContext};
use crate::dead_letter::DeadLetter;
use crate::end_of_input::EndOfInput;
use crate::metrics::TaskMetrics;
use crate::offsets::Ticket;
use crate::processor::{Processed, Processor, SourceRecord};
use crate::producer::{self, Completes, OutputProducer};
use futures::{FutureExt, StreamExt};
use pipeline_common::config::Settings;
use pipeline_common::model::PipelineTopics;
use pipeline_common::startup::panic_message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// At most this many already-fetched messages are taken in one turn of the task loop.
const MESSAGE_BURST: usize = 256;

/// How often delivery reports are served while records are in flight and nothing else wakes
/// the task.
const DELIVERY_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How often done offsets are committed (asynchronously) while running.
const COMMIT_INTERVAL: Duration = Duration::from_secs(1);

/// Bulk requests in flight at once. One leaves the loop idle between a response and the next
/// request (and the sink idle while the loop fills the next buffer); two overlap them.
/// Completion order does not matter for the offsets: only contiguous done offsets are committed.
const MAX_FLIGHTS: usize = 2;

/// How long the loop may leave the consumer alone (every flight busy, the next buffer full)
/// before it pauses the partitions instead. Not polling keeps the prefetched messages, while a
/// pause drops them and librdkafka takes a long while to fetch again after the resume; but a
/// consumer nobody polls serves no rebalance and, past `max.poll.interval.ms`, leaves the group.
/// So short waits (a busy sink) hold, and long ones (an outage's retries) pause.
const HOLD_BEFORE_PAUSE: Duration = Duration::from_secs(2);

/// What a definition change can alter without restarting the task.
pub struct TaskSpec {
    /// `pipelines.version` this spec was built from.
    pub version: i64,
    /// The decode + stage chain + document builder.
    pub processor: Arc<Processor>,
    /// Flush thresholds (the pipeline's own, else the server defaults).
    pub flush: FlushPolicy,
    /// `output.enabled`: produce indexed documents to the output topic. When false, a document
    /// is done once indexed.
    pub output_enabled: bool,
}

/// What a task needs for its whole life.
pub struct TaskEnv {
    /// Configuration.
    pub settings: Arc<Settings>,
    /// This worker's id (the Kafka `client.id`).
    pub worker_id: String,
    /// Pipeline name.
    pub pipeline: String,
    /// Its topics and consumer group.
    pub topics: PipelineTopics,
    /// Where documents go.
    pub bulk: BulkService,
    /// Retry policy of bulk requests.
    pub retry: RetryPolicy,
    /// Metrics and heartbeat counters.
    pub metrics: Arc<TaskMetrics>,
    /// State shared with the consumer context and the heartbeat.
    pub shared: Arc<Shared>,
    /// How long a graceful stop may take to flush and commit.
    pub shutdown_grace: Duration,
}

/// Why a task stopped on its own. Its text is what `stateReason` and `lastError` show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskFailure {
    /// A Kafka client could not be built or set up (`doing` says which step).
    #[error("{doing}: {error}")]
    KafkaSetup {
        /// The step, e.g. "creating the consumer".
        doing: &'static str,
        /// librdkafka's error.
        error: String,
    },
    /// The broker refused or lost a record we must not lose (a dead letter, an output record).
    #[error("{doing}: {error}")]
    Produce {
        /// What was being produced.
        doing: &'static str,
        /// The delivery error.
        error: String,
    },
    /// `failureThreshold` consecutive flushes failed.
    #[error("{0}")]
    BulkGaveUp(String),
    /// The task that sends bulk requests ended without a report (it panicked).
    #[error("bulk flush task died: {0}")]
    FlushTaskDied(String),
    /// The input topic does not exist (any more).
    #[error("input topic missing: {0}")]
    InputTopicMissing(String),
    /// The task itself panicked; the supervisor caught it.
    #[error("task panicked: {0}")]
    Panicked(String),
}

/// Runs `work`, turning a panic in it into [`TaskFailure::Panicked`] with the panic's message.
pub async fn catching_panics(
    work: impl std::future::Future<Output = Result<(), TaskFailure>>,
) -> Result<(), TaskFailure> {
    AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .unwrap_or_else(|payload| Err(TaskFailure::Panicked(panic_message(&*payload))))
}

type Consumer_ = StreamConsumer<TaskContext>;

/// Runs the task until `stop` fires (graceful: flush, commit, leave the group) or it fails.
pub async fn run(
    env: TaskEnv,
    mut spec_rx: watch::Receiver<Arc<TaskSpec>>,
    stop: CancellationToken,
) -> Result<(), TaskFailure> {
    let consumer: Arc<Consumer_> = Arc::new(
        consumer_config(&env.settings, &env.topics.consumer_group, &env.worker_id)
            .create_with_context(TaskContext::new(
                &env.topics.input,
                env.shared.clone(),
                &env.settings.mq.username,
            ))
            .map_err(|e| TaskFailure::KafkaSetup {
                doing: "creating the consumer",
                error: e.to_string(),
            })?,
    );
    consumer
        .subscribe(&[&env.topics.input])
        .map_err(|e| TaskFailure::KafkaSetup {
            doing: "subscribing to the input topic",
            error: e.to_string(),
        })?;
    let producer =
        producer::create_producer(&env.settings, env.shared.clone(), env.metrics.clone()).map_err(
            |e| TaskFailure::KafkaSetup {
                doing: "creating the producer",
                error: e.to_string(),
            },
        )?;

    let lag_stop = stop.child_token();
    // Should this future be dropped on any path but the ones below (a panic during set-up), the
    // lag reporter must not outlive it: it holds the consumer, which would stay in the group.
    let _lag_guard = lag_stop.clone().drop_guard();
    let lag = tokio::spawn(report_lag(
        consumer.clone(),
        env.topics.input.clone(),
        env.metrics.clone(),
        Duration::from_millis(env.settings.worker.heartbeat_interval_ms),
        lag_stop.clone(),
    ));

    let spec = spec_rx.borrow_and_update().clone();
    let mut state = TaskState {
        env,
        producer,
        spec,
        buffer: BulkBuffer::new(),
        flights: VecDeque::with_capacity(MAX_FLIGHTS),
        held_since: None,
        consecutive_failures: 0,
        flush_abort: CancellationToken::new(),
        paused: false,
        end: EndOfInput::new(),
    };
    // A panic while consuming becomes this task's failure, so that the teardown below still
    // runs: the consumer leaves the group and the watcher's restart gets the partitions back.
    let result = catching_panics(state.consume(&consumer, &mut spec_rx, &stop)).await;
    let result = match result {
        Ok(()) => catching_panics(state.drain(&consumer)).await,
        Err(failure) => {
            // Stop without committing anything more: what is not done stays uncommitted and is
            // redelivered when the task (here or elsewhere) consumes the partitions again.
            state.flush_abort.cancel();
            Err(failure)
        }
    };
    lag_stop.cancel();
    if let Err(error) = lag.await {
        tracing::warn!(%error, "the lag reporter did not end cleanly");
    }
    // Closing the consumer leaves the group (the revocation callback commits what is done); it
    // blocks on the broker, so it runs off the async threads.
    if let Err(error) = tokio::task::spawn_blocking(move || drop(consumer)).await {
        tracing::warn!(%error, "closing the consumer did not end cleanly");
    }
    result
}

struct TaskState {
    env: TaskEnv,
    producer: OutputProducer,
    spec: Arc<TaskSpec>,
    buffer: BulkBuffer,
    /// Flushes in flight, oldest first; their reports are handled in this order.
    flights: VecDeque<JoinHandle<(Batch, FlushReport)>>,
    /// Since when the loop has stopped taking messages (every flight busy, the buffer full).
    held_since: Option<Instant>,
    consecutive_failures: u32,
    /// Ends the retries of an in-flight flush (failure, or a graceful stop out of time).
    flush_abort: CancellationToken,
    paused: bool,
    /// Which assigned partitions have been read to their end.
    end: EndOfInput,
}

/// The oldest flight's end (pending forever when nothing is in flight). Cancel-safe: the handle
/// stays in `flights` until the caller pops it.
async fn wait_flight(
    flights: &mut VecDeque<JoinHandle<(Batch, FlushReport)>>,
) -> Result<(Batch, FlushReport), tokio::task::JoinError> {
    match flights.front_mut() {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}

impl TaskState {
    /// The consuming loop; returns `Ok` when asked to stop.
    async fn consume(
        &mut self,
        consumer: &Consumer_,
        spec_rx: &mut watch::Receiver<Arc<TaskSpec>>,
        stop: &CancellationToken,
    ) -> Result<(), TaskFailure> {
        let mut messages = consumer.stream();
        let mut commit_tick = tokio::time::interval(COMMIT_INTERVAL);
        commit_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut delivery_tick = tokio::time::interval(DELIVERY_POLL_INTERVAL);
        delivery_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let far = || Instant::now() + Duration::from_secs(3600);
        let deadline_timer = tokio::time::sleep_until(far());
        tokio::pin!(deadline_timer);
        let mut armed: Option<Instant> = None;
        loop {
            self.serve_deliveries()?;
            self.maybe_start_flush();
            let holding = self.apply_hold(consumer);
            let pause_at = self.held_since.map(|since| since + HOLD_BEFORE_PAUSE);
            // Re-arm the interval timer only when the oldest document changes.
            let deadline = if self.flights.len() < MAX_FLIGHTS {
                self.flush_deadline().map(Instant::from_std)
            } else {
                None
            };
            if deadline != armed {
                deadline_timer.as_mut().reset(deadline.unwrap_or_else(far));
                armed = deadline;
            }
            tokio::select! {
                biased;
                () = stop.cancelled() => return Ok(()),
                // The loop head serves the reports.
                _ = delivery_tick.tick(), if producer::pending(&self.producer) > 0 => {}
                joined = wait_flight(&mut self.flights) => {
                    self.flights.pop_front();
                    let (batch, report) = joined
                        .map_err(|e| TaskFailure::FlushTaskDied(e.to_string()))?;
                    self.flushed(batch, report).await?;
                }
                changed = spec_rx.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let spec = spec_rx.borrow_and_update().clone();
                    tracing::info!(pipeline = %self.env.pipeline, version = spec.version, "definition changed; new events use it");
                    self.spec = spec;
                }
                () = &mut deadline_timer, if armed.is_some() => {
                    armed = None;
                    deadline_timer.as_mut().reset(far());
                    // The loop head starts the flush: the oldest document is old enough.
                    self.start_flush();
                }
                // The loop head pauses: the hold has lasted too long.
                () = tokio::time::sleep_until(pause_at.unwrap_or_else(far)), if holding && pause_at.is_some() => {}
                _ = commit_tick.tick() => self.commit(consumer, CommitMode::Async),
                event = messages.next(), if !holding => {
                    if self.on_consumer_event(event).await?.is_break() {
                        return Ok(());
                    }
                    // Take what is already fetched without a trip round the loop per message (which
                    // polls every branch again), until the buffer is full.
                    for _ in 1..MESSAGE_BURST {
                        if self.buffer.is_full(&self.spec.flush) {
                            break;
                        }
                        // While input keeps coming this loop never waits, so it must yield now
                        // and then by itself: a flush it has just spawned (and the HTTP
                        // connection that writes its body) waits in this thread's queue, where no
                        // other thread may take it, until the loop yields.
                        tokio::task::coop::consume_budget().await;
                        let Some(event) = messages.next().now_or_never() else {
                            break;
                        };
                        if self.on_consumer_event(event).await?.is_break() {
                            return Ok(());
                        }
                    }
                    self.end.input_seen(std::time::Instant::now());
                }
            }
        }
    }

    /// Graceful end: flush what is buffered, wait for the broker's acknowledgements, commit.
    async fn drain(&mut self, consumer: &Consumer_) -> Result<(), TaskFailure> {
        let grace = self.env.shutdown_grace;
        let drained = tokio::time::timeout(grace, async {
            loop {
                if let Some(flight) = self.flights.front_mut() {
                    let joined = flight.await;
                    self.flights.pop_front();
                    let (batch, report) =
                        joined.map_err(|e| TaskFailure::FlushTaskDied(e.to_string()))?;
                    self.flushed(batch, report).await?;
                } else if !self.buffer.is_empty() {
                    self.start_flush();
                } else if producer::pending(&self.producer) > 0 {
                    self.serve_deliveries()?;
                    tokio::time::sleep(DELIVERY_POLL_INTERVAL).await;
                } else {
                    return self.serve_deliveries();
                }
            }
        })
        .await;
        let result = match drained {
            Ok(result) => result,
            Err(_) => {
                self.flush_abort.cancel();
                tracing::warn!(pipeline = %self.env.pipeline, grace_ms = grace.as_millis() as u64,
                    "stopping before everything was flushed; the rest is redelivered");
                Ok(())
            }
        };
        self.commit(consumer, CommitMode::Sync);
        result
    }

    fn maybe_start_flush(&mut self) {
        if self.flights.len() >= MAX_FLIGHTS || self.buffer.is_empty() {
            return;
        }
        let due = self
            .flush_deadline()
            .is_some_and(|d| d <= std::time::Instant::now());
        if due || self.buffer.is_full(&self.spec.flush) {
            self.start_flush();
        }
    }

    /// When the buffered documents must be flushed even if the buffer is not full.
    fn flush_deadline(&self) -> Option<std::time::Instant> {
        let oldest = self.buffer.oldest()?;
        Some(
            self.spec
                .flush
                .deadline(oldest, self.end.caught_up(), self.end.last_input()),
        )
    }

    fn start_flush(&mut self) {
        if self.flights.len() >= MAX_FLIGHTS || self.buffer.is_empty() {
            return;
        }
        let batch = self.buffer.take();
        let service = self.env.bulk.clone();
        let policy = self.env.retry;
        let failures = self.consecutive_failures;
        let metrics = self.env.metrics.bulk.clone();
        let stats = self.env.metrics.stats.clone();
        let abort = self.flush_abort.clone();
        self.flights.push_back(tokio::spawn(async move {
            let alarm = &stats.credentials;
            let report = flush(&batch, &service, &policy, failures, &metrics, alarm, &abort).await;
            (batch, report)
        }));
    }

    /// Whether the loop must stop taking messages now: every flight is busy and the next buffer
    /// is full. Such a hold that has lasted [`HOLD_BEFORE_PAUSE`] pauses the partitions, and the
    /// loop polls the consumer again (for rebalances; a paused consumer hands out at most what it
    /// had queued); its end resumes them. `false` while paused.
    fn apply_hold(&mut self, consumer: &Consumer_) -> bool {
        let full = self.flights.len() >= MAX_FLIGHTS && self.buffer.is_full(&self.spec.flush);
        let now = Instant::now();
        let held_since = if full {
            *self.held_since.get_or_insert(now)
        } else {
            self.held_since = None;
            now
        };
        let want = full && now >= held_since + HOLD_BEFORE_PAUSE;
        self.apply_pause(consumer, want);
        full && !self.paused
    }

    /// Pauses or resumes the assigned partitions as `want` says (again after a rebalance).
    fn apply_pause(&mut self, consumer: &Consumer_, want: bool) {
        let changed = self
            .env
            .shared
            .assignment_changed
            .swap(false, Ordering::AcqRel);
        if changed {
            self.end.reset();
        }
        if want == self.paused && !(want && changed) {
            return;
        }
        let Ok(assignment) = consumer.assignment() else {
            return;
        };
        let result = if want {
            consumer.pause(&assignment)
        } else {
            consumer.resume(&assignment)
        };
        match result {
            Ok(()) => self.paused = want,
            Err(error) => {
                tracing::warn!(pipeline = %self.env.pipeline, %error, "pause/resume failed")
            }
        }
    }

    /// Handles what the consumer stream gave; `Break` when the stream has ended.
    async fn on_consumer_event(
        &mut self,
        event: Option<KafkaResult<BorrowedMessage<'_>>>,
    ) -> Result<ControlFlow<()>, TaskFailure> {
        match event {
            Some(Ok(message)) => self.on_message(&message).await?,
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                let assigned = lock(&self.env.shared.assigned);
                self.end.reached_end(partition, &assigned);
            }
            Some(Err(error))
                if matches!(
                    error.rdkafka_error_code(),
                    Some(
                        RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic
                    )
                ) =>
            {
                // Deleted behind mgmt's back (or by a DELETE racing this task's stop). Retrying
                // here would spin on the same error; failing hands it to the watcher, which
                // tries again every watch interval and recovers once the topic is back.
                return Err(TaskFailure::InputTopicMissing(
                    self.env.topics.input.clone(),
                ));
            }
            Some(Err(error)) => {
                tracing::warn!(pipeline = %self.env.pipeline, %error, "consumer error");
            }
            None => return Ok(ControlFlow::Break(())),
        }
        Ok(ControlFlow::Continue(()))
    }

    async fn on_message(&mut self, message: &BorrowedMessage<'_>) -> Result<(), TaskFailure> {
        // Tests inject a panic here (`panic-<pipeline>`); without the `fail` crate's
        // `failpoints` feature, which only the test build turns on, this is nothing.
        fail::fail_point!(&format!("panic-{}", self.env.pipeline));
        self.env.metrics.consumed();
        let partition = message.partition();
        self.end.message(partition);
        let offset = message.offset();
        let ticket = lock(&self.env.shared.tracker).track(partition, offset);
        let record = SourceRecord {
            topic: message.topic(),
            partition,
            offset,
            key: message.key(),
            payload: message.payload(),
            headers: message.headers(),
            timestamp_ms: message.timestamp().to_millis(),
        };
        let original = Original {
            key: record.key,
            value: record.payload,
        };
        let processor = &self.spec.processor;
        match self
            .buffer
            .push(ticket, original, |body| processor.process(&record, body))
        {
            Processed::Document { .. } => Ok(()),
            Processed::Dropped => {
                lock(&self.env.shared.tracker).complete(ticket);
                self.env.metrics.filtered();
                Ok(())
            }
            Processed::Failed { stage, reason } => self
                .dead_letter(ticket, original, stage, &reason, None)
                .await
                .map_err(|e| TaskFailure::Produce {
                    doing: "producing a dead letter",
                    error: e.to_string(),
                }),
        }
    }

    /// Produces the original record to the error topic with the headers of DESIGN §4.7; its
    /// acknowledgement completes `ticket`.
    async fn dead_letter(
        &self,
        ticket: Ticket,
        original: Original<'_>,
        stage: pipeline_common::failure::FailedAt,
        reason: &str,
        status: Option<u16>,
    ) -> Result<(), KafkaError> {
        let headers = DeadLetter {
            stage,
            reason,
            status,
            source_topic: &self.env.topics.input,
            source_partition: ticket.partition,
            source_offset: ticket.offset,
            pipeline: &self.env.pipeline,
        }
        .headers();
        producer::send(
            &self.producer,
            &self.env.topics.error,
            original.key,
            original.value,
            Some(headers),
            ticket,
            Completes::DeadLetter(stage),
        )
        .await
    }

    /// A flush ended: produce the indexed documents to the output topic (when it is on; otherwise
    /// indexing completes them) and the rejected ones to the error topic; their acknowledgements
    /// complete the offsets.
    async fn flushed(&mut self, batch: Batch, report: FlushReport) -> Result<(), TaskFailure> {
        self.consecutive_failures = report.consecutive_failures;
        for (item, outcome) in batch.items().iter().zip(&report.outcomes) {
            let sent = match outcome {
                ItemOutcome::Done if !self.spec.output_enabled => {
                    lock(&self.env.shared.tracker).complete(item.ticket);
                    self.env.metrics.indexed(1);
                    continue;
                }
                ItemOutcome::Done => {
                    producer::send(
                        &self.producer,
                        &self.env.topics.output,
                        Some(batch.id(item)),
                        Some(batch.source(item)),
                        None,
                        item.ticket,
                        Completes::Indexed,
                    )
                    .await
                }
                ItemOutcome::DeadLetter { status, reason } => {
                    self.dead_letter(
                        item.ticket,
                        batch.original(item),
                        pipeline_common::failure::FailedAt::Index,
                        reason,
                        Some(*status),
                    )
                    .await
                }
                // Not settled (the flush gave up or was interrupted): never completed, so never
                // committed.
                ItemOutcome::Retry { .. } => continue,
            };
            sent.map_err(|e| TaskFailure::Produce {
                doing: "producing to the output or error topic",
                error: e.to_string(),
            })?;
        }
        self.buffer.recycle(batch);
        match report.end {
            FlushEnd::Complete | FlushEnd::Interrupted => Ok(()),
            FlushEnd::GaveUp(reason) => Err(TaskFailure::BulkGaveUp(reason)),
        }
    }

    /// Completes the offsets of the records the broker has acknowledged since the last call.
    fn serve_deliveries(&self) -> Result<(), TaskFailure> {
        producer::serve_deliveries(&self.producer).map_err(|error| TaskFailure::Produce {
            doing: "producing to the output or error topic",
            error,
        })
    }

    /// Commits the contiguous done offsets (only those that moved, unless synchronous).
    fn commit(&self, consumer: &Consumer_, mode: CommitMode) {
        let commits = {
            let mut tracker = lock(&self.env.shared.tracker);
            match mode {
                CommitMode::Sync => tracker.all_commits(),
                CommitMode::Async => tracker.take_commits(),
            }
        };
        if commits.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for (partition, offset) in commits {
            if let Err(error) =
                list.add_partition_offset(&self.env.topics.input, partition, Offset::Offset(offset))
            {
                tracing::warn!(partition, offset, %error, "cannot commit this offset");
            }
        }
        if let Err(error) = consumer.commit(&list, mode) {
            tracing::warn!(pipeline = %self.env.pipeline, %error, "offset commit failed");
        }
    }
}

/// Publishes the consumer lag (high watermark minus position, summed over the assigned
/// partitions) every `interval`. Watermark queries block on the broker, so they run off the
/// async threads, outside the task loop.
async fn report_lag(
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
        let lag = tokio::task::spawn_blocking(move || -> Option<i64> {
            let positions = consumer.position().ok()?;
            let mut total = 0i64;
            for element in positions.elements() {
                let (_, high) = consumer
                    .fetch_watermarks(&topic, element.partition(), Duration::from_secs(2))
                    .ok()?;
                let position = match element.offset() {
                    Offset::Offset(o) => o,
                    _ => match consumer.committed_offsets(
                        {
                            let mut one = TopicPartitionList::new();
                            one.add_partition(&topic, element.partition());
                            one
                        },
                        Duration::from_secs(2),
                    ) {
                        Ok(list) => list
                            .elements()
                            .first()
                            .and_then(|e| e.offset().to_raw())
                            .filter(|o| *o >= 0)
                            .unwrap_or(0),
                        Err(_) => return None,
                    },
                };
                total += (high - position).max(0);
            }
            Some(total)
        })
        .await;
        if let Ok(Some(lag)) = lag {
            metrics.lag(lag);
        }
    }
}
