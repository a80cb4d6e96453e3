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

fn existing_topics() -> Vec<String> {
    TestApp::topics_on(&test_support::servers().kafka_brokers)
        .into_iter()
        .map(|(t, _)| t)
        .collect()
}

#[tokio::test]
async fn delete_of_a_corrupt_row_is_refused_and_touches_no_topics() {
    let app = spawn_app().await;
    let victim = test_support::unique_name("p");
    let other = test_support::unique_name("p");
    let created = app.create_ok(&definition(&victim, 1)).await;
    app.create_ok(&definition(&other, 1)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/pipelines/{id}");
    let before = existing_topics();
    for topic in app
        .topic_names(&victim)
        .iter()
        .chain(&app.topic_names(&other))
    {
        assert!(before.contains(topic), "{topic} created: {before:?}");
    }

    // A name no pipeline can have (uppercase, '_'): what a hand edit could leave behind.
    let corrupt = format!("{victim}_BAD");
    let done = sqlx::query("UPDATE pipelines SET name = ? WHERE id = ?")
        .bind(&corrupt)
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);

    let refused = app
        .send(app.request(
            Method::DELETE,
            &format!("{path}?force=true"),
            Some(&app.tokens.admin),
        ))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert_eq!(
        refused.headers["content-type"], "application/problem+json",
        "{}",
        refused.text
    );
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(detail.contains("corrupt"), "{detail}");
    // Neither the corrupt pipeline's topics nor anyone else's went, and the row is still there.
    let after = existing_topics();
    for topic in app
        .topic_names(&victim)
        .iter()
        .chain(&app.topic_names(&other))
    {
        assert!(after.contains(topic), "{topic} kept: {after:?}");
    }
    assert_eq!(app.row_count(&corrupt).await, 1);
    let state: String = sqlx::query_scalar("SELECT state FROM pipelines WHERE id = ?")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(state, "running", "the corrupt row was not marked deleting");

    // Reading it says the same; listing leaves it out and still shows the others.
    let read = app.get(&path, &app.tokens.viewer).await;
    assert_eq!(read.status, StatusCode::CONFLICT, "{}", read.text);
    let names = app.listed_names().await;
    assert!(names.contains(&other), "{names:?}");
    assert!(!names.contains(&corrupt), "{names:?}");

    // Once repaired, DELETE removes exactly its three topics.
    sqlx::query("UPDATE pipelines SET name = ? WHERE id = ?")
        .bind(&victim)
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    let deleted = app
        .send(app.request(
            Method::DELETE,
            &format!("{path}?force=true"),
            Some(&app.tokens.admin),
        ))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let last = existing_topics();
    for topic in app.topic_names(&victim) {
        assert!(!last.contains(&topic), "{topic} deleted: {last:?}");
    }
    for topic in app.topic_names(&other) {
        assert!(last.contains(&topic), "{topic} kept: {last:?}");
    }
}
