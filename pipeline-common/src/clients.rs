//! Client construction from [`Settings`]: the base librdkafka configuration (connection,
//! security, TLS) that every Kafka client starts from, and the OpenSearch HTTP clients.
//!
//! Every property set here is named in code from a typed setting. Nothing user-supplied (pipeline
//! definitions, request bodies) is ever passed through as a raw client property.

mod kafka_tls;
mod opensearch_http;
pub mod readiness;

pub use opensearch_http::{OpenSearchAccess, TlsFileError};

use crate::config::{ExposeSecret, Settings};
use opensearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use opensearch::OpenSearch;
use rdkafka::ClientConfig;
use std::time::Duration;

/// Base librdkafka configuration: bootstrap servers, security and timeouts.
///
/// Producers and consumers add their own properties on top of it.
pub fn kafka_base_config(settings: &Settings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", settings.mq.bootstrap_servers())
        .set("security.protocol", settings.mq.security_protocol())
        .set(
            "socket.timeout.ms",
            settings.kafka.socket_timeout_ms.to_string(),
        )
        // Keep librdkafka's own log lines out of stderr; errors surface through the API.
        .set("log_level", "3");
    if !settings.mq.username.is_empty() {
        config
            .set("sasl.mechanism", settings.mq.mechanism.as_str())
            .set("sasl.username", &settings.mq.username)
            .set("sasl.password", settings.mq.password.expose_secret());
    }
    kafka_tls::apply(&settings.mq, &mut config);
    config
}

/// An idempotent producer that waits for all in-sync replicas (`acks=all`).
pub fn kafka_producer_config(settings: &Settings) -> ClientConfig {
    let mut config = kafka_base_config(settings);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // With idempotence and the default five requests in flight, librdkafka 2.12's broker
        // thread spins while it waits for acknowledgements (the operator guide has the figures).
        // Ordering and exactly-once writes per partition hold either way.
        .set("max.in.flight.requests.per.connection", "1")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000");
    config
}

/// The producer of pipeline-mgmt's HTTP ingest: [`kafka_producer_config`] tuned for a request
/// that waits for its acknowledgement.
///
/// - No linger: a request's records go out at once. Under concurrency, records still share
///   produce requests: those that arrive while one is in flight are sent together after it.
/// - No topic auto-creation: a request that raced with a delete must fail (and be retried by its
///   client), never create an orphan topic that nothing reads.
pub fn kafka_ingest_producer_config(settings: &Settings) -> ClientConfig {
    let mut config = kafka_producer_config(settings);
    config
        .set("linger.ms", "0")
        .set("allow.auto.create.topics", "false");
    config
}

/// Builds an OpenSearch client for the first configured URL, with the CA, client certificate
/// and basic auth of `opensearch.*`.
pub fn opensearch_client(settings: &Settings) -> anyhow::Result<OpenSearch> {
    let url = settings
        .opensearch
        .urls
        .first()
        .ok_or_else(|| anyhow::anyhow!("opensearch.urls is empty"))?;
    let access = OpenSearchAccess::from_settings(&settings.opensearch)?;
    opensearch_client_with(url, &access)
}

/// Builds an OpenSearch client for `url` with `access`'s trust and credentials.
pub fn opensearch_client_with(url: &str, access: &OpenSearchAccess) -> anyhow::Result<OpenSearch> {
    let url = opensearch::http::Url::parse(url)
        .map_err(|e| anyhow::anyhow!("opensearch URL {url:?}: {e}"))?;
    let builder = TransportBuilder::new(SingleNodeConnectionPool::new(url))
        .timeout(Duration::from_secs(30))
        .disable_proxy();
    let builder = access.apply_to_transport(builder)?;
    Ok(OpenSearch::new(builder.build()?))
}
