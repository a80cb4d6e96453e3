use crate::helpers::{definition, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

fn filtering_definition(name: &str) -> serde_json::Value {
    let mut def = definition(name, 1);
    def["stages"] = json!([
        {"type": "parse", "field": "log_message", "formats": ["json"]},
        {"type": "filter", "drop_if": {"field": "severity", "in": ["DEBUG"]}},
        {"type": "hash", "target": "event_hash"}
    ]);
    def
}

fn events() -> serde_json::Value {
    json!([
        {"severity": "INFO", "log_message": "{\"user\":\"u1\"}"},
        {"severity": "DEBUG", "log_message": "noise"},
        42
    ])
}

fn check(results: &serde_json::Value) {
    let results = results["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{results:?}");
    assert!(results[0]["id"].is_string(), "{results:?}");
    assert!(results[0]["document"].is_object(), "{results:?}");
    assert_eq!(results[1], json!({"dropped": true}));
    assert_eq!(results[2]["error"]["stage"], "decode", "{results:?}");
}

#[tokio::test]
async fn dry_run_of_an_unsaved_definition_has_no_side_effects() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let resp = app
        .post_json(
            "/api/v1/dry-run",
            &app.tokens.editor,
            &json!({"definition": filtering_definition(&name), "events": events()}),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    check(&resp.body);
    assert_eq!(app.row_count(&name).await, 0);

    let invalid = app
        .post_json(
            "/api/v1/dry-run",
            &app.tokens.editor,
            &json!({"definition": {"name": "Not Valid"}, "events": []}),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid.body["errors"][0]["field"], "definition.name");

    let viewer = app
        .post_json(
            "/api/v1/dry-run",
            &app.tokens.viewer,
            &json!({"definition": filtering_definition(&name), "events": []}),
        )
        .await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn dry_run_of_a_stored_pipeline() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&filtering_definition(&name)).await;
    let path = format!(
        "/api/v1/pipelines/{}/dry-run",
        created["id"].as_str().unwrap()
    );
    let resp = app
        .post_json(&path, &app.tokens.editor, &json!({"events": events()}))
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    check(&resp.body);
}

#[tokio::test]
async fn dry_run_shows_the_cloudevent_context_of_a_cloudevent_only() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let events = json!([
        {"specversion": "1.0", "id": "evt-9", "source": "/edge", "type": "com.example.log",
         "time": "2026-11-04T00:47:17Z", "subject": "host-1", "data": {"log_message": "{}"}},
        {"log_message": "{}"}
    ]);
    let resp = app
        .post_json(
            "/api/v1/dry-run",
            &app.tokens.editor,
            &json!({"definition": definition(&name, 1), "events": events}),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let results = resp.body["results"].as_array().unwrap();
    assert_eq!(
        results[0]["document"]["cloudevent"],
        json!({"id": "evt-9", "source": "/edge", "type": "com.example.log",
               "time": "2026-11-04T00:47:17Z", "subject": "host-1"}),
        "{results:?}"
    );
    assert!(
        results[1]["document"].get("cloudevent").is_none(),
        "{results:?}"
    );
}
