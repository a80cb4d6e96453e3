//! One pipeline's task on this worker: consume → process → bulk index → output / dead letter →
//! commit the contiguous done offsets.
//!
//! Everything runs in one loop (`tokio::select!`), except the bulk flushes, which run as tokio
//! tasks of their own so that the next buffer fills while requests are in flight. At most
//! `worker.bulkConcurrency` flushes are in flight; when the next buffer is full too, the loop
//! stops taking messages from the consumer, which bounds memory at `bulkConcurrency + 1` buffers
//! plus the consumer's bounded prefetch queue. Only when that wait is long are the partitions paused.
//!
//! The loop and the drain are in [`consume`]; the flushes in [`flights`]; back-pressure in
//! [`hold`]; messages into the buffer or the error topic in [`messages`]; delivery reports and
//! commits in [`commit`]; the lag reporter in [`lag`]; failures in [`failure`].

mod commit;
mod consume;
mod failure;
mod flights;
mod hold;
mod lag;
mod messages;

pub use failure::{catching_panics, TaskFailure};

use crate::bulk::buffer::{Batch, BulkBuffer};
use crate::bulk::retry::{FlushReport, RetryPolicy};
use crate::bulk::service::BulkService;
use crate::consumer::{consumer_config, Shared, TaskContext};
use crate::end_of_input::EndOfInput;
use crate::metrics::TaskMetrics;
use crate::processor::Processor;
use crate::producer::{self, OutputProducer};
use crate::sources::TaskInputs;
use pipeline_common::config::Settings;
use pipeline_common::model::{FlushPolicy, PipelineTopics};
use rdkafka::consumer::{Consumer, StreamConsumer};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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
    /// The topics the task reads; read once when the task starts (a changed source restarts
    /// the task).
    pub inputs: TaskInputs,
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
    /// The topics it reads: its input, and its broker's when it has one.
    pub inputs: TaskInputs,
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
                &env.inputs,
                env.shared.clone(),
                &env.settings.mq.username,
            ))
            .map_err(|e| TaskFailure::KafkaSetup {
                doing: "creating the consumer",
                error: e,
            })?,
    );
    consumer
        .subscribe(&env.inputs.topics())
        .map_err(|e| TaskFailure::KafkaSetup {
            doing: "subscribing to the input topic",
            error: e,
        })?;
    let producer =
        producer::create_producer(&env.settings, env.shared.clone(), env.metrics.clone()).map_err(
            |e| TaskFailure::KafkaSetup {
                doing: "creating the producer",
                error: e,
            },
        )?;

    let lag_stop = stop.child_token();
    // Should this future be dropped on any path but the ones below (a panic during set-up), the
    // lag reporter must not outlive it: it holds the consumer, which would stay in the group.
    let _lag_guard = lag_stop.clone().drop_guard();
    let lag = tokio::spawn(lag::report_lag(
        consumer.clone(),
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
        flights: VecDeque::new(),
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
