use crate::helpers::{definition, spawn_app, spawn_app_with, Options};
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn health_ready_version() {
    let app = spawn_app().await;
    let health = app.send(app.request(Method::GET, "/healthz", None)).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = app.send(app.request(Method::GET, "/readyz", None)).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    let version = app.send(app.request(Method::GET, "/version", None)).await;
    assert_eq!(version.body["name"], "pipeline-mgmt");
    for key in ["version", "rustc", "os", "arch"] {
        assert!(version.body[key].is_string(), "{key}");
    }
}

#[tokio::test]
async fn readyz_names_the_dependency_that_is_down() {
    let dead = format!("127.0.0.1:{}", test_support::free_port());
    let app = spawn_app_with(Options {
        brokers: Some(dead),
        ..Options::default()
    })
    .await;
    let ready = app.send(app.request(Method::GET, "/readyz", None)).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    let detail = ready.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("kafka") && !detail.contains("database"),
        "{detail}"
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_pipelines_by_state() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 1)).await;
    let id = created["id"].as_str().unwrap();
    app.get(&format!("/api/v1/pipelines/{id}"), &app.tokens.viewer)
        .await;
    let metrics = app.send(app.request(Method::GET, "/metrics", None)).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.text;
    assert!(
        text.contains(
            r#"http_requests_total{method="GET",route="/api/v1/pipelines/{id}",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"http_requests_total{method="POST",route="/api/v1/pipelines",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket{route=\"/api/v1/pipelines/{id}\""),
        "{text}"
    );
    assert!(text.contains(r#"pipelines{state="running"} 1"#), "{text}");
    assert!(text.contains(r#"pipelines{state="stopped"} 0"#), "{text}");
    assert!(!text.contains(id), "raw paths never become labels");
}

#[tokio::test]
async fn metrics_show_failed_tasks_and_heartbeat_ages_from_the_database() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 1)).await;
    let id = created["id"].as_str().unwrap();
    let insert = |worker: &'static str, status: &'static str, age_s: i64| {
        sqlx::query(
            "INSERT INTO worker_tasks (pipeline_id, worker_id, status, partitions, \
             pipeline_version, heartbeat_at) \
             VALUES (?, ?, ?, '[0]', 1, UTC_TIMESTAMP(6) - INTERVAL ? SECOND)",
        )
        .bind(id)
        .bind(worker)
        .bind(status)
        .bind(age_s)
        .execute(&app.db)
    };
    insert("w-live", "running", 0).await.unwrap();
    insert("w-failed", "failed", 0).await.unwrap();
    insert("w-silent", "running", 600).await.unwrap();
    insert("w-retired", "running", 7200).await.unwrap();

    let text = app
        .send(app.request(Method::GET, "/metrics", None))
        .await
        .text;
    let gauge = |series: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    };
    let tasks = |status: &str| {
        gauge(&format!(
            "flow_fleet_pipeline_tasks{{pipeline=\"{name}\",status=\"{status}\"}}"
        ))
    };
    assert_eq!(
        tasks("running"),
        Some(1.0),
        "only the live running task:\n{text}"
    );
    assert_eq!(tasks("failed"), Some(1.0), "{text}");
    let age = |worker: &str| {
        gauge(&format!(
            "flow_fleet_worker_heartbeat_age_seconds{{worker=\"{worker}\"}}"
        ))
    };
    assert!(age("w-live").unwrap() < 60.0, "{text}");
    let silent = age("w-silent").unwrap();
    assert!((600.0..900.0).contains(&silent), "{silent}");
    assert_eq!(
        age("w-retired"),
        None,
        "a worker silent for an hour is retired"
    );
}

#[tokio::test]
async fn openapi_lists_every_route() {
    let app = spawn_app().await;
    let doc = app
        .send(app.request(Method::GET, "/api/v1/openapi.json", None))
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&doc.text).expect("OpenAPI document parses");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let expected = [
        ("post", "/api/v1/pipelines"),
        ("get", "/api/v1/pipelines"),
        ("get", "/api/v1/pipelines/{id}"),
        ("put", "/api/v1/pipelines/{id}"),
        ("delete", "/api/v1/pipelines/{id}"),
        ("patch", "/api/v1/pipelines/{id}/state"),
        ("get", "/api/v1/pipelines/{id}/status"),
        ("get", "/api/v1/pipelines/{id}/indices"),
        ("post", "/api/v1/pipelines/{id}/events"),
        ("post", "/api/v1/pipelines/by-name/{name}/events"),
        ("post", "/api/v1/pipelines/{id}/dry-run"),
        ("post", "/api/v1/dry-run"),
        ("get", "/api/v1/pipelines/{id}/errors"),
        ("post", "/api/v1/pipelines/{id}/replay"),
        ("get", "/api/v1/pipelines/{id}/replays"),
        ("get", "/api/v1/pipelines/{id}/replays/{jobId}"),
        ("post", "/api/v1/brokers"),
        ("get", "/api/v1/brokers"),
        ("get", "/api/v1/brokers/{name}"),
        ("delete", "/api/v1/brokers/{name}"),
        ("post", "/api/v1/brokers/{name}/events"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/version"),
        ("get", "/metrics"),
        ("get", "/api/v1/openapi.json"),
    ];
    for (method, path) in expected {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(operations, expected.len(), "no undocumented extras");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn graceful_shutdown_ends_the_server() {
    let app = spawn_app().await;
    let health = app.send(app.request(Method::GET, "/healthz", None)).await;
    assert_eq!(health.status, StatusCode::OK);
    let url = app.url("/healthz");
    tokio::time::timeout(std::time::Duration::from_secs(20), app.stop())
        .await
        .expect("the server stops within 20 s");
    assert!(reqwest::get(url).await.is_err(), "nothing listens any more");
}

fn sasl_options(user: &str, password: &str) -> Options {
    let vars = [
        ("FLOW__MQ__USERNAME", user),
        ("FLOW__MQ__PASSWORD", password),
        ("FLOW__MQ__MECHANISM", "SCRAM-SHA-512"),
    ];
    Options {
        brokers: Some(test_support::servers().kafka_sasl_brokers.clone()),
        vars: vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Options::default()
    }
}

/// On the broker's SASL listener, mgmt authenticates with `mq.username`/`mq.password`/
/// `mq.mechanism` and provisions a pipeline's topics there.
#[tokio::test]
async fn sasl_credentials_authenticate_to_kafka() {
    let (user, password) = test_support::SASL_USER;
    let app = spawn_app_with(sasl_options(user, password)).await;
    let ready = app.send(app.request(Method::GET, "/readyz", None)).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    let name = test_support::unique_name("p");
    app.create_ok(&definition(&name, 1)).await;
    app.assert_topics_exist(&test_support::servers().kafka_brokers, &name);
}

/// Credentials the broker does not know: readiness is 503 and says the credentials were rejected
/// (not merely "unreachable"), creating a pipeline is a 502, nothing crashes; once the operator
/// adds the user on the broker, mgmt recovers without a restart.
#[tokio::test]
async fn rejected_sasl_credentials_are_a_clear_503_until_the_user_exists() {
    let user = test_support::unique_name("user");
    let password = "late-but-right";
    let app = spawn_app_with(sasl_options(&user, password)).await;
    let ready = app.send(app.request(Method::GET, "/readyz", None)).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.text
    );
    let detail = ready.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("kafka") && detail.contains("authentication failed"),
        "{detail}"
    );
    assert!(
        !detail.contains(password),
        "no secret in the answer: {detail}"
    );
    let name = test_support::unique_name("p");
    let refused = app.create(&definition(&name, 1)).await;
    assert_eq!(refused.status, StatusCode::BAD_GATEWAY, "{}", refused.text);
    assert_eq!(app.row_count(&name).await, 0);

    test_support::upsert_scram_user(&test_support::servers().kafka_brokers, &user, password);
    app.wait_ready(std::time::Duration::from_secs(60)).await;
    app.create_ok(&definition(&name, 1)).await;
}

/// mgmt started while its broker is down runs, answers readiness 503 naming Kafka and create
/// 502, and recovers without a restart once the broker is up.
#[tokio::test]
async fn mgmt_started_while_kafka_is_down_recovers_when_it_comes_up() {
    let mut kafka = test_support::Kafka::spawn();
    kafka.kill();
    let app = spawn_app_with(Options {
        brokers: Some(kafka.brokers()),
        ..Options::default()
    })
    .await;
    let ready = app.send(app.request(Method::GET, "/readyz", None)).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.text
    );
    let detail = ready.body["detail"].as_str().unwrap();
    assert!(detail.contains("kafka unreachable"), "{detail}");
    let name = test_support::unique_name("p");
    let refused = app.create(&definition(&name, 1)).await;
    assert_eq!(refused.status, StatusCode::BAD_GATEWAY, "{}", refused.text);
    assert_eq!(app.row_count(&name).await, 0, "no row remains");

    kafka.restart();
    app.wait_ready(std::time::Duration::from_secs(60)).await;
    app.create_ok(&definition(&name, 1)).await;
    app.assert_topics_exist(&kafka.brokers(), &name);
}

/// MariaDB down for 30 s: mgmt stays up, readiness and writes answer 503 problem+json (never a
/// 500), reads too; once the database is back, everything works without a restart.
#[tokio::test]
async fn mariadb_down_for_30s_is_503_until_it_is_back() {
    let mut db = test_support::MariaDb::spawn_with(&[]);
    let app = spawn_app_with(Options {
        mysql_url: Some(db.url()),
        ..Options::default()
    })
    .await;
    let before = test_support::unique_name("p");
    app.create_ok(&definition(&before, 1)).await;

    db.kill();
    let down_at = std::time::Instant::now();
    let ready = app.send(app.request(Method::GET, "/readyz", None)).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.text
    );
    assert!(
        ready.body["detail"].as_str().unwrap().contains("database"),
        "{}",
        ready.text
    );
    let name = test_support::unique_name("p");
    let create = app.create(&definition(&name, 1)).await;
    assert_eq!(
        create.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        create.text
    );
    let list = app.get("/api/v1/pipelines", &app.tokens.viewer).await;
    assert_eq!(
        list.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        list.text
    );
    let health = app.send(app.request(Method::GET, "/healthz", None)).await;
    assert_eq!(
        health.status,
        StatusCode::OK,
        "alive while the database is down"
    );
    tokio::time::sleep(std::time::Duration::from_secs(30).saturating_sub(down_at.elapsed())).await;

    db.restart();
    app.wait_ready(std::time::Duration::from_secs(60)).await;
    app.create_ok(&definition(&name, 1)).await;
    assert_eq!(
        app.row_count(&before).await,
        1,
        "the earlier pipeline is still there"
    );
}
