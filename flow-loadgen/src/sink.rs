//! Where events go: a Kafka topic or pipeline-mgmt's HTTP ingest endpoint.
//!
//! Both sinks keep a bounded number of events in flight (a semaphore) and count every event once,
//! when it is acknowledged, refused or failed.

use crate::cli::{CeMode, Cli, HttpFormat, Target};
use crate::gen::{Body, Event};
use crate::stats::Stats;
use anyhow::{bail, Context};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Events in flight to Kafka at most.
const KAFKA_IN_FLIGHT: u32 = 50_000;
/// librdkafka gives up on a record after this long; the sink's final wait is a little longer.
const MESSAGE_TIMEOUT_MS: u64 = 30_000;
/// A partial HTTP batch is sent when its oldest event is this old.
const BATCH_LINGER: Duration = Duration::from_millis(200);
/// Timeout of one HTTP request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A destination for events.
pub enum Sink {
    /// A Kafka topic.
    Kafka(KafkaSink),
    /// The HTTP ingest endpoint.
    Http(HttpSink),
}

impl Sink {
    /// The sink the command line asks for.
    pub async fn from_cli(cli: &Cli, stats: Arc<Stats>) -> anyhow::Result<Sink> {
        Ok(match cli.target {
            Target::Kafka => Sink::Kafka(KafkaSink::new(cli, stats).await?),
            Target::Http => Sink::Http(HttpSink::new(cli, stats)?),
        })
    }

    /// One line saying where events go.
    pub fn describe(&self) -> String {
        match self {
            Sink::Kafka(k) => format!(
                "kafka topic {} at {} ({:?} mode)",
                k.topic, k.brokers, k.mode
            ),
            Sink::Http(h) => format!("{} ({:?}, {} per request)", h.url, h.format, h.batch_size),
        }
    }

    /// Sends one event; waits only when too many are in flight.
    pub async fn send(&mut self, event: Event) {
        match self {
            Sink::Kafka(k) => k.send(event).await,
            Sink::Http(h) => h.send(event).await,
        }
    }

    /// Called regularly: sends a partial HTTP batch that has waited long enough.
    pub async fn tick(&mut self) {
        if let Sink::Http(h) = self {
            if h.started.is_some_and(|t| t.elapsed() >= BATCH_LINGER) {
                h.flush().await;
            }
        }
    }

    /// Sends what is buffered and waits (at most `timeout`) for every event in flight.
    /// Returns whether everything landed.
    pub async fn finish(&mut self, timeout: Duration) -> bool {
        let (sem, permits) = match self {
            Sink::Kafka(k) => (k.in_flight.clone(), KAFKA_IN_FLIGHT),
            Sink::Http(h) => {
                h.flush().await;
                (h.in_flight.clone(), h.concurrency)
            }
        };
        let landed = matches!(
            tokio::time::timeout(timeout, sem.acquire_many(permits)).await,
            Ok(Ok(_))
        );
        landed
    }
}

/// The typed TLS and SASL flags as librdkafka properties.
fn security_config(cli: &Cli, config: &mut ClientConfig) {
    let protocol = match (cli.tls, cli.sasl_username.is_some()) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    config.set("security.protocol", protocol);
    if let Some(ca) = &cli.ca_file {
        config.set("ssl.ca.location", ca);
    }
    if let (Some(cert), Some(key)) = (&cli.cert_file, &cli.key_file) {
        config
            .set("ssl.certificate.location", cert)
            .set("ssl.key.location", key);
    }
    if let Some(user) = &cli.sasl_username {
        config
            .set("sasl.mechanism", &cli.sasl_mechanism)
            .set("sasl.username", user)
            .set("sasl.password", cli.sasl_password.as_deref().unwrap_or(""));
    }
}

/// Sends to a Kafka topic with an idempotent, `acks=all` producer.
pub struct KafkaSink {
    producer: FutureProducer,
    topic: String,
    brokers: String,
    mode: CeMode,
    in_flight: Arc<Semaphore>,
    stats: Arc<Stats>,
}

impl KafkaSink {
    async fn new(cli: &Cli, stats: Arc<Stats>) -> anyhow::Result<Self> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &cli.brokers)
            .set("client.id", "flow-loadgen")
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("message.timeout.ms", MESSAGE_TIMEOUT_MS.to_string())
            .set("queue.buffering.max.messages", "200000");
        security_config(cli, &mut config);
        for property in &cli.producer_properties {
            let Some((key, value)) = property.split_once('=') else {
                bail!("-X {property}: expected KEY=VALUE");
            };
            config.set(key.trim(), value.trim());
        }
        let producer: FutureProducer = config
            .create()
            .context("cannot create the Kafka producer")?;
        // Fail fast when the brokers cannot be reached, rather than after the message timeout.
        let client = producer.clone();
        let topic = cli.topic.clone();
        let metadata = tokio::task::spawn_blocking(move || {
            client
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(10))
        })
        .await
        .context("metadata task")?
        .with_context(|| format!("cannot reach the Kafka brokers at {}", cli.brokers))?;
        if let Some(t) = metadata.topics().first() {
            if let Some(err) = t.error() {
                eprintln!(
                    "flow-loadgen: warning: topic {}: {:?} (is the pipeline created?)",
                    cli.topic,
                    RDKafkaErrorCode::from(err)
                );
            }
        }
        Ok(KafkaSink {
            producer,
            topic: cli.topic.clone(),
            brokers: cli.brokers.clone(),
            mode: cli.ce_mode,
            in_flight: Arc::new(Semaphore::new(KAFKA_IN_FLIGHT as usize)),
            stats,
        })
    }

    async fn send(&mut self, event: Event) {
        let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
            return;
        };
        let malformed = event.is_malformed();
        let (value, headers) = encode(&event, self.mode);
        Stats::add(&self.stats.in_flight, 1);
        loop {
            let record = FutureRecord::to(&self.topic)
                .key(event.id.as_bytes())
                .payload(&value)
                .headers(headers.clone());
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    let stats = self.stats.clone();
                    tokio::spawn(async move {
                        let outcome = delivery.await;
                        match outcome {
                            Ok(Ok(_)) => Stats::add(&stats.sent, 1),
                            Ok(Err((e, _))) => {
                                Stats::add(&stats.errors, 1);
                                stats.report_error(&format!(
                                    "delivery failed{}: {e}",
                                    if malformed { " (malformed event)" } else { "" }
                                ));
                            }
                            Err(_) => {
                                Stats::add(&stats.errors, 1);
                                stats.report_error("delivery failed: the producer went away");
                            }
                        }
                        stats.landed(1);
                        drop(permit);
                    });
                    return;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => {
                    Stats::add(&self.stats.errors, 1);
                    self.stats.landed(1);
                    self.stats.report_error(&format!("cannot enqueue: {e}"));
                    return;
                }
            }
        }
    }
}

/// The record value and headers of an event in a CloudEvents Kafka binding.
pub fn encode(event: &Event, mode: CeMode) -> (Vec<u8>, OwnedHeaders) {
    let mut headers = OwnedHeaders::new();
    match (&event.body, mode) {
        (Body::Valid { envelope, .. }, CeMode::Binary) => {
            for attr in ["specversion", "id", "source", "type", "time"] {
                if let Some(v) = envelope.get(attr).and_then(|v| v.as_str()) {
                    headers = headers.insert(Header {
                        key: &format!("ce_{attr}"),
                        value: Some(v),
                    });
                }
            }
            headers = headers.insert(Header {
                key: "content-type",
                value: Some("application/json"),
            });
            let data = envelope
                .get("data")
                .map(|d| d.to_string())
                .unwrap_or_default();
            (data.into_bytes(), headers)
        }
        (Body::Malformed { bytes, .. }, CeMode::Binary) => {
            for (key, value) in [
                ("ce_specversion", "1.0"),
                ("ce_id", event.id.as_str()),
                ("ce_source", "flow-loadgen/malformed"),
                ("ce_type", "log.ingest"),
                ("content-type", "application/json"),
            ] {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            (bytes.clone(), headers)
        }
        (_, CeMode::Structured) => {
            headers = headers.insert(Header {
                key: "content-type",
                value: Some("application/cloudevents+json; charset=UTF-8"),
            });
            (event.to_bytes(), headers)
        }
    }
}

/// Posts events to pipeline-mgmt's ingest endpoint: valid events in batches, each malformed event
/// on its own (a 400 for it is expected and counted as rejected, not as an error).
pub struct HttpSink {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    format: HttpFormat,
    batch_size: usize,
    concurrency: u32,
    batch: Vec<u8>,
    batched: u64,
    started: Option<Instant>,
    in_flight: Arc<Semaphore>,
    stats: Arc<Stats>,
}

impl HttpSink {
    fn new(cli: &Cli, stats: Arc<Stats>) -> anyhow::Result<Self> {
        let Some(url) = cli.url.clone() else {
            bail!("--target http needs --url http://HOST:PORT/api/v1/pipelines/by-name/{{name}}/events");
        };
        let client = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .user_agent(concat!("flow-loadgen/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        if cli.token.is_none() {
            eprintln!(
                "flow-loadgen: warning: no --token (or FLOW_TOKEN); the endpoint will answer 401"
            );
        }
        Ok(HttpSink {
            client,
            url,
            token: cli.token.clone(),
            format: cli.http_format,
            batch_size: cli.batch_size as usize,
            concurrency: cli.concurrency,
            batch: Vec::new(),
            batched: 0,
            started: None,
            in_flight: Arc::new(Semaphore::new(cli.concurrency as usize)),
            stats,
        })
    }

    async fn send(&mut self, event: Event) {
        match &event.body {
            Body::Malformed { bytes, .. } => {
                let content_type = match self.format {
                    HttpFormat::Ndjson => "application/x-ndjson",
                    HttpFormat::Batch => "application/cloudevents+json",
                };
                self.post(content_type, bytes.clone(), 1, true).await;
            }
            Body::Valid { envelope, .. } => {
                match self.format {
                    HttpFormat::Ndjson => {
                        if !self.batch.is_empty() {
                            self.batch.push(b'\n');
                        }
                    }
                    HttpFormat::Batch => {
                        self.batch
                            .push(if self.batch.is_empty() { b'[' } else { b',' });
                    }
                }
                // Writing a Value into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut self.batch, envelope);
                self.batched += 1;
                self.started.get_or_insert_with(Instant::now);
                if self.batched as usize >= self.batch_size {
                    self.flush().await;
                }
            }
        }
    }

    async fn flush(&mut self) {
        if self.batched == 0 {
            return;
        }
        let mut body = std::mem::take(&mut self.batch);
        let n = std::mem::take(&mut self.batched);
        self.started = None;
        let content_type = match self.format {
            HttpFormat::Ndjson => {
                body.push(b'\n');
                "application/x-ndjson"
            }
            HttpFormat::Batch => {
                body.push(b']');
                "application/cloudevents-batch+json"
            }
        };
        self.post(content_type, body, n, false).await;
    }

    async fn post(&mut self, content_type: &'static str, body: Vec<u8>, n: u64, malformed: bool) {
        let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
            return;
        };
        Stats::add(&self.stats.in_flight, n);
        let mut request = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let stats = self.stats.clone();
        tokio::spawn(async move {
            match request.send().await {
                Ok(response) if response.status().is_success() => Stats::add(&stats.sent, n),
                Ok(response)
                    if malformed && matches!(response.status().as_u16(), 400 | 413 | 415) =>
                {
                    Stats::add(&stats.rejected, n);
                }
                Ok(response) => {
                    let status = response.status();
                    let detail = response.text().await.unwrap_or_default();
                    Stats::add(&stats.errors, n);
                    let message = format!(
                        "HTTP {status} for {n} event(s): {}",
                        detail.chars().take(300).collect::<String>()
                    );
                    if matches!(status.as_u16(), 401 | 403 | 404) {
                        // A wrong token, role or pipeline id: no later request can succeed.
                        stats.give_up(&message);
                    } else {
                        stats.report_error(&message);
                    }
                }
                Err(e) => {
                    Stats::add(&stats.errors, n);
                    stats.report_error(&format!("request failed for {n} event(s): {e}"));
                }
            }
            stats.landed(n);
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{Generator, Timestamps};
    use rdkafka::message::Headers;

    fn header(headers: &OwnedHeaders, key: &str) -> Option<String> {
        headers
            .iter()
            .find(|h| h.key == key)
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    #[test]
    fn structured_mode_sends_the_envelope() {
        let event = Generator::new(1, 0.0, Timestamps::Random).next_event();
        let (value, headers) = encode(&event, CeMode::Structured);
        assert_eq!(value, event.to_bytes());
        assert!(header(&headers, "content-type")
            .unwrap()
            .starts_with("application/cloudevents+json"));
    }

    #[test]
    fn binary_mode_sends_data_and_ce_headers() {
        let event = Generator::new(1, 0.0, Timestamps::Random).next_event();
        let (value, headers) = encode(&event, CeMode::Binary);
        let data: serde_json::Value = serde_json::from_slice(&value).unwrap();
        assert!(data["log_message"].is_string());
        assert_eq!(header(&headers, "ce_specversion").as_deref(), Some("1.0"));
        assert_eq!(header(&headers, "ce_id"), Some(event.id.clone()));
        assert!(header(&headers, "ce_source").is_some() && header(&headers, "ce_type").is_some());
    }

    #[test]
    fn malformed_events_keep_their_bytes_in_both_modes() {
        let event = Generator::new(1, 1.0, Timestamps::Random).next_event();
        let Body::Malformed { bytes, .. } = &event.body else {
            unreachable!()
        };
        assert_eq!(&encode(&event, CeMode::Structured).0, bytes);
        assert_eq!(&encode(&event, CeMode::Binary).0, bytes);
    }
}
