use crate::helpers::{definition, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn put_with_if_match_bumps_version_and_stale_is_412() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 1)).await;
    let path = format!("/api/v1/pipelines/{}", created["id"].as_str().unwrap());

    // A GET body can be sent back as the PUT body.
    let mut changed = app.get(&path, &app.tokens.viewer).await.body;
    changed["description"] = "changed".into();
    let put = |if_match: Option<&'static str>, body: serde_json::Value| {
        let mut request = app
            .request(Method::PUT, &path, Some(&app.tokens.editor))
            .json(&body);
        if let Some(v) = if_match {
            request = request.header("If-Match", v);
        }
        app.send(request)
    };
    let ok = put(Some("\"1\""), changed.clone()).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.body["version"], 2);
    assert_eq!(ok.body["description"], "changed");
    assert_eq!(ok.headers["etag"].to_str().unwrap(), "\"2\"");

    let stale = put(Some("\"1\""), changed.clone()).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);

    let missing = put(None, changed.clone()).await;
    assert_eq!(missing.status, StatusCode::PRECONDITION_REQUIRED);

    let mut renamed = changed.clone();
    renamed["name"] = "another-name".into();
    let rename = put(Some("\"2\""), renamed).await;
    assert_eq!(rename.status, StatusCode::UNPROCESSABLE_ENTITY);

    let mut stopped = changed.clone();
    stopped["state"] = "stopped".into();
    let stop = put(Some("*"), stopped).await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.text);
    assert_eq!(stop.body["state"], "stopped");
    assert_eq!(stop.body["version"], 3);

    let audit: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT action, version_before, version_after FROM audit_log WHERE pipeline_name = ? ORDER BY id",
    )
    .bind(&name)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        audit,
        vec![
            ("create".to_owned(), None, Some(1)),
            ("update".to_owned(), Some(1), Some(2)),
            ("update".to_owned(), Some(2), Some(3)),
        ]
    );
}

#[tokio::test]
async fn patch_state_toggles_and_checks_if_match() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 1)).await;
    let path = format!(
        "/api/v1/pipelines/{}/state",
        created["id"].as_str().unwrap()
    );
    let patch = |body: serde_json::Value, if_match: Option<&'static str>| {
        let mut request = app
            .request(Method::PATCH, &path, Some(&app.tokens.editor))
            .json(&body);
        if let Some(v) = if_match {
            request = request.header("If-Match", v);
        }
        app.send(request)
    };
    let stopped = patch(json!({"state": "stopped"}), None).await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.text);
    assert_eq!(
        (
            stopped.body["state"].as_str(),
            stopped.body["version"].as_i64()
        ),
        (Some("stopped"), Some(2))
    );

    let stale = patch(json!({"state": "running"}), Some("\"1\"")).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);

    let bad = patch(json!({"state": "paused"}), None).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    let running = patch(json!({"state": "running"}), Some("\"2\"")).await;
    assert_eq!(running.status, StatusCode::OK);
    assert_eq!(running.body["state"], "running");
}
