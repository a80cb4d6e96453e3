//! Filtered dead-letter reads stop at the scan budget (`deadLetters.scanRecords`) and answer with
//! a cursor, so a filter that matches nothing cannot keep a request reading the whole topic.
//! The dead letters are produced straight to the error topic: the worker is not under test here.

use crate::helpers::{definition, spawn_app_with, Options};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// Dead letters that match no filter of the test, the issue's figure.
const NOISE: usize = 100_000;
/// Records one request may scan.
const BUDGET: u64 = 20_000;

/// Produces `letters` (stage, value) to `topic`'s `partition`, in order, and waits for them all.
fn produce(brokers: &str, topic: &str, partition: i32, letters: &[(&str, String)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    for (stage, value) in letters {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "error.stage",
                value: Some(stage.as_bytes()),
            })
            .insert(Header {
                key: "error.reason",
                value: Some(format!("{stage} failed").as_bytes()),
            });
        let record = BaseRecord::<(), String>::to(topic)
            .partition(partition)
            .payload(value)
            .headers(headers);
        producer.send(record).map_err(|(e, _)| e).unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

#[tokio::test]
async fn a_filter_matching_nothing_answers_at_the_budget_and_the_cursor_reaches_the_far_end() {
    let app = spawn_app_with(Options {
        vars: vec![
            (
                "FLOW__DEAD_LETTERS__SCAN_RECORDS".into(),
                BUDGET.to_string(),
            ),
            // Only the record budget may end a scan here, so the counts below are exact.
            ("FLOW__DEAD_LETTERS__SCAN_MS".into(), "600000".into()),
        ],
        ..Default::default()
    })
    .await;
    let name = test_support::unique_name("scan");
    let created = app.create_ok(&definition(&name, 2)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let error_topic = created["topics"]["error"].as_str().unwrap().to_owned();
    {
        let (brokers, topic) = (app.brokers.clone(), error_topic.clone());
        tokio::task::spawn_blocking(move || {
            // The one match is the oldest record of partition 0; the noise follows it.
            produce(
                &brokers,
                &topic,
                0,
                &[("index", r#"{"planted":true}"#.into())],
            );
            let noise: Vec<(&str, String)> = (0..NOISE / 2)
                .map(|n| ("decode", format!("{{\"n\":{n}}}")))
                .collect();
            produce(&brokers, &topic, 0, &noise);
            produce(&brokers, &topic, 1, &noise);
        })
        .await
        .unwrap();
    }

    let base = format!("/api/v1/pipelines/{id}/errors?limit=10&stage=index");
    let first = app.get(&base, &app.tokens.viewer).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["items"], json!([]));
    assert_eq!(
        first.body["scan"]["budgetExhausted"], true,
        "{}",
        first.text
    );
    assert_eq!(first.body["scan"]["records"], BUDGET);
    assert!(
        first.body["scan"]["reachedBack"].is_string(),
        "{}",
        first.text
    );
    let mut next = first.body["next"].as_str().expect("a cursor").to_owned();

    let mut pages = 1;
    let found: Value = loop {
        let page = app
            .get(&format!("{base}&after={next}"), &app.tokens.viewer)
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        pages += 1;
        assert!(page.body["scan"]["records"].as_u64().unwrap() <= BUDGET);
        if let Some(item) = page.body["items"].as_array().unwrap().first() {
            break item.clone();
        }
        assert_eq!(page.body["scan"]["budgetExhausted"], true, "{}", page.text);
        next = page.body["next"]
            .as_str()
            .expect("a cursor until the match")
            .to_owned();
        assert!(pages <= 10, "the cursor does not reach the far end");
    };
    assert_eq!(found["partition"], 0);
    assert_eq!(found["offset"], 0);
    assert_eq!(found["stage"], "index");
    assert_eq!(found["value"], r#"{"planted":true}"#);
    // 100,001 records at 20,000 a page: the match is on the sixth page.
    assert_eq!(pages, 6);

    // The same bound holds for a dry run's `fromErrors`.
    let dry_run = app
        .post_json(
            &format!("/api/v1/pipelines/{id}/dry-run"),
            &app.tokens.editor,
            &json!({"fromErrors": {"limit": 5, "stage": "index"}}),
        )
        .await;
    assert_eq!(dry_run.status, StatusCode::OK, "{}", dry_run.text);
    assert_eq!(dry_run.body["results"], json!([]));
    assert_eq!(dry_run.body["scan"]["budgetExhausted"], true);
    assert_eq!(dry_run.body["scan"]["records"], BUDGET);
    assert!(dry_run.body["next"].is_string(), "{}", dry_run.text);
}
