use crate::helpers::{definition, spawn_app, spawn_app_with, Options, TestApp};
use reqwest::StatusCode;
use std::collections::BTreeMap;

#[tokio::test]
async fn create_provisions_topics_row_and_index() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let resp = app.create(&definition(&name, 2)).await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    let body = resp.body;
    let id = body["id"].as_str().unwrap();
    assert_eq!(
        resp.headers["location"].to_str().unwrap(),
        format!("/api/v1/pipelines/{id}")
    );
    assert_eq!(resp.headers["etag"].to_str().unwrap(), "\"1\"");
    assert_eq!(body["state"], "running");
    assert_eq!(body["version"], 1);
    assert_eq!(body["createdBy"], "eddie-editor");
    assert_eq!(body["topics"]["partitions"], 2);
    assert_eq!(
        body["topics"]["input"],
        format!("{}.{name}.input", app.prefix)
    );

    // Topics, checked with a plain metadata request.
    let topics: BTreeMap<String, usize> = TestApp::topics_on(&app.brokers).into_iter().collect();
    for topic in app.topic_names(&name) {
        assert_eq!(
            topics.get(&topic),
            Some(&2),
            "topic {topic} with 2 partitions"
        );
    }

    // Row.
    let (state, version, created_by): (String, i64, String) =
        sqlx::query_as("SELECT state, version, created_by FROM pipelines WHERE id = ?")
            .bind(id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (state.as_str(), version, created_by.as_str()),
        ("running", 1, "eddie-editor")
    );
    let audit: Vec<(String, String)> =
        sqlx::query_as("SELECT actor, action FROM audit_log WHERE pipeline_id = ?")
            .bind(id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        audit,
        vec![("eddie-editor".to_owned(), "create".to_owned())]
    );

    // Index.
    let index = reqwest::get(format!("{}/{name}", app.opensearch))
        .await
        .unwrap();
    assert_eq!(index.status(), StatusCode::OK, "index {name} exists");
}

#[tokio::test]
async fn create_stopped_pipeline() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let mut def = definition(&name, 1);
    def["state"] = "stopped".into();
    let body = app.create_ok(&def).await;
    assert_eq!(body["state"], "stopped");
}

#[tokio::test]
async fn duplicate_name_conflicts() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    app.create_ok(&definition(&name, 1)).await;
    let again = app.create(&definition(&name, 1)).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn twenty_concurrent_creates_make_one_pipeline() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let def = definition(&name, 1);
    let statuses = futures::future::join_all((0..20).map(|_| app.create(&def))).await;
    let created = statuses
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 19), "{statuses:?}");
    assert_eq!(app.row_count(&name).await, 1);
}

#[tokio::test]
async fn invalid_definition_is_422_with_field_errors() {
    let app = spawn_app().await;
    let resp = app
        .create(&serde_json::json!({"name": "Bad Name", "topics": {"partitions": 0}}))
        .await;
    assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = resp.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"name"), "{fields:?}");
    assert!(fields.contains(&"topics.partitions"), "{fields:?}");
}

#[tokio::test]
async fn broker_down_during_create_leaves_nothing() {
    let mut broker = test_support::Kafka::spawn();
    let app = spawn_app_with(Options {
        brokers: Some(broker.brokers()),
        ..Options::default()
    })
    .await;
    // The broker works: a first pipeline is provisioned on it.
    let first = test_support::unique_name("p");
    app.create_ok(&definition(&first, 1)).await;

    broker.kill();
    let name = test_support::unique_name("p");
    let resp = app.create(&definition(&name, 1)).await;
    assert_eq!(resp.status, StatusCode::BAD_GATEWAY, "{}", resp.text);
    assert!(
        resp.body["detail"].as_str().unwrap().contains("Kafka"),
        "{}",
        resp.text
    );
    assert_eq!(app.row_count(&name).await, 0, "no row remains");

    // Same storage, same port: the first pipeline's topics are there, the failed one's are not.
    broker.restart();
    let topics: Vec<String> = TestApp::topics_on(&broker.brokers())
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    for topic in app.topic_names(&first) {
        assert!(topics.contains(&topic), "{topic} kept: {topics:?}");
    }
    for topic in app.topic_names(&name) {
        assert!(
            !topics.contains(&topic),
            "{topic} must not exist: {topics:?}"
        );
    }
    // The name is free again.
    let retry = app.create(&definition(&name, 1)).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.text);
}

/// An index name that passes our rules but not OpenSearch's (Java lowercases the titlecase `ǅ`)
/// is the client's mistake: 422 naming `index`, not a 502, and nothing is kept.
#[tokio::test]
async fn an_index_name_opensearch_refuses_is_422() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let mut def = definition(&name, 1);
    def["index"] = format!("{name}-\u{1c5}").into();
    let resp = app.create(&def).await;
    assert_eq!(
        resp.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        resp.text
    );
    assert_eq!(resp.body["errors"][0]["field"], "index", "{}", resp.text);
    // OpenSearch's own reason: our validation let the name through.
    let message = resp.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("must be lowercase"), "{message}");
    assert_eq!(app.row_count(&name).await, 0);
}
