//! The typed configuration tree. Field names are the YAML keys (camelCase).

use super::ConfigError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The whole configuration of either binary.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HTTP server and flush defaults.
    pub server: ServerSettings,
    /// Worker process settings.
    pub worker: WorkerSettings,
    /// Kafka consumer and topic settings.
    pub kafka: KafkaSettings,
    /// Kafka broker address and credentials.
    pub mq: MqSettings,
    /// MariaDB connection.
    pub database: DatabaseSettings,
    /// OpenSearch connection.
    pub opensearch: OpenSearchSettings,
    /// GeoIP database.
    pub geoip: GeoIpSettings,
    /// Bearer tokens for the REST API.
    pub auth: AuthSettings,
    /// Logging.
    pub log: LogSettings,
    /// Reading dead letters back (pipeline-mgmt).
    #[serde(rename = "deadLetters")]
    pub dead_letters: DeadLetterSettings,
}

/// `server.*`: the REST port and the server-wide flush defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerSettings {
    /// Port of pipeline-mgmt's HTTP server.
    pub http_port: u16,
    /// Address pipeline-mgmt listens on (`0.0.0.0` in containers, `127.0.0.1` on a shared host).
    pub bind_address: std::net::IpAddr,
    /// Default bulk flush size in MiB when a pipeline sets no `flush.maxBytes`.
    #[serde(rename = "flushMiB")]
    pub flush_mib: u32,
    /// Default bulk flush item count.
    pub flush_items: u32,
    /// Default bulk flush interval in seconds.
    pub flush_interval_sec: u64,
    /// Consecutive failed flushes after which a task is marked failed.
    pub failure_threshold: u32,
    /// Minutes between attempts to restart failed tasks.
    pub watch_workers_interval_min: u64,
    /// Largest accepted HTTP request body, in bytes.
    pub max_request_bytes: usize,
    /// Largest accepted single event, in bytes.
    pub max_event_bytes: usize,
    /// Deepest accepted JSON nesting of an event.
    pub max_event_depth: usize,
    /// How long pipeline-mgmt's HTTP ingest trusts a pipeline it looked up, in milliseconds;
    /// bounds how late it sees a change made through another replica (0: look up every request).
    pub ingest_cache_ttl_ms: u64,
    /// Seconds between sweeps of dated indices past their pipeline's `indexing.retention`; one
    /// replica at a time sweeps, under a lease in MariaDB.
    pub retention_interval_sec: u64,
    /// The URL browsers reach mgmt at; `https://…` marks the console cookie `Secure`.
    pub public_url: String,
    /// Whether an ingress in front of mgmt sets `X-Forwarded-Proto` (and strips a client's own):
    /// then `https` in it marks the console cookie `Secure` too.
    pub trust_forwarded_proto: bool,
}

/// `worker.*`: settings of a pipeline-worker process.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkerSettings {
    /// Port of the worker's health and metrics server.
    pub http_port: u16,
    /// Address the worker's health and metrics server listens on.
    pub bind_address: std::net::IpAddr,
    /// Stable worker id; empty means `<hostname>-<pid>`.
    pub id: String,
    /// Milliseconds between reconciliations against MariaDB.
    pub reconcile_interval_ms: u64,
    /// Milliseconds between heartbeats written to `worker_tasks`.
    pub heartbeat_interval_ms: u64,
    /// Milliseconds between restarts of failed tasks; 0 uses `server.watchWorkersIntervalMin`.
    pub watch_interval_ms: u64,
    /// Timeout of one bulk request in milliseconds.
    pub bulk_timeout_ms: u64,
    /// Backoff after the first failed bulk request, in milliseconds (doubles, with jitter).
    pub retry_initial_backoff_ms: u64,
    /// Upper bound of the bulk retry backoff, in milliseconds.
    pub retry_max_backoff_ms: u64,
    /// How long a graceful stop may spend flushing and committing, in milliseconds.
    pub shutdown_grace_ms: u64,
}

/// Where a consumer group starts when it has no committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoOffsetReset {
    /// From the oldest retained record.
    Earliest,
    /// From new records only.
    Latest,
}

impl AutoOffsetReset {
    /// The librdkafka value.
    pub fn as_str(self) -> &'static str {
        match self {
            AutoOffsetReset::Earliest => "earliest",
            AutoOffsetReset::Latest => "latest",
        }
    }
}

/// `kafka.*`: consumer timeouts, offset reset and the topic prefix.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KafkaSettings {
    /// Consumer group session timeout.
    pub session_timeout_ms: u32,
    /// Network socket timeout.
    pub socket_timeout_ms: u32,
    /// Longest time between polls before the consumer leaves the group.
    pub max_poll_interval_ms: u32,
    /// Start position without a committed offset.
    pub auto_offset_reset: AutoOffsetReset,
    /// Prefix of every pipeline topic: `<prefix>.<name>.input`.
    pub topic_prefix: String,
    /// Bound on the consumer's prefetch queue, in KiB per partition set.
    pub queued_max_messages_kbytes: u32,
    /// Longest time the broker may hold a fetch request open waiting for data.
    pub fetch_wait_max_ms: u32,
}

/// SASL mechanism used when `mq.username` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    /// SASL/PLAIN.
    #[serde(rename = "PLAIN")]
    Plain,
    /// SASL/SCRAM-SHA-256.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// SASL/SCRAM-SHA-512.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    /// The librdkafka value.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// `mq.*`: the Kafka bootstrap broker and its credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MqSettings {
    /// Bootstrap host.
    pub mq_host: String,
    /// Bootstrap port.
    pub mq_port: u16,
    /// SASL user; empty disables SASL.
    pub username: String,
    /// SASL password.
    pub password: SecretString,
    /// SASL mechanism.
    pub mechanism: SaslMechanism,
    /// Whether to use TLS.
    pub tls: bool,
    /// File holding the SASL password (a mounted secret); excludes `password`.
    pub password_file: String,
    /// PEM file of the CA certificates that sign the brokers' certificates; empty trusts the
    /// system roots.
    pub ca_file: String,
    /// PEM client certificate for mutual TLS; set together with `keyFile`.
    pub cert_file: String,
    /// PEM private key of `certFile` (unencrypted).
    pub key_file: String,
    /// Development only: accept any broker certificate and host name. Warned about at start and
    /// shown by `/readyz`.
    pub tls_skip_verify: bool,
}

impl MqSettings {
    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        if self.mq_host.contains(':') && !self.mq_host.starts_with('[') {
            format!("[{}]:{}", self.mq_host, self.mq_port)
        } else {
            format!("{}:{}", self.mq_host, self.mq_port)
        }
    }

    /// librdkafka's `security.protocol` for these settings.
    pub fn security_protocol(&self) -> &'static str {
        match (self.tls, self.username.is_empty()) {
            (false, true) => "plaintext",
            (true, true) => "ssl",
            (false, false) => "sasl_plaintext",
            (true, false) => "sasl_ssl",
        }
    }
}

/// `database.*`: the MariaDB connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `mysql://user:password@host:port/db`; secret because it may hold a password.
    pub url: SecretString,
    /// File holding the URL (a mounted secret); replaces `url` when set.
    pub url_file: String,
    /// Pool size.
    pub max_connections: u32,
}

/// `opensearch.*`: the cluster nodes and credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenSearchSettings {
    /// Node URLs; the first is used, the others are fallbacks.
    pub urls: Vec<String>,
    /// Basic-auth user; empty disables authentication.
    pub username: String,
    /// Basic-auth password.
    pub password: SecretString,
    /// Primary shards of a pipeline's indices when its `indexing.shards` is unset.
    pub default_shards: u32,
    /// Replicas of a pipeline's indices when its `indexing.replicas` is unset.
    pub default_replicas: u32,
    /// `index.refresh_interval` when a pipeline's `indexing.refreshInterval` is unset.
    pub default_refresh_interval: String,
    /// `index.codec` when a pipeline's `indexing.codec` is unset.
    pub default_codec: crate::index_template::Codec,
    /// File holding the basic-auth password (a mounted secret); excludes `password`.
    pub password_file: String,
    /// PEM file of the CA certificates that sign the nodes' certificates; empty trusts the
    /// system roots.
    pub ca_file: String,
    /// PEM client certificate (certificate authentication); set together with `keyFile`.
    pub cert_file: String,
    /// PEM private key of `certFile` (unencrypted).
    pub key_file: String,
    /// Development only: accept any node certificate and host name. Warned about at start and
    /// shown by `/readyz`.
    pub tls_skip_verify: bool,
}

/// `geoip.*`: the MaxMind database.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeoIpSettings {
    /// Path of a `.mmdb` file; empty means no geoip stage is available.
    pub database: String,
}

/// A role carried by a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read-only (GET).
    Viewer,
    /// Viewer plus create, update, state changes and delete.
    Editor,
    /// Everything.
    Admin,
    /// POST events only.
    Ingest,
}

/// One configured bearer token, stored as the sha256 hex digest of the token.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenSettings {
    /// Principal name recorded in `createdBy` and the audit trail.
    pub name: String,
    /// The token's role.
    pub role: Role,
    /// Lowercase hex sha256 of the bearer token.
    pub sha256: String,
}

/// `auth.*`: the accepted bearer tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthSettings {
    /// Accepted tokens; with none, every protected endpoint answers 401.
    pub tokens: Vec<TokenSettings>,
}

/// `log.*`: logging.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter directive, e.g. `info` or `pipeline_worker=debug,info`.
    pub log_level: String,
    /// Pretty, human-readable output instead of JSON lines.
    pub develop_mode: bool,
}

impl Settings {
    /// Checks ranges and formats that the types alone do not express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_index_defaults()?;
        self.validate_positive()?;
        self.validate_addresses()?;
        self.validate_tokens()?;
        if tracing_subscriber::EnvFilter::try_new(&self.log.log_level).is_err() {
            return Err(ConfigError::key(
                "log.logLevel",
                "is not a valid level or filter directive",
            ));
        }
        Ok(())
    }

    /// Counts, sizes and durations that must not be 0.
    fn validate_positive(&self) -> Result<(), ConfigError> {
        let positive = [
            ("server.flushMiB", self.server.flush_mib as u64),
            ("server.flushItems", self.server.flush_items as u64),
            ("server.flushIntervalSec", self.server.flush_interval_sec),
            (
                "server.failureThreshold",
                self.server.failure_threshold as u64,
            ),
            (
                "server.watchWorkersIntervalMin",
                self.server.watch_workers_interval_min,
            ),
            (
                "server.maxRequestBytes",
                self.server.max_request_bytes as u64,
            ),
            ("server.maxEventBytes", self.server.max_event_bytes as u64),
            ("server.maxEventDepth", self.server.max_event_depth as u64),
            (
                "server.retentionIntervalSec",
                self.server.retention_interval_sec,
            ),
            (
                "worker.reconcileIntervalMs",
                self.worker.reconcile_interval_ms,
            ),
            (
                "worker.heartbeatIntervalMs",
                self.worker.heartbeat_interval_ms,
            ),
            ("worker.bulkTimeoutMs", self.worker.bulk_timeout_ms),
            (
                "worker.retryInitialBackoffMs",
                self.worker.retry_initial_backoff_ms,
            ),
            ("worker.retryMaxBackoffMs", self.worker.retry_max_backoff_ms),
            ("worker.shutdownGraceMs", self.worker.shutdown_grace_ms),
            (
                "kafka.sessionTimeoutMs",
                self.kafka.session_timeout_ms as u64,
            ),
            ("kafka.socketTimeoutMs", self.kafka.socket_timeout_ms as u64),
            (
                "kafka.maxPollIntervalMs",
                self.kafka.max_poll_interval_ms as u64,
            ),
            (
                "kafka.queuedMaxMessagesKbytes",
                self.kafka.queued_max_messages_kbytes as u64,
            ),
            ("kafka.fetchWaitMaxMs", self.kafka.fetch_wait_max_ms as u64),
            (
                "database.maxConnections",
                self.database.max_connections as u64,
            ),
            ("deadLetters.scanRecords", self.dead_letters.scan_records),
            ("deadLetters.scanMs", self.dead_letters.scan_ms),
        ];
        match positive.into_iter().find(|(_, value)| *value == 0) {
            Some((key, _)) => Err(ConfigError::key(key, "must be greater than 0")),
            None => Ok(()),
        }
    }

    /// The topic prefix, the broker, database and OpenSearch addresses.
    fn validate_addresses(&self) -> Result<(), ConfigError> {
        let prefix = &self.kafka.topic_prefix;
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if prefix.is_empty() || prefix.len() > 100 || !prefix.chars().all(legal) {
            return Err(ConfigError::key(
                "kafka.topicPrefix",
                "must be 1-100 characters of [a-zA-Z0-9._-]",
            ));
        }
        if self.mq.mq_host.is_empty() {
            return Err(ConfigError::key("mq.mqHost", "must not be empty"));
        }
        if !self.database.url.expose_secret().starts_with("mysql://")
            && !self.database.url.expose_secret().starts_with("mariadb://")
        {
            // The URL itself may hold a password, so it is never echoed.
            return Err(ConfigError::key(
                "database.url",
                "must be a mysql:// or mariadb:// URL",
            ));
        }
        if self.opensearch.urls.is_empty() {
            return Err(ConfigError::key(
                "opensearch.urls",
                "must list at least one URL",
            ));
        }
        for (i, url) in self.opensearch.urls.iter().enumerate() {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::key(
                    format!("opensearch.urls[{i}]"),
                    "must be an http:// or https:// URL",
                ));
            }
        }
        Ok(())
    }

    /// Each token has a name and the hex sha256 of its secret.
    fn validate_tokens(&self) -> Result<(), ConfigError> {
        for (i, token) in self.auth.tokens.iter().enumerate() {
            if token.name.trim().is_empty() {
                return Err(ConfigError::key(
                    format!("auth.tokens[{i}].name"),
                    "must not be empty",
                ));
            }
            let is_digest =
                token.sha256.len() == 64 && token.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !is_digest {
                return Err(ConfigError::key(
                    format!("auth.tokens[{i}].sha256"),
                    "must be the 64-character hex sha256 of the token \
                     (`pipeline-mgmt token hash <token>` prints it)",
                ));
            }
        }
        Ok(())
    }

    /// `opensearch.default*`: the same bounds as a definition's `indexing` object.
    fn validate_index_defaults(&self) -> Result<(), ConfigError> {
        use crate::index_template::{RefreshInterval, MAX_REPLICAS, MAX_SHARDS};
        let os = &self.opensearch;
        if !(1..=MAX_SHARDS).contains(&i64::from(os.default_shards)) {
            return Err(ConfigError::key(
                "opensearch.defaultShards",
                format!("must be between 1 and {MAX_SHARDS}"),
            ));
        }
        if i64::from(os.default_replicas) > MAX_REPLICAS {
            return Err(ConfigError::key(
                "opensearch.defaultReplicas",
                format!("must be between 0 and {MAX_REPLICAS}"),
            ));
        }
        RefreshInterval::parse(&os.default_refresh_interval)
            .map_err(|e| ConfigError::key("opensearch.defaultRefreshInterval", e))?;
        Ok(())
    }

    /// The server-wide flush thresholds (`server.flush*`), for what a pipeline does not set.
    pub fn default_flush(&self) -> crate::model::FlushPolicy {
        use crate::model::flush::saturating_usize;
        crate::model::FlushPolicy {
            max_bytes: saturating_usize(u64::from(self.server.flush_mib) * 1024 * 1024),
            max_items: saturating_usize(u64::from(self.server.flush_items)),
            interval: std::time::Duration::from_secs(self.server.flush_interval_sec),
        }
    }
}

/// `deadLetters.*`: how much of an error topic one filtered read may scan (pipeline-mgmt). A read
/// that reaches either bound answers with what it found and a cursor to continue from.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeadLetterSettings {
    /// Most records one request reads (over all partitions) before it answers.
    pub scan_records: u64,
    /// Longest one request reads, in milliseconds, before it answers.
    pub scan_ms: u64,
}
