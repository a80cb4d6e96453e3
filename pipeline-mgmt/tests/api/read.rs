use crate::helpers::{definition, spawn_app};
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn get_one_and_unknown_ids() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 1)).await;
    let id = created["id"].as_str().unwrap();
    let one = app
        .get(&format!("/api/v1/pipelines/{id}"), &app.tokens.viewer)
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body, created);
    assert_eq!(
        one.body["output"],
        json!({"enabled": true}),
        "the default, spelled out"
    );
    for missing in ["00000000-0000-0000-0000-000000000000", "not-a-uuid"] {
        let resp = app
            .get(&format!("/api/v1/pipelines/{missing}"), &app.tokens.viewer)
            .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn list_filters_and_paginates() {
    let app = spawn_app().await;
    let mut names = Vec::new();
    for i in 0..5 {
        let name = format!("{}-{i}", test_support::unique_name("l"));
        let mut def = definition(&name, 1);
        if i % 2 == 1 {
            def["state"] = "stopped".into();
        }
        app.create_ok(&def).await;
        names.push(name);
    }
    names.sort();

    let mut seen = Vec::new();
    let mut path = "/api/v1/pipelines?limit=2".to_owned();
    loop {
        let page = app.get(&path, &app.tokens.viewer).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|p| p["name"].as_str().unwrap().to_owned()));
        match page.body["next"].as_str() {
            Some(next) => path = format!("/api/v1/pipelines?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, names);

    let stopped = app
        .get("/api/v1/pipelines?state=stopped", &app.tokens.viewer)
        .await;
    assert_eq!(stopped.body["items"].as_array().unwrap().len(), 2);
    assert!(stopped.body["next"].is_null());

    for bad in ["?state=sleeping", "?limit=0", "?limit=abc"] {
        let resp = app
            .get(&format!("/api/v1/pipelines{bad}"), &app.tokens.viewer)
            .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn status_aggregates_live_worker_tasks() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 2)).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/pipelines/{id}/status");

    let idle = app.get(&path, &app.tokens.viewer).await;
    assert_eq!(idle.status, StatusCode::OK);
    assert_eq!(idle.body["desired"], "running");
    assert_eq!(idle.body["observed"], "stopped");

    let insert = |worker: &'static str,
                  status: &'static str,
                  error: Option<&'static str>,
                  age_s: i64| {
        sqlx::query(
            "INSERT INTO worker_tasks (pipeline_id, worker_id, status, partitions, consumed, indexed, \
             dead_lettered, filtered, lag, last_error, pipeline_version, heartbeat_at) \
             VALUES (?, ?, ?, ?, 10, 8, 1, 1, 0, ?, 1, ?)",
        )
        .bind(id)
        .bind(worker)
        .bind(status)
        .bind(sqlx::types::Json(json!([0])))
        .bind(error)
        .bind(Utc::now() - chrono::Duration::seconds(age_s))
        .execute(&app.db)
    };
    insert("w1", "running", None, 0).await.unwrap();
    let running = app.get(&path, &app.tokens.viewer).await;
    assert_eq!(running.body["observed"], "running", "{}", running.text);
    let worker = &running.body["workers"][0];
    assert_eq!(worker["worker"], "w1");
    assert_eq!(worker["partitions"], json!([0]));
    assert_eq!(worker["consumed"], 10);
    assert_eq!(worker["deadLettered"], 1);
    assert!(worker["heartbeatAgeMs"].as_i64().unwrap() >= 0);

    insert("w2", "failed", Some("bulk rejected"), 0)
        .await
        .unwrap();
    let degraded = app.get(&path, &app.tokens.viewer).await;
    assert_eq!(degraded.body["observed"], "degraded");
    assert_eq!(degraded.body["reason"], "bulk rejected");

    // A task whose heartbeat is an hour old is gone.
    insert("w3", "running", None, 3600).await.unwrap();
    let again = app.get(&path, &app.tokens.viewer).await;
    assert_eq!(again.body["workers"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn output_topic_switched_off_is_stored_and_returned() {
    let app = spawn_app().await;
    let name = test_support::unique_name("o");
    let mut def = definition(&name, 1);
    def["output"] = json!({"enabled": false});
    let created = app.create_ok(&def).await;
    assert_eq!(created["output"], json!({"enabled": false}));
    let id = created["id"].as_str().unwrap();
    let one = app
        .get(&format!("/api/v1/pipelines/{id}"), &app.tokens.viewer)
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["output"], json!({"enabled": false}));

    let mut bad = definition(&test_support::unique_name("o"), 1);
    bad["output"] = json!({"enabled": "no"});
    let resp = app.create(&bad).await;
    assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        resp.body["errors"][0]["field"], "output.enabled",
        "{}",
        resp.text
    );
}

/// The view is built from the stored definition, parsed again. One that a hand edit left
/// invalid is a corrupt row (409, left out of lists, never a 500); a geoip stage stays readable
/// on a server without a GeoIP database (its worker is what cannot run it).
#[tokio::test]
async fn a_stored_definition_that_no_longer_validates_reads_as_corrupt() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let created = app.create_ok(&definition(&name, 1)).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/pipelines/{id}");
    let store = |definition: serde_json::Value| {
        let (db, id) = (app.db.clone(), id.to_owned());
        async move {
            sqlx::query("UPDATE pipelines SET definition = ? WHERE id = ?")
                .bind(sqlx::types::Json(definition))
                .bind(id)
                .execute(&db)
                .await
                .unwrap();
        }
    };

    let mut edited = created.clone();
    edited["stages"] = json!([{"type": "geoip"}]);
    store(edited).await;
    let geoip = app.get(&path, &app.tokens.viewer).await;
    assert_eq!(geoip.status, StatusCode::OK, "{}", geoip.text);
    assert_eq!(geoip.body["stages"][0]["type"], "geoip", "{}", geoip.text);

    let mut broken = created.clone();
    broken["stages"] = json!([{"type": "teleport"}]);
    store(broken).await;
    let read = app.get(&path, &app.tokens.viewer).await;
    assert_eq!(read.status, StatusCode::CONFLICT, "{}", read.text);
    assert!(read.body["detail"].as_str().unwrap().contains("corrupt"));
    let list = app
        .get("/api/v1/pipelines?limit=1000", &app.tokens.viewer)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let names: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(!names.contains(&name.as_str()), "{names:?}");

    store(created.clone()).await;
    let repaired = app.get(&path, &app.tokens.viewer).await;
    assert_eq!(repaired.status, StatusCode::OK, "{}", repaired.text);
    assert_eq!(repaired.body["stages"], created["stages"]);
}
