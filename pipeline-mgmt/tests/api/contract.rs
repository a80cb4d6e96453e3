//! The REST contract's edges: path ids that are not UUIDs, and a MariaDB whose default character
//! set is latin1.

use crate::helpers::{definition, spawn_app, spawn_app_with, Options, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Ids that name no pipeline: not UUIDs, and not ASCII (`¼` and a 4-byte character, percent-encoded).
const BAD_IDS: [&str; 4] = [
    "not-a-uuid",
    "%C2%BC%F2%93%95%8F",
    "00000000-0000-0000-0000-00000000000g",
    "%F0%9F%9A%80-%E8%BE%B9",
];

/// Every `{id}` route, with a request that would pass everything but the id.
fn id_requests(app: &TestApp, id: &str) -> Vec<reqwest::RequestBuilder> {
    let admin = Some(app.tokens.admin.as_str());
    let base = format!("/api/v1/pipelines/{id}");
    vec![
        app.request(Method::GET, &base, admin),
        app.request(Method::PUT, &base, admin)
            .header("If-Match", "*")
            .json(&definition("p-contract", 1)),
        app.request(Method::DELETE, &format!("{base}?force=true"), admin),
        app.request(Method::PATCH, &format!("{base}/state"), admin)
            .json(&json!({"state": "stopped"})),
        app.request(Method::GET, &format!("{base}/status"), admin),
        app.request(Method::POST, &format!("{base}/events"), admin)
            .json(&json!({"log_message": "x"})),
        app.request(Method::POST, &format!("{base}/dry-run"), admin)
            .json(&json!({"events": []})),
        app.request(Method::GET, &format!("{base}/errors"), admin),
        app.request(Method::POST, &format!("{base}/replay"), admin)
            .json(&json!({})),
        app.request(Method::GET, &format!("{base}/replays"), admin),
        app.request(
            Method::GET,
            &format!("{base}/replays/00000000-0000-4000-8000-000000000000"),
            admin,
        ),
    ]
}

async fn assert_all_not_found(app: &TestApp) {
    for id in BAD_IDS {
        for request in id_requests(app, id) {
            let resp = app.send(request).await;
            assert_eq!(resp.status, StatusCode::NOT_FOUND, "{id}: {}", resp.text);
            assert_eq!(resp.body["title"], "Not found", "{}", resp.text);
        }
    }
}

#[tokio::test]
async fn ids_that_are_not_uuids_are_404_problem_json_on_every_id_route() {
    let app = spawn_app().await;
    // `send` checks problem+json on every 4xx and that nothing is a 500.
    assert_all_not_found(&app).await;
}

#[tokio::test]
async fn a_replay_job_id_that_is_not_a_uuid_is_404() {
    let app = spawn_app().await;
    let created = app
        .create_ok(&definition(&test_support::unique_name("jobid"), 1))
        .await;
    let id = created["id"].as_str().unwrap();
    for job in BAD_IDS
        .iter()
        .copied()
        .chain(["00000000-0000-4000-8000-000000000000"])
    {
        let resp = app
            .get(
                &format!("/api/v1/pipelines/{id}/replays/{job}"),
                &app.tokens.viewer,
            )
            .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{job}: {}", resp.text);
        assert_eq!(resp.body["title"], "Not found", "{}", resp.text);
    }
    app.stop().await;
}

async fn com_select(db: &sqlx::MySqlPool) -> i64 {
    let (_, value): (String, String) = sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Com_select'")
        .fetch_one(db)
        .await
        .unwrap();
    value.parse().unwrap()
}

/// Acceptance: on a server whose default character set is latin1, non-ASCII text round-trips
/// byte for byte and lookups by non-ASCII input answer 4xx or 2xx, never 500.
#[tokio::test]
async fn a_latin1_default_server_behaves_like_a_utf8mb4_one() {
    let mariadb = tokio::task::spawn_blocking(|| {
        test_support::MariaDb::spawn_with(&[
            "--character-set-server=latin1",
            "--collation-server=latin1_swedish_ci",
        ])
    })
    .await
    .unwrap();
    let app = spawn_app_with(Options {
        mysql_url: Some(mariadb.url()),
        ..Default::default()
    })
    .await;
    let (server_charset,): (String,) = sqlx::query_as("SELECT @@character_set_server")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        server_charset, "latin1",
        "the server must default to latin1"
    );

    // Every table and text column is utf8mb4, whatever the server default.
    let latin: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT TABLE_NAME, COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('pipelines', 'worker_tasks', 'audit_log', 'replay_jobs', 'worker_samples') \
         AND CHARACTER_SET_NAME IS NOT NULL AND CHARACTER_SET_NAME <> 'utf8mb4'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert!(latin.is_empty(), "columns not utf8mb4: {latin:?}");
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('pipelines', 'worker_tasks', 'audit_log', 'replay_jobs', 'worker_samples')",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(tables.len(), 5);
    for (table, collation) in &tables {
        assert_eq!(collation, "utf8mb4_unicode_ci", "{table}");
    }

    let description = "边缘节点的 nginx 日志 🚀";
    let name = test_support::unique_name("u");
    let mut def = definition(&name, 1);
    def["description"] = description.into();
    let created = app.create_ok(&def).await;
    let id = created["id"].as_str().unwrap();
    let read = app
        .get(&format!("/api/v1/pipelines/{id}"), &app.tokens.viewer)
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(
        read.body["description"].as_str().unwrap().as_bytes(),
        description.as_bytes()
    );
    // And in the row itself, read back by another client.
    let (stored,): (Vec<u8>,) = sqlx::query_as(
        "SELECT JSON_UNQUOTE(JSON_EXTRACT(definition, '$.description')) FROM pipelines WHERE id = ?",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored, description.as_bytes());

    // Non-ASCII input that does reach a query: the list cursor is compared with names.
    for after in ["边缘节点", "%C2%BC%F2%93%95%8F", "🚀"] {
        let page = app
            .get(
                &format!("/api/v1/pipelines?after={}", urlencode(after)),
                &app.tokens.viewer,
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{after}: {}", page.text);
    }
    let state = app
        .get("/api/v1/pipelines?state=%E8%BE%B9", &app.tokens.viewer)
        .await;
    assert_eq!(state.status, StatusCode::BAD_REQUEST, "{}", state.text);

    // Ids that are not UUIDs never reach the database: no SELECT is run for them.
    let before = com_select(&app.db).await;
    assert_all_not_found(&app).await;
    let after = com_select(&app.db).await;
    // The two SHOW STATUS reads are not SELECTs; nothing else uses this private server.
    assert_eq!(after, before, "a bad id reached the database");
    // The same routes with a real id do query it (so the count above could have moved).
    app.get(&format!("/api/v1/pipelines/{id}"), &app.tokens.viewer)
        .await;
    assert!(com_select(&app.db).await > after);
    app.stop().await;
    drop(mariadb);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
