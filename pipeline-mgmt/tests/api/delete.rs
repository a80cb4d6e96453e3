use crate::helpers::{definition, spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn delete_running_needs_force_then_removes_everything() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 2)).await;
    let path = format!("/api/v1/pipelines/{}", created["id"].as_str().unwrap());

    let refused = app
        .send(app.request(Method::DELETE, &path, Some(&app.tokens.editor)))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);

    let deleted = app
        .send(app.request(
            Method::DELETE,
            &format!("{path}?force=true"),
            Some(&app.tokens.editor),
        ))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);

    let topics: Vec<String> = TestApp::topics_on(&test_support::servers().kafka_brokers)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    for topic in app.topic_names(&name) {
        assert!(!topics.contains(&topic), "{topic} deleted: {topics:?}");
    }
    assert_eq!(app.row_count(&name).await, 0);
    let gone = app.get(&path, &app.tokens.viewer).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE pipeline_name = ? ORDER BY id")
            .bind(&name)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(actions, ["create", "delete"]);
}

#[tokio::test]
async fn delete_stopped_pipeline_without_force() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 1)).await;
    let path = format!("/api/v1/pipelines/{}", created["id"].as_str().unwrap());
    let stopped = app
        .send(
            app.request(
                Method::PATCH,
                &format!("{path}/state"),
                Some(&app.tokens.editor),
            )
            .json(&json!({"state": "stopped"})),
        )
        .await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
    let deleted = app
        .send(app.request(Method::DELETE, &path, Some(&app.tokens.editor)))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
}

#[tokio::test]
async fn deleting_one_pipeline_leaves_another_s_topics_alone() {
    let app = spawn_app().await;
    let keep = test_support::unique_name("p");
    let drop = test_support::unique_name("p");
    app.create_ok(&definition(&keep, 1)).await;
    let doomed = app.create_ok(&definition(&drop, 1)).await;
    let path = format!(
        "/api/v1/pipelines/{}?force=true",
        doomed["id"].as_str().unwrap()
    );
    let deleted = app
        .send(app.request(Method::DELETE, &path, Some(&app.tokens.admin)))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let topics: Vec<String> = TestApp::topics_on(&test_support::servers().kafka_brokers)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    for topic in app.topic_names(&keep) {
        assert!(topics.contains(&topic), "{topic} kept: {topics:?}");
    }
}
