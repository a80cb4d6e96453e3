//! Two pipeline-mgmt processes on one database, as two replicas behind a Service: concurrent
//! creates of one name make one pipeline, a delete racing a create leaves no orphan topic or
//! index template, a deleted pipeline's worker task rows do not come back, and a replay job
//! whose replica dies is taken over without replaying a dead letter twice.

use crate::helpers::{definition, spawn_app, Resp, TestApp};
use crate::replay::{self, Worker};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A pipeline-mgmt process (the built binary) on `app`'s database, broker, OpenSearch, topic
/// prefix and tokens: a second replica of the same service.
pub struct MgmtProcess {
    child: Child,
    pub base: String,
    log: PathBuf,
}

impl MgmtProcess {
    pub async fn start(app: &TestApp, extra: &[(&str, &str)]) -> MgmtProcess {
        let port = test_support::free_port();
        let (host, kafka_port) = app.brokers.rsplit_once(':').unwrap();
        let digest = |token: &str| hex::encode(Sha256::digest(token.as_bytes()));
        let auth = json!([
            {"name": "alice-admin", "role": "admin", "sha256": digest(&app.tokens.admin)},
            {"name": "eddie-editor", "role": "editor", "sha256": digest(&app.tokens.editor)},
            {"name": "vera-viewer", "role": "viewer", "sha256": digest(&app.tokens.viewer)},
            {"name": "ingo-ingest", "role": "ingest", "sha256": digest(&app.tokens.ingest)},
        ]);
        let log = std::env::temp_dir().join(format!("mgmt-{}.log", uuid::Uuid::new_v4().simple()));
        let port_text = port.to_string();
        let auth_text = auth.to_string();
        let vars = [
            ("FLOW__DATABASE__URL", app.db_url.as_str()),
            ("FLOW__MQ__MQ_HOST", host),
            ("FLOW__MQ__MQ_PORT", kafka_port),
            ("FLOW__OPENSEARCH__URLS", app.opensearch.as_str()),
            ("FLOW__SERVER__HTTP_PORT", port_text.as_str()),
            ("FLOW__SERVER__BIND_ADDRESS", "127.0.0.1"),
            ("FLOW__KAFKA__TOPIC_PREFIX", app.prefix.as_str()),
            ("FLOW__AUTH__TOKENS", auth_text.as_str()),
            ("FLOW__LOG__LOG_LEVEL", "info,rdkafka=off,librdkafka=off"),
            ("FLOW__LOG__DEVELOP_MODE", "false"),
        ];
        let child = Command::new(env!("CARGO_BIN_EXE_pipeline-mgmt"))
            .arg("serve")
            .envs(vars.iter().chain(extra).copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut process = MgmtProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        process.wait_healthy().await;
        process
    }

    async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "pipeline-mgmt exited at start-up: {status}\n{}",
                    self.log_text()
                );
            }
            let url = format!("{}/healthz", self.base);
            if reqwest::get(url)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not healthy:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the process.
    pub fn signal(&self, signal: &str) {
        test_support::send_signal(self.child.id(), signal);
    }

    /// SIGKILL: the process dies with whatever it had in flight.
    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    /// A checked request (never 500, problem+json) through `app`'s client, to this replica.
    pub async fn send(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Resp {
        let mut request = app
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        app.send(request).await
    }
}

impl Drop for MgmtProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What is left of pipeline `name` outside MariaDB: its topics (with partition counts) and
/// whether its index template exists.
async fn provisioned(app: &TestApp, name: &str) -> (BTreeMap<String, usize>, bool) {
    let wanted = app.topic_names(name);
    let topics = TestApp::topics_on(&app.brokers)
        .into_iter()
        .filter(|(t, _)| wanted.contains(t))
        .collect();
    let template = format!("flow.{}.{name}", app.prefix.to_lowercase());
    let status = reqwest::get(format!("{}/_index_template/{template}", app.opensearch))
        .await
        .unwrap()
        .status();
    (topics, status == StatusCode::OK)
}

/// 50 creates of one name at once, half to each replica: exactly one 201, 49 409s, one row, one
/// audit `create`, and the winner's three topics and template are all there afterwards (no
/// loser undid them). Without the name lock alone it still passes: the row comes first, and its
/// unique key turns the losers away before they touch anything. Its mutant
/// (`scripts/mutants/creates-no-lock-row-last.patch`) also inserts the row last, and the losers'
/// undo then deletes the winner's topics.
#[tokio::test]
async fn fifty_concurrent_creates_of_one_name_across_two_replicas_make_one_pipeline() {
    let app = spawn_app().await;
    let replicas = [
        MgmtProcess::start(&app, &[]).await,
        MgmtProcess::start(&app, &[]).await,
    ];
    let name = test_support::unique_name("p");
    let def = definition(&name, 2);
    let creates = (0..50).map(|i| {
        replicas[i % 2].send(
            &app,
            Method::POST,
            "/api/v1/pipelines",
            &app.tokens.editor,
            Some(&def),
        )
    });
    let answers = futures::future::join_all(creates).await;
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for answer in &answers {
        *statuses.entry(answer.status.as_u16()).or_default() += 1;
    }
    assert_eq!(
        statuses,
        BTreeMap::from([(201, 1), (409, 49)]),
        "{statuses:?}"
    );
    assert_eq!(app.row_count(&name).await, 1);
    let winner = answers
        .iter()
        .find(|a| a.status == StatusCode::CREATED)
        .unwrap();
    let id = winner.body["id"].as_str().unwrap();
    let row = app
        .get(&format!("/api/v1/pipelines/{id}"), &app.tokens.viewer)
        .await;
    assert_eq!(row.body["state"], "running", "{}", row.text);
    let audit: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE pipeline_name = ? ORDER BY id")
            .bind(&name)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(audit, ["create"]);
    let (topics, template) = provisioned(&app, &name).await;
    assert_eq!(topics.len(), 3, "one set of topics: {topics:?}");
    assert!(topics.values().all(|p| *p == 2), "{topics:?}");
    assert!(template, "the template is there");
}

/// Rounds of a create on one replica and a forced DELETE of the same pipeline on the other,
/// sent the moment its row appears: whatever each answers, once both are done either the
/// pipeline is whole (row running, three topics, template) or nothing of it is left. Without the
/// name lock in DELETE (`scripts/mutants/delete-no-lock.patch`) the first round leaves orphans.
#[tokio::test]
async fn a_delete_racing_a_create_leaves_no_orphan_topic_or_template() {
    let app = spawn_app().await;
    let creator = MgmtProcess::start(&app, &[]).await;
    let deleter = MgmtProcess::start(&app, &[]).await;
    let mut outcomes = BTreeMap::new();
    for round in 0..8 {
        let name = test_support::unique_name("race");
        let def = definition(&name, 1);
        let create = creator.send(
            &app,
            Method::POST,
            "/api/v1/pipelines",
            &app.tokens.editor,
            Some(&def),
        );
        let delete = async {
            // Later each round, so that rounds land in different steps of the create.
            tokio::time::sleep(Duration::from_millis(40 * round)).await;
            let id = loop {
                let id: Option<String> =
                    sqlx::query_scalar("SELECT id FROM pipelines WHERE name = ?")
                        .bind(&name)
                        .fetch_optional(&app.db)
                        .await
                        .unwrap();
                if let Some(id) = id {
                    break id;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            let path = format!("/api/v1/pipelines/{id}?force=true");
            deleter
                .send(&app, Method::DELETE, &path, &app.tokens.editor, None)
                .await
        };
        let (created, deleted) = tokio::join!(create, delete);
        let key = (created.status.as_u16(), deleted.status.as_u16());
        *outcomes.entry(key).or_insert(0) += 1;
        let rows = app.row_count(&name).await;
        let (topics, template) = provisioned(&app, &name).await;
        if rows == 1 {
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
            assert_eq!(topics.len(), 3, "round {round}: whole pipeline: {topics:?}");
            assert!(template, "round {round}: whole pipeline has its template");
        } else {
            assert!(
                topics.is_empty(),
                "round {round}: orphan topics {topics:?} ({key:?})"
            );
            assert!(!template, "round {round}: orphan template ({key:?})");
        }
    }
    eprintln!("create/delete outcomes (create status, delete status) -> rounds: {outcomes:?}");
}

/// A pipeline deleted while a worker runs it: the worker's heartbeats keep coming until its next
/// reconciliation stops the task, yet no `worker_tasks` row of the pipeline is left (before the
/// fix, a heartbeat after the delete brought the row back and it stayed `stopped` for good).
#[tokio::test]
async fn a_deleted_pipelines_worker_task_rows_are_removed() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 1)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    // Heartbeats ten times as often as reconciliations: the window between the delete and the
    // task's stop is full of heartbeats.
    let worker = Worker::start_with(
        &app,
        &[
            ("FLOW__WORKER__RECONCILE_INTERVAL_MS", "3000"),
            ("FLOW__WORKER__HEARTBEAT_INTERVAL_MS", "300"),
        ],
    )
    .await;
    let rows = || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM worker_tasks WHERE pipeline_id = ?")
            .bind(&id)
            .fetch_all(&app.db)
            .await
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while rows().await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the worker never reported the task"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resp = app
        .send(app.request(
            Method::DELETE,
            &format!("/api/v1/pipelines/{id}?force=true"),
            Some(&app.tokens.editor),
        ))
        .await;
    assert_eq!(resp.status, StatusCode::NO_CONTENT, "{}", resp.text);
    // Two reconciliations: the task has certainly been stopped and marked.
    tokio::time::sleep(Duration::from_millis(7_000)).await;
    assert_eq!(
        rows().await,
        Vec::<String>::new(),
        "rows of the deleted pipeline"
    );
    worker.shutdown().await;
}

/// Dead letters of a fresh pipeline whose parse stage fails every event: `n` events ingested, a
/// worker run until the error topic holds all `n`, then stopped. The pipeline's id.
async fn dead_letters(app: &TestApp, name: &str, n: usize) -> String {
    let created = app
        .create_ok(&replay::definition(name, replay::BROKEN))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let worker = Worker::start(app).await;
    for chunk in 0..n.div_ceil(2_000) {
        let count = (n - chunk * 2_000).min(2_000);
        replay::ingest(app, &id, replay::ndjson(count)).await;
    }
    let error_topic = format!("{}.{name}.error", app.prefix);
    let deadline = Instant::now() + Duration::from_secs(180);
    while committed_records(&app.brokers, &error_topic).len() < n {
        assert!(Instant::now() < deadline, "{n} dead letters");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    worker.shutdown().await;
    id
}

/// Every record of `topic` a reader of committed records sees (as the workers read): its
/// `replay.of` and `replay.job` headers (`""` for a record without).
fn committed_records(brokers: &str, topic: &str) -> Vec<(String, String)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", test_support::unique_name("reader"))
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut list = TopicPartitionList::new();
    let mut open = 0;
    for partition in metadata.topics()[0].partitions() {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition.id(), Duration::from_secs(10))
            .unwrap();
        if high > low {
            list.add_partition_offset(topic, partition.id(), Offset::Beginning)
                .unwrap();
            open += 1;
        }
    }
    if open == 0 {
        return Vec::new();
    }
    consumer.assign(&list).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while open > 0 && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(message)) => {
                let header = |name: &str| {
                    message
                        .headers()
                        .and_then(|h| h.iter().find(|h| h.key == name))
                        .and_then(|h| h.value)
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .unwrap_or_default()
                };
                out.push((header("replay.of"), header("replay.job")));
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => open -= 1,
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    out
}

/// The `replay_jobs` row's state, replayed count, owner and whether a step is in flight.
async fn job_row(app: &TestApp, job: &str) -> (String, i64, Option<String>, bool) {
    sqlx::query_as(
        "SELECT state, replayed, owner, inflight IS NOT NULL FROM replay_jobs WHERE id = ?",
    )
    .bind(job)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// A replay job whose pipeline-mgmt is SIGKILLed while it writes a step (after the first) is
/// taken over by another replica once its lease expires, from the recorded progress, settling
/// the step in flight by what reached the input topic: it ends `succeeded` with every letter
/// replayed, and the input topic holds each dead letter exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_whose_replica_is_killed_is_taken_over_and_replays_each_letter_once() {
    const LETTERS: usize = 8_000;
    let mut app = spawn_app().await;
    let name = test_support::unique_name("takeover");
    let id = dead_letters(&app, &name, LETTERS).await;
    // Two replicas, and only two: the in-process one would take the job over too.
    app.stop_server().await;
    let mut first = MgmtProcess::start(&app, &[]).await;
    let second = MgmtProcess::start(&app, &[]).await;
    let path = format!("/api/v1/pipelines/{id}/replay");
    let body = json!({});
    let started = first
        .send(&app, Method::POST, &path, &app.tokens.editor, Some(&body))
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text);
    let job = started.body["id"].as_str().unwrap().to_owned();
    // Killed in the middle of a step after the first: stopped (SIGSTOP) at moments when a step
    // is in flight until the input topic shows some of its records already written, then
    // killed. The replica taking over must not write those again.
    let input = format!("{}.{name}.input", app.prefix);
    let deadline = Instant::now() + Duration::from_secs(120);
    let (at_kill, owner_before, written_before) = loop {
        assert!(
            Instant::now() < deadline,
            "never caught a step half written"
        );
        let row = job_row(&app, &job).await;
        assert_eq!(row.0, "running", "finished before it was caught mid-step");
        if row.1 == 0 || !row.3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        first.signal("STOP");
        let row = job_row(&app, &job).await;
        let (brokers, topic) = (app.brokers.clone(), input.clone());
        let written = tokio::task::spawn_blocking(move || committed_records(&brokers, &topic))
            .await
            .unwrap()
            .into_iter()
            .filter(|(_, by)| *by == job)
            .count();
        if row.3 && written as i64 > row.1 {
            break (row.1, row.2, written);
        }
        first.signal("CONT");
    };
    first.kill();
    let location = format!("/api/v1/pipelines/{id}/replays/{job}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let resp = second
            .send(&app, Method::GET, &location, &app.tokens.viewer, None)
            .await;
        if resp.body["state"] != "running" {
            break resp.body;
        }
        assert!(Instant::now() < deadline, "not taken over: {}", resp.text);
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["matched"], LETTERS, "{done}");
    assert_eq!(done["replayed"], LETTERS, "{done}");
    assert_eq!(done["failed"], 0, "{done}");
    let (_, _, owner_after, _) = job_row(&app, &job).await;
    assert_ne!(owner_after, owner_before, "another replica finished it");
    let replayed: Vec<String> = committed_records(&app.brokers, &input)
        .into_iter()
        .filter(|(_, by)| *by == job)
        .map(|(origin, _)| origin)
        .collect();
    let mut times: BTreeMap<&str, usize> = BTreeMap::new();
    for origin in &replayed {
        *times.entry(origin.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "replayed more than once: {twice:?}");
    assert_eq!(times.len(), LETTERS, "every dead letter replayed");
    let log = second.log_text();
    assert!(
        log.contains("taking over a replay job"),
        "the second replica took over"
    );
    let settled = log
        .lines()
        .find(|l| l.contains("settling the step"))
        .map(str::to_owned);
    eprintln!(
        "replay takeover: killed with {at_kill} of {LETTERS} recorded as replayed and \
         {written_before} in the input topic; {} records in the end, each letter once; \
         {settled:?}",
        replayed.len()
    );
}

/// A replay job whose replica is SIGKILLed, and whose pipeline is deleted before the lease
/// expires, cannot go on: the replica that takes it over ends it `failed`, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_that_cannot_be_taken_over_is_marked_failed_with_the_reason() {
    let mut app = spawn_app().await;
    let name = test_support::unique_name("orphan");
    let id = dead_letters(&app, &name, 2_000).await;
    app.stop_server().await;
    let mut first = MgmtProcess::start(&app, &[]).await;
    let second = MgmtProcess::start(&app, &[]).await;
    let path = format!("/api/v1/pipelines/{id}/replay");
    let started = first
        .send(
            &app,
            Method::POST,
            &path,
            &app.tokens.editor,
            Some(&json!({})),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text);
    let job = started.body["id"].as_str().unwrap().to_owned();
    first.kill();
    let (state, _, _, _) = job_row(&app, &job).await;
    assert_eq!(state, "running", "killed before the job ended");
    let delete = format!("/api/v1/pipelines/{id}?force=true");
    let deleted = second
        .send(&app, Method::DELETE, &delete, &app.tokens.editor, None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let deadline = Instant::now() + Duration::from_secs(90);
    let (state, error) = loop {
        let row: (String, Option<String>) =
            sqlx::query_as("SELECT state, error FROM replay_jobs WHERE id = ?")
                .bind(&job)
                .fetch_one(&app.db)
                .await
                .unwrap();
        if row.0 != "running" {
            break row;
        }
        assert!(Instant::now() < deadline, "still running");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(state, "failed");
    let error = error.unwrap_or_default();
    assert!(error.contains("pipeline no longer exists"), "{error}");
}
