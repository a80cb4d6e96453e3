//! Assembly: configuration in, a bound HTTP server out.

use crate::auth::TokenStore;
use crate::metrics::Metrics;
use crate::provision::topics::TopicAdmin;
use crate::service::ingest_cache::IngestCache;
use crate::state::AppState;
use crate::store;
use anyhow::Context;
use axum::Router;
use pipeline_common::chain::EngineContext;
use pipeline_common::config::Settings;
use rdkafka::producer::{FutureProducer, Producer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;

/// A built, bound, not yet serving pipeline-mgmt.
pub struct Application {
    listener: TcpListener,
    router: Router,
    port: u16,
    producer: FutureProducer,
    db: sqlx::MySqlPool,
    live_within_ms: u64,
    state: AppState,
}

impl Application {
    /// Connects to MariaDB and applies migrations, builds the Kafka and OpenSearch clients, and
    /// binds `server.httpPort` (0 picks a free port; see [`Application::port`]).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let db = store::pool(&settings)?;
        store::migrate(&db).await?;
        let producer: FutureProducer =
            pipeline_common::clients::kafka_ingest_producer_config(&settings)
                .create()
                .context("building the Kafka producer")?;
        let search = pipeline_common::clients::opensearch_client(&settings)
            .context("building the OpenSearch client")?;
        let engine = EngineContext::from_settings(&settings).context("opening geoip.database")?;
        let state = AppState {
            tokens: Arc::new(TokenStore::new(&settings.auth)?),
            topics: TopicAdmin::new(&settings)?,
            validation: Arc::new(engine.validation_context()),
            engine: Arc::new(engine),
            metrics: Arc::new(Metrics::new()?),
            openapi: Arc::new(OnceLock::new()),
            producer: producer.clone(),
            ingest: Arc::new(IngestCache::new(Duration::from_millis(
                settings.server.ingest_cache_ttl_ms,
            ))),
            search,
            db,
            settings: Arc::new(settings),
        };
        let (router, openapi) = crate::http::router(state.clone());
        let rendered = serde_json::to_string_pretty(&crate::http::document_json(&openapi))
            .context("rendering the OpenAPI document")?;
        let _ = state.openapi.set(rendered);
        // In the background: an OpenSearch outage at start-up must not keep mgmt from serving.
        tokio::spawn(crate::service::templates::reconcile_all(state.clone()));

        let server = &state.settings.server;
        let address = SocketAddr::new(server.bind_address, server.http_port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("binding {address}"))?;
        let port = listener.local_addr()?.port();
        Ok(Application {
            listener,
            router,
            port,
            producer,
            db: state.db.clone(),
            live_within_ms: state
                .settings
                .worker
                .heartbeat_interval_ms
                .saturating_mul(3),
            state,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or SIGINT, then finishes in-flight requests and flushes the producer.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_with_shutdown(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then drains like [`Application::run_until_stopped`].
    pub async fn run_with_shutdown(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(port = self.port, "pipeline-mgmt listening");
        let sampler = tokio::spawn(crate::service::samples::run_sampler(
            self.db.clone(),
            self.live_within_ms,
        ));
        let retention = tokio::spawn(crate::service::retention::run(self.state));
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(signal)
            .await
            .context("serving HTTP");
        sampler.abort();
        retention.abort();
        served?;
        // Every ingest answered 202 only after acknowledgement; this only catches stragglers
        // of requests whose clients hung up.
        let producer = self.producer;
        match tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(10))).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "ingest records left undelivered at exit"),
            Err(error) => tracing::warn!(%error, "flushing the ingest producer did not end"),
        }
        tracing::info!("pipeline-mgmt stopped");
        Ok(())
    }
}

pub use pipeline_common::startup::shutdown_signal;
