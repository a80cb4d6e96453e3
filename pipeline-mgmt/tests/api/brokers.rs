//! `/api/v1/brokers` and broker-sourced pipelines (issue 27), against real MariaDB, Kafka and
//! OpenSearch; topics and rows are read with independent clients.

use crate::helpers::{definition, spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

fn broker_topic(app: &TestApp, name: &str) -> String {
    format!("{}.broker.{name}", app.prefix)
}

fn topic_exists(app: &TestApp, topic: &str) -> Option<usize> {
    TestApp::topics_on(&app.brokers)
        .into_iter()
        .find(|(t, _)| t == topic)
        .map(|(_, partitions)| partitions)
}

fn on_broker(name: &str, broker: &str, filter: Value) -> Value {
    let mut d = definition(name, 1);
    d["source"] = json!({"broker": broker, "filter": filter});
    d
}

/// Create, read and list a broker; a pipeline reads it; deleting the broker is refused (409,
/// naming the pipeline) until the pipeline is deleted, then it goes with its topic (204).
#[tokio::test]
async fn a_broker_in_use_cannot_be_deleted_until_its_pipelines_are() {
    let app = spawn_app().await;
    let broker = test_support::unique_name("b");
    let created = app
        .post_json(
            "/api/v1/brokers",
            &app.tokens.editor,
            &json!({"name": broker, "description": "orders", "topics": {"partitions": 2}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["topic"], broker_topic(&app, &broker));
    assert_eq!(
        created.headers["location"],
        format!("/api/v1/brokers/{broker}").as_str()
    );
    assert_eq!(topic_exists(&app, &broker_topic(&app, &broker)), Some(2));
    let again = app
        .post_json(
            "/api/v1/brokers",
            &app.tokens.editor,
            &json!({"name": broker}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let pipeline = test_support::unique_name("p");
    let def = on_broker(
        &pipeline,
        &broker,
        json!({"attributes": {"type": "order.created"}}),
    );
    let made = app.create_ok(&def).await;
    assert_eq!(
        made["source"]["filter"]["attributes"]["type"],
        "order.created"
    );
    let listed = app.get("/api/v1/brokers", &app.tokens.viewer).await;
    let item = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == broker.as_str())
        .cloned()
        .unwrap();
    assert_eq!(item["pipelines"], json!([pipeline]));

    let console = app.console_page("/console/brokers").await;
    let row = console
        .split("<tr data-name=")
        .find(|r| r.starts_with(&format!("\"{broker}\"")))
        .unwrap_or_else(|| panic!("{console}"));
    assert!(
        row.contains(&format!("<span class=\"pipeline\">{pipeline}</span>")),
        "{row}"
    );

    let path = format!("/api/v1/brokers/{broker}");
    let refused = app
        .send(app.request(Method::DELETE, &path, Some(&app.tokens.editor)))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.body["detail"].as_str().unwrap().contains(&pipeline),
        "{}",
        refused.text
    );
    assert!(topic_exists(&app, &broker_topic(&app, &broker)).is_some());

    let id = made["id"].as_str().unwrap();
    let gone = app
        .send(app.request(
            Method::DELETE,
            &format!("/api/v1/pipelines/{id}?force=true"),
            Some(&app.tokens.editor),
        ))
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    let deleted = app
        .send(app.request(Method::DELETE, &path, Some(&app.tokens.editor)))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert_eq!(topic_exists(&app, &broker_topic(&app, &broker)), None);
    assert_eq!(
        app.get(&path, &app.tokens.viewer).await.status,
        StatusCode::NOT_FOUND
    );
    let audit: Vec<(String, String)> = sqlx::query_as(
        "SELECT resource, action FROM audit_log WHERE pipeline_name = ? ORDER BY id",
    )
    .bind(&broker)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let audit: Vec<(&str, &str)> = audit
        .iter()
        .map(|(r, a)| (r.as_str(), a.as_str()))
        .collect();
    assert_eq!(audit, [("broker", "create"), ("broker", "delete")]);
}

/// A pipeline on a broker that does not exist, a bad CEL expression (with its position) and a
/// bad broker body are 422, each naming the field.
#[tokio::test]
async fn bad_sources_are_422_with_the_field_and_the_position() {
    let app = spawn_app().await;
    let missing = app
        .create(&on_broker(
            &test_support::unique_name("p"),
            "nobroker",
            json!({}),
        ))
        .await;
    assert_eq!(
        missing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        missing.text
    );
    assert_eq!(missing.body["errors"][0]["field"], "source.broker");

    let broker = test_support::unique_name("b");
    let made = app
        .post_json(
            "/api/v1/brokers",
            &app.tokens.editor,
            &json!({"name": broker}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let bad_cel = app
        .create(&on_broker(
            &test_support::unique_name("p"),
            &broker,
            json!({"cel": "data.amount >"}),
        ))
        .await;
    assert_eq!(
        bad_cel.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad_cel.text
    );
    assert_eq!(bad_cel.body["errors"][0]["field"], "source.filter.cel");
    let message = bad_cel.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("line 1, column 14: "), "{message}");
    let bad_stage = app
        .create(&json!({"name": test_support::unique_name("p"),
            "stages": [{"type": "filter", "drop_if": {"cel": "(("}}]}))
        .await;
    assert_eq!(bad_stage.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad_stage.body["errors"][0]["field"],
        "stages[0].drop_if.cel"
    );
    for (body, field) in [
        (json!({"name": "input"}), "name"),
        (json!({"name": "Bad"}), "name"),
        (
            json!({"name": "ok", "topics": {"partitions": 0}}),
            "topics.partitions",
        ),
    ] {
        let refused = app
            .post_json("/api/v1/brokers", &app.tokens.editor, &body)
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(refused.body["errors"][0]["field"], field, "{body}");
    }
    let none = app
        .send(app.request(
            Method::DELETE,
            "/api/v1/brokers/nope",
            Some(&app.tokens.editor),
        ))
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
}

/// HTTP ingest into a broker: the pipeline ingest's forms, 202 once acknowledged, records in
/// the broker's topic with the CloudEvents headers of binary mode; only the ingest role or
/// better may post.
#[tokio::test]
async fn ingest_into_a_broker_writes_its_topic() {
    let app = spawn_app().await;
    let broker = test_support::unique_name("b");
    let made = app
        .post_json(
            "/api/v1/brokers",
            &app.tokens.editor,
            &json!({"name": broker}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let path = format!("/api/v1/brokers/{broker}/events");
    let binary = app
        .send(
            app.request(Method::POST, &path, Some(&app.tokens.ingest))
                .header("ce-specversion", "1.0")
                .header("ce-id", "e-1")
                .header("ce-source", "/shop")
                .header("ce-type", "order.created")
                .header("content-type", "application/json")
                .body(r#"{"amount": 1500}"#),
        )
        .await;
    assert_eq!(binary.status, StatusCode::ACCEPTED, "{}", binary.text);
    assert_eq!(binary.body["accepted"], 1);
    let batch = json!([
        {"specversion": "1.0", "id": "e-2", "source": "/shop", "type": "order.cancelled", "data": {}},
        {"specversion": "1.0", "id": "e-3", "source": "/shop", "type": "order.created", "data": {}}
    ]);
    let structured = app
        .send(
            app.request(Method::POST, &path, Some(&app.tokens.ingest))
                .header("content-type", "application/cloudevents-batch+json")
                .body(batch.to_string()),
        )
        .await;
    assert_eq!(
        structured.status,
        StatusCode::ACCEPTED,
        "{}",
        structured.text
    );
    assert_eq!(structured.body["accepted"], 2);
    let bad = app
        .send(
            app.request(Method::POST, &path, Some(&app.tokens.ingest))
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let forbidden = app
        .send(
            app.request(Method::POST, &path, Some(&app.tokens.viewer))
                .header("content-type", "application/json")
                .body("{}"),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let unknown = app
        .send(
            app.request(
                Method::POST,
                "/api/v1/brokers/nope/events",
                Some(&app.tokens.ingest),
            )
            .header("content-type", "application/json")
            .body("{}"),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let records = read_all(&app.brokers, &broker_topic(&app, &broker), 3);
    let first = records
        .iter()
        .find(|(headers, _)| headers.iter().any(|(k, v)| k == "ce_id" && v == "e-1"))
        .expect("the binary-mode event with its ce_ headers");
    assert!(first
        .0
        .iter()
        .any(|(k, v)| k == "ce_type" && v == "order.created"));
    assert_eq!(first.1, r#"{"amount": 1500}"#);
}

/// Every record of `topic` (one partition, three expected): (headers, value).
fn read_all(brokers: &str, topic: &str, expected: usize) -> Vec<(Vec<(String, String)>, String)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", test_support::unique_name("reader"))
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..3 {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while out.len() < expected && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_owned(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            out.push((headers, value));
        }
    }
    assert_eq!(out.len(), expected, "records in {topic}");
    out
}
