//! The supervisor: reconciles the running tasks against MariaDB, writes heartbeats, and restarts
//! failed tasks.
//!
//! - every `worker.reconcileIntervalMs`: start a task for each pipeline in state `running`, hand a
//!   changed definition (a new `version`) to its task without a restart, stop tasks whose pipeline
//!   is no longer running;
//! - every `worker.heartbeatIntervalMs`: one `worker_tasks` row per task (status, partitions,
//!   counters, lag);
//! - every watch interval (`server.watchWorkersIntervalMin`): restart failed tasks. A failed task
//!   has left its consumer group, so the pipeline's other workers took its partitions meanwhile.
//!   One failure is retried sooner, at the next reconciliations: an input topic missing right
//!   after the task started ([`NEW_TOPIC_WINDOW`]).

use crate::bulk::retry::RetryPolicy;
use crate::bulk::service::BulkService;
use crate::consumer::Shared;
use crate::metrics::{TaskMetrics, TaskStats};
use crate::processor::build_spec;
use crate::task::{self, TaskEnv, TaskFailure, TaskSpec};
use anyhow::Context;
use pipeline_common::chain::EngineContext;
use pipeline_common::config::Settings;
use pipeline_common::model::PipelineTopics;
use pipeline_common::store::pipelines::{self, PipelineRow};
use pipeline_common::store::worker_tasks::{self, TaskReport, TaskStatus};
use sqlx::MySqlPool;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The broker a stored definition names, as written (a change of it changes the task's topics).
fn broker_of(row: &PipelineRow) -> Option<&serde_json::Value> {
    row.definition.pointer("/source/broker")
}

/// mgmt creates a pipeline's topics moments before it sets the pipeline running, and a new topic
/// reaches a cluster's brokers asynchronously: a task that starts at once may be told its input
/// topic does not exist. A task that fails so within this time of its start is restarted at the
/// next reconciliation instead of after the watch interval (minutes), at most
/// [`EARLY_RESTARTS`] times in a row; a topic still missing after that is left to the watcher.
const NEW_TOPIC_WINDOW: Duration = Duration::from_secs(30);

/// How many restarts in a row a task gets at a reconciliation (see [`NEW_TOPIC_WINDOW`]).
const EARLY_RESTARTS: u32 = 3;

/// Health of the supervisor, read by `/readyz`.
#[derive(Debug, Default)]
pub struct Health {
    /// Unix milliseconds of the last successful reconciliation (0: none yet).
    pub last_reconcile_ms: AtomicI64,
}

enum Run {
    Running {
        stop: CancellationToken,
        join: JoinHandle<()>,
    },
    Failed {
        reason: String,
        /// Restart at the next reconciliation, not the next watch (see [`NEW_TOPIC_WINDOW`]).
        soon: bool,
    },
}

/// Which failed tasks a restart takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Restart {
    /// Those marked to restart soon: at a reconciliation.
    Soon,
    /// Every one: at the watch interval.
    All,
}

struct TaskHandle {
    row: PipelineRow,
    /// Hands definition changes to the running task (none while failed before a first run).
    spec_tx: Option<watch::Sender<Arc<TaskSpec>>>,
    shared: Arc<Shared>,
    stats: Arc<TaskStats>,
    run: Run,
    /// Distinguishes this run's exit notice from an earlier run's.
    generation: u64,
    /// When this run started.
    started: Instant,
    /// Restarts in a row at a reconciliation before this run.
    early_restarts: u32,
}

struct Exit {
    pipeline_id: Uuid,
    generation: u64,
    result: Result<(), TaskFailure>,
}

/// Reconciles this worker's tasks against the desired state in MariaDB.
pub struct Supervisor {
    settings: Arc<Settings>,
    pool: MySqlPool,
    worker_id: String,
    bulk: BulkService,
    /// The GeoIP database and decoding limits, opened once here and shared by every task.
    engine: Arc<EngineContext>,
    health: Arc<Health>,
    tasks: HashMap<Uuid, TaskHandle>,
    /// Raw ids of the corrupt `running` rows already logged, so each is logged once (again
    /// after it was repaired and broke anew).
    corrupt_logged: HashSet<String>,
    exits_tx: mpsc::UnboundedSender<Exit>,
    exits_rx: mpsc::UnboundedReceiver<Exit>,
    next_generation: u64,
}

impl Supervisor {
    /// A supervisor with no tasks yet.
    pub fn new(
        settings: Arc<Settings>,
        pool: MySqlPool,
        worker_id: String,
        health: Arc<Health>,
    ) -> anyhow::Result<Self> {
        let bulk = BulkService::from_settings(
            &settings,
            Duration::from_millis(settings.worker.bulk_timeout_ms),
        )?;
        let engine = EngineContext::from_settings(&settings).context("opening geoip.database")?;
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        Ok(Supervisor {
            settings,
            pool,
            worker_id,
            bulk,
            engine: Arc::new(engine),
            health,
            tasks: HashMap::new(),
            corrupt_logged: HashSet::new(),
            exits_tx,
            exits_rx,
            next_generation: 0,
        })
    }

    fn watch_interval(&self) -> Duration {
        match self.settings.worker.watch_interval_ms {
            0 => Duration::from_secs(self.settings.server.watch_workers_interval_min * 60),
            ms => Duration::from_millis(ms),
        }
    }

    /// Runs until `shutdown` fires, then stops every task gracefully and removes this worker's
    /// rows.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let every = |ms: u64| {
            let mut tick = tokio::time::interval(Duration::from_millis(ms));
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            tick
        };
        let mut reconcile = every(self.settings.worker.reconcile_interval_ms);
        let mut heartbeat = every(self.settings.worker.heartbeat_interval_ms);
        let watch = self.watch_interval();
        let mut watch_tick = tokio::time::interval_at(tokio::time::Instant::now() + watch, watch);
        watch_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(exit) = self.exits_rx.recv() => self.on_exit(exit).await,
                _ = reconcile.tick() => {
                    self.reconcile().await;
                    self.restart_failed(Restart::Soon).await;
                }
                _ = heartbeat.tick() => self.heartbeat().await,
                _ = watch_tick.tick() => self.restart_failed(Restart::All).await,
            }
        }
        self.stop_all().await;
    }

    async fn reconcile(&mut self) {
        let rows = match pipelines::list_running(&self.pool).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "reconcile: reading pipelines failed");
                return;
            }
        };
        self.health
            .last_reconcile_ms
            .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
        let mut wanted: HashMap<Uuid, PipelineRow> = HashMap::new();
        let mut corrupt: HashSet<String> = HashSet::new();
        for decoded in rows {
            match decoded {
                Ok(row) => {
                    wanted.insert(row.id, row);
                }
                Err(bad) => {
                    if !self.corrupt_logged.contains(&bad.id) {
                        tracing::error!(pipeline_id = %bad.id, name = %bad.name,
                            problem = %bad.problem,
                            "skipping a corrupt pipeline row until it is repaired; \
                             a task already running keeps its definition");
                    }
                    corrupt.insert(bad.id);
                }
            }
        }
        self.corrupt_logged = corrupt;
        // Stop what is no longer running, and what was renamed or now reads another broker (its
        // topics changed; it starts again below). A task whose row turned corrupt keeps running
        // on the definition it has: the row does not say the pipeline stopped, only that it
        // cannot be read.
        let gone: Vec<Uuid> = self
            .tasks
            .iter()
            .filter(|(id, handle)| {
                !self.corrupt_logged.contains(&id.hyphenated().to_string())
                    && wanted.get(*id).is_none_or(|row| {
                        row.name != handle.row.name || broker_of(row) != broker_of(&handle.row)
                    })
            })
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(handle) = self.tasks.remove(&id) {
                self.stop_task(handle).await;
            }
        }
        for (id, row) in wanted.drain() {
            match self.tasks.get_mut(&id) {
                None => self.start(row).await,
                Some(handle) if handle.row.version != row.version => {
                    match build_spec(&row, &self.settings, &self.engine, &handle.stats) {
                        Ok(spec) => {
                            tracing::info!(pipeline = %row.name, from = handle.row.version,
                                to = row.version, "applying the changed definition");
                            if let Some(spec_tx) = &handle.spec_tx {
                                spec_tx.send_replace(Arc::new(spec));
                            }
                        }
                        Err(error) => {
                            tracing::error!(pipeline = %row.name, %error,
                                "the changed definition is invalid; keeping the previous one");
                        }
                    }
                    handle.row = row;
                }
                Some(_) => {}
            }
        }
    }

    async fn start(&mut self, row: PipelineRow) {
        let stats = Arc::new(TaskStats::default());
        let spec = match build_spec(&row, &self.settings, &self.engine, &stats) {
            Ok(spec) => spec,
            Err(error) => {
                // mgmt validates definitions, so this is a version skew or a hand-edited row.
                tracing::error!(pipeline = %row.name, %error, "cannot run pipeline: invalid definition");
                let handle = TaskHandle {
                    row,
                    spec_tx: None,
                    shared: Arc::new(Shared::default()),
                    stats,
                    run: Run::Failed {
                        reason: format!("invalid definition: {error}"),
                        soon: false,
                    },
                    generation: 0,
                    started: Instant::now(),
                    early_restarts: 0,
                };
                self.report_failure(&handle).await;
                self.tasks.insert(handle.row.id, handle);
                return;
            }
        };
        let handle = self.launch(row, stats, spec);
        self.tasks.insert(handle.row.id, handle);
    }

    /// Starts a task for `row` with `spec`; `stats` carry over from an earlier run.
    fn launch(&mut self, row: PipelineRow, stats: Arc<TaskStats>, spec: TaskSpec) -> TaskHandle {
        self.next_generation += 1;
        let generation = self.next_generation;
        let inputs = spec.inputs.clone();
        let (spec_tx, spec_rx) = watch::channel(Arc::new(spec));
        // A fresh run starts from the committed offsets with empty bookkeeping.
        let shared = Arc::new(Shared::default());
        let stop = CancellationToken::new();
        let env = TaskEnv {
            settings: self.settings.clone(),
            worker_id: self.worker_id.clone(),
            pipeline: row.name.to_string(),
            topics: PipelineTopics::new(&self.settings.kafka.topic_prefix, &row.name),
            inputs,
            bulk: self.bulk.clone(),
            retry: RetryPolicy {
                initial_backoff: Duration::from_millis(
                    self.settings.worker.retry_initial_backoff_ms,
                ),
                max_backoff: Duration::from_millis(self.settings.worker.retry_max_backoff_ms),
                failure_threshold: self.settings.server.failure_threshold,
            },
            metrics: Arc::new(TaskMetrics::new(row.name.as_str(), stats.clone())),
            shared: shared.clone(),
            shutdown_grace: Duration::from_millis(self.settings.worker.shutdown_grace_ms),
        };
        let exits = self.exits_tx.clone();
        let pipeline_id = row.id;
        let token = stop.clone();
        tracing::info!(pipeline = %row.name, version = row.version, "starting task");
        let pipeline = row.name.clone();
        let join = tokio::spawn(async move {
            // A panic in the task must not pass unnoticed: it becomes the task's failure, which
            // the watcher restarts like any other. (The panic hook has logged where it was.)
            let result = task::catching_panics(task::run(env, spec_rx, token)).await;
            let exit = Exit {
                pipeline_id,
                generation,
                result,
            };
            if let Err(unsent) = exits.send(exit) {
                // Only when the supervisor itself is gone, i.e. the worker is stopping.
                tracing::warn!(%pipeline, result = ?unsent.0.result,
                    "task ended after the supervisor stopped");
            }
        });
        TaskHandle {
            row,
            spec_tx: Some(spec_tx),
            shared,
            stats,
            run: Run::Running { stop, join },
            generation,
            started: Instant::now(),
            early_restarts: 0,
        }
    }

    async fn on_exit(&mut self, exit: Exit) {
        let Some(handle) = self.tasks.get_mut(&exit.pipeline_id) else {
            return;
        };
        if handle.generation != exit.generation {
            return;
        }
        let soon = matches!(exit.result, Err(TaskFailure::InputTopicMissing(_)))
            && handle.started.elapsed() < NEW_TOPIC_WINDOW
            && handle.early_restarts < EARLY_RESTARTS;
        let reason = match exit.result {
            Ok(()) => "task ended unexpectedly".to_owned(),
            Err(failure) => failure.to_string(),
        };
        if soon {
            tracing::warn!(pipeline = %handle.row.name, %reason,
                "task failed right after it started; restarting it at the next reconciliation");
        } else {
            tracing::error!(pipeline = %handle.row.name, %reason, "task failed; the watcher retries it");
        }
        handle.run = Run::Failed { reason, soon };
        let handle = &self.tasks[&exit.pipeline_id];
        self.report_failure(handle).await;
    }

    async fn restart_failed(&mut self, which: Restart) {
        let failed: Vec<Uuid> = self
            .tasks
            .iter()
            .filter(|(_, h)| match h.run {
                Run::Failed { soon, .. } => soon || which == Restart::All,
                Run::Running { .. } => false,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in failed {
            let Some(handle) = self.tasks.remove(&id) else {
                continue;
            };
            match build_spec(&handle.row, &self.settings, &self.engine, &handle.stats) {
                Ok(spec) => {
                    tracing::info!(pipeline = %handle.row.name, "restarting failed task");
                    let early_restarts = match handle.run {
                        Run::Failed { soon: true, .. } => handle.early_restarts + 1,
                        _ => 0,
                    };
                    let mut handle = self.launch(handle.row, handle.stats, spec);
                    handle.early_restarts = early_restarts;
                    if let Err(error) =
                        worker_tasks::clear_failure(&self.pool, handle.row.id, &self.worker_id)
                            .await
                    {
                        tracing::warn!(%error, "clearing the pipeline's failure reason failed");
                    }
                    self.tasks.insert(id, handle);
                    self.heartbeat().await;
                }
                Err(_) => {
                    self.tasks.insert(id, handle);
                }
            }
        }
    }

    fn report(&self, handle: &TaskHandle) -> TaskReport {
        let (status, last_error) = match &handle.run {
            // Running, but retrying through a refused credential (OpenSearch's, or Kafka's SASL
            // login): the status view shows it as degraded with this reason.
            Run::Running { .. } => (
                TaskStatus::Running,
                handle
                    .stats
                    .credentials
                    .reason()
                    .or_else(|| handle.shared.kafka_credentials.reason()),
            ),
            Run::Failed { reason, .. } => (TaskStatus::Failed, Some(reason.clone())),
        };
        TaskReport {
            pipeline_id: handle.row.id,
            worker_id: self.worker_id.clone(),
            status,
            partitions: if status == TaskStatus::Running {
                handle.shared.reported_partitions()
            } else {
                Vec::new()
            },
            counters: handle.stats.counters(),
            lag: handle.stats.lag().filter(|_| status == TaskStatus::Running),
            last_error,
            pipeline_version: handle.row.version,
        }
    }

    async fn report_failure(&self, handle: &TaskHandle) {
        let report = self.report(handle);
        if let Err(error) = worker_tasks::record_failure(&self.pool, &report).await {
            tracing::warn!(%error, "recording the task failure failed");
        }
    }

    async fn heartbeat(&self) {
        for handle in self.tasks.values() {
            let report = self.report(handle);
            if let Err(error) = worker_tasks::upsert(&self.pool, &report).await {
                tracing::warn!(%error, "heartbeat write failed");
                return;
            }
        }
    }

    async fn stop_task(&self, handle: TaskHandle) {
        tracing::info!(pipeline = %handle.row.name, "stopping task: pipeline no longer running");
        if let Run::Running { stop, join } = handle.run {
            stop.cancel();
            if let Err(error) = join.await {
                tracing::error!(pipeline = %handle.row.name, %error, "task did not end cleanly");
            }
        }
        if let Err(error) = worker_tasks::set_status(
            &self.pool,
            handle.row.id,
            &self.worker_id,
            TaskStatus::Stopped,
        )
        .await
        {
            tracing::warn!(%error, "marking the task stopped failed");
        }
    }

    async fn stop_all(&mut self) {
        let mut joins = Vec::new();
        for (_, handle) in self.tasks.drain() {
            if let Run::Running { stop, join } = handle.run {
                stop.cancel();
                joins.push(join);
            }
        }
        for join in joins {
            if let Err(error) = join.await {
                tracing::error!(%error, "task did not end cleanly");
            }
        }
        match worker_tasks::delete_worker(&self.pool, &self.worker_id).await {
            Ok(n) => tracing::info!(rows = n, "removed this worker's task rows"),
            Err(error) => tracing::warn!(%error, "removing this worker's task rows failed"),
        }
    }
}
