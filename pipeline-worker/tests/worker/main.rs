//! Acceptance tests of pipeline-worker against real MariaDB, Apache Kafka and OpenSearch.
//!
//! Each test gets a fresh database with the schema, a pipeline row inserted directly, and its
//! own topics (random names); events come from an independent producer (confluent-kafka).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod brokers;
mod cluster;
mod faults;
mod geoip;
mod helpers;
mod mgmt_view;
mod tls;
mod tls_readiness;

use helpers::*;
use pipeline_common::model::{PipelineDefinition, ValidationContext};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

fn malformed(i: usize) -> Vec<u8> {
    match i % 4 {
        0 => format!("not json at all {i}").into_bytes(),
        1 => {
            let mut bytes = format!("{{\"seq\": \"bad {i} ").into_bytes();
            bytes.extend_from_slice(&[0xff, 0xfe, 0x80]);
            bytes.extend_from_slice(b"\"}");
            bytes
        }
        2 => format!("[{i}, 2, 3]").into_bytes(),
        _ => {
            let depth = 200;
            let mut s = String::new();
            for _ in 0..depth {
                s.push_str("{\"a\":");
            }
            s.push_str(&i.to_string());
            for _ in 0..depth {
                s.push('}');
            }
            s.into_bytes()
        }
    }
}

/// Acceptance 1: 10,000 events, 100 malformed → exactly the good ones indexed once, exactly the
/// bad ones in the error topic with their original bytes, offsets committed to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_indexes_good_events_once_and_dead_letters_the_rest() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let world = World::new(&brokers, &opensearch, 3, json!({})).await;
    let mut records = Vec::new();
    let mut bad = Vec::new();
    let mut seq = 0;
    for i in 0..10_000 {
        if i % 100 == 37 {
            let value = malformed(bad.len());
            bad.push(value.clone());
            records.push((Some(format!("bad-{i}").into_bytes()), value));
        } else {
            records.push((None, good_event(seq)));
            seq += 1;
        }
    }
    let good = seq;
    assert_eq!((good, bad.len()), (9_900, 100));
    assert_eq!(world.produce(&records), 10_000);

    let worker = InProcess::start(world.settings("w1", &[])).await;
    world
        .wait_count(good as u64, Duration::from_secs(180))
        .await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;

    // The error topic: exactly the 100, original bytes, headers.
    let errors = world.read_topic("error", 100, Duration::from_secs(30));
    assert_eq!(
        errors.len(),
        100,
        "error topic holds exactly the malformed events"
    );
    let expected: HashSet<Vec<u8>> = bad.iter().cloned().collect();
    let got: HashSet<Vec<u8>> = errors.iter().filter_map(|r| r.value.clone()).collect();
    assert_eq!(
        got, expected,
        "dead letters carry the original bytes unchanged"
    );
    for record in &errors {
        assert_eq!(record.headers["error.stage"], "decode");
        assert!(!record.headers["error.reason"].is_empty());
        assert_eq!(record.headers["source.topic"], world.topic("input"));
        assert!(record.headers["source.partition"].parse::<i32>().is_ok());
        assert!(record.headers["source.offset"].parse::<i64>().is_ok());
        assert_eq!(record.headers["pipeline.name"], world.name);
        assert!(record.headers.contains_key("failed.at"));
        assert!(
            record.key.as_deref().unwrap().starts_with(b"bad-"),
            "original key kept"
        );
    }

    // The output topic names every good event; sample documents by `_id`.
    let outputs = world.read_topic("output", good, Duration::from_secs(30));
    let mut seqs = HashSet::new();
    let mut ids = HashSet::new();
    for record in &outputs {
        let doc: Value = serde_json::from_slice(record.value.as_deref().unwrap()).unwrap();
        seqs.insert(seq_of(&doc).unwrap());
        ids.insert(String::from_utf8(record.key.clone().unwrap()).unwrap());
    }
    assert_eq!(seqs.len(), good, "every good event was processed");
    assert_eq!(ids.len(), good, "one `_id` per good event");
    for id in ids.iter().take(25) {
        let doc = world
            .get_doc(id)
            .await
            .unwrap_or_else(|| panic!("document {id} missing"));
        assert!(seq_of(&doc).is_some());
    }
    assert_eq!(
        world.count().await,
        good as u64,
        "each good event exactly once"
    );

    let tasks = world.tasks().await;
    assert_eq!(tasks.len(), 1);
    worker.shutdown().await;
    assert!(
        world.tasks().await.is_empty(),
        "a clean shutdown removes the worker's rows"
    );
}

/// Acceptance 2: the same 1,000 events produced twice give 1,000 documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_events_overwrite_their_own_documents() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let world = World::new(&brokers, &opensearch, 3, json!({})).await;
    let records: Vec<_> = (0..1_000).map(|i| (None, good_event(i))).collect();
    assert_eq!(world.produce(&records), 1_000);
    assert_eq!(world.produce(&records), 1_000);
    let worker = InProcess::start(world.settings("w1", &[])).await;
    world.wait_committed_at_end(Duration::from_secs(60)).await;
    world.wait_count(1_000, Duration::from_secs(30)).await;
    let counters = world
        .wait_counters(
            "heartbeat with 2,000 consumed",
            Duration::from_secs(10),
            |c| c.consumed == 2_000 && c.indexed == 2_000,
        )
        .await;
    assert_eq!(counters.consumed, 2_000);
    assert_eq!(
        world.count().await,
        1_000,
        "2,000 deliveries, 1,000 documents"
    );
    worker.shutdown().await;
}

/// Once every partition is read to its end, the buffer is flushed without waiting out
/// `flush.intervalMs` (here ten minutes, far beyond the waits below), and again after more
/// events arrive and are read to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caught_up_worker_flushes_without_waiting_out_the_interval() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let world = World::new(&brokers, &opensearch, 3, json!({})).await;
    let worker =
        InProcess::start(world.settings("w1", &[("FLOW__SERVER__FLUSH_INTERVAL_SEC", "600")]))
            .await;
    let first: Vec<_> = (0..10).map(|i| (None, good_event(i))).collect();
    assert_eq!(world.produce(&first), 10);
    world.wait_count(10, Duration::from_secs(30)).await;
    let second: Vec<_> = (10..25).map(|i| (None, good_event(i))).collect();
    assert_eq!(world.produce(&second), 15);
    world.wait_count(25, Duration::from_secs(30)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    worker.shutdown().await;
}

/// A `running` row whose name or id does not decode is skipped (and logged with its raw id): the
/// worker neither panics nor runs it under some default, and the good pipeline next to it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_pipeline_rows_are_skipped_and_the_others_run() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let world = World::new(&brokers, &opensearch, 1, json!({})).await;
    let valid_id = uuid::Uuid::new_v4().to_string();
    for (id, name) in [
        (valid_id.as_str(), "Not_A_Pipeline_Name"),
        ("not-a-uuid", "valid-name-bad-id"),
    ] {
        sqlx::query(
            "INSERT INTO pipelines (id, name, definition, state, version, created_by, created_at, updated_at) \
             SELECT ?, ?, definition, 'running', 1, 'test', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) \
             FROM pipelines WHERE id = ?",
        )
        .bind(id)
        .bind(name)
        .bind(&world.pipeline_id)
        .execute(&world.pool)
        .await
        .unwrap();
    }
    let worker = InProcess::start(world.settings("w1", &[])).await;
    let events: Vec<_> = (0..20).map(|i| (None, good_event(i))).collect();
    assert_eq!(world.produce(&events), 20);
    world.wait_count(20, Duration::from_secs(60)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    // Only the good pipeline has a task row: the corrupt ones were never started.
    let task_rows: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT pipeline_id FROM worker_tasks")
            .fetch_all(&world.pool)
            .await
            .unwrap();
    assert_eq!(task_rows, std::slice::from_ref(&world.pipeline_id));
    worker.shutdown().await;
}

/// Acceptance 3: SIGKILL mid-stream, restart → every event indexed exactly once, none missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_nothing_and_duplicates_nothing() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let world = World::new(&brokers, &opensearch, 3, json!({})).await;
    // Enough events in small enough requests that the kill lands mid-stream: the count lags the
    // index by up to a refresh interval, and a worker that keeps its sink busy indexes a few
    // thousand events in less.
    let total = 30_000;
    let records: Vec<_> = (0..total).map(|i| (None, good_event(i))).collect();
    assert_eq!(world.produce(&records), total);
    let overrides = [
        ("FLOW__SERVER__FLUSH_ITEMS", "100"),
        ("FLOW__KAFKA__SESSION_TIMEOUT_MS", "6000"),
    ];
    let mut first = WorkerProcess::start(world.vars("crash-1", &overrides));
    eventually(
        "the first worker to index part of the stream",
        Duration::from_secs(60),
        || async { (world.count().await >= 1_000).then_some(()) },
    )
    .await;
    first.signal("KILL");
    first.wait(Duration::from_secs(10)).expect("killed");
    let indexed_at_kill = world.count().await;
    assert!(
        indexed_at_kill < total as u64,
        "killed mid-stream ({indexed_at_kill})"
    );
    // The replacement joins while the killed member's session (6 s) may still be open: the
    // group coordinator must hand it the partitions once that session expires.
    let mut second = WorkerProcess::start(world.vars("crash-2", &overrides));
    world
        .wait_count(total as u64, Duration::from_secs(120))
        .await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    let outputs = world.read_topic("output", total, Duration::from_secs(30));
    let seqs: HashSet<u64> = outputs
        .iter()
        .map(|r| seq_of(&serde_json::from_slice(r.value.as_deref().unwrap()).unwrap()).unwrap())
        .collect();
    assert_eq!(seqs.len(), total, "every event reached the output topic");
    assert_eq!(world.count().await, total as u64, "exactly once by `_id`");
    second.signal("TERM");
    let status = second
        .wait(Duration::from_secs(60))
        .expect("SIGTERM stops the worker");
    assert!(status.success(), "graceful exit: {status}");
}

/// Acceptance 4, short stall: the sink stops answering for longer than a flush; nothing is lost
/// or dead-lettered, offsets do not move during the stall, and the task recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_sink_delays_but_loses_nothing() {
    let _slot = slot().await;
    let (brokers, _) = shared_servers();
    let mut search = test_support::OpenSearch::spawn();
    let world = World::new(&brokers, &search.url(), 3, json!({})).await;
    let overrides = [
        ("FLOW__WORKER__BULK_TIMEOUT_MS", "1000"),
        ("FLOW__WORKER__RETRY_INITIAL_BACKOFF_MS", "200"),
        ("FLOW__WORKER__RETRY_MAX_BACKOFF_MS", "1000"),
        ("FLOW__SERVER__FAILURE_THRESHOLD", "1000"),
    ];
    let worker = InProcess::start(world.settings("w1", &overrides)).await;
    let first: Vec<_> = (0..500).map(|i| (None, good_event(i))).collect();
    world.produce(&first);
    world.wait_count(500, Duration::from_secs(60)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    let (before, _) = world.committed_and_end();

    search.process().signal("STOP");
    let second: Vec<_> = (500..1_000).map(|i| (None, good_event(i))).collect();
    world.produce(&second);
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (during, _) = world.committed_and_end();
        assert_eq!(
            during, before,
            "no offset is committed while the sink is stalled"
        );
    }
    search.process().signal("CONT");

    world.wait_count(1_000, Duration::from_secs(60)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    world.assert_no_dead_letters("a stall is not bad data");
    let tasks = world.tasks().await;
    assert_eq!(tasks[0].report.status.as_str(), "running");
    worker.shutdown().await;
}

/// Acceptance 4, long stall: past `failureThreshold` the task reports failed with a reason, then
/// the watcher brings it back and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_stall_fails_the_task_and_the_watcher_restarts_it() {
    let _slot = slot().await;
    let (brokers, _) = shared_servers();
    let mut search = test_support::OpenSearch::spawn();
    let world = World::new(&brokers, &search.url(), 3, json!({})).await;
    let overrides = [
        ("FLOW__WORKER__BULK_TIMEOUT_MS", "700"),
        ("FLOW__WORKER__RETRY_INITIAL_BACKOFF_MS", "100"),
        ("FLOW__WORKER__RETRY_MAX_BACKOFF_MS", "300"),
        ("FLOW__SERVER__FAILURE_THRESHOLD", "3"),
        ("FLOW__WORKER__WATCH_INTERVAL_MS", "2000"),
        ("FLOW__KAFKA__SESSION_TIMEOUT_MS", "6000"),
    ];
    let worker = InProcess::start(world.settings("w1", &overrides)).await;
    let first: Vec<_> = (0..300).map(|i| (None, good_event(i))).collect();
    world.produce(&first);
    world.wait_count(300, Duration::from_secs(60)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    let (before, _) = world.committed_and_end();

    search.process().signal("STOP");
    let second: Vec<_> = (300..600).map(|i| (None, good_event(i))).collect();
    world.produce(&second);
    let reason = eventually(
        "the task to report failed",
        Duration::from_secs(30),
        || async {
            let tasks = world.tasks().await;
            tasks
                .first()
                .filter(|t| t.report.status.as_str() == "failed")
                .and_then(|t| t.report.last_error.clone())
        },
    )
    .await;
    assert!(
        reason.contains("consecutive failed bulk requests"),
        "{reason}"
    );
    let state_reason = world.state_reason().await.expect("the pipeline says why");
    assert!(
        state_reason.contains("w1") && state_reason.contains("consecutive"),
        "{state_reason}"
    );
    let (during, _) = world.committed_and_end();
    assert_eq!(
        during, before,
        "nothing committed past the undelivered events"
    );
    search.process().signal("CONT");

    world.wait_count(600, Duration::from_secs(60)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    eventually("the task to run again", Duration::from_secs(10), || async {
        let tasks = world.tasks().await;
        tasks
            .first()
            .filter(|t| t.report.status.as_str() == "running")
            .map(|_| ())
    })
    .await;
    assert_eq!(
        world.state_reason().await,
        None,
        "the failure reason is cleared"
    );
    world.assert_no_dead_letters("a long stall is not bad data");
    worker.shutdown().await;
}

/// Acceptance 5: a field that is a number in one document and an object in another: the rejected
/// item goes to the error topic with `error.status` 400, the rest are indexed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_conflict_dead_letters_only_the_rejected_document() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let world = World::new(&brokers, &opensearch, 1, json!({})).await;
    let event = |seq: usize, amount: Value| {
        serde_json::to_vec(
            &json!({"seq": seq, "log_message": format!("order {seq}"), "amount": amount}),
        )
        .unwrap()
    };
    let worker = InProcess::start(world.settings("w1", &[])).await;
    let first: Vec<_> = (0..50).map(|i| (None, event(i, json!(i)))).collect();
    world.produce(&first);
    world.wait_count(50, Duration::from_secs(60)).await;
    let conflicting = event(50, json!({"value": 1, "currency": "EUR"}));
    let mut second = vec![(Some(b"conflict".to_vec()), conflicting.clone())];
    second.extend((51..60).map(|i| (None, event(i, json!(i)))));
    world.produce(&second);
    world.wait_count(59, Duration::from_secs(60)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    let errors = world.read_topic("error", 1, Duration::from_secs(10));
    assert_eq!(errors.len(), 1);
    let error = &errors[0];
    assert_eq!(error.headers["error.status"], "400");
    assert_eq!(error.headers["error.stage"], "index");
    assert!(error.headers["error.reason"].contains("mapper_parsing_exception"));
    assert_eq!(
        error.value.as_deref(),
        Some(&conflicting[..]),
        "original bytes"
    );
    assert_eq!(error.key.as_deref(), Some(&b"conflict"[..]));
    assert_eq!(world.count().await, 59);
    worker.shutdown().await;
}

/// Acceptance 6: two workers share the partitions; stopping one moves its partitions to the
/// other with no loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_one_of_two_workers_moves_its_partitions_without_loss() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let world = World::new(&brokers, &opensearch, 4, json!({})).await;
    let overrides = [("FLOW__SERVER__FLUSH_ITEMS", "200")];
    let one = InProcess::start(world.settings("w1", &overrides)).await;
    let two = InProcess::start(world.settings("w2", &overrides)).await;
    eventually(
        "both workers to own partitions",
        Duration::from_secs(60),
        || async {
            let tasks = world.tasks().await;
            let owners = tasks
                .iter()
                .filter(|t| !t.report.partitions.is_empty())
                .count();
            let total: usize = tasks.iter().map(|t| t.report.partitions.len()).sum();
            (owners == 2 && total == 4).then_some(())
        },
    )
    .await;
    let first: Vec<_> = (0..3_000).map(|i| (None, good_event(i))).collect();
    world.produce(&first);
    eventually("some progress", Duration::from_secs(60), || async {
        (world.count().await >= 500).then_some(())
    })
    .await;
    one.shutdown().await;
    let second: Vec<_> = (3_000..6_000).map(|i| (None, good_event(i))).collect();
    world.produce(&second);
    world.wait_count(6_000, Duration::from_secs(120)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    let tasks = world.tasks().await;
    assert_eq!(tasks.len(), 1, "the stopped worker removed its row");
    assert_eq!(tasks[0].report.worker_id, "w2");
    assert_eq!(tasks[0].report.partitions, vec![0, 1, 2, 3]);
    two.shutdown().await;
}

/// Acceptance 7: changing a pipeline's stages takes effect on new events without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_definition_applies_to_new_events_without_restart() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let v1 = json!({"stages": [
        {"type": "rename", "fields": {"msg": "message"}},
        {"type": "hash"}
    ]});
    let world = World::new(&brokers, &opensearch, 2, v1).await;
    let event = |seq: usize, severity: &str| {
        serde_json::to_vec(
            &json!({"seq": seq, "msg": format!("hello {seq}"), "severity": severity}),
        )
        .unwrap()
    };
    let worker = InProcess::start(world.settings("w1", &[])).await;
    let first: Vec<_> = (0..100).map(|i| (None, event(i, "DEBUG"))).collect();
    world.produce(&first);
    world.wait_count(100, Duration::from_secs(60)).await;

    let v2 = PipelineDefinition::parse(
        &json!({
            "name": world.name, "index": world.name,
            "topics": {"partitions": 2, "replicationFactor": 1},
            "stages": [
                {"type": "rename", "fields": {"msg": "text"}},
                {"type": "filter", "drop_if": {"field": "severity", "in": ["DEBUG"]}},
                {"type": "hash"}
            ]
        }),
        &ValidationContext::default(),
    )
    .unwrap()
    .to_json();
    sqlx::query("UPDATE pipelines SET definition = ?, version = 2 WHERE id = ?")
        .bind(sqlx::types::Json(&v2))
        .bind(&world.pipeline_id)
        .execute(&world.pool)
        .await
        .unwrap();
    eventually(
        "the worker to run version 2",
        Duration::from_secs(10),
        || async {
            let tasks = world.tasks().await;
            tasks
                .first()
                .filter(|t| t.report.pipeline_version == 2)
                .map(|_| ())
        },
    )
    .await;
    let second: Vec<_> = (100..200)
        .map(|i| (None, event(i, if i % 2 == 0 { "DEBUG" } else { "INFO" })))
        .collect();
    world.produce(&second);
    world.wait_committed_at_end(Duration::from_secs(60)).await;
    world.wait_count(150, Duration::from_secs(30)).await;
    let outputs = world.read_topic("output", 150, Duration::from_secs(30));
    for record in &outputs {
        let doc: Value = serde_json::from_slice(record.value.as_deref().unwrap()).unwrap();
        let seq = seq_of(&doc).unwrap();
        if seq < 100 {
            assert!(
                doc.get("message").is_some() && doc.get("text").is_none(),
                "{doc}"
            );
        } else {
            assert!(
                seq % 2 == 1,
                "DEBUG events are filtered by version 2: {doc}"
            );
            assert!(
                doc.get("text").is_some() && doc.get("message").is_none(),
                "{doc}"
            );
        }
    }
    let counters = world
        .wait_counters(
            "50 filtered in the heartbeat",
            Duration::from_secs(10),
            |c| c.filtered == 50,
        )
        .await;
    assert_eq!(counters.filtered, 50);
    worker.shutdown().await;
}

/// A real node whose write pool (one thread, a queue of one) cannot take every shard of a bulk
/// request at once answers 429 `rejected_execution_exception` for the items of the shards it
/// turned away, while indexing the rest. Only those items are retried: every event ends up
/// indexed once, none is dead-lettered, offsets reach the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_item_rejections_are_retried_until_indexed_and_never_dead_lettered() {
    let _slot = slot().await;
    let (brokers, _) = shared_servers();
    let search = test_support::OpenSearch::spawn_with(&[
        "thread_pool.write.size=1",
        "thread_pool.write.queue_size=1",
    ]);
    let world = World::new(&brokers, &search.url(), 3, json!({})).await;
    // Eight shards: one bulk request becomes eight shard requests, more than the pool takes.
    let created = reqwest::Client::new()
        .put(format!("{}/{}", search.url(), world.name))
        .json(&json!({"settings": {"number_of_shards": 8, "number_of_replicas": 0}}))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "index created");
    let total = 4_000;
    let records: Vec<_> = (0..total).map(|i| (None, good_event(i))).collect();
    assert_eq!(world.produce(&records), total);
    let overrides = [
        ("FLOW__WORKER__RETRY_INITIAL_BACKOFF_MS", "50"),
        ("FLOW__WORKER__RETRY_MAX_BACKOFF_MS", "500"),
        ("FLOW__SERVER__FAILURE_THRESHOLD", "1000"),
    ];
    let worker = InProcess::start(world.settings("w1", &overrides)).await;
    world
        .wait_count(total as u64, Duration::from_secs(120))
        .await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;

    let stats: Value = reqwest::get(format!(
        "{}/_nodes/stats/thread_pool?filter_path=nodes.*.thread_pool.write",
        search.url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let rejected: u64 = stats["nodes"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n["thread_pool"]["write"]["rejected"].as_u64().unwrap())
        .sum();
    assert!(rejected > 0, "the node rejected shard requests: {stats}");
    world.assert_no_dead_letters("a rejection is not bad data");
    let outputs = world.read_topic("output", total, Duration::from_secs(30));
    let seqs: HashSet<u64> = outputs
        .iter()
        .map(|r| seq_of(&serde_json::from_slice(r.value.as_deref().unwrap()).unwrap()).unwrap())
        .collect();
    assert_eq!(seqs.len(), total, "every event processed");
    for record in outputs.iter().step_by(97) {
        let id = String::from_utf8(record.key.clone().unwrap()).unwrap();
        assert!(world.get_doc(&id).await.is_some(), "document {id} indexed");
    }
    assert_eq!(world.count().await, total as u64, "each event exactly once");
    worker.shutdown().await;
}

/// Deleting a pipeline (its topics deleted under the running consumers and producers, as a
/// forced DELETE does), and then deleting and re-creating another under the same name, while two
/// worker processes run a third pipeline under load: every worker stays up, the third pipeline
/// loses nothing, and the re-created one runs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_pipelines_under_load_leaves_the_others_whole_and_every_worker_up() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let steady = World::new(&brokers, &opensearch, 3, json!({})).await;
    let doomed = steady.sibling(2, json!({})).await;
    let reborn = steady.sibling(2, json!({})).await;
    let overrides = [("FLOW__SERVER__FLUSH_ITEMS", "500")];
    let mut workers = [
        WorkerProcess::start(steady.vars("w1", &overrides)),
        WorkerProcess::start(steady.vars("w2", &overrides)),
    ];
    let batch =
        |from: usize, to: usize| -> Vec<_> { (from..to).map(|i| (None, good_event(i))).collect() };
    let total = 8_000;
    steady.produce(&batch(0, total / 2));
    doomed.produce(&batch(0, 500));
    reborn.produce(&batch(0, 500));
    doomed.wait_count(500, Duration::from_secs(120)).await;
    reborn.wait_count(500, Duration::from_secs(60)).await;

    doomed.delete_as_mgmt_does().await;
    reborn.delete_as_mgmt_does().await;
    steady.produce(&batch(total / 2, total));
    let again = reborn.recreate(json!({})).await;
    again.produce(&batch(500, 800));

    steady
        .wait_count(total as u64, Duration::from_secs(180))
        .await;
    steady.wait_committed_at_end(Duration::from_secs(30)).await;
    // The index outlives its pipeline: the re-created one writes into the same index.
    again.wait_count(800, Duration::from_secs(120)).await;
    again.wait_committed_at_end(Duration::from_secs(30)).await;
    // A few reconciliations later, still every worker up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for worker in &mut workers {
        if let Some(exit) = worker.exited() {
            panic!("a worker died: {exit}");
        }
    }
    steady.assert_no_dead_letters("deleting other pipelines is not bad data");
    assert_eq!(
        steady.count().await,
        total as u64,
        "nothing lost, nothing doubled"
    );
    eventually(
        "the deleted pipeline's tasks to stop",
        Duration::from_secs(30),
        || async {
            let tasks = doomed.tasks().await;
            tasks
                .iter()
                .all(|t| t.report.status.as_str() == "stopped")
                .then_some(())
        },
    )
    .await;
    for worker in &workers {
        worker.signal("TERM");
    }
    for worker in &mut workers {
        let status = worker
            .wait(Duration::from_secs(60))
            .unwrap_or_else(|| panic!("SIGTERM stops the worker; log:\n{}", worker.log_tail()));
        assert!(
            status.success(),
            "graceful exit: {status}\n{}",
            worker.log_tail()
        );
    }
}

/// A worker on the broker's SASL listener with credentials the broker does not know yet stays
/// up and indexes nothing; once the operator creates the user on the broker, it authenticates
/// and indexes everything, with no restart and nothing dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_on_sasl_waits_out_rejected_credentials_and_then_indexes() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let world = World::new(&brokers, &opensearch, 2, json!({})).await;
    let sasl = test_support::servers().kafka_sasl_brokers.clone();
    let (_, sasl_port) = sasl.rsplit_once(':').unwrap();
    let user = test_support::unique_name("worker");
    let password = "created-later";
    let overrides = [
        ("FLOW__MQ__MQ_PORT", sasl_port),
        ("FLOW__MQ__USERNAME", user.as_str()),
        ("FLOW__MQ__PASSWORD", password),
        ("FLOW__MQ__MECHANISM", "SCRAM-SHA-512"),
    ];
    let mut worker = WorkerProcess::start(world.vars("w1", &overrides));
    let records: Vec<_> = (0..500).map(|i| (None, good_event(i))).collect();
    assert_eq!(world.produce(&records), 500);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        world.count().await,
        0,
        "nothing read without valid credentials"
    );
    if let Some(exit) = worker.exited() {
        panic!("the worker died of rejected credentials: {exit}");
    }
    let log = worker.log_tail();
    assert!(!log.contains(password), "no secret in the log:\n{log}");

    test_support::upsert_scram_user(&brokers, &user, password);
    world.wait_count(500, Duration::from_secs(90)).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    world.assert_no_dead_letters("refused credentials are not bad data");
    worker.terminate_gracefully();
}

/// A binary-mode CloudEvent (attributes in `ce_*` headers) keeps its context in the document as
/// `cloudevent`; a structured one too; a plain JSON event has none, nor does one whose only
/// header has a name that is not UTF-8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudevent_attributes_are_kept_in_the_document() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let world = World::new(
        &brokers,
        &opensearch,
        1,
        json!({"stages": [{"type": "hash"}]}),
    )
    .await;
    let binary = json!({"seq": 1, "log_message": "binary"}).to_string();
    let structured = json!({"specversion": "1.0", "id": "evt-2", "source": "/structured",
        "type": "com.example.structured", "subject": "s2", "data": {"seq": 2}})
    .to_string();
    let plain = json!({"seq": 3, "log_message": "plain"}).to_string();
    // A header name that is not UTF-8: Kafka carries it, and reading it once panicked the task
    // on every redelivery.
    let odd_header = json!({"seq": 4, "log_message": "odd header"}).to_string();
    let headers: &[(&str, &str)] = &[
        ("ce_specversion", "1.0"),
        ("ce_id", "evt-1"),
        ("ce_source", "/edge/nginx"),
        ("ce_type", "com.example.log"),
        ("ce_time", "2026-11-04T01:47:17.5+01:00"),
        ("ce_subject", "host-7"),
        ("content-type", "application/json"),
    ];
    let produced = world.produce_with_headers(&[
        (None, binary.as_str(), headers),
        (None, structured.as_str(), &[]),
        (None, plain.as_str(), &[]),
    ]);
    assert_eq!(produced, 3);
    helpers::produce_with_raw_header_name(
        &brokers,
        &world.topic("input"),
        odd_header.as_bytes(),
        b"ce_\xff",
    );
    let worker = InProcess::start(world.settings("w1", &[])).await;
    world.wait_count(4, Duration::from_secs(60)).await;
    let outputs = world.read_topic("output", 4, Duration::from_secs(30));
    let mut by_seq = std::collections::HashMap::new();
    for record in &outputs {
        let id = String::from_utf8(record.key.clone().unwrap()).unwrap();
        let doc = world.get_doc(&id).await.expect("indexed by _id");
        by_seq.insert(seq_of(&doc).unwrap(), doc);
    }
    assert_eq!(by_seq.len(), 4, "{by_seq:?}");
    assert_eq!(by_seq[&4]["log_message"], "odd header");
    assert!(by_seq[&4].get("cloudevent").is_none(), "{}", by_seq[&4]);
    world.assert_no_dead_letters("a header name is not the event");
    assert_eq!(
        by_seq[&1]["cloudevent"],
        json!({"id": "evt-1", "source": "/edge/nginx", "type": "com.example.log",
               "time": "2026-11-04T00:47:17.500Z", "subject": "host-7"})
    );
    assert_eq!(by_seq[&1]["log_message"], "binary");
    assert_eq!(
        by_seq[&2]["cloudevent"],
        json!({"id": "evt-2", "source": "/structured", "type": "com.example.structured",
               "subject": "s2"})
    );
    assert!(
        by_seq[&3].get("cloudevent").is_none(),
        "a plain event has no cloudevent: {}",
        by_seq[&3]
    );
    worker.shutdown().await;
}

/// `output.enabled: false`: documents are indexed (found by their `_id`), nothing reaches the
/// output topic, and the offsets are committed to the end, since "done" means indexed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_output_topic_off_indexed_means_done() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let world = World::new(
        &brokers,
        &opensearch,
        2,
        json!({"output": {"enabled": false}}),
    )
    .await;
    let n = 200;
    let events: Vec<Vec<u8>> = (0..n).map(good_event).collect();
    let records: Vec<_> = events.iter().map(|e| (None, e.clone())).collect();
    assert_eq!(world.produce(&records), n);
    let worker = InProcess::start(world.settings("w1", &[])).await;
    world.wait_committed_at_end(Duration::from_secs(60)).await;
    world.wait_count(n as u64, Duration::from_secs(30)).await;
    for (seq, event) in events.iter().enumerate().step_by(20) {
        let data: serde_json::Map<String, Value> = serde_json::from_slice(event).unwrap();
        let id = pipeline_common::stages::hash::hash_object(&data);
        let doc = world
            .get_doc(&id)
            .await
            .unwrap_or_else(|| panic!("document {id} of event {seq} missing"));
        assert_eq!(seq_of(&doc), Some(seq as u64));
    }
    let outputs = world.read_topic("output", 1, Duration::from_secs(5));
    assert!(
        outputs.is_empty(),
        "{} records on the output topic",
        outputs.len()
    );
    let counters = world
        .wait_counters(
            "heartbeat with every event indexed",
            Duration::from_secs(10),
            |c| c.indexed == n as i64,
        )
        .await;
    assert_eq!(counters.indexed, n as i64);
    worker.shutdown().await;
}
