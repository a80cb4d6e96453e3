//! The GeoIP database is read once per worker: a definition changed after the `.mmdb` file is
//! gone still builds, with the database the worker opened at start-up.

use crate::helpers::*;
use mmdb_writer::ipnet::IpNet;
use mmdb_writer::Writer;
use pipeline_common::model::{PipelineDefinition, ValidationContext};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Serialize)]
struct Names {
    names: BTreeMap<&'static str, &'static str>,
}

#[derive(Serialize)]
struct Country {
    country: Names,
}

/// A database that knows one network, 81.2.69.0/24, in the United Kingdom.
fn database() -> Vec<u8> {
    let mut writer = Writer::new("Test-Country");
    let uk = Country {
        country: Names {
            names: BTreeMap::from([("en", "United Kingdom")]),
        },
    };
    writer
        .insert("81.2.69.0/24".parse::<IpNet>().unwrap(), &uk)
        .unwrap();
    writer.to_bytes().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_definition_uses_the_database_opened_at_start_up() {
    let _slot = slot().await;
    let (brokers, opensearch) = shared_servers();
    let world = World::new(&brokers, &opensearch, 1, json!({})).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("country.mmdb");
    std::fs::write(&path, database()).unwrap();
    let database = path.to_str().unwrap();
    let worker =
        InProcess::start(world.settings("w1", &[("FLOW__GEOIP__DATABASE", database)])).await;
    eventually("the task to run", Duration::from_secs(30), || async {
        world.tasks().await.first().map(|_| ())
    })
    .await;
    std::fs::remove_file(&path).unwrap();

    let v2 = PipelineDefinition::parse(
        &json!({
            "name": world.name, "index": world.name,
            "topics": {"partitions": 1, "replicationFactor": 1},
            "stages": [
                {"type": "parse"},
                {"type": "geoip", "field": "parsed.client_ip", "target": "origin"}
            ]
        }),
        &ValidationContext::new(true),
    )
    .unwrap()
    .to_json();
    sqlx::query("UPDATE pipelines SET definition = ?, version = 2 WHERE id = ?")
        .bind(sqlx::types::Json(&v2))
        .bind(&world.pipeline_id)
        .execute(&world.pool)
        .await
        .unwrap();
    eventually(
        "the supervisor to take version 2",
        Duration::from_secs(15),
        || async {
            let tasks = world.tasks().await;
            tasks
                .first()
                .filter(|t| t.report.pipeline_version == 2)
                .map(|_| ())
        },
    )
    .await;
    let line = r#"81.2.69.160 - - [21/Nov/2026:10:15:00 +0000] "GET / HTTP/1.1" 200 5"#;
    let event = serde_json::to_vec(&json!({"seq": 1, "log_message": line})).unwrap();
    assert_eq!(world.produce(&[(None, event)]), 1);
    let outputs = world.read_topic("output", 1, Duration::from_secs(30));
    assert_eq!(outputs.len(), 1);
    let doc: Value = serde_json::from_slice(outputs[0].value.as_deref().unwrap()).unwrap();
    assert_eq!(doc["origin"]["country"], "United Kingdom", "{doc}");
    worker.shutdown().await;
}
