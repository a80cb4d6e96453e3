//! The web console: its HTTP contract, then a browser (playwright-core driving Debian's
//! Chromium) through sign-in, create with a dry run, dead letters, fix, replay and a viewer's
//! view, against a real worker. Screenshots go under the test output
//! (`$CARGO_TARGET_TMPDIR/console-screenshots`).

use crate::helpers::spawn_app;
use crate::replay::{Worker, BROKEN, FIXED};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[tokio::test]
async fn console_signs_in_with_a_token_and_forwards_to_the_api_as_that_token() {
    let app = spawn_app().await;
    let client = no_redirects();
    // Not signed in: every page sends you to the sign-in form.
    let page = client.get(app.url("/console")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()[LOCATION], "/console/sign-in");
    let form = client
        .get(app.url("/console/sign-in"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert!(form.text().await.unwrap().contains("id=\"token\""));
    for (token, status) in [("nope", 401), (app.tokens.ingest.as_str(), 403)] {
        let refused = client
            .post(app.url("/console/sign-in"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status().as_u16(), status);
        assert!(refused.headers().get(SET_COOKIE).is_none());
    }
    let signed_in = client
        .post(app.url("/console/sign-in"))
        .form(&[("token", app.tokens.viewer.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let list = client
        .get(app.url("/console"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    let html = list.text().await.unwrap();
    assert!(html.contains("vera-viewer (viewer)"), "{html}");
    assert!(
        !html.contains("new-pipeline"),
        "a viewer gets no create button"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no foreign assets"
    );
    for asset in ["/console/assets/console.css", "/console/assets/console.js"] {
        let r = client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
    }
    // A page's `{id}` that is not a UUID, or names no pipeline, is a 404 page, not a problem.
    let unknown = uuid::Uuid::new_v4();
    for id in ["not-a-uuid".to_owned(), unknown.to_string()] {
        for page in ["", "/errors"] {
            let r = client
                .get(app.url(&format!("/console/pipelines/{id}{page}")))
                .header(COOKIE, &session)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{id}{page}");
            let html = r.text().await.unwrap();
            assert!(
                html.contains("no pipeline with this id"),
                "{id}{page}: {html}"
            );
        }
    }

    // The API behind /console/api/: only with the console's header, and as the session's role.
    let api = |method: Method, path: &str| {
        app.client
            .request(method, app.url(&format!("/console/api/{path}")))
            .header(COOKIE, &session)
    };
    let without_header = app.send(api(Method::GET, "pipelines")).await;
    assert_eq!(without_header.status, StatusCode::FORBIDDEN);
    let listed = app
        .send(api(Method::GET, "pipelines?limit=5").header("X-Flow-Console", "1"))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.body["items"], json!([]));
    let write = app
        .send(
            api(Method::POST, "pipelines")
                .header("X-Flow-Console", "1")
                .json(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(
        write.status,
        StatusCode::FORBIDDEN,
        "a viewer may not create"
    );
    let anonymous = app
        .send(
            app.client
                .get(app.url("/console/api/pipelines"))
                .header("X-Flow-Console", "1"),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let signed_out = client
        .post(app.url("/console/sign-out"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert!(signed_out.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
}

pub fn node_modules() -> PathBuf {
    match std::env::var_os("FLOW_NODE_MODULES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap())
            .join(".cache/flow-stream/tools/node-playwright-1.65.1/node_modules"),
    }
}

#[tokio::test]
async fn browser_signs_in_creates_browses_dead_letters_replays_and_a_viewer_only_reads() {
    let app = spawn_app().await;
    let worker = Worker::start(&app).await;
    let name = test_support::unique_name("console");
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/console/console.test.cjs");
    let modules = node_modules();
    assert!(
        modules.join("playwright-core").is_dir(),
        "playwright-core is not in {}: run scripts/install-tools",
        modules.display()
    );
    let output = tokio::process::Command::new("node")
        .arg(&script)
        .env("NODE_PATH", &modules)
        .env("CONSOLE_URL", &app.base)
        .env("PIPELINE", &name)
        .env("EDITOR_TOKEN", &app.tokens.editor)
        .env("VIEWER_TOKEN", &app.tokens.viewer)
        .env("INGEST_TOKEN", &app.tokens.ingest)
        .env("BROKEN", BROKEN)
        .env("FIXED", FIXED)
        .env("SCREENSHOTS", &shots)
        .env(
            "CHROMIUM",
            std::env::var("FLOW_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
        )
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser test failed\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PIPELINE_ID="))
        .expect("the script names the pipeline")
        .to_owned();

    // What the clicks did, read back from the servers.
    let job: (String, i64, i64, String) = sqlx::query_as(
        "SELECT state, matched, replayed, started_by FROM replay_jobs WHERE pipeline_id = ?",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(job, ("succeeded".into(), 50, 50, "eddie-editor".into()));
    let version: i64 = sqlx::query_scalar("SELECT version FROM pipelines WHERE id = ?")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(version, 2);
    let client = reqwest::Client::new();
    client
        .post(format!("{}/{name}/_refresh", app.opensearch))
        .send()
        .await
        .unwrap();
    let count: Value = client
        .get(format!("{}/{name}/_count", app.opensearch))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["count"], 50, "{count}");
    for shot in [
        "01-sign-in.png",
        "02-new-pipeline-dry-run.png",
        "03-pipeline-running.png",
        "04-dead-letters.png",
        "05-edit-dry-run-from-errors.png",
        "06-replay-job.png",
        "07-pipeline-after-replay.png",
        "08-viewer-pipelines.png",
        "09-viewer-dead-letters.png",
    ] {
        let len = std::fs::metadata(shots.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 0, "screenshot {shot} written");
    }
    worker.shutdown().await;
}

#[tokio::test]
async fn samples_turn_worker_heartbeats_into_per_minute_rates() {
    use chrono::{DurationRound, Utc};
    use pipeline_mgmt::service::samples;
    let app = spawn_app().await;
    let pipeline = uuid::Uuid::new_v4().to_string();
    let heartbeat = |worker: &'static str, indexed: i64, dead: i64, lag: i64| {
        sqlx::query(
            "INSERT INTO worker_tasks (pipeline_id, worker_id, status, partitions, consumed, \
             indexed, dead_lettered, filtered, lag, last_error, pipeline_version, heartbeat_at) \
             VALUES (?, ?, 'running', '[0]', 0, ?, ?, 0, ?, NULL, 1, UTC_TIMESTAMP(6)) \
             ON DUPLICATE KEY UPDATE indexed = VALUES(indexed), \
             dead_lettered = VALUES(dead_lettered), lag = VALUES(lag), heartbeat_at = VALUES(heartbeat_at)",
        )
        .bind(&pipeline)
        .bind(worker)
        .bind(indexed)
        .bind(dead)
        .bind(lag)
        .execute(&app.db)
    };
    // Everything below happens in one minute: start afresh when this one is about to end.
    let second = Utc::now().timestamp().rem_euclid(60);
    if second >= 55 {
        tokio::time::sleep(Duration::from_secs((61 - second).unsigned_abs())).await;
    }
    // The previous minute's samples of two workers, as an earlier sampler left them.
    let minute = Utc::now()
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap();
    for (worker, indexed, dead) in [("w1", 100_i64, 5_i64), ("w2", 40, 0)] {
        sqlx::query(
            "INSERT INTO worker_samples (pipeline_id, worker_id, minute, consumed, indexed, \
             dead_lettered, lag) VALUES (?, ?, ?, 0, ?, ?, 0)",
        )
        .bind(&pipeline)
        .bind(worker)
        .bind((minute - chrono::Duration::minutes(1)).naive_utc())
        .bind(indexed)
        .bind(dead)
        .execute(&app.db)
        .await
        .unwrap();
    }
    heartbeat("w1", 130, 6, 7).await.unwrap();
    heartbeat("w2", 10, 2, 3).await.unwrap(); // restarted: its counters began again
    samples::sample(&app.db, 60_000).await.unwrap();
    heartbeat("w1", 150, 6, 4).await.unwrap();
    samples::sample(&app.db, 60_000).await.unwrap(); // same minute: its last report wins
    let points = samples::last_hour(&app.db, pipeline.parse().unwrap())
        .await
        .unwrap();
    let now = points.last().unwrap();
    assert_eq!(now.minute, minute);
    assert_eq!(now.indexed, 50 + 10, "{points:?}");
    assert_eq!(now.dead_lettered, 1 + 2, "{points:?}");
    assert_eq!(now.lag, 4 + 3, "{points:?}");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM worker_samples WHERE pipeline_id = ?")
        .bind(&pipeline)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 4);
}
