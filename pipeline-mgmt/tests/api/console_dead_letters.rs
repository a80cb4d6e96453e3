//! The console's dead-letter page stays screen-sized with long dead letters: each row is one
//! line, a value opens in full on demand, the stage filter offers the pipeline's stages, and
//! Older/Newer page through them. A browser (playwright-core driving Debian's Chromium) measures
//! the page; its screenshot goes to `$CARGO_TARGET_TMPDIR/console-screenshots`.

use crate::helpers::{definition, spawn_app};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

/// Dead letters produced: one full page of 50 and some on an older page.
const LETTERS: usize = 60;
/// The browser's viewport width; the page must not scroll sideways.
const VIEWPORT_WIDTH: u64 = 1280;
/// Tallest page accepted for 50 one-line rows (about three screens).
const MAX_HEIGHT: u64 = 3000;

/// Dead letters with a 4,000-character value without spaces and a long reason.
fn produce_long(brokers: &str, topic: &str) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let reason = format!("no pattern matched the line {}", "because ".repeat(60));
    for n in 0..LETTERS {
        let value = json!({"n": n, "log_message": "x".repeat(4000)}).to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "error.stage",
                value: Some("parse".as_bytes()),
            })
            .insert(Header {
                key: "error.reason",
                value: Some(reason.as_bytes()),
            })
            .insert(Header {
                key: "source.topic",
                value: Some("x".repeat(300).as_bytes()),
            });
        let record = BaseRecord::<(), String>::to(topic)
            .payload(&value)
            .headers(headers);
        producer.send(record).map_err(|(e, _)| e).unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

#[tokio::test]
async fn the_dead_letter_page_stays_screen_sized_with_50_long_dead_letters() {
    let app = spawn_app().await;
    let name = test_support::unique_name("console-dl");
    let created = app.create_ok(&definition(&name, 1)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let error_topic = created["topics"]["error"].as_str().unwrap().to_owned();
    let brokers = app.brokers.clone();
    tokio::task::spawn_blocking(move || produce_long(&brokers, &error_topic))
        .await
        .unwrap();

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/console/dead_letters.test.cjs");
    let output = tokio::process::Command::new("node")
        .arg(&script)
        .env("NODE_PATH", crate::console::node_modules())
        .env("CONSOLE_URL", &app.base)
        .env("PIPELINE_ID", &id)
        .env("VIEWER_TOKEN", &app.tokens.viewer)
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
    let metrics: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("METRICS="))
        .map(|m| serde_json::from_str(m).unwrap())
        .expect("the script prints its measurements");
    println!("dead-letter page: {metrics}");
    assert_eq!(metrics["rows"], 50, "{metrics}");
    let width = metrics["width"].as_u64().unwrap();
    let height = metrics["height"].as_u64().unwrap();
    assert!(width <= VIEWPORT_WIDTH, "{width} px wide: {metrics}");
    assert!(height <= MAX_HEIGHT, "{height} px tall: {metrics}");
    // `definition()` has a parse and a hash stage.
    assert_eq!(
        metrics["options"],
        json!(["", "decode", "parse", "hash", "index"])
    );
    assert!(metrics["opened"].as_u64().unwrap() > 4000, "{metrics}");
    assert_eq!(metrics["olderRows"], LETTERS - 50);
    assert_eq!(metrics["backRows"], 50);
    assert_eq!(metrics["filtered"], "0 dead letters on this page");
    let screenshot = std::fs::metadata(shots.join("dead-letters-50-long.png")).unwrap();
    assert!(screenshot.len() > 0);
}
