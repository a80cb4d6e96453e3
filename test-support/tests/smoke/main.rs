//! One smoke test per real server, proving the wiring: each fails when its server is unreachable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use opensearch::http::request::JsonBody;
use opensearch::{BulkParts, GetParts, OpenSearch};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::json;
use std::time::Duration;
use test_support::{fresh_database, servers, unique_name};

const TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn sqlx_connects_to_mariadb_and_runs_a_query() {
    use sqlx::Connection;
    let url = fresh_database().await;
    let mut conn = sqlx::MySqlConnection::connect(&url).await.unwrap();
    let (sum, db): (i64, String) = sqlx::query_as("SELECT 1 + 1, DATABASE()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(sum, 2);
    assert!(url.ends_with(&db), "connected to the fresh database {db}");
}

fn kafka_config() -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &servers().kafka_brokers)
        .set("socket.timeout.ms", "10000")
        .set("message.timeout.ms", "15000");
    config
}

#[tokio::test]
async fn kafka_topic_produce_consume_and_commit_on_tansu() {
    let topic = unique_name("smoke");
    let admin: AdminClient<DefaultClientContext> = kafka_config().create().unwrap();
    let created = admin
        .create_topics(
            &[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("create_topics request");
    assert!(created[0].is_ok(), "topic created: {:?}", created[0]);

    let producer: FutureProducer = kafka_config().set("acks", "all").create().unwrap();
    producer
        .send(
            FutureRecord::to(&topic).key("k1").payload("hello tansu"),
            TIMEOUT,
        )
        .await
        .expect("broker acknowledged the record");

    let group = unique_name("group");
    let consumer: StreamConsumer = kafka_config()
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let message = tokio::time::timeout(TIMEOUT, consumer.recv())
        .await
        .expect("a message within the timeout")
        .unwrap();
    assert_eq!(message.payload(), Some(&b"hello tansu"[..]));
    assert_eq!(message.key(), Some(&b"k1"[..]));
    consumer
        .commit_message(&message, CommitMode::Sync)
        .expect("synchronous commit");

    let mut wanted = TopicPartitionList::new();
    wanted.add_partition(&topic, 0);
    let committed = consumer.committed_offsets(wanted, TIMEOUT).unwrap();
    let offset = committed.find_partition(&topic, 0).unwrap().offset();
    assert_eq!(offset, Offset::Offset(message.offset() + 1));
}

#[tokio::test]
async fn opensearch_bulk_index_and_get_by_id_on_osmem() {
    let client = OpenSearch::new(
        opensearch::http::transport::TransportBuilder::new(
            opensearch::http::transport::SingleNodeConnectionPool::new(
                servers().opensearch_url.parse().unwrap(),
            ),
        )
        .timeout(TIMEOUT)
        .disable_proxy()
        .build()
        .unwrap(),
    );
    let index = unique_name("smoke");
    let body: Vec<JsonBody<_>> = vec![
        json!({"index": {"_id": "doc-1"}}).into(),
        json!({"message": "first"}).into(),
        json!({"index": {"_id": "doc-2"}}).into(),
        json!({"message": "second"}).into(),
    ];
    let response = client
        .bulk(BulkParts::Index(&index))
        .refresh(opensearch::params::Refresh::True)
        .body(body)
        .send()
        .await
        .expect("bulk request");
    assert!(response.status_code().is_success());
    let result: serde_json::Value = response.json().await.unwrap();
    assert_eq!(result["errors"], json!(false), "{result}");

    for (id, message) in [("doc-1", "first"), ("doc-2", "second")] {
        let doc: serde_json::Value = client
            .get(GetParts::IndexId(&index, id))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["found"], json!(true), "{doc}");
        assert_eq!(doc["_source"]["message"], json!(message));
    }
}
