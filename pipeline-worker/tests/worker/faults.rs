//! Faults on the real stack: a private broker or search node killed, stalled or
//! restarted under a running worker, topics deleted behind mgmt's back, a signal during a flush,
//! a panic injected into a task. Each test asserts the index by `_id` (count and samples), the
//! error topic and the committed offsets.

use crate::helpers::*;
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, Instant};

fn batch(from: usize, to: usize) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    (from..to).map(|i| (None, good_event(i))).collect()
}

/// Every event of `0..total` is in the index exactly once, by the `_id` the output topic names.
pub async fn assert_indexed_once(world: &World, total: usize) {
    let outputs = world.read_topic("output", total, Duration::from_secs(60));
    let mut seqs = HashSet::new();
    let mut ids = HashSet::new();
    for record in &outputs {
        let doc: serde_json::Value =
            serde_json::from_slice(record.value.as_deref().unwrap()).unwrap();
        seqs.insert(seq_of(&doc).unwrap());
        ids.insert(String::from_utf8(record.key.clone().unwrap()).unwrap());
    }
    assert_eq!(seqs.len(), total, "every event reached the output topic");
    assert_eq!(ids.len(), total, "one `_id` per event");
    for id in ids.iter().step_by(ids.len() / 20 + 1) {
        assert!(world.get_doc(id).await.is_some(), "document {id} indexed");
    }
    assert_eq!(world.count().await, total as u64, "exactly once by `_id`");
}

/// The broker is SIGKILLed mid-stream and restarted 10 s later on the same data: every event is
/// indexed exactly once, none is dead-lettered for the outage, offsets are committed to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_mid_stream_and_restarted_loses_nothing() {
    let _slot = slot().await;
    let (_, opensearch) = shared_servers();
    let mut kafka = test_support::Kafka::spawn();
    let world = World::new(&kafka.brokers(), &opensearch, 3, json!({})).await;
    // Enough events in small enough requests that the kill lands mid-stream (see
    // a_killed_worker_loses_nothing_and_duplicates_nothing).
    let total = 30_000;
    assert_eq!(world.produce(&batch(0, total)), total);
    let overrides = [("FLOW__SERVER__FLUSH_ITEMS", "100")];
    let worker = InProcess::start(world.settings("w1", &overrides)).await;
    eventually("some progress", Duration::from_secs(60), || async {
        (world.count().await >= 300).then_some(())
    })
    .await;
    kafka.kill();
    let at_kill = world.count().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    kafka.restart();
    world
        .wait_count(total as u64, Duration::from_secs(180))
        .await;
    world.wait_committed_at_end(Duration::from_secs(60)).await;
    assert!(at_kill < total as u64, "killed mid-stream ({at_kill})");
    assert_indexed_once(&world, total).await;
    world.assert_no_dead_letters("an outage is not bad data");
    worker.shutdown().await;
}

/// The broker is down when the worker starts: the worker runs (healthy, no crash) and begins
/// consuming, without a restart, once the broker is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_started_while_the_broker_is_down_recovers_when_it_comes_up() {
    let _slot = slot().await;
    let (_, opensearch) = shared_servers();
    let mut kafka = test_support::Kafka::spawn();
    let world = World::new(&kafka.brokers(), &opensearch, 2, json!({})).await;
    kafka.kill();
    let mut worker = WorkerProcess::start(world.vars("w1", &[]));
    tokio::time::sleep(Duration::from_secs(5)).await;
    if let Some(exit) = worker.exited() {
        panic!("the worker died while the broker was down: {exit}");
    }
    kafka.restart();
    assert_eq!(world.produce(&batch(0, 1_000)), 1_000);
    world.wait_count(1_000, Duration::from_secs(120)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    world.assert_no_dead_letters("an outage is not bad data");
    worker.terminate_gracefully();
}

/// OpenSearch is SIGKILLed mid-stream and restarted on the same data: nothing is lost, nothing
/// is dead-lettered, and what was indexed before the kill is still there once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opensearch_killed_mid_stream_and_restarted_loses_nothing() {
    let _slot = slot().await;
    let (brokers, _) = shared_servers();
    let mut search = test_support::OpenSearch::spawn();
    let world = World::new(&brokers, &search.url(), 3, json!({})).await;
    let overrides = [
        ("FLOW__SERVER__FLUSH_ITEMS", "300"),
        ("FLOW__WORKER__BULK_TIMEOUT_MS", "2000"),
        ("FLOW__WORKER__RETRY_INITIAL_BACKOFF_MS", "200"),
        ("FLOW__WORKER__RETRY_MAX_BACKOFF_MS", "1000"),
        ("FLOW__SERVER__FAILURE_THRESHOLD", "1000"),
    ];
    let worker = InProcess::start(world.settings("w1", &overrides)).await;
    let total = 5_000;
    world.produce(&batch(0, total / 2));
    eventually("some progress", Duration::from_secs(60), || async {
        (world.count().await >= 300).then_some(())
    })
    .await;
    search.kill();
    world.produce(&batch(total / 2, total));
    tokio::time::sleep(Duration::from_secs(5)).await;
    search.restart();
    world
        .wait_count(total as u64, Duration::from_secs(180))
        .await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    assert_indexed_once(&world, total).await;
    world.assert_no_dead_letters("an outage is not bad data");
    worker.shutdown().await;
}

/// The input topic is deleted behind mgmt's back: the task reports `failed` with "input topic
/// missing" (it does not spin on the error), and the watcher brings it back once the topic is
/// there again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_input_topic_fails_the_task_until_the_topic_is_back() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let world = World::new(&brokers, &opensearch, 2, json!({})).await;
    let overrides = [
        ("FLOW__WORKER__WATCH_INTERVAL_MS", "3000"),
        ("FLOW__KAFKA__SESSION_TIMEOUT_MS", "6000"),
    ];
    let worker = InProcess::start(world.settings("w1", &overrides)).await;
    world.produce(&batch(0, 200));
    world.wait_count(200, Duration::from_secs(60)).await;

    world.delete_topic("input").await;
    let reason = world.wait_task_failed(Duration::from_secs(60)).await;
    assert!(reason.contains("input topic missing"), "{reason}");
    let state_reason = world.state_reason().await.expect("the pipeline says why");
    assert!(
        state_reason.contains("input topic missing"),
        "{state_reason}"
    );

    world.create_topic("input").await;
    world.produce(&batch(200, 500));
    world.wait_count(500, Duration::from_secs(120)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    eventually("the task to run again", Duration::from_secs(30), || async {
        world
            .tasks()
            .await
            .first()
            .filter(|t| t.report.status.as_str() == "running")
            .map(|_| ())
    })
    .await;
    world.assert_no_dead_letters("an outage is not bad data");
    worker.shutdown().await;
}

/// The input topic does not exist yet when the task starts, as when a new topic has not reached
/// the broker the consumer asks: the task fails with "input topic missing" and is restarted at
/// the next reconciliations, not after the watch interval (ten minutes here), so it indexes
/// what arrives once the topic is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_topic_that_arrives_after_the_task_started_is_read_without_the_watch_interval() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let world = World::new(&brokers, &opensearch, 2, json!({})).await;
    world.delete_topic("input").await;
    let overrides = [
        ("FLOW__WORKER__WATCH_INTERVAL_MS", "600000"),
        ("FLOW__WORKER__RECONCILE_INTERVAL_MS", "5000"),
    ];
    let worker = InProcess::start(world.settings("w1", &overrides)).await;
    let reason = world.wait_task_failed(Duration::from_secs(30)).await;
    assert!(reason.contains("input topic missing"), "{reason}");
    world.create_topic("input").await;
    world.produce(&batch(0, 200));
    world.wait_count(200, Duration::from_secs(60)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    world.assert_no_dead_letters("a topic that comes late is not bad data");
    worker.shutdown().await;
}

/// SIGTERM while a flush cannot complete (OpenSearch stalled): the worker exits within
/// `worker.shutdownGraceMs` (plus the time to leave the group), having committed only what was
/// indexed; a new worker then indexes the rest exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_flush_exits_in_time_and_commits_only_what_is_done() {
    let _slot = slot().await;
    let (brokers, _) = shared_servers();
    let mut search = test_support::OpenSearch::spawn();
    let world = World::new(&brokers, &search.url(), 2, json!({})).await;
    let grace_ms = 3_000;
    let grace = grace_ms.to_string();
    let overrides = [
        ("FLOW__WORKER__SHUTDOWN_GRACE_MS", grace.as_str()),
        ("FLOW__WORKER__BULK_TIMEOUT_MS", "1000"),
        ("FLOW__SERVER__FAILURE_THRESHOLD", "1000"),
    ];
    let mut first = WorkerProcess::start(world.vars("w1", &overrides));
    world.produce(&batch(0, 500));
    world.wait_count(500, Duration::from_secs(60)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    let (before, _) = world.committed_and_end();

    search.process().signal("STOP");
    world.produce(&batch(500, 1_000));
    // Long enough for the worker to read the new events and start a flush that cannot end.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let signalled = Instant::now();
    first.signal("TERM");
    let status = first
        .wait(Duration::from_millis(grace_ms + 15_000))
        .unwrap_or_else(|| panic!("no exit after SIGTERM; log:\n{}", first.log_tail()));
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_millis(grace_ms + 15_000),
        "exited in {took:?}"
    );
    assert!(status.code().is_some(), "exited, not killed: {status}");
    let (after, _) = world.committed_and_end();
    assert_eq!(after, before, "nothing committed past the unindexed events");

    search.process().signal("CONT");
    let second = InProcess::start(world.settings("w2", &[])).await;
    world.wait_count(1_000, Duration::from_secs(120)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    assert_indexed_once(&world, 1_000).await;
    world.assert_no_dead_letters("an outage is not bad data");
    second.shutdown().await;
}

/// A panic injected into a task (failpoint `panic-<pipeline>`): the worker stays up, the
/// pipeline reports `failed` with the panic's message, and the watcher restarts the task, which
/// then indexes everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_task_fails_its_pipeline_and_the_watcher_restarts_it() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let world = World::new(&brokers, &opensearch, 2, json!({})).await;
    fail::cfg(
        format!("panic-{}", world.name),
        "1*panic(injected by the test)",
    )
    .unwrap();
    let overrides = [
        ("FLOW__WORKER__WATCH_INTERVAL_MS", "3000"),
        ("FLOW__KAFKA__SESSION_TIMEOUT_MS", "6000"),
    ];
    let worker = InProcess::start(world.settings("w1", &overrides)).await;
    world.produce(&batch(0, 300));
    let reason = world.wait_task_failed(Duration::from_secs(60)).await;
    assert!(
        reason.contains("task panicked") && reason.contains("injected by the test"),
        "{reason}"
    );
    let state_reason = world.state_reason().await.expect("the pipeline says why");
    assert!(
        state_reason.contains("injected by the test"),
        "{state_reason}"
    );
    world.wait_count(300, Duration::from_secs(120)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    fail::remove(format!("panic-{}", world.name));
    assert_indexed_once(&world, 300).await;
    assert!(worker.is_running(), "the worker is still up");
    worker.shutdown().await;
}

/// MariaDB is down for 30 s under a running worker: the worker keeps processing with the
/// definitions it has (events produced during the outage are indexed and committed), stays up,
/// and its heartbeats resume once the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_down_for_30s_the_worker_keeps_processing_and_heartbeats_resume() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let mut db = test_support::MariaDb::spawn_with(&[]);
    let world = World::new_on(&db.url(), &brokers, &opensearch, 2, json!({})).await;
    let mut worker = WorkerProcess::start(world.vars("w1", &[]));
    world.produce(&batch(0, 300));
    world.wait_count(300, Duration::from_secs(60)).await;

    db.kill();
    let down_at = Instant::now();
    world.produce(&batch(300, 900));
    world.wait_count(900, Duration::from_secs(60)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(down_at.elapsed())).await;
    if let Some(exit) = worker.exited() {
        panic!("the worker died while the database was down: {exit}");
    }
    db.restart();
    let back_at = chrono::Utc::now();
    eventually(
        "a heartbeat after the outage",
        Duration::from_secs(60),
        || async {
            let tasks = sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(
                "SELECT heartbeat_at FROM worker_tasks WHERE pipeline_id = ?",
            )
            .bind(&world.pipeline_id)
            .fetch_all(&world.pool)
            .await
            .ok()?;
            tasks.into_iter().any(|at| at > back_at).then_some(())
        },
    )
    .await;
    world.produce(&batch(900, 1_000));
    world.wait_count(1_000, Duration::from_secs(60)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    assert_indexed_once(&world, 1_000).await;
    world.assert_no_dead_letters("an outage is not bad data");
    worker.terminate_gracefully();
}
