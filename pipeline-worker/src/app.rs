//! The worker application: database pool, HTTP endpoints and the supervisor, run until shutdown.

use crate::http;
use crate::memory;
use crate::metrics;
use crate::reconcile::{Health, Supervisor};
use anyhow::Context;
use pipeline_common::clients::readiness::{KafkaProbe, SearchProbe};
use pipeline_common::config::{ExposeSecret, Settings};
use sqlx::mysql::MySqlPoolOptions;
use sqlx::MySqlPool;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A built worker, ready to run.
pub struct WorkerApp {
    settings: Arc<Settings>,
    pool: MySqlPool,
    listener: TcpListener,
    worker_id: String,
}

impl WorkerApp {
    /// Connects the database pool and binds the HTTP port (`worker.httpPort`, 0 for any).
    pub async fn build(settings: Settings) -> anyhow::Result<WorkerApp> {
        let pool = MySqlPoolOptions::new()
            .max_connections(settings.database.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(settings.database.url.expose_secret())
            .await
            .context("connecting to the database (database.url)")?;
        let listener = TcpListener::bind((settings.worker.bind_address, settings.worker.http_port))
            .await
            .with_context(|| format!("binding worker.httpPort {}", settings.worker.http_port))?;
        let worker_id = if settings.worker.id.trim().is_empty() {
            default_worker_id()
        } else {
            settings.worker.id.clone()
        };
        Ok(WorkerApp {
            settings: Arc::new(settings),
            pool,
            listener,
            worker_id,
        })
    }

    /// The bound address of the HTTP endpoints.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// This worker's id.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Runs until `shutdown` completes, then stops fetching, flushes, commits and returns.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let prometheus = metrics::prometheus()?;
        let health = Arc::new(Health::default());
        let token = CancellationToken::new();
        let stale_after_ms = (self.settings.worker.reconcile_interval_ms * 3 + 10_000) as i64;
        let dependencies = http::Dependencies {
            kafka: KafkaProbe::new(&self.settings)?,
            search: SearchProbe::new(&self.settings)?,
        };
        let router = http::router(
            health.clone(),
            prometheus.clone(),
            stale_after_ms,
            self.settings.unverified_tls(),
            dependencies,
        );
        let http_stop = token.clone();
        let http = tokio::spawn(async move {
            axum::serve(self.listener, router)
                .with_graceful_shutdown(http_stop.cancelled_owned())
                .await
        });
        let upkeep_stop = token.clone();
        let upkeep = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            let mut release = tokio::time::interval(memory::RELEASE_INTERVAL);
            loop {
                tokio::select! {
                    () = upkeep_stop.cancelled() => return,
                    _ = tick.tick() => prometheus.run_upkeep(),
                    _ = release.tick() => {
                        let released = memory::release_free_heap();
                        tracing::trace!(released, "handed freed heap memory back");
                    }
                }
            }
        });
        tracing::info!(worker = %self.worker_id, "pipeline-worker running");
        let supervisor = Supervisor::new(
            self.settings.clone(),
            self.pool.clone(),
            self.worker_id.clone(),
            health,
        )?;
        let supervisor_stop = CancellationToken::new();
        let supervised = tokio::spawn(supervisor.run(supervisor_stop.clone()));
        shutdown.await;
        tracing::info!("shutting down: stop fetching, flush, commit");
        supervisor_stop.cancel();
        let result = supervised.await;
        token.cancel();
        if let Err(error) = upkeep.await {
            tracing::error!(%error, "metrics upkeep did not end cleanly");
        }
        match http.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "the HTTP server failed"),
            Err(error) => tracing::error!(%error, "the HTTP server did not end cleanly"),
        }
        self.pool.close().await;
        result.context("supervisor panicked")?;
        tracing::info!("pipeline-worker stopped");
        Ok(())
    }
}

/// `<hostname>-<pid>`: unique per process, readable in status output.
fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".to_owned());
    format!("{host}-{}", std::process::id())
}
