use crate::helpers::spawn_app;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn every_error_is_problem_json() {
    let app = spawn_app().await;
    // The helper asserts problem+json on every 4xx; these check the status codes.
    let cases = [
        (
            app.request(Method::GET, "/no/such/route", Some(&app.tokens.admin)),
            StatusCode::NOT_FOUND,
        ),
        (
            app.request(Method::GET, "/api/v1/nope", None),
            StatusCode::NOT_FOUND,
        ),
        (
            app.request(Method::PATCH, "/api/v1/pipelines", Some(&app.tokens.admin)),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            app.request(Method::DELETE, "/healthz", None),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            app.request(Method::POST, "/api/v1/pipelines", Some(&app.tokens.admin))
                .header("Content-Type", "application/json")
                .body("{\"name\": "),
            StatusCode::BAD_REQUEST,
        ),
        (
            app.request(Method::POST, "/api/v1/pipelines", Some(&app.tokens.admin))
                .header("Content-Type", "application/json")
                .body("{} trailing"),
            StatusCode::BAD_REQUEST,
        ),
        (
            app.request(Method::POST, "/api/v1/pipelines", Some(&app.tokens.admin))
                .header("Content-Type", "text/plain")
                .body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            app.request(Method::POST, "/api/v1/pipelines", Some(&app.tokens.admin))
                .body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            app.request(Method::POST, "/api/v1/pipelines", Some(&app.tokens.admin))
                .json(&serde_json::json!([1, 2])),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            app.request(Method::POST, "/api/v1/dry-run", Some(&app.tokens.admin))
                .json(&serde_json::json!({"events": []})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            app.request(
                Method::PATCH,
                "/api/v1/pipelines/00000000-0000-0000-0000-000000000000/state",
                Some(&app.tokens.admin),
            )
            .json(&serde_json::json!({"state": "running"})),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (request, expected) in cases {
        let resp = app.send(request).await;
        assert_eq!(resp.status, expected, "{}", resp.text);
    }
}

#[tokio::test]
async fn oversize_body_is_413_problem_json() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        vars: vec![("FLOW__SERVER__MAX_REQUEST_BYTES".into(), "4096".into())],
        ..Default::default()
    })
    .await;
    let body = format!(
        "{{\"name\":\"x\",\"description\":\"{}\"}}",
        "d".repeat(10_000)
    );
    let resp = app
        .send(
            app.request(Method::POST, "/api/v1/pipelines", Some(&app.tokens.admin))
                .header("Content-Type", "application/json")
                .body(body),
        )
        .await;
    assert_eq!(resp.status, StatusCode::PAYLOAD_TOO_LARGE);
}
