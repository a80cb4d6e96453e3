use crate::helpers::{definition, spawn_app, spawn_app_with, Options, Resp, TestApp};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Reads `n` records from partition 0 of `topic`, from the beginning, with a plain consumer.
fn read(brokers: &str, topic: &str, n: usize) -> Vec<(Value, BTreeMap<String, String>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", test_support::unique_name("g"))
        .set("enable.auto.commit", "false")
        .set("log_level", "3")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} records read",
            out.len()
        );
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.unwrap();
        let value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        let mut headers = BTreeMap::new();
        if let Some(h) = message.headers() {
            for header in h.iter() {
                headers.insert(
                    header.key.to_owned(),
                    String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned(),
                );
            }
        }
        out.push((value, headers));
    }
    out
}

#[tokio::test]
async fn binary_cloudevent_reaches_the_input_topic_with_its_attributes() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 1)).await;
    let path = format!(
        "/api/v1/pipelines/{}/events",
        created["id"].as_str().unwrap()
    );
    let data = json!({"log_message": "hello", "n": 1});
    let resp = app
        .send(
            app.request(Method::POST, &path, Some(&app.tokens.ingest))
                .header("Content-Type", "application/json")
                .header("Ce-Specversion", "1.0")
                .header("Ce-Id", "evt-1")
                .header("Ce-Source", "/tests")
                .header("Ce-Type", "com.example.log")
                .header("Ce-Subject", "s1")
                .body(data.to_string()),
        )
        .await;
    assert_eq!(resp.status, StatusCode::ACCEPTED, "{}", resp.text);
    assert_eq!(resp.body, json!({"accepted": 1}));

    let topic = created["topics"]["input"].as_str().unwrap().to_owned();
    let brokers = app.brokers.clone();
    let records = tokio::task::spawn_blocking(move || read(&brokers, &topic, 1))
        .await
        .unwrap();
    let (value, headers) = &records[0];
    assert_eq!(value, &data);
    assert_eq!(headers["ce_specversion"], "1.0");
    assert_eq!(headers["ce_id"], "evt-1");
    assert_eq!(headers["ce_source"], "/tests");
    assert_eq!(headers["ce_type"], "com.example.log");
    assert_eq!(headers["ce_subject"], "s1");
    assert_eq!(headers["content-type"], "application/json");
}

#[tokio::test]
async fn structured_batch_ndjson_and_plain_json() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 1)).await;
    let path = format!(
        "/api/v1/pipelines/{}/events",
        created["id"].as_str().unwrap()
    );
    let post = |content_type: &'static str, body: String| {
        app.send(
            app.request(Method::POST, &path, Some(&app.tokens.admin))
                .header("Content-Type", content_type)
                .body(body),
        )
    };
    let event = |id: &str| json!({"specversion": "1.0", "id": id, "source": "/t", "type": "t", "data": {"log_message": id}});
    let structured = post("application/cloudevents+json", event("s1").to_string()).await;
    assert_eq!(
        structured.body,
        json!({"accepted": 1}),
        "{}",
        structured.text
    );
    let batch = post(
        "application/cloudevents-batch+json",
        json!([event("b1"), event("b2")]).to_string(),
    )
    .await;
    assert_eq!(batch.body, json!({"accepted": 2}), "{}", batch.text);
    let ndjson = post(
        "application/x-ndjson",
        "{\"log_message\":\"a\"}\n{\"log_message\":\"b\"}\n\n{\"log_message\":\"c\"}\n".into(),
    )
    .await;
    assert_eq!(ndjson.body, json!({"accepted": 3}), "{}", ndjson.text);
    let plain = post("application/json", json!({"log_message": "p"}).to_string()).await;
    assert_eq!(plain.body, json!({"accepted": 1}), "{}", plain.text);

    let topic = created["topics"]["input"].as_str().unwrap().to_owned();
    let brokers = app.brokers.clone();
    let records = tokio::task::spawn_blocking(move || read(&brokers, &topic, 7))
        .await
        .unwrap();
    assert_eq!(records[0].0["id"], "s1");
    assert_eq!(records[0].1["content-type"], "application/cloudevents+json");
    assert_eq!(records[2].0["id"], "b2");
    assert_eq!(records[5].0["log_message"], "c");
    assert_eq!(records[6].0["log_message"], "p");

    // Malformed input.
    for (content_type, body) in [
        ("application/json", "{not json"),
        ("application/json", "[1,2]"),
        ("application/x-ndjson", "{\"a\":1}\nnope\n"),
        ("application/cloudevents+json", "{\"id\":\"x\"}"),
        ("application/cloudevents-batch+json", "{}"),
    ] {
        let resp = post(content_type, body.into()).await;
        assert_eq!(
            resp.status,
            StatusCode::BAD_REQUEST,
            "{content_type} {body}"
        );
    }
    let unsupported = post("text/plain", "hello".into()).await;
    assert_eq!(unsupported.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn garbage_is_400_and_oversize_is_413() {
    let app = spawn_app_with(Options {
        vars: vec![
            ("FLOW__SERVER__MAX_REQUEST_BYTES".into(), "65536".into()),
            ("FLOW__SERVER__MAX_EVENT_BYTES".into(), "1024".into()),
        ],
        ..Options::default()
    })
    .await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 1)).await;
    let path = format!(
        "/api/v1/pipelines/{}/events",
        created["id"].as_str().unwrap()
    );
    let post = |body: Vec<u8>| {
        app.send(
            app.request(Method::POST, &path, Some(&app.tokens.ingest))
                .header("Content-Type", "application/json")
                .body(body),
        )
    };
    let garbage = post(b"\x00\x01garbage{{".to_vec()).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);

    let big = format!("{{\"log_message\":\"{}\"}}", "x".repeat(100_000));
    let oversize = post(big.into_bytes()).await;
    assert_eq!(oversize.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Under the request limit, over the per-event limit.
    let event = format!("{{\"log_message\":\"{}\"}}", "x".repeat(2000));
    let too_big_event = post(event.into_bytes()).await;
    assert_eq!(too_big_event.status, StatusCode::PAYLOAD_TOO_LARGE);

    let unknown = app
        .send(
            app.request(
                Method::POST,
                "/api/v1/pipelines/00000000-0000-0000-0000-000000000000/events",
                Some(&app.tokens.ingest),
            )
            .header("Content-Type", "application/json")
            .body("{}"),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

/// A pipeline deleted and created again under the same name with fewer partitions: the
/// producer's metadata of the old topic must not make the first ingest fail.
#[tokio::test]
async fn ingest_after_the_pipeline_was_recreated_with_fewer_partitions() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    for partitions in [6, 1] {
        let created = app.create_ok(&definition(&name, partitions)).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/pipelines/{id}/events");
        let lines: String = (0..20)
            .map(|i| format!("{{\"log_message\": \"line {i}\"}}\n"))
            .collect();
        let resp = app
            .send(
                app.request(Method::POST, &path, Some(&app.tokens.ingest))
                    .header("Content-Type", "application/x-ndjson")
                    .body(lines),
            )
            .await;
        assert_eq!(resp.status, StatusCode::ACCEPTED, "{}", resp.text);
        assert_eq!(resp.body, json!({"accepted": 20}));
        let deleted = app
            .send(app.request(
                Method::DELETE,
                &format!("/api/v1/pipelines/{id}?force=true"),
                Some(&app.tokens.editor),
            ))
            .await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    }
}

/// An app whose ingest cache keeps entries for `ttl_ms`.
async fn spawn_app_with_ingest_ttl(ttl_ms: u64) -> TestApp {
    spawn_app_with(Options {
        vars: vec![(
            "FLOW__SERVER__INGEST_CACHE_TTL_MS".into(),
            ttl_ms.to_string(),
        )],
        ..Options::default()
    })
    .await
}

/// Posts `lines` as NDJSON to `path` with the ingest token.
async fn post_lines(app: &TestApp, path: &str, lines: &[Value]) -> Resp {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    app.send(
        app.request(Method::POST, path, Some(&app.tokens.ingest))
            .header("Content-Type", "application/x-ndjson")
            .body(body),
    )
    .await
}

/// Sets a pipeline's state in MariaDB behind the app's back, as another mgmt replica would.
async fn set_state_elsewhere(app: &TestApp, id: &str, state: &str) {
    sqlx::query("UPDATE pipelines SET state = ? WHERE id = ?")
        .bind(state)
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
}

async fn read_topic(app: &TestApp, topic: &str, n: usize) -> Vec<Value> {
    let (brokers, topic) = (app.brokers.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || read(&brokers, &topic, n))
        .await
        .unwrap()
        .into_iter()
        .map(|(value, _)| value)
        .collect()
}

#[tokio::test]
async fn ingest_by_name_lands_in_the_input_topic() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 1)).await;
    let events = [
        json!({"log_message": "by name 1"}),
        json!({"log_message": "by name 2"}),
    ];
    let path = format!("/api/v1/pipelines/by-name/{name}/events");
    let resp = post_lines(&app, &path, &events).await;
    assert_eq!(resp.status, StatusCode::ACCEPTED, "{}", resp.text);
    assert_eq!(resp.body, json!({"accepted": 2}));
    let topic = created["topics"]["input"].as_str().unwrap();
    assert_eq!(read_topic(&app, topic, 2).await, events);

    for missing in ["no-such-pipeline", "Not_A_Name", &"x".repeat(64)] {
        let path = format!("/api/v1/pipelines/by-name/{missing}/events");
        let resp = post_lines(&app, &path, &events).await;
        assert_eq!(
            resp.status,
            StatusCode::NOT_FOUND,
            "{missing}: {}",
            resp.text
        );
    }
    let bad = app
        .send(
            app.request(Method::POST, &path, Some(&app.tokens.ingest))
                .header("Content-Type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let viewer = app
        .send(
            app.request(Method::POST, &path, Some(&app.tokens.viewer))
                .header("Content-Type", "application/json")
                .body("{}"),
        )
        .await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
}

/// With entries kept far longer than the test, only invalidation can make a delete and a
/// re-create visible: after the delete both URLs answer 404 (nothing goes to the deleted topic),
/// and the by-name URL then writes into the new pipeline's topic.
#[tokio::test]
async fn delete_and_recreate_are_seen_by_ingest_at_once() {
    let app = spawn_app_with_ingest_ttl(600_000).await;
    let name = test_support::unique_name("p");
    let by_name = format!("/api/v1/pipelines/by-name/{name}/events");
    let first = app.create_ok(&definition(&name, 3)).await;
    let id = first["id"].as_str().unwrap().to_owned();
    let by_id = format!("/api/v1/pipelines/{id}/events");
    for path in [&by_name, &by_id] {
        let resp = post_lines(&app, path, &[json!({"log_message": "old"})]).await;
        assert_eq!(resp.status, StatusCode::ACCEPTED, "{}", resp.text);
    }
    let deleted = app
        .send(app.request(
            Method::DELETE,
            &format!("/api/v1/pipelines/{id}?force=true"),
            Some(&app.tokens.editor),
        ))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    for path in [&by_name, &by_id] {
        let resp = post_lines(&app, path, &[json!({"log_message": "lost?"})]).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{path}: {}", resp.text);
    }

    let second = app.create_ok(&definition(&name, 1)).await;
    assert_ne!(second["id"], first["id"]);
    let new = [
        json!({"log_message": "new 1"}),
        json!({"log_message": "new 2"}),
    ];
    let resp = post_lines(&app, &by_name, &new).await;
    assert_eq!(resp.status, StatusCode::ACCEPTED, "{}", resp.text);
    let old_id = post_lines(&app, &by_id, &new).await;
    assert_eq!(old_id.status, StatusCode::NOT_FOUND, "{}", old_id.text);
    // The new topic holds exactly what was sent after the re-create, from its first offset (in
    // either order: a record refused for the old topic's partition count is sent again later).
    let topic = second["topics"]["input"].as_str().unwrap();
    let mut records = read_topic(&app, topic, 2).await;
    records.sort_by_key(Value::to_string);
    assert_eq!(records, new);
}

/// A state change through this replica forgets the pipeline: a change made elsewhere right after
/// it is seen by the next request, although entries are kept far longer than the test. Without
/// the change, another replica's edit is not seen within the TTL (the cache answers).
#[tokio::test]
async fn a_state_change_invalidates_the_ingest_cache() {
    let app = spawn_app_with_ingest_ttl(600_000).await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 1)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/pipelines/by-name/{name}/events");
    let event = [json!({"log_message": "e"})];
    assert_eq!(
        post_lines(&app, &path, &event).await.status,
        StatusCode::ACCEPTED
    );

    set_state_elsewhere(&app, &id, "deleting").await;
    let cached = post_lines(&app, &path, &event).await;
    assert_eq!(cached.status, StatusCode::ACCEPTED, "{}", cached.text);
    set_state_elsewhere(&app, &id, "running").await;

    let stopped = app
        .send(
            app.request(
                Method::PATCH,
                &format!("/api/v1/pipelines/{id}/state"),
                Some(&app.tokens.editor),
            )
            .json(&json!({"state": "stopped"})),
        )
        .await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
    set_state_elsewhere(&app, &id, "deleting").await;
    let after = post_lines(&app, &path, &event).await;
    assert_eq!(after.status, StatusCode::CONFLICT, "{}", after.text);
}

/// Another replica's change is seen once the entry expires.
#[tokio::test]
async fn another_replicas_change_is_seen_after_the_ttl() {
    let app = spawn_app_with_ingest_ttl(100).await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 1)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/pipelines/{id}/events");
    let event = [json!({"log_message": "e"})];
    assert_eq!(
        post_lines(&app, &path, &event).await.status,
        StatusCode::ACCEPTED
    );
    set_state_elsewhere(&app, &id, "deleting").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = post_lines(&app, &path, &event).await;
    assert_eq!(after.status, StatusCode::CONFLICT, "{}", after.text);
}

/// The shell examples of the Ingest section of docs/api.md run as written against a real app,
/// print the answers the document shows, and their events reach the input topic.
#[tokio::test]
async fn the_documented_ingest_examples_run() {
    let guide = include_str!("../../../docs/api.md");
    let section = &guide[guide.find("### Ingest").expect("an Ingest section")..];
    let start = section.find("```sh\n").expect("a shell example") + "```sh\n".len();
    let script = &section[start..start + section[start..].find("```").unwrap()];
    let expected: String = script
        .lines()
        .filter_map(|l| l.strip_prefix("# {"))
        .map(|rest| format!("{{{rest}"))
        .collect();

    let app = spawn_app().await;
    // The examples name the pipeline `web-logs`; its index is this run's own, so that a
    // template another run left behind (same name, another topic prefix) does not claim it.
    let mut web_logs = definition("web-logs", 1);
    web_logs["index"] = json!(test_support::unique_name("web-logs"));
    let created = app.create_ok(&web_logs).await;
    let output = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .env("FLOW_URL", &app.base)
        .env("FLOW_TOKEN", &app.tokens.ingest)
        .env("ID", created["id"].as_str().unwrap())
        .output()
        .await
        .expect("bash runs");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(printed, expected);
    let topic = created["topics"]["input"].as_str().unwrap();
    let records = read_topic(&app, topic, 4).await;
    assert_eq!(records[0]["id"], "e-1");
    assert_eq!(
        records[1..],
        [
            json!({"log_message": "a"}),
            json!({"log_message": "b"}),
            json!({"log_message": "binary mode"})
        ]
    );
}
