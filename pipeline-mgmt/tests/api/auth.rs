use crate::helpers::{definition, spawn_app};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn tokens_and_roles() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let def = definition(&name, 1);

    let none = app
        .send(app.request(Method::GET, "/api/v1/pipelines", None))
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers["www-authenticate"], "Bearer");

    let wrong = app.get("/api/v1/pipelines", "not-a-token").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let basic = app
        .send(
            app.request(Method::GET, "/api/v1/pipelines", None)
                .header("Authorization", format!("Basic {}", app.tokens.admin)),
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);

    // Auth comes before the body: a viewer's POST is 403 even with a broken body.
    let viewer = app
        .post_json("/api/v1/pipelines", &app.tokens.viewer, &def)
        .await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    let viewer_garbage = app
        .send(
            app.request(Method::POST, "/api/v1/pipelines", Some(&app.tokens.viewer))
                .header("Content-Type", "application/json")
                .body("{"),
        )
        .await;
    assert_eq!(viewer_garbage.status, StatusCode::FORBIDDEN);

    let ingest_list = app.get("/api/v1/pipelines", &app.tokens.ingest).await;
    assert_eq!(ingest_list.status, StatusCode::FORBIDDEN);
    let ingest_create = app
        .post_json("/api/v1/pipelines", &app.tokens.ingest, &def)
        .await;
    assert_eq!(ingest_create.status, StatusCode::FORBIDDEN);

    let created = app
        .post_json("/api/v1/pipelines", &app.tokens.admin, &def)
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["createdBy"], "alice-admin");
    let events = format!(
        "/api/v1/pipelines/{}/events",
        created.body["id"].as_str().unwrap()
    );
    let editor_ingest = app
        .post_json(&events, &app.tokens.editor, &serde_json::json!({"a": 1}))
        .await;
    assert_eq!(editor_ingest.status, StatusCode::FORBIDDEN);

    let viewer_list = app.get("/api/v1/pipelines", &app.tokens.viewer).await;
    assert_eq!(viewer_list.status, StatusCode::OK);
}
