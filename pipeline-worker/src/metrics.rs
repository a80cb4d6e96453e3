//! Metrics: Prometheus exposition, per-pipeline counters, and the process's CPU and memory.
//!
//! Hot-path counters (consumed, indexed, filtered) are registered once per task and kept as
//! handles, so counting one of those events is an atomic add, not a label lookup; dead letters
//! are counted per stage through a small map, registered on a stage's first one. The same events are counted in [`TaskStats`] atomics, which the
//! heartbeat writes into `worker_tasks`.

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use pipeline_common::model::Counters;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Bulk request duration histogram.
pub const BULK_DURATION: &str = "flow_worker_bulk_duration_seconds";

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use. Several workers in one process
/// (tests) share it, which is fine since every series carries the pipeline name.
pub fn prometheus() -> anyhow::Result<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(BULK_DURATION.to_owned()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                    ],
                )
                .and_then(|b| b.install_recorder())
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("installing the Prometheus recorder: {e}"))
}

/// Counters of one task, counted on the hot path; the heartbeat reads them as [`Counters`]
/// through [`TaskStats::counters`].
#[derive(Debug, Default)]
pub struct TaskStats {
    /// Messages received from Kafka.
    pub consumed: AtomicU64,
    /// Documents indexed (and produced to the output topic).
    pub indexed: AtomicU64,
    /// Events written to the error topic.
    pub dead_lettered: AtomicU64,
    /// Events dropped by a filter.
    pub filtered: AtomicU64,
    /// Sum of the assigned partitions' lag; negative when unknown.
    pub lag: AtomicI64,
    /// The OpenSearch credential failure the task is retrying through, if any.
    pub credentials: crate::bulk::credentials::CredentialAlarm,
}

impl TaskStats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters as they are now, for the heartbeat. Each is read on its own, so a snapshot
    /// taken mid-batch may be off by the events in flight; the next one catches up.
    pub fn counters(&self) -> Counters {
        let read = |c: &AtomicU64| i64::try_from(c.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        Counters {
            consumed: read(&self.consumed),
            indexed: read(&self.indexed),
            dead_lettered: read(&self.dead_lettered),
            filtered: read(&self.filtered),
        }
    }

    /// The summed lag of the assigned partitions, when known.
    pub fn lag(&self) -> Option<i64> {
        let lag = self.lag.load(Ordering::Relaxed);
        (lag >= 0).then_some(lag)
    }
}

/// The metric handles of one pipeline's task.
pub struct TaskMetrics {
    pipeline: String,
    /// Shared with the heartbeat.
    pub stats: std::sync::Arc<TaskStats>,
    consumed: Counter,
    indexed: Counter,
    filtered: Counter,
    lag: Gauge,
    dead_lettered: Mutex<HashMap<pipeline_common::failure::FailedAt, Counter>>,
    /// Bulk request metrics.
    pub bulk: BulkMetrics,
}

impl TaskMetrics {
    /// Registers the series of `pipeline`.
    pub fn new(pipeline: &str, stats: std::sync::Arc<TaskStats>) -> Self {
        let label = pipeline.to_owned();
        TaskMetrics {
            consumed: counter!("flow_worker_events_consumed_total", "pipeline" => label.clone()),
            indexed: counter!("flow_worker_events_indexed_total", "pipeline" => label.clone()),
            filtered: counter!("flow_worker_events_filtered_total", "pipeline" => label.clone()),
            lag: gauge!("flow_worker_consumer_lag", "pipeline" => label.clone()),
            dead_lettered: Mutex::new(HashMap::new()),
            bulk: BulkMetrics::new(pipeline),
            pipeline: label,
            stats,
        }
    }

    /// One message received.
    pub fn consumed(&self) {
        self.consumed.increment(1);
        TaskStats::add(&self.stats.consumed, 1);
    }

    /// `n` documents indexed and acknowledged on the output topic.
    pub fn indexed(&self, n: u64) {
        self.indexed.increment(n);
        TaskStats::add(&self.stats.indexed, n);
    }

    /// One event dropped by a filter.
    pub fn filtered(&self) {
        self.filtered.increment(1);
        TaskStats::add(&self.stats.filtered, 1);
    }

    /// One event acknowledged on the error topic, failed at `stage`.
    pub fn dead_lettered(&self, stage: pipeline_common::failure::FailedAt) {
        TaskStats::add(&self.stats.dead_lettered, 1);
        let mut by_stage = crate::consumer::lock(&self.dead_lettered);
        by_stage
            .entry(stage)
            .or_insert_with(|| {
                counter!(
                    "flow_worker_events_dead_lettered_total",
                    "pipeline" => self.pipeline.clone(),
                    "stage" => stage.as_str()
                )
            })
            .increment(1);
    }

    /// The current consumer lag, summed over the assigned partitions.
    pub fn lag(&self, lag: i64) {
        self.lag.set(lag as f64);
        self.stats.lag.store(lag, Ordering::Relaxed);
    }
}

/// Bulk request metrics of one pipeline.
#[derive(Clone)]
pub struct BulkMetrics {
    pipeline: String,
    duration: Histogram,
    bytes: Counter,
}

impl BulkMetrics {
    /// Registers the bulk series of `pipeline`.
    pub fn new(pipeline: &str) -> Self {
        BulkMetrics {
            pipeline: pipeline.to_owned(),
            duration: histogram!(BULK_DURATION, "pipeline" => pipeline.to_owned()),
            bytes: counter!("flow_worker_bulk_bytes_total", "pipeline" => pipeline.to_owned()),
        }
    }

    /// One request ended with `outcome` (`success`, `partial`, `failed`).
    pub fn request(&self, outcome: &'static str) {
        counter!(
            "flow_worker_bulk_requests_total",
            "pipeline" => self.pipeline.clone(),
            "outcome" => outcome
        )
        .increment(1);
    }

    /// How long one request took.
    pub fn duration(&self, elapsed: Duration) {
        self.duration.record(elapsed.as_secs_f64());
    }

    /// Bytes of one request body.
    pub fn bytes(&self, n: usize) {
        self.bytes.increment(n as u64);
    }
}

/// CPU time and memory of a process, from `/proc/<pid>/stat` and `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU seconds.
    pub cpu_seconds: f64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// Peak resident set size (VmHWM) in bytes.
    pub peak_rss_bytes: u64,
}

/// Clock ticks per second of `/proc/*/stat` times. Linux fixes USER_HZ at 100 on every
/// architecture we build for; reading it via sysconf would need `unsafe`.
const CLOCK_TICKS: f64 = 100.0;

impl ProcessStats {
    /// Reads the stats of `pid` (`"self"` for this process).
    pub fn read(pid: &str) -> std::io::Result<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        Ok(Self::parse(&stat, &status))
    }

    /// Parses the two files' contents.
    pub fn parse(stat: &str, status: &str) -> Self {
        // The command name (field 2) may hold spaces and parentheses: fields after the last `)`.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        ProcessStats {
            cpu_seconds: (ticks(11) + ticks(12)) as f64 / CLOCK_TICKS,
            rss_bytes: kib("VmRSS:"),
            peak_rss_bytes: kib("VmHWM:"),
        }
    }

    /// Publishes this process's stats as gauges (called before each scrape).
    pub fn publish_self() {
        if let Ok(stats) = Self::read("self") {
            gauge!("process_cpu_seconds_total").set(stats.cpu_seconds);
            gauge!("process_resident_memory_bytes").set(stats.rss_bytes as f64);
            gauge!("process_resident_memory_peak_bytes").set(stats.peak_rss_bytes as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194304 500 0 0 0 250 50 0 0 20 0 9 0 100 1000 200";
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        let stats = ProcessStats::parse(stat, status);
        assert_eq!(stats.cpu_seconds, 3.0);
        assert_eq!(stats.rss_bytes, 1024 * 1024);
        assert_eq!(stats.peak_rss_bytes, 2048 * 1024);
    }

    #[test]
    fn reads_this_process() {
        let stats = ProcessStats::read("self").unwrap();
        assert!(stats.rss_bytes > 0);
        assert!(stats.peak_rss_bytes >= stats.rss_bytes);
    }
}
