//! Topic settings for clusters: `topics.replicationFactor` and `topics.minInsyncReplicas` reach
//! the broker as the three topics' replicas and `min.insync.replicas`, checked with a plain
//! admin client; a replication the cluster cannot give is a 422 that leaves nothing behind.

use crate::helpers::{definition, spawn_app, spawn_app_with, Options, TestApp};
use rdkafka::admin::{AdminClient, AdminOptions, ConfigSource, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// `min.insync.replicas` of `topic` as the broker describes it: value and where it comes from.
async fn min_insync(brokers: &str, topic: &str) -> (String, ConfigSource) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let results = admin
        .describe_configs(&[ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .unwrap();
    let resource = results.into_iter().next().unwrap().unwrap();
    let entry = resource
        .entries
        .into_iter()
        .find(|e| e.name == "min.insync.replicas")
        .expect("min.insync.replicas is described");
    (entry.value.unwrap_or_default(), entry.source)
}

fn broker_count(brokers: &str) -> usize {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap()
        .brokers()
        .len()
}

/// `minInsyncReplicas` becomes each topic's own `min.insync.replicas` (a dynamic topic
/// setting); without it, the broker's default applies. Checked on the shared broker, where 1 is
/// the only possible value, by where the setting comes from.
#[tokio::test]
async fn min_insync_replicas_becomes_a_setting_of_every_topic() {
    let app = spawn_app().await;
    let name = test_support::unique_name("p");
    let mut def = definition(&name, 1);
    def["topics"]["minInsyncReplicas"] = json!(1);
    let body = app.create_ok(&def).await;
    assert_eq!(body["topics"]["minInsyncReplicas"], 1);
    for topic in app.topic_names(&name) {
        let (value, source) = min_insync(&app.brokers, &topic).await;
        assert_eq!(value, "1", "{topic}");
        assert_eq!(source, ConfigSource::DynamicTopic, "{topic}");
    }
    let plain = test_support::unique_name("p");
    let body = app.create_ok(&definition(&plain, 1)).await;
    assert!(body["topics"].get("minInsyncReplicas").is_none());
    for topic in app.topic_names(&plain) {
        let (_, source) = min_insync(&app.brokers, &topic).await;
        assert_ne!(
            source,
            ConfigSource::DynamicTopic,
            "{topic}: the broker's default"
        );
    }
}

/// More replicas than the cluster has brokers: 422 on `topics.replicationFactor` naming both
/// numbers, and no row, no topics, no index template are left. `minInsyncReplicas` above the
/// replication factor is refused before anything is made.
#[tokio::test]
async fn a_replication_the_cluster_cannot_give_is_422_and_leaves_nothing() {
    let app = spawn_app().await;
    let brokers = broker_count(&app.brokers);
    let name = test_support::unique_name("p");
    let mut def = definition(&name, 1);
    def["topics"]["replicationFactor"] = json!(brokers + 1);
    let resp = app.create(&def).await;
    assert_eq!(
        resp.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        resp.text
    );
    let errors = resp.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{}", resp.text);
    assert_eq!(errors[0]["field"], "topics.replicationFactor");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{} replicas", brokers + 1))
            && message.contains(&format!("has {brokers} available")),
        "{message}"
    );
    assert_eq!(app.row_count(&name).await, 0);
    assert_nothing_left(&app, &name).await;

    def["topics"]["replicationFactor"] = json!(1);
    def["topics"]["minInsyncReplicas"] = json!(2);
    let resp = app.create(&def).await;
    assert_eq!(
        resp.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        resp.text
    );
    assert_eq!(resp.body["errors"][0]["field"], "topics.minInsyncReplicas");
    assert_nothing_left(&app, &name).await;
}

async fn assert_nothing_left(app: &TestApp, name: &str) {
    let topics: Vec<String> = TestApp::topics_on(&app.brokers)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    for topic in app.topic_names(name) {
        assert!(!topics.contains(&topic), "{topic} was left behind");
    }
    let template = format!("flow.{}.{name}", app.prefix.to_lowercase());
    let status = reqwest::get(format!("{}/_index_template/{template}", app.opensearch))
        .await
        .unwrap()
        .status();
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "template {template} was left behind"
    );
}

/// On the three-broker cluster: a pipeline with replication 3 and `minInsyncReplicas` 2 gets
/// three topics whose every partition has three replicas, all in sync, and
/// `min.insync.replicas=2` — the error topic as much as the input, and a broker's topic too.
#[tokio::test]
async fn on_the_cluster_every_topic_gets_three_replicas_and_min_insync_two() {
    let Some(cluster) =
        test_support::cluster::Cluster::exclusive("replication on the cluster").await
    else {
        return;
    };
    let app = spawn_app_with(Options {
        brokers: Some(cluster.broker(1).address.clone()),
        ..Options::default()
    })
    .await;
    let name = test_support::unique_name("p");
    let mut def = definition(&name, 3);
    def["topics"]["replicationFactor"] = json!(3);
    def["topics"]["minInsyncReplicas"] = json!(2);
    app.create_ok(&def).await;
    for topic in app.topic_names(&name) {
        let replicas = cluster.replicas_of(&topic);
        assert_eq!(replicas.len(), 3, "{topic}: three partitions");
        for (partition, (assigned, isr)) in &replicas {
            assert_eq!(assigned.len(), 3, "{topic}/{partition}: {assigned:?}");
            assert_eq!(isr.len(), 3, "{topic}/{partition} in sync: {isr:?}");
        }
        let (value, source) = min_insync(&cluster.bootstrap(), &topic).await;
        assert_eq!(
            (value.as_str(), source),
            ("2", ConfigSource::DynamicTopic),
            "{topic}"
        );
    }
    // A broker's topic, which many pipelines read, takes the same settings.
    let broker = test_support::unique_name("b");
    let body = json!({"name": broker,
        "topics": {"partitions": 3, "replicationFactor": 3, "minInsyncReplicas": 2}});
    let created = app
        .post_json("/api/v1/brokers", &app.tokens.editor, &body)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let topic = created.body["topic"].as_str().unwrap();
    let replicas = cluster.replicas_of(topic);
    assert_eq!(replicas.len(), 3, "{topic}: three partitions");
    for (partition, (assigned, _)) in &replicas {
        assert_eq!(assigned.len(), 3, "{topic}/{partition}: {assigned:?}");
    }
    let (value, source) = min_insync(&cluster.bootstrap(), topic).await;
    assert_eq!(
        (value.as_str(), source),
        ("2", ConfigSource::DynamicTopic),
        "{topic}"
    );
}

/// A broker's topic takes a pipeline's topic settings with the same checks: `minInsyncReplicas`
/// becomes the topic's own `min.insync.replicas` and is shown; above `replicationFactor` it is
/// 422 before anything is made; a replication factor the cluster cannot give is 422 on
/// `topics.replicationFactor` (not a 502) and leaves neither row nor topic.
#[tokio::test]
async fn a_brokers_topic_takes_the_same_settings_and_checks_as_a_pipelines() {
    let app = spawn_app().await;
    let create = |name: &str, topics: serde_json::Value| {
        let body = json!({"name": name, "topics": topics});
        let app = &app;
        async move {
            app.post_json("/api/v1/brokers", &app.tokens.editor, &body)
                .await
        }
    };
    let broker = test_support::unique_name("b");
    let created = create(&broker, json!({"minInsyncReplicas": 1})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["topics"]["minInsyncReplicas"], 1);
    let topic = format!("{}.broker.{broker}", app.prefix);
    let (value, source) = min_insync(&app.brokers, &topic).await;
    assert_eq!((value.as_str(), source), ("1", ConfigSource::DynamicTopic));
    let read = app
        .get(&format!("/api/v1/brokers/{broker}"), &app.tokens.viewer)
        .await;
    assert_eq!(read.body["topics"]["minInsyncReplicas"], 1, "{}", read.text);

    let refused = test_support::unique_name("b");
    let too_many = create(
        &refused,
        json!({"replicationFactor": 1, "minInsyncReplicas": 2}),
    )
    .await;
    assert_eq!(
        too_many.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        too_many.text
    );
    assert_eq!(
        too_many.body["errors"][0]["field"],
        "topics.minInsyncReplicas"
    );

    let brokers = broker_count(&app.brokers);
    let wide = create(&refused, json!({"replicationFactor": brokers + 1})).await;
    assert_eq!(
        wide.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wide.text
    );
    assert_eq!(wide.body["errors"][0]["field"], "topics.replicationFactor");
    let message = wide.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("has {brokers} available")),
        "{message}"
    );
    let gone = app
        .get(&format!("/api/v1/brokers/{refused}"), &app.tokens.viewer)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.text);
    let topic = format!("{}.broker.{refused}", app.prefix);
    let topics = TestApp::topics_on(&app.brokers);
    assert!(
        !topics.iter().any(|(t, _)| *t == topic),
        "{topic} was left behind"
    );
}
