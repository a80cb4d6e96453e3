//! Faults on the cluster (three brokers in one KRaft quorum, two OpenSearch nodes): a partition
//! leader killed under load, two brokers of three down, a data node killed, a rolling restart of
//! the workers and scaling 1 → 4 → 1. Each test runs under a steady load from an independent
//! producer, then asserts every event indexed once by `_id` (the output topic names them), no
//! dead letter, and offsets committed to the end; the figures it measures (the longest stretch
//! without indexing progress, events processed twice, how long partitions went without an owner)
//! go to `test_support::cluster::report`.
//!
//! Each is checked to fail when what it guards is broken: `scripts/check-mutants` applies the
//! patches under `scripts/mutants/` (the producer giving up during a leader change, a consumer
//! error failing the task, no failover to the next OpenSearch node, a commit past unindexed
//! events on SIGTERM, a stopping worker that does not leave the group) and runs the test each
//! names.
//!
//! They need the clustered stack (`FLOW_TEST_CLUSTER=1 scripts/test`, or `scripts/stack up` with
//! `FLOW_STACK_KAFKA_BROKERS=3 FLOW_STACK_OPENSEARCH_NODES=2`) and skip, saying so, without it.

mod kafka;
mod search;
mod workers;

use crate::helpers::*;
use serde_json::json;
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use test_support::cluster::Cluster;
use tokio_util::sync::CancellationToken;

/// A pipeline whose three topics have three replicas and `min.insync.replicas` 2, on the
/// cluster's brokers (the test's own clients bootstrap from all three; the worker from the
/// first) and its first OpenSearch node.
async fn cluster_world(cluster: &Cluster, partitions: i32) -> World {
    let topics = json!({"partitions": partitions, "replicationFactor": 3, "minInsyncReplicas": 2});
    World::new(
        &cluster.bootstrap(),
        &cluster.search_nodes()[0].address,
        partitions,
        json!({ "topics": topics }),
    )
    .await
}

/// The worker settings of the cluster tests: small flushes, so that many are in flight when a
/// fault lands; the default bulk timeout (a replicated index on a busy two-core machine answers
/// slowly, and a retried bulk request is more work for it); no restart of a failed task during
/// the test, so that a task that gives up fails it.
const WORKER_VARS: [(&str, &str); 3] = [
    ("FLOW__SERVER__FLUSH_ITEMS", "500"),
    ("FLOW__WORKER__BULK_TIMEOUT_MS", "30000"),
    ("FLOW__WORKER__WATCH_INTERVAL_MS", "600000"),
];

/// A steady load on the input topic: `tests/produce_stream.py` (confluent-kafka), good events
/// with seqs 0, 1, 2, …, idempotent with `acks=all`.
struct Load {
    child: Child,
}

impl Load {
    fn start(world: &World, per_second: u32) -> Load {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/produce_stream.py");
        let python = std::env::var("FLOW_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let child = Command::new(python)
            .arg(script)
            .args([
                &world.brokers,
                &world.topic("input"),
                &per_second.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Load { child }
    }

    /// Stops producing, waits for every acknowledgement, and returns how many events the
    /// brokers acknowledged (seqs `0..n`); panics if any failed.
    fn stop(self) -> usize {
        test_support::send_signal(self.child.id(), "TERM");
        let output = self.child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "the load failed: {text}");
        let (acked, failed) = text.trim().split_once(' ').unwrap();
        assert_eq!(failed, "0", "records the brokers did not acknowledge");
        acked.parse().unwrap()
    }
}

/// Samples the index's document count every 250 ms, to find the longest stretch without
/// progress while events were waiting.
struct Progress {
    stop: CancellationToken,
    join: tokio::task::JoinHandle<Vec<(Instant, u64)>>,
}

impl Progress {
    fn start(world: &World) -> Progress {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let (opensearch, index) = (world.opensearch.clone(), world.name.clone());
        let join = tokio::spawn(async move {
            let mut samples = Vec::new();
            while !token.is_cancelled() {
                samples.push((Instant::now(), count(&opensearch, &index).await));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            samples
        });
        Progress { stop, join }
    }

    /// The longest time the count stood still before it reached its final value.
    async fn longest_gap(self) -> Duration {
        self.stop.cancel();
        let samples = self.join.await.unwrap();
        let last = samples.last().map_or(0, |(_, n)| *n);
        let mut longest = Duration::ZERO;
        let mut since: Option<(Instant, u64)> = None;
        for (at, n) in samples {
            match since {
                Some((from, before)) if n == before => {
                    if n < last {
                        longest = longest.max(at - from);
                    }
                }
                _ => since = Some((at, n)),
            }
        }
        longest
    }
}

/// Reads the output topic: (records, distinct seqs). Records beyond the distinct seqs are
/// events processed (indexed and produced) more than once.
fn output_records(world: &World, total: usize) -> (usize, usize) {
    let records = world.read_topic("output", total, Duration::from_secs(90));
    let seqs: HashSet<u64> = records
        .iter()
        .filter_map(|r| serde_json::from_slice(r.value.as_deref()?).ok())
        .filter_map(|doc: serde_json::Value| seq_of(&doc))
        .collect();
    (records.len(), seqs.len())
}

/// Waits until every acknowledged event is indexed and committed, and asserts the outcome every
/// cluster test shares: no task gave up meanwhile, each event indexed once by `_id`, the output
/// topic holding each, no dead letter. Returns (output records, events processed twice or more).
async fn assert_all_delivered(world: &World, total: usize) -> (usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let indexed = world.count().await;
        if indexed == total as u64 {
            break;
        }
        assert!(
            indexed < total as u64,
            "{indexed} documents, more than {total}"
        );
        // With the watcher's restarts out of reach, a task that gave up would stall the test:
        // say so at once. A fault of the cluster is never a reason to give up.
        let failed = world
            .tasks()
            .await
            .into_iter()
            .find(|t| t.report.status.as_str() == "failed");
        assert!(failed.is_none(), "a task gave up: {failed:?}");
        if Instant::now() > deadline {
            let (committed, ends) = world.committed_and_end();
            let group = test_support::cluster::group_assignment(
                &world.brokers,
                &world.group(),
                &world.topic("input"),
            );
            panic!(
                "{indexed} of {total} documents indexed; committed {committed:?} of {ends:?}; \
                 group {group:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    world.wait_committed_at_end(Duration::from_secs(120)).await;
    crate::faults::assert_indexed_once(world, total).await;
    world.assert_no_dead_letters("a fault of the cluster is not bad data");
    let (records, distinct) = output_records(world, total);
    assert_eq!(distinct, total, "the output topic holds every event");
    (records, records - distinct)
}

/// One worker (`w1`, [`WORKER_VARS`] and `extra`) on `world` under a steady load of
/// `per_second` events, once it has indexed 1,000 of them.
async fn one_worker_under_load(
    world: &World,
    extra: &[(&str, &str)],
    per_second: u32,
) -> (WorkerProcess, Load) {
    let mut vars = WORKER_VARS.to_vec();
    vars.extend_from_slice(extra);
    let worker = WorkerProcess::start(world.vars("w1", &vars));
    let load = Load::start(world, per_second);
    eventually("indexing under load", Duration::from_secs(120), || async {
        (world.count().await >= 1_000).then_some(())
    })
    .await;
    (worker, load)
}

/// What a cluster test saw once every event was delivered.
struct Outcome {
    /// Events the brokers acknowledged: each is indexed once.
    total: usize,
    /// Records of the output topic.
    records: usize,
    /// Events indexed and produced more than once (at-least-once).
    twice: usize,
    /// The longest time the index count stood still meanwhile.
    gap: Duration,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events indexed once, output topic {} records ({} processed twice), longest \
             indexing gap {:.1} s",
            self.total,
            self.records,
            self.twice,
            self.gap.as_secs_f64()
        )
    }
}

/// Stops the load and waits until every acknowledged event is delivered
/// ([`assert_all_delivered`]); what was measured.
async fn deliver(world: &World, load: Load, progress: Progress) -> Outcome {
    let total = load.stop();
    let (records, twice) = assert_all_delivered(world, total).await;
    Outcome {
        total,
        records,
        twice,
        gap: progress.longest_gap().await,
    }
}

/// Removes what a passing test made (its topics and index), so that the cluster's brokers and
/// nodes have less to recover when the next test restarts them.
async fn clean_up(world: World) {
    world.delete_as_mgmt_does().await;
    let url = format!("{}/{}", world.opensearch, world.name);
    reqwest::Client::new().delete(url).send().await.unwrap();
}

/// Polls until `done` holds, at most `limit`; how long it took.
async fn time_until<F, Fut>(what: &str, limit: Duration, mut done: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}
