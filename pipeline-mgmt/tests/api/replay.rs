//! Dead letters over the API, end to end with a real worker: events fail a stage, are listed with
//! their headers, pass a dry run of the fixed definition, are replayed, and end up indexed once.

use crate::helpers::{assert_header, spawn_app, TestApp};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use test_support::InProcess;

const EVENTS: usize = 50;
const PARTITIONS: i32 = 2;

/// A worker of this app's database, broker, OpenSearch and topic prefix, in this process.
pub struct Worker;

impl Worker {
    pub async fn start(app: &TestApp) -> InProcess {
        Worker::start_with(app, &[]).await
    }

    /// [`Worker::start`] with extra `FLOW__…` variables.
    pub async fn start_with(app: &TestApp, extra: &[(&str, &str)]) -> InProcess {
        let (host, port) = app.brokers.rsplit_once(':').unwrap();
        let vars: Vec<(String, String)> = [
            ("FLOW__DATABASE__URL", app.db_url.as_str()),
            ("FLOW__MQ__MQ_HOST", host),
            ("FLOW__MQ__MQ_PORT", port),
            ("FLOW__OPENSEARCH__URLS", app.opensearch.as_str()),
            ("FLOW__WORKER__HTTP_PORT", "0"),
            ("FLOW__WORKER__BIND_ADDRESS", "127.0.0.1"),
            ("FLOW__WORKER__ID", "replay-test-worker"),
            ("FLOW__WORKER__RECONCILE_INTERVAL_MS", "300"),
            ("FLOW__WORKER__HEARTBEAT_INTERVAL_MS", "300"),
            ("FLOW__KAFKA__TOPIC_PREFIX", app.prefix.as_str()),
            ("FLOW__KAFKA__SESSION_TIMEOUT_MS", "10000"),
            ("FLOW__SERVER__FLUSH_INTERVAL_SEC", "1"),
            ("FLOW__LOG__LOG_LEVEL", "warn,rdkafka=off,librdkafka=off"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let settings =
            pipeline_common::config::Settings::load(&pipeline_common::config::ConfigSource {
                file: None,
                environment: None,
                vars,
            })
            .unwrap();
        let worker = pipeline_worker::WorkerApp::build(settings).await.unwrap();
        InProcess::spawn(|stop| worker.run_until(stop.cancelled_owned()))
    }
}

/// A parse stage with one custom pattern that fails what it does not match, and a hash.
pub fn definition(name: &str, regex: &str) -> Value {
    json!({
        "name": name,
        "index": name,
        "topics": {"partitions": PARTITIONS, "replicationFactor": 1},
        "stages": [
            {"type": "parse", "field": "log_message", "formats": [],
             "patterns": [{"name": "orders", "regex": regex}], "onFailure": "error"},
            {"type": "hash", "target": "event_hash"}
        ],
    })
}

pub const BROKEN: &str = "^ERROR (?P<message>.*)$";
pub const FIXED: &str = "^order (?P<order>[0-9]+) (?P<message>.*)$";

pub fn ndjson(n: usize) -> String {
    (0..n)
        .map(|i| json!({"log_message": format!("order {i} shipped"), "n": i}).to_string() + "\n")
        .collect()
}

pub async fn ingest(app: &TestApp, id: &str, body: String) {
    let resp = app
        .send(
            app.request(
                Method::POST,
                &format!("/api/v1/pipelines/{id}/events"),
                Some(&app.tokens.ingest),
            )
            .header("Content-Type", "application/x-ndjson")
            .body(body),
        )
        .await;
    assert_eq!(resp.status, StatusCode::ACCEPTED, "{}", resp.text);
}

/// Polls the errors endpoint until it lists `n` dead letters.
pub async fn wait_errors(app: &TestApp, id: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let resp = app
            .get(
                &format!("/api/v1/pipelines/{id}/errors?limit=500"),
                &app.tokens.viewer,
            )
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        let items = resp.body["items"].as_array().unwrap().clone();
        if items.len() >= n {
            assert_eq!(items.len(), n, "more dead letters than expected");
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} dead letters",
            items.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Polls a replay job until it is no longer running.
pub async fn wait_job(app: &TestApp, location: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let resp = app.get(location, &app.tokens.viewer).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        if resp.body["state"] != "running" {
            return resp.body;
        }
        assert!(
            Instant::now() < deadline,
            "job still running: {}",
            resp.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn count(app: &TestApp, index: &str) -> u64 {
    let client = reqwest::Client::new();
    client
        .post(format!("{}/{index}/_refresh", app.opensearch))
        .send()
        .await
        .unwrap();
    let response = client
        .get(format!("{}/{index}/_count", app.opensearch))
        .send()
        .await
        .unwrap();
    if response.status() == 404 {
        return 0;
    }
    let body: Value = response.json().await.unwrap();
    body["count"].as_u64().unwrap()
}

async fn doc_exists(app: &TestApp, index: &str, id: &str) -> bool {
    reqwest::get(format!("{}/{index}/_doc/{id}", app.opensearch))
        .await
        .unwrap()
        .status()
        == 200
}

/// Consumer groups whose name contains `needle`, from the broker.
fn groups_with(brokers: &str, needle: &str) -> BTreeSet<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("log_level", "3")
        .create()
        .unwrap();
    consumer
        .fetch_group_list(None, Duration::from_secs(10))
        .unwrap()
        .groups()
        .iter()
        .map(|g| g.name().to_owned())
        .filter(|n| n.contains(needle))
        .collect()
}

/// Per partition of `topic`: (committed offset of `group`, end offset).
fn committed_and_end(brokers: &str, group: &str, topic: &str) -> Vec<(i64, i64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("log_level", "3")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .unwrap();
    (0..PARTITIONS)
        .map(|p| {
            let c = committed
                .find_partition(topic, p)
                .and_then(|e| e.offset().to_raw())
                .unwrap_or(-1)
                .max(0);
            let end = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap()
                .1;
            (c, end)
        })
        .collect()
}

async fn wait_consumed_to_end(app: &TestApp, group: &str, topic: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (brokers, group_, topic_) = (app.brokers.clone(), group.to_owned(), topic.to_owned());
        let offsets =
            tokio::task::spawn_blocking(move || committed_and_end(&brokers, &group_, &topic_))
                .await
                .unwrap();
        if offsets.iter().all(|(c, e)| c == e) {
            return;
        }
        assert!(Instant::now() < deadline, "committed/end: {offsets:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Records of every partition of `topic` with their headers, read from the beginning.
fn read_all(brokers: &str, topic: &str, n: usize) -> Vec<(Value, BTreeMap<String, String>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", test_support::unique_name("g"))
        .set("enable.auto.commit", "false")
        .set("log_level", "3")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while out.len() < n {
        assert!(Instant::now() < deadline, "{} of {n} records", out.len());
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.unwrap();
        let value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        let mut headers = BTreeMap::new();
        for h in message.headers().iter().flat_map(|h| h.iter()) {
            headers.insert(
                h.key.to_owned(),
                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
            );
        }
        out.push((value, headers));
    }
    out
}

async fn replay(app: &TestApp, id: &str, filter: &Value) -> Value {
    let resp = app
        .post_json(
            &format!("/api/v1/pipelines/{id}/replay"),
            &app.tokens.editor,
            filter,
        )
        .await;
    assert_eq!(resp.status, StatusCode::ACCEPTED, "{}", resp.text);
    let location = resp.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!(
            "/api/v1/pipelines/{id}/replays/{}",
            resp.body["id"].as_str().unwrap()
        )
    );
    wait_job(app, &location).await
}

#[tokio::test]
async fn failed_events_are_listed_fixed_dry_run_replayed_and_indexed_once() {
    let app = spawn_app().await;
    let name = test_support::unique_name("dl");
    let created = app.create_ok(&definition(&name, BROKEN)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let input = created["topics"]["input"].as_str().unwrap().to_owned();
    let error_topic = created["topics"]["error"].as_str().unwrap().to_owned();
    let worker = Worker::start(&app).await;
    ingest(&app, &id, ndjson(EVENTS)).await;

    // Every event fails the parse stage and is listed with the worker's headers.
    let letters = wait_errors(&app, &id, EVENTS).await;
    let mut ns = BTreeSet::new();
    for letter in &letters {
        assert_eq!(assert_header(letter, "error.stage"), "parse", "{letter}");
        assert!(!assert_header(letter, "error.reason").is_empty());
        assert_eq!(assert_header(letter, "source.topic"), input);
        assert_eq!(assert_header(letter, "pipeline.name"), name);
        assert_header(letter, "source.partition");
        assert_header(letter, "source.offset");
        assert_header(letter, "failed.at");
        assert_eq!(letter["stage"], "parse");
        assert_eq!(letter["valueEncoding"], "utf8");
        let value: Value = serde_json::from_str(letter["value"].as_str().unwrap()).unwrap();
        assert_eq!(
            value["log_message"],
            format!("order {} shipped", value["n"])
        );
        ns.insert(value["n"].as_u64().unwrap());
    }
    assert_eq!(ns.len(), EVENTS, "each event once");
    let stamps: Vec<&str> = letters
        .iter()
        .map(|l| l["timestamp"].as_str().unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // Pages of 20 with the cursor cover the same 50, each once.
    let mut seen = BTreeSet::new();
    let mut path = format!("/api/v1/pipelines/{id}/errors?limit=20&stage=parse");
    let mut pages = 0;
    loop {
        let page = app.get(&path, &app.tokens.viewer).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        pages += 1;
        for item in page.body["items"].as_array().unwrap() {
            let at = (
                item["partition"].as_i64().unwrap(),
                item["offset"].as_i64().unwrap(),
            );
            assert!(seen.insert(at), "{at:?} on two pages");
        }
        match page.body["next"].as_str() {
            Some(next) => {
                path = format!("/api/v1/pipelines/{id}/errors?limit=20&stage=parse&after={next}")
            }
            None => break,
        }
        assert!(pages < 10, "the cursor does not end");
    }
    assert_eq!(seen.len(), EVENTS);
    assert_eq!(pages, 3);
    let other_stage = app
        .get(
            &format!("/api/v1/pipelines/{id}/errors?stage=index"),
            &app.tokens.viewer,
        )
        .await;
    assert_eq!(other_stage.body["items"], json!([]));
    // Reading joined no group: the only group under this test's prefix is the worker's.
    let groups = {
        let (brokers, prefix) = (app.brokers.clone(), app.prefix.clone());
        tokio::task::spawn_blocking(move || groups_with(&brokers, &prefix))
            .await
            .unwrap()
    };
    assert_eq!(
        groups,
        BTreeSet::from([format!("{}.{name}.worker", app.prefix)])
    );

    // A dry run of the stored (broken) definition fails them again; of the fix, passes them.
    let dry_run = |body: Value| {
        let path = format!("/api/v1/pipelines/{id}/dry-run");
        let app = &app;
        async move { app.post_json(&path, &app.tokens.editor, &body).await }
    };
    let stored = dry_run(json!({"fromErrors": {"limit": EVENTS, "stage": "parse"}})).await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.text);
    let results = stored.body["results"].as_array().unwrap();
    assert_eq!(results.len(), EVENTS);
    assert!(results.iter().all(|r| r["error"]["stage"] == "parse"));
    let proposed = dry_run(json!({
        "fromErrors": {"limit": EVENTS},
        "definition": definition(&name, FIXED),
    }))
    .await;
    assert_eq!(proposed.status, StatusCode::OK, "{}", proposed.text);
    let results = proposed.body["results"].as_array().unwrap();
    assert_eq!(results.len(), EVENTS);
    let mut ids = Vec::new();
    for r in results {
        assert_eq!(r["document"]["parsed"]["format"], "orders", "{r}");
        assert!(r["source"]["offset"].is_i64(), "{r}");
        ids.push(r["id"].as_str().unwrap().to_owned());
    }

    // Fix the definition and wait until the worker runs the new version.
    let put = app
        .send(
            app.request(
                Method::PUT,
                &format!("/api/v1/pipelines/{id}"),
                Some(&app.tokens.editor),
            )
            .header("If-Match", "\"1\"")
            .json(&definition(&name, FIXED)),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT pipeline_version FROM worker_tasks WHERE pipeline_id = ?")
                .bind(&id)
                .fetch_all(&app.db)
                .await
                .unwrap();
        if !versions.is_empty() && versions.iter().all(|v| *v == 2) {
            break;
        }
        assert!(Instant::now() < deadline, "worker versions {versions:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Roles: a viewer may not replay.
    let forbidden = app
        .post_json(
            &format!("/api/v1/pipelines/{id}/replay"),
            &app.tokens.viewer,
            &json!({}),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);

    // Replay: the job says 50, the index holds the 50, under the ids the dry run showed.
    let job = replay(&app, &id, &json!({"stage": "parse", "reason": ""})).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["matched"], EVENTS);
    assert_eq!(job["replayed"], EVENTS);
    assert_eq!(job["failed"], 0);
    assert_eq!(job["startedBy"], "eddie-editor");
    assert!(job["finishedAt"].is_string());
    let row: (String, i64, i64, String) =
        sqlx::query_as("SELECT state, matched, replayed, started_by FROM replay_jobs WHERE id = ?")
            .bind(job["id"].as_str().unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(row, ("succeeded".into(), 50, 50, "eddie-editor".into()));
    let audits: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE pipeline_id = ? AND action = 'replay' \
         AND actor = 'eddie-editor'",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audits, 1);

    let group = format!("{}.{name}.worker", app.prefix);
    wait_consumed_to_end(&app, &group, &input).await;
    assert_eq!(count(&app, &name).await, EVENTS as u64);
    for id in &ids {
        assert!(doc_exists(&app, &name, id).await, "document {id}");
    }
    // The replayed records carry replay.of naming their dead letter.
    let records = {
        let (brokers, topic) = (app.brokers.clone(), input.clone());
        tokio::task::spawn_blocking(move || read_all(&brokers, &topic, 2 * EVENTS))
            .await
            .unwrap()
    };
    let origins: BTreeSet<String> = records
        .iter()
        .filter_map(|(_, h)| h.get("replay.of").cloned())
        .collect();
    let expected: BTreeSet<String> = letters
        .iter()
        .map(|l| format!("{error_topic}/{}/{}", l["partition"], l["offset"]))
        .collect();
    assert_eq!(origins, expected);

    // A second replay re-injects the same events: no new documents, no new dead letters.
    let again = replay(&app, &id, &json!({})).await;
    assert_eq!(again["replayed"], EVENTS, "{again}");
    wait_consumed_to_end(&app, &group, &input).await;
    assert_eq!(count(&app, &name).await, EVENTS as u64);
    wait_errors(&app, &id, EVENTS).await;
    let jobs = app
        .get(
            &format!("/api/v1/pipelines/{id}/replays"),
            &app.tokens.viewer,
        )
        .await;
    assert_eq!(jobs.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(jobs.body["items"][0]["id"], again["id"]);
    worker.shutdown().await;
}

#[tokio::test]
async fn bad_requests_to_the_dead_letter_routes_are_4xx() {
    let app = spawn_app().await;
    let name = test_support::unique_name("dl");
    let created = app.create_ok(&definition(&name, BROKEN)).await;
    let id = created["id"].as_str().unwrap();
    let errors = format!("/api/v1/pipelines/{id}/errors");
    for query in [
        "?limit=0",
        "?limit=501",
        "?limit=x",
        "?after=nope",
        "?after=0:-3",
        "?after=",
        "?after=0:1,",
        "?after=+0:1",
        "?stage=",
        "?stage=bogus",
    ] {
        let resp = app
            .get(&format!("{errors}{query}"), &app.tokens.viewer)
            .await;
        assert_eq!(
            resp.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            resp.text
        );
    }
    let empty = app.get(&errors, &app.tokens.viewer).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.text);
    assert_eq!(
        empty.body,
        json!({"items": [], "next": null,
               "scan": {"records": 0, "budgetExhausted": false, "reachedBack": null}})
    );
    let unknown = "/api/v1/pipelines/00000000-0000-0000-0000-000000000000";
    let resp = app
        .get(&format!("{unknown}/errors"), &app.tokens.viewer)
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    let resp = app
        .get(&format!("{unknown}/replays/x"), &app.tokens.viewer)
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    let resp = app
        .get(
            &format!("/api/v1/pipelines/{id}/replays/nope"),
            &app.tokens.viewer,
        )
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    let no_token = app.send(app.request(Method::GET, &errors, None)).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    let ingest_role = app.get(&errors, &app.tokens.ingest).await;
    assert_eq!(ingest_role.status, StatusCode::FORBIDDEN);

    let replay = format!("/api/v1/pipelines/{id}/replay");
    let bad_filter = app
        .post_json(
            &replay,
            &app.tokens.editor,
            &json!({"offsets": [{"partition": 0, "from": 5, "to": 1}]}),
        )
        .await;
    assert_eq!(bad_filter.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_filter.body["errors"][0]["field"], "offsets[0].to");
    let unknown_field = app
        .post_json(&replay, &app.tokens.editor, &json!({"stages": "parse"}))
        .await;
    assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown_stage = app
        .post_json(&replay, &app.tokens.editor, &json!({"stage": "bogus"}))
        .await;
    assert_eq!(unknown_stage.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown_stage.body["errors"][0]["field"], "stage");
    let jobs = app
        .get(
            &format!("/api/v1/pipelines/{id}/replays?limit=0"),
            &app.tokens.viewer,
        )
        .await;
    assert_eq!(jobs.status, StatusCode::BAD_REQUEST);
    let garbage = app
        .send(
            app.request(Method::POST, &replay, Some(&app.tokens.editor))
                .header("Content-Type", "application/json")
                .body("{nope"),
        )
        .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    let text = app
        .send(
            app.request(Method::POST, &replay, Some(&app.tokens.editor))
                .header("Content-Type", "text/plain")
                .body("stage=parse"),
        )
        .await;
    assert_eq!(text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // An empty body replays everything there is: nothing, here.
    let empty = app
        .send(app.request(Method::POST, &replay, Some(&app.tokens.admin)))
        .await;
    assert_eq!(empty.status, StatusCode::ACCEPTED, "{}", empty.text);
    let location = empty.headers["location"].to_str().unwrap().to_owned();
    let job = wait_job(&app, &location).await;
    assert_eq!(job["state"], "succeeded");
    assert_eq!(job["matched"], 0);

    let dry_run = format!("/api/v1/pipelines/{id}/dry-run");
    for body in [
        json!({}),
        json!({"events": [], "fromErrors": {}}),
        json!({"fromErrors": {"limit": 0}}),
        json!({"fromErrors": {"stage": "bogus"}}),
        json!({"events": null, "fromErrors": null}),
        json!({"fromErrors": {"limit": 10}, "definition": {"name": "Bad Name"}}),
    ] {
        let resp = app.post_json(&dry_run, &app.tokens.editor, &body).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
}
