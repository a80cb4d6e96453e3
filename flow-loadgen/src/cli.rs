//! Command line.

use crate::gen::Timestamps;
use clap::{Parser, ValueEnum};
use std::time::Duration;

/// Generates CloudEvents log events (nginx, syslog, JSON and simple_split lines with emails and
/// IPs in them, plus a share of malformed events) and sends them to a Kafka topic or to
/// pipeline-mgmt's HTTP ingest endpoint, at a target rate or as fast as possible.
///
/// Examples:
///
///   flow-loadgen --brokers 127.0.0.1:9092 --topic pipeline.demo.input --rate 50
///
///   FLOW_TOKEN=flow-dev-admin-token flow-loadgen --target http
///       --url http://127.0.0.1:13012/api/v1/pipelines/by-name/demo/events --max --count 100000
///
///   flow-loadgen --print 20000 --seed 42 > events.jsonl
#[derive(Debug, Parser)]
#[command(name = "flow-loadgen", version, verbatim_doc_comment)]
pub struct Cli {
    /// Where events go.
    #[arg(long, value_enum, default_value = "kafka")]
    pub target: Target,

    /// Kafka bootstrap servers (--target kafka).
    #[arg(long, env = "FLOW_LOADGEN_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,

    /// Kafka topic (--target kafka): a pipeline's input topic, `<prefix>.<name>.input`.
    #[arg(long, default_value = "pipeline.demo.input")]
    pub topic: String,

    /// CloudEvents binding on Kafka: `structured` (the envelope is the record value) or `binary`
    /// (ce_* headers, the value is `data`).
    #[arg(long, value_enum, default_value = "structured")]
    pub ce_mode: CeMode,

    /// Extra librdkafka producer property, KEY=VALUE (repeatable), for tuning (TLS and SASL have
    /// their own flags below).
    #[arg(short = 'X', long = "producer-property", value_name = "KEY=VALUE")]
    pub producer_properties: Vec<String>,

    /// Connect to the brokers over TLS (--target kafka).
    #[arg(long)]
    pub tls: bool,

    /// PEM CA bundle that signs the brokers' certificates (with --tls; default: system roots).
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca_file: Option<String>,

    /// PEM client certificate for mutual TLS (with --tls and --key-file).
    #[arg(long, value_name = "FILE", requires_all = ["tls", "key_file"])]
    pub cert_file: Option<String>,

    /// PEM private key of --cert-file.
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    pub key_file: Option<String>,

    /// SASL user (--target kafka); SASL is off without it.
    #[arg(long, env = "FLOW_LOADGEN_SASL_USERNAME")]
    pub sasl_username: Option<String>,

    /// SASL password.
    #[arg(
        long,
        env = "FLOW_LOADGEN_SASL_PASSWORD",
        hide_env_values = true,
        requires = "sasl_username"
    )]
    pub sasl_password: Option<String>,

    /// SASL mechanism.
    #[arg(long, value_parser = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], default_value = "PLAIN")]
    pub sasl_mechanism: String,

    /// Ingest URL (--target http): http://HOST:PORT/api/v1/pipelines/by-name/{name}/events, or
    /// http://HOST:PORT/api/v1/pipelines/{id}/events.
    #[arg(long, env = "FLOW_LOADGEN_URL")]
    pub url: Option<String>,

    /// Bearer token for the ingest endpoint (role `ingest` or `admin`).
    #[arg(long, env = "FLOW_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Body format of HTTP batches: NDJSON, or a CloudEvents batch (JSON array).
    #[arg(long, value_enum, default_value = "ndjson")]
    pub http_format: HttpFormat,

    /// Valid events per HTTP request (malformed ones always go alone).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,

    /// HTTP requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,

    /// Target events per second; 0 = as fast as possible.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,

    /// As fast as possible (same as --rate 0).
    #[arg(long)]
    pub max: bool,

    /// Stop after this many events.
    #[arg(long)]
    pub count: Option<u64>,

    /// Stop after this long (e.g. 30s, 5m, 1h, 250ms; a bare number is seconds).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Share of malformed events (not JSON, not UTF-8, a JSON array, nested too deep).
    /// Default 0.01, or 0 with --print.
    #[arg(long)]
    pub malformed_ratio: Option<f64>,

    /// Seed of the generator; the same seed gives the same events. Default: drawn at random and
    /// printed in the summary.
    #[arg(long)]
    pub seed: Option<u64>,

    /// Event times: `random` (deterministic, in 2026-11-01..20 like the baseline) or `now`.
    #[arg(long, value_enum, default_value = "random")]
    pub timestamps: Timestamps,

    /// Write N events as JSON lines to stdout and exit (for benchmarks); sends nothing.
    #[arg(long, value_name = "N")]
    pub print: Option<u64>,

    /// No progress line, only the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Where events go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// A Kafka topic (idempotent producer, acks=all).
    Kafka,
    /// pipeline-mgmt's `POST /api/v1/pipelines/{id}/events`.
    Http,
}

/// CloudEvents binding on Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CeMode {
    /// The JSON envelope is the record value.
    Structured,
    /// `ce_*` headers; the record value is the event's `data`.
    Binary,
}

/// Body format of HTTP batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HttpFormat {
    /// `application/x-ndjson`: one envelope per line.
    Ndjson,
    /// `application/cloudevents-batch+json`: a JSON array of envelopes.
    Batch,
}

impl Cli {
    /// Events per second, `None` for as fast as possible.
    pub fn target_rate(&self) -> Option<f64> {
        if self.max || self.rate <= 0.0 || !self.rate.is_finite() {
            None
        } else {
            Some(self.rate)
        }
    }

    /// The malformed share to use.
    pub fn malformed(&self) -> anyhow::Result<f64> {
        let ratio = self
            .malformed_ratio
            .unwrap_or(if self.print.is_some() { 0.0 } else { 0.01 });
        if !(0.0..=1.0).contains(&ratio) {
            anyhow::bail!("--malformed-ratio must be between 0 and 1, got {ratio}");
        }
        Ok(ratio)
    }
}

/// Parses `30s`, `5m`, `1h`, `250ms` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 30s, 5m, 1h or 250ms"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => value,
        "ms" => value / 1000.0,
        "m" | "min" | "mins" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit `{other}` (use ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3d").is_err());
    }

    #[test]
    fn rate_and_ratio_defaults() {
        let cli = Cli::parse_from(["flow-loadgen"]);
        assert_eq!(cli.target_rate(), Some(100.0));
        assert_eq!(cli.malformed().unwrap(), 0.01);
        let cli = Cli::parse_from(["flow-loadgen", "--max", "--print", "10"]);
        assert_eq!(cli.target_rate(), None);
        assert_eq!(cli.malformed().unwrap(), 0.0);
        let cli = Cli::parse_from(["flow-loadgen", "--rate", "0"]);
        assert_eq!(cli.target_rate(), None);
        let cli = Cli::parse_from(["flow-loadgen", "--malformed-ratio", "1.5"]);
        assert!(cli.malformed().is_err());
    }

    #[test]
    fn the_cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
