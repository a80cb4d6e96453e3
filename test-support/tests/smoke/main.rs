//! One smoke test per real server, proving the wiring: each fails when its server is unreachable,
//! and two that prove the servers are the real ones (Apache Kafka 4.x, OpenSearch 2.19), so that a
//! stand-in can never slip back in.
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
async fn kafka_topic_produce_consume_and_commit() {
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
            FutureRecord::to(&topic).key("k1").payload("hello kafka"),
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
    assert_eq!(message.payload(), Some(&b"hello kafka"[..]));
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
async fn opensearch_bulk_index_and_get_by_id() {
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

#[test]
fn opensearch_is_the_real_opensearch_2_19() {
    let port: u16 = servers()
        .opensearch_url
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (status, body) = test_support::http_get(port, "/").expect("GET / of OpenSearch");
    assert_eq!(status, 200, "{body}");
    let root: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        root["version"]["distribution"],
        json!("opensearch"),
        "{root}"
    );
    let number = root["version"]["number"].as_str().unwrap();
    assert!(
        number.starts_with("2.19."),
        "OpenSearch 2.19.x, got {number}"
    );
    assert!(root["version"]["lucene_version"].is_string(), "{root}");
}

/// Asks the broker for its ApiVersions (v0: key 18, no tagged fields, the one request every Kafka
/// answers before any other) and returns (api key, min version, max version) for each API.
fn api_versions(brokers: &str) -> Vec<(i16, i16, i16)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(brokers).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let client_id = b"flow-smoke";
    let mut request = Vec::new();
    request.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
    request.extend_from_slice(&0i16.to_be_bytes()); // version 0
    request.extend_from_slice(&7i32.to_be_bytes()); // correlation id
    request.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    request.extend_from_slice(client_id);
    stream
        .write_all(&(request.len() as i32).to_be_bytes())
        .unwrap();
    stream.write_all(&request).unwrap();
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).unwrap();
    let i16_at = |at: usize| i16::from_be_bytes([body[at], body[at + 1]]);
    assert_eq!(i32::from_be_bytes(body[..4].try_into().unwrap()), 7);
    assert_eq!(i16_at(4), 0, "ApiVersions error code");
    let count = i32::from_be_bytes(body[6..10].try_into().unwrap()) as usize;
    (0..count)
        .map(|i| 10 + i * 6)
        .map(|at| (i16_at(at), i16_at(at + 2), i16_at(at + 4)))
        .collect()
}

#[test]
fn kafka_is_a_real_apache_kafka_4_broker() {
    let apis = api_versions(&servers().kafka_brokers);
    let api = |key: i16| apis.iter().find(|(k, _, _)| *k == key).copied();
    // Kafka 4.0 dropped the old protocol versions (KIP-896): Fetch starts at v4, ListOffsets at
    // v1. (Produce v0 is still listed: 4.0 kept it for librdkafka's sake.)
    let (_, fetch_min, _) = api(1).expect("Fetch");
    assert!(
        fetch_min >= 4,
        "Fetch min version {fetch_min}: a pre-4.0 broker"
    );
    let (_, list_offsets_min, _) = api(2).expect("ListOffsets");
    assert!(
        list_offsets_min >= 1,
        "ListOffsets min {list_offsets_min}: a pre-4.0 broker"
    );
    // The KIP-848 consumer group protocol (68) and share groups (76, KIP-932), both in 4.x.
    assert!(
        api(68).is_some(),
        "ConsumerGroupHeartbeat missing: {apis:?}"
    );
    assert!(api(76).is_some(), "ShareGroupHeartbeat missing: {apis:?}");
    // DescribeCluster (60) and DescribeTopicPartitions (75), the KRaft-era metadata APIs.
    assert!(api(60).is_some() && api(75).is_some(), "{apis:?}");
}

/// On a clustered stack: three brokers answer with one cluster's metadata, two OpenSearch nodes
/// form one green cluster, and a broker killed through the harness comes back on its port with
/// the topic it held (skipped on a stack of single nodes).
#[tokio::test]
async fn the_cluster_has_three_brokers_two_search_nodes_and_a_killed_broker_comes_back() {
    use test_support::cluster::Cluster;
    let Some(cluster) = Cluster::exclusive("the cluster smoke test").await else {
        return;
    };
    let topic = unique_name("smoke");
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .create()
        .unwrap();
    let created = admin
        .create_topics(
            &[NewTopic::new(&topic, 3, TopicReplication::Fixed(3))],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .unwrap();
    assert!(created[0].is_ok(), "{:?}", created[0]);
    let ids: Vec<i32> = cluster.brokers().iter().map(|b| b.id).collect();
    assert_eq!(ids, [1, 2, 3]);
    for (partition, (replicas, _)) in cluster.replicas_of(&topic) {
        assert_eq!(replicas.len(), 3, "partition {partition}: {replicas:?}");
    }
    let nodes: serde_json::Value =
        reqwest::get(format!("{}/_nodes", cluster.search_nodes()[1].address))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(nodes["_nodes"]["total"], 2, "one cluster of two nodes");
    assert_eq!(cluster.search_health().await.as_deref(), Some("green"));

    let leader = cluster
        .leader_of(&topic, 0)
        .expect("partition 0 has a leader");
    let node = cluster.broker(leader).clone();
    cluster.kill(&node);
    assert!(cluster.pid(&node).is_none(), "{} is gone", node.name);
    let mut moved = None;
    for _ in 0..150 {
        moved = cluster.leader_of(&topic, 0).filter(|l| *l != leader);
        if moved.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(moved.is_some(), "the leadership moved off broker {leader}");
    cluster.start(&node);
    assert!(cluster.pid(&node).is_some(), "{} runs again", node.name);
    let (replicas, _) = &cluster.replicas_of(&topic)[&0];
    assert!(
        replicas.contains(&leader),
        "broker {leader} still holds a replica"
    );
}
