//! Kafka topics through rdkafka's AdminClient.

use anyhow::{anyhow, Context};
use pipeline_common::clients::readiness::{ProbeContext, Unready};
use pipeline_common::config::Settings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseProducer, Producer};
use std::sync::Arc;
use std::time::Duration;

/// How long one admin request may wait for the broker. Short, because a client is waiting on the
/// HTTP request; a broker that cannot answer in this time counts as unreachable.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for the broker's metadata to show a create or delete (see `TopicAdmin::settle`).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause between two metadata requests while waiting for it.
const SETTLE_POLL: Duration = Duration::from_millis(50);

/// What to create: the three topics of one pipeline and their settings.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    /// Topic names (input, output, error).
    pub names: Vec<String>,
    /// Partitions of each topic.
    pub partitions: i32,
    /// Replication factor of each topic.
    pub replication_factor: i32,
    /// `min.insync.replicas`, when set.
    pub min_insync_replicas: Option<i32>,
    /// `retention.ms`, when set.
    pub retention_ms: Option<i64>,
}

/// Creating topics failed; `created` lists those that may exist now and must be undone.
#[derive(Debug)]
pub struct CreateFailure {
    /// Topics to delete when undoing.
    pub created: Vec<String>,
    /// The cause.
    pub error: anyhow::Error,
}

/// The cluster has fewer brokers than the topics' replication factor: the definition asks for
/// something this cluster cannot do (the broker's INVALID_REPLICATION_FACTOR).
#[derive(Debug, thiserror::Error)]
#[error(
    "{replication_factor} replicas need as many brokers; the Kafka cluster has {brokers} available"
)]
pub struct TooFewBrokers {
    /// What the definition asks for.
    pub replication_factor: i32,
    /// Brokers the cluster's metadata lists now (0 when it could not be read).
    pub brokers: usize,
}

/// The broker turned our SASL credentials away: an operator must fix `mq.username` /
/// `mq.password` / `mq.mechanism` (or the broker's users). Readiness names it, because unlike an
/// outage it does not heal by waiting.
#[derive(Debug, thiserror::Error)]
#[error("the Kafka broker rejected the SASL credentials (authentication failed)")]
pub struct AuthenticationFailed;

/// The TLS handshake with the broker failed: its certificate is not trusted by `mq.caFile` (or
/// the system roots), its name does not match, or it refused our client certificate. Like a
/// credential, it does not heal by waiting.
#[derive(Debug, thiserror::Error)]
#[error("the TLS handshake with the Kafka broker failed (certificate not trusted, name mismatch or client certificate refused)")]
pub struct TlsHandshakeFailed;

/// The shared admin client.
#[derive(Clone)]
pub struct TopicAdmin {
    admin: Arc<AdminClient<DefaultClientContext>>,
    /// A producer that never sends: its main queue carries the authentication failures that an
    /// admin client never surfaces.
    probe: Arc<BaseProducer<ProbeContext>>,
}

impl TopicAdmin {
    /// Builds the admin client; it connects lazily, so a broker that is down fails later calls,
    /// not start-up.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let admin = pipeline_common::clients::kafka_base_config(settings)
            .create::<AdminClient<DefaultClientContext>>()
            .context("building the Kafka admin client")?;
        let probe = pipeline_common::clients::kafka_base_config(settings)
            .create_with_context::<_, BaseProducer<ProbeContext>>(ProbeContext::default())
            .context("building the Kafka readiness probe")?;
        Ok(TopicAdmin {
            admin: Arc::new(admin),
            probe: Arc::new(probe),
        })
    }

    fn options() -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(ADMIN_TIMEOUT))
            .operation_timeout(Some(ADMIN_TIMEOUT))
    }

    /// Creates the topics of `spec`. A topic that already exists counts as created: it is ours,
    /// left by an earlier attempt for the same (unique) pipeline name.
    pub async fn create(&self, spec: &TopicSpec) -> Result<(), CreateFailure> {
        let retention = spec.retention_ms.map(|ms| ms.to_string());
        let min_insync = spec.min_insync_replicas.map(|n| n.to_string());
        let topics: Vec<NewTopic<'_>> = spec
            .names
            .iter()
            .map(|name| {
                let mut topic = NewTopic::new(
                    name,
                    spec.partitions,
                    TopicReplication::Fixed(spec.replication_factor),
                );
                if let Some(ms) = &retention {
                    topic = topic.set("retention.ms", ms);
                }
                if let Some(n) = &min_insync {
                    topic = topic.set("min.insync.replicas", n);
                }
                topic
            })
            .collect();
        let results = match self.admin.create_topics(&topics, &Self::options()).await {
            Ok(results) => results,
            Err(err) => {
                // Outcome unknown: any of them may exist now.
                return Err(CreateFailure {
                    created: spec.names.clone(),
                    error: anyhow!(err).context("CreateTopics request failed"),
                });
            }
        };
        let mut created = Vec::new();
        let mut failures = Vec::new();
        let mut too_few_brokers = false;
        for result in results {
            match result {
                Ok(name) | Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => created.push(name),
                Err((name, code)) => {
                    too_few_brokers |= code == RDKafkaErrorCode::InvalidReplicationFactor;
                    failures.push(format!("{name}: {code}"));
                }
            }
        }
        if failures.is_empty() {
            self.settle(&spec.names, Some(spec.partitions)).await;
            Ok(())
        } else if too_few_brokers {
            let error = anyhow!(TooFewBrokers {
                replication_factor: spec.replication_factor,
                brokers: self.brokers().await,
            });
            Err(CreateFailure { created, error })
        } else {
            Err(CreateFailure {
                created,
                error: anyhow!("creating topics failed: {}", failures.join("; ")),
            })
        }
    }

    /// How many brokers the cluster's metadata lists (0 when it cannot be read).
    async fn brokers(&self) -> usize {
        let probe = Arc::clone(&self.probe);
        tokio::task::spawn_blocking(move || {
            probe
                .client()
                .fetch_metadata(None, ADMIN_TIMEOUT)
                .map_or(0, |m| m.brokers().len())
        })
        .await
        .unwrap_or(0)
    }

    /// Deletes `names`; topics that do not exist are fine.
    pub async fn delete(&self, names: &[String]) -> anyhow::Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let results = self
            .admin
            .delete_topics(&refs, &Self::options())
            .await
            .context("DeleteTopics request failed")?;
        let failures: Vec<String> = results
            .into_iter()
            .filter_map(|r| match r {
                Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => None,
                Err((name, code)) => Some(format!("{name}: {code}")),
            })
            .collect();
        if failures.is_empty() {
            self.settle(names, None).await;
            Ok(())
        } else {
            Err(anyhow!("deleting topics failed: {}", failures.join("; ")))
        }
    }

    /// Waits, at most [`SETTLE_TIMEOUT`], until the broker's metadata lists every topic of `names`
    /// with `partitions` partitions, or (`None`) lists none of them. The controller answers a
    /// create or delete before the broker has applied it: without the wait, a record produced
    /// right after a delete and re-create under the same name can land in the old topic and be
    /// deleted with it. Best effort: a broker that does not settle in time is only logged.
    async fn settle(&self, names: &[String], partitions: Option<i32>) {
        let probe = Arc::clone(&self.probe);
        let names = names.to_vec();
        let settled = tokio::task::spawn_blocking(move || {
            let deadline = std::time::Instant::now() + SETTLE_TIMEOUT;
            while std::time::Instant::now() < deadline {
                // All topics, never one by name: a request naming a missing topic may create it.
                if let Ok(metadata) = probe.client().fetch_metadata(None, SETTLE_POLL * 20) {
                    let listed = |name: &String| {
                        metadata
                            .topics()
                            .iter()
                            .find(|t| t.name() == name && t.error().is_none())
                            .map(|t| t.partitions().len())
                    };
                    let done = names.iter().all(|name| match (partitions, listed(name)) {
                        (None, listed) => listed.is_none(),
                        (Some(n), Some(have)) => usize::try_from(n).is_ok_and(|n| n == have),
                        (Some(_), None) => false,
                    });
                    if done {
                        return true;
                    }
                }
                std::thread::sleep(SETTLE_POLL);
            }
            false
        })
        .await;
        if !matches!(settled, Ok(true)) {
            tracing::warn!(
                timeout_ms = SETTLE_TIMEOUT.as_millis() as u64,
                "the broker's metadata did not show the topic change in time"
            );
        }
    }

    /// Fetches cluster metadata with a short timeout: the readiness check. Fails with
    /// [`AuthenticationFailed`] when the broker rejected our credentials since the last success.
    pub async fn ping(&self, timeout: Duration) -> anyhow::Result<()> {
        let probe = Arc::clone(&self.probe);
        // fetch_metadata blocks the calling thread; keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            let result = probe.client().fetch_metadata(None, timeout);
            // Serve the queued log and error events into the context.
            probe.poll(Duration::ZERO);
            match (probe.context().after_metadata(result.is_ok()), result) {
                (Ok(()), _) => Ok(()),
                (Err(Unready::SaslRejected), _) => Err(anyhow!(AuthenticationFailed)),
                (Err(Unready::KafkaCertificate), _) => Err(anyhow!(TlsHandshakeFailed)),
                (Err(_), Err(err)) => Err(anyhow!(err).context("fetching Kafka metadata")),
                (Err(unready), Ok(_)) => Err(anyhow!(unready)),
            }
        })
        .await
        .context("metadata task")?
    }
}
