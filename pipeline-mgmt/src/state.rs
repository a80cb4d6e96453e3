//! What every handler shares.

use crate::auth::TokenStore;
use crate::metrics::Metrics;
use crate::provision::topics::TopicAdmin;
use crate::service::ingest_cache::IngestCache;
use opensearch::OpenSearch;
use pipeline_common::chain::EngineContext;
use pipeline_common::config::Settings;
use pipeline_common::model::ValidationContext;
use rdkafka::producer::FutureProducer;
use sqlx::MySqlPool;
use std::sync::{Arc, OnceLock};

/// Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct AppState {
    /// The loaded configuration.
    pub settings: Arc<Settings>,
    /// MariaDB.
    pub db: MySqlPool,
    /// Bearer tokens.
    pub tokens: Arc<TokenStore>,
    /// Kafka admin (topics, metadata).
    pub topics: TopicAdmin,
    /// The one long-lived idempotent `acks=all` producer for HTTP ingest.
    pub producer: FutureProducer,
    /// The pipelines HTTP ingest resolved recently; every change to a pipeline forgets it.
    pub ingest: Arc<IngestCache>,
    /// OpenSearch.
    pub search: OpenSearch,
    /// What pipeline validation needs to know about this server.
    pub validation: Arc<ValidationContext>,
    /// The stage engine's context (GeoIP database, decoding limits), for dry runs.
    pub engine: Arc<EngineContext>,
    /// Prometheus recorder.
    pub metrics: Arc<Metrics>,
    /// The rendered OpenAPI document, set once the router is assembled.
    pub openapi: Arc<OnceLock<String>>,
    /// This process among the replicas (`crate::lease::replica_id`): the owner of the replay
    /// jobs it runs.
    pub replica: Arc<str>,
}
