//! Readiness checks of the two external dependencies, Kafka and OpenSearch, that tell an outage
//! apart from a failure an operator must fix (an untrusted certificate, refused credentials).
//! Waiting heals an outage, never those, so `/readyz` names them, in our own words: the cause
//! chain may carry addresses and server text, never a secret we could vouch for.

use crate::config::Settings;
use opensearch::OpenSearch;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Why a dependency is not ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unready {
    /// No answer in time, or an answer we cannot use: may heal by itself.
    #[error("unreachable")]
    Unreachable,
    /// The Kafka broker turned the SASL credentials away (`mq.username` / `mq.password` /
    /// `mq.mechanism`).
    #[error("rejected the credentials (SASL authentication failed: check mq.username, mq.password and mq.mechanism)")]
    SaslRejected,
    /// The TLS handshake with the broker failed.
    #[error("failed the TLS handshake: certificate not trusted (check mq.caFile), name mismatch or client certificate refused")]
    KafkaCertificate,
    /// The TLS handshake with OpenSearch failed on a certificate.
    #[error("failed the TLS handshake: certificate not trusted (check opensearch.caFile), name mismatch or client certificate refused")]
    OpenSearchCertificate,
    /// OpenSearch answered 401 or 403.
    #[error("rejected the credentials ({0}: check opensearch.username and its roles)")]
    OpenSearchCredentials(u16),
}

/// Remembers what librdkafka last reported about authentication and TLS. librdkafka reports
/// either only as a log line and an error event on the client's main queue; a metadata request
/// merely fails with a transport error.
#[derive(Default)]
pub struct ProbeContext {
    authentication_failed: AtomicBool,
    tls_failed: AtomicBool,
}

impl ClientContext for ProbeContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        if facility == "FAIL" && message.contains("SASL authentication error") {
            self.authentication_failed.store(true, Ordering::Relaxed);
        }
        if facility == "FAIL"
            && (message.contains("SSL handshake failed") || message.contains("certificate"))
        {
            self.tls_failed.store(true, Ordering::Relaxed);
        }
        if (level as i32) <= (RDKafkaLogLevel::Error as i32) {
            tracing::debug!(facility, message, "Kafka readiness probe");
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Authentication) => {
                self.authentication_failed.store(true, Ordering::Relaxed);
            }
            Some(RDKafkaErrorCode::SSL) => self.tls_failed.store(true, Ordering::Relaxed),
            _ => {}
        }
        tracing::debug!(%error, reason, "Kafka readiness probe error");
    }
}

impl ProbeContext {
    /// What a metadata request's outcome means once the reported failures are taken into
    /// account: `fetched` clears them (the broker answered), otherwise a credential or
    /// certificate failure reported since the last success is named.
    pub fn after_metadata(&self, fetched: bool) -> Result<(), Unready> {
        if fetched {
            self.authentication_failed.store(false, Ordering::Relaxed);
            self.tls_failed.store(false, Ordering::Relaxed);
            Ok(())
        } else if self.authentication_failed.load(Ordering::Relaxed) {
            Err(Unready::SaslRejected)
        } else if self.tls_failed.load(Ordering::Relaxed) {
            Err(Unready::KafkaCertificate)
        } else {
            Err(Unready::Unreachable)
        }
    }
}

impl ProducerContext for ProbeContext {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

/// A producer that never sends, kept for readiness: a metadata request through it says whether
/// the broker answers, and its main queue carries the authentication and TLS failures.
#[derive(Clone)]
pub struct KafkaProbe {
    producer: Arc<BaseProducer<ProbeContext>>,
}

impl KafkaProbe {
    /// Builds the probe from `mq.*`; it connects lazily, so a broker that is down fails later
    /// pings, not start-up.
    pub fn new(settings: &Settings) -> anyhow::Result<KafkaProbe> {
        let producer = super::kafka_base_config(settings)
            .create_with_context::<_, BaseProducer<ProbeContext>>(ProbeContext::default())
            .map_err(|e| anyhow::anyhow!("building the Kafka readiness probe: {e}"))?;
        Ok(KafkaProbe {
            producer: Arc::new(producer),
        })
    }

    /// Asks the broker for metadata, at most `timeout`; a credential or certificate failure
    /// reported since the last success is named.
    pub async fn ping(&self, timeout: Duration) -> Result<(), Unready> {
        let producer = Arc::clone(&self.producer);
        // fetch_metadata blocks the calling thread; keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            let result = producer.client().fetch_metadata(None, timeout);
            // Serve the queued log and error events into the context.
            producer.poll(Duration::ZERO);
            producer.context().after_metadata(result.is_ok())
        })
        .await
        .unwrap_or(Err(Unready::Unreachable))
    }
}

/// An OpenSearch client kept for readiness, with the trust and credentials of `opensearch.*`.
#[derive(Clone)]
pub struct SearchProbe {
    client: OpenSearch,
}

impl SearchProbe {
    /// Builds the client; it connects lazily.
    pub fn new(settings: &Settings) -> anyhow::Result<SearchProbe> {
        Ok(SearchProbe {
            client: super::opensearch_client(settings)?,
        })
    }

    /// Pings as the worker needs it: like [`ping_opensearch`], except that a 403 counts as
    /// ready. A least-privilege user (the worker's `flow_worker` role: write on the pipeline
    /// indices only) may not read the cluster's root, so the security plugin answers the ping
    /// with 403 once it has authenticated the user; only a 401 means refused credentials. A
    /// missing index privilege shows in the task's report when a bulk request is denied.
    pub async fn ping_authenticated(&self, timeout: Duration) -> Result<(), Unready> {
        match ping_opensearch(&self.client, timeout).await {
            Err(Unready::OpenSearchCredentials(403)) => Ok(()),
            other => other,
        }
    }
}

/// Pings OpenSearch, at most `timeout`: a certificate failure or a 401/403 is named.
pub async fn ping_opensearch(client: &OpenSearch, timeout: Duration) -> Result<(), Unready> {
    let response = match tokio::time::timeout(timeout, client.ping().send()).await {
        Err(_) => return Err(Unready::Unreachable),
        Ok(Err(err)) if is_certificate_error(&err) => return Err(Unready::OpenSearchCertificate),
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "OpenSearch readiness ping");
            return Err(Unready::Unreachable);
        }
        Ok(Ok(response)) => response,
    };
    match response.status_code().as_u16() {
        200..=299 => Ok(()),
        status @ (401 | 403) => Err(Unready::OpenSearchCredentials(status)),
        _ => Err(Unready::Unreachable),
    }
}

/// Whether a transport error's cause chain is a certificate failure.
pub fn is_certificate_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = cause {
        let text = err.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("handshake") {
            return true;
        }
        cause = err.source();
    }
    false
}
