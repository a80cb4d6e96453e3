//! Two pipeline-mgmt processes on one database, as two replicas behind a Service: concurrent
//! creates of one name make one pipeline, a delete racing a create leaves no orphan topic or
//! index template, and a deleted pipeline's worker task rows do not come back.

use crate::helpers::{definition, spawn_app, Resp, TestApp};
use crate::replay::Worker;
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
/// loser undid them).
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
/// pipeline is whole (row running, three topics, template) or nothing of it is left.
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
