//! Brokers and triggers (issue 27): several pipelines read one broker topic, each through its
//! own consumer group and filter; index names from event fields.

use crate::helpers::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use serde_json::{json, Value};
use sqlx::MySqlPool;
use std::collections::BTreeSet;
use std::time::Duration;

/// A database with one broker row and the broker's topic.
struct BrokerWorld {
    db_url: String,
    pool: MySqlPool,
    kafka: String,
    opensearch: String,
    name: String,
    partitions: i32,
    dir: tempfile::TempDir,
}

impl BrokerWorld {
    async fn new(partitions: i32) -> BrokerWorld {
        let (kafka, opensearch) = shared_servers();
        let db_url = test_support::fresh_database_on(&test_support::servers().mysql_url).await;
        let pool = MySqlPool::connect(&db_url).await.unwrap();
        sqlx::migrate!("../pipeline-mgmt/migrations")
            .run(&pool)
            .await
            .unwrap();
        let name = test_support::unique_name("b");
        sqlx::query(
            "INSERT INTO brokers (id, name, description, partitions, replication_factor, \
             created_by, created_at) VALUES (?, ?, '', ?, 1, 'test', UTC_TIMESTAMP(6))",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&name)
        .bind(partitions)
        .execute(&pool)
        .await
        .unwrap();
        let world = BrokerWorld {
            db_url,
            pool,
            kafka,
            opensearch,
            name,
            partitions,
            dir: tempfile::tempdir().unwrap(),
        };
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &world.kafka)
            .create()
            .unwrap();
        let topic = world.topic();
        let new = NewTopic::new(&topic, partitions, TopicReplication::Fixed(1));
        for result in admin
            .create_topics(&[new], &AdminOptions::new())
            .await
            .unwrap()
        {
            result.unwrap();
        }
        world
    }

    fn topic(&self) -> String {
        format!("{PREFIX}.broker.{}", self.name)
    }

    /// A running pipeline reading this broker through `filter`, with `extra` definition members.
    async fn pipeline(&self, filter: Value, extra: Value) -> World {
        let mut extra = extra;
        extra["source"] = json!({"broker": self.name, "filter": filter});
        World::insert(
            self.db_url.clone(),
            self.pool.clone(),
            &self.kafka,
            &self.opensearch,
            test_support::unique_name("t"),
            self.partitions,
            extra,
        )
        .await
    }

    fn produce(&self, events: &[Order]) -> usize {
        let owned: Vec<(String, Vec<(String, String)>)> =
            events.iter().map(Order::record).collect();
        let headers: Vec<Vec<(&str, &str)>> = owned
            .iter()
            .map(|(_, h)| h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .collect();
        let records: Vec<HeaderedRecord<'_>> = owned
            .iter()
            .zip(&headers)
            .map(|((value, _), h)| (None, value.as_str(), h.as_slice()))
            .collect();
        produce_headered(&self.kafka, &self.topic(), self.dir.path(), &records)
    }
}

/// One generated order event; every third one in structured mode, the rest in binary mode.
#[derive(Debug, Clone)]
struct Order {
    seq: u64,
    ty: String,
    tier: &'static str,
    amount: Option<i64>,
}

impl Order {
    fn generate(n: u64) -> Vec<Order> {
        let types = ["order.created", "order.cancelled", "user.signup"];
        (0..n)
            .map(|seq| Order {
                seq,
                ty: types[(seq % 3) as usize].to_owned(),
                tier: if seq % 4 < 2 { "premium" } else { "basic" },
                // Every 10th event has no amount: `data.amount > 1000` cannot be evaluated.
                amount: (seq % 10 != 7).then_some(((seq * 37) % 2000) as i64),
            })
            .collect()
    }

    fn data(&self) -> Value {
        let mut data = json!({"seq": self.seq, "item": format!("sku-{}", self.seq)});
        if let Some(amount) = self.amount {
            data["amount"] = json!(amount);
        }
        data
    }

    /// (value, headers) of the Kafka record.
    fn record(&self) -> (String, Vec<(String, String)>) {
        let id = format!("order-{}", self.seq);
        if self.seq % 3 == 1 {
            let envelope = json!({"specversion": "1.0", "id": id, "source": "/shop",
                "type": self.ty, "customer.tier": self.tier, "time": "2026-11-04T10:00:00Z",
                "data": self.data()});
            return (envelope.to_string(), Vec::new());
        }
        let headers = [
            ("ce_specversion", "1.0"),
            ("ce_id", id.as_str()),
            ("ce_source", "/shop"),
            ("ce_type", self.ty.as_str()),
            ("ce_customer.tier", self.tier),
            ("ce_time", "2026-11-04T10:00:00Z"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        (self.data().to_string(), headers)
    }

    fn premium_and_large(&self) -> bool {
        self.ty == "order.created"
            && self.tier == "premium"
            && self.amount.is_some_and(|a| a > 1000)
    }

    fn premium_without_amount(&self) -> bool {
        self.ty == "order.created" && self.tier == "premium" && self.amount.is_none()
    }
}

/// The `seq` of every document in `index`.
async fn seqs_in(opensearch: &str, index: &str) -> Vec<u64> {
    let url = format!("{opensearch}/{index}/_search?size=10000&_source=seq");
    let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    let mut seqs: Vec<u64> = body["hits"]["hits"]
        .as_array()
        .map(|hits| hits.iter().filter_map(|h| seq_of(&h["_source"])).collect())
        .unwrap_or_default();
    seqs.sort_unstable();
    seqs
}

fn seqs_where(orders: &[Order], keep: impl Fn(&Order) -> bool) -> Vec<u64> {
    orders.iter().filter(|o| keep(o)).map(|o| o.seq).collect()
}

/// The seed's example, translated: three pipelines filtering `type: order.created` each get
/// every order event and nothing else (fan-out, one consumer group each), and a `premium` +
/// `data.amount > 1000` pipeline gets exactly what its filter selects, counted against the
/// generator's own tally; events whose `amount` is missing count as CEL errors, and nothing is
/// dead-lettered. An event produced to that pipeline's own input topic is not filtered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_on_one_broker_each_get_exactly_what_their_filter_selects() {
    let _slot = slot().await;
    let broker = BrokerWorld::new(3).await;
    let created = json!({"attributes": {"type": "order.created"}});
    let mut fan_out = Vec::new();
    for _ in 0..3 {
        fan_out.push(broker.pipeline(created.clone(), json!({})).await);
    }
    let premium = broker
        .pipeline(
            json!({"attributes": {"type": "order.created", "customer.tier": "premium"},
                   "cel": "data.amount > 1000"}),
            json!({}),
        )
        .await;
    let orders = Order::generate(900);
    assert_eq!(broker.produce(&orders), orders.len());
    // Not an order at all, and not matching the filter: its own input topic is not filtered.
    let direct = json!({"seq": 100_000, "note": "addressed to this pipeline"}).to_string();
    assert_eq!(premium.produce(&[(None, direct.into_bytes())]), 1);

    let worker = InProcess::start(fan_out[0].settings("broker-1", &[])).await;
    let want_created = seqs_where(&orders, |o| o.ty == "order.created");
    let mut want_premium = seqs_where(&orders, Order::premium_and_large);
    want_premium.push(100_000);
    for world in &fan_out {
        world
            .wait_count(want_created.len() as u64, Duration::from_secs(120))
            .await;
    }
    premium
        .wait_count(want_premium.len() as u64, Duration::from_secs(120))
        .await;
    for world in &fan_out {
        assert_eq!(seqs_in(&world.opensearch, &world.name).await, want_created);
    }
    assert_eq!(
        seqs_in(&premium.opensearch, &premium.name).await,
        want_premium
    );

    let total = orders.len() as i64;
    let cel_errors = seqs_where(&orders, Order::premium_without_amount).len() as i64;
    let counters = premium
        .wait_counters(
            "the premium pipeline's counters",
            Duration::from_secs(30),
            |c| c.consumed == total + 1,
        )
        .await;
    assert_eq!(counters.matched, want_premium.len() as i64 - 1);
    assert_eq!(counters.filtered, total - counters.matched);
    assert_eq!(counters.cel_errors, cel_errors);
    assert_eq!(counters.dead_lettered, 0);
    assert_eq!(counters.indexed, want_premium.len() as i64);
    for world in &fan_out {
        // Commits are asynchronous (every second), and the events after a group's last
        // document are turned away after it was indexed: the end may come a moment later.
        let at_end = || world.committed_and_end_of(&broker.topic(), broker.partitions);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let (mut committed, mut ends) = at_end();
        while committed != ends && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            (committed, ends) = at_end();
        }
        assert_eq!(
            committed, ends,
            "{}'s group is at the end of the broker topic",
            world.name
        );
        assert!(world
            .read_topic("error", 0, Duration::from_secs(1))
            .is_empty());
    }
    worker.shutdown().await;
}

/// 5,000 events through a broker with three pipelines, the worker killed mid-stream: each
/// pipeline's index holds exactly its events once by `_id`, and every group's offsets end at
/// the end of the broker topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_leaves_every_pipeline_on_the_broker_whole() {
    let _slot = slot().await;
    let broker = BrokerWorld::new(3).await;
    let flush = json!({"flush": {"maxItems": 50}});
    let worlds = [
        broker
            .pipeline(
                json!({"attributes": {"type": "order.created"}}),
                flush.clone(),
            )
            .await,
        broker
            .pipeline(json!({"prefix": {"type": "order."}}), flush.clone())
            .await,
        broker.pipeline(json!({}), flush.clone()).await,
    ];
    let selects: [fn(&Order) -> bool; 3] = [
        |o| o.ty == "order.created",
        |o| o.ty.starts_with("order."),
        |_| true,
    ];
    let orders = Order::generate(5_000);
    assert_eq!(broker.produce(&orders), orders.len());
    let overrides = [("FLOW__KAFKA__SESSION_TIMEOUT_MS", "6000")];
    let mut first = WorkerProcess::start(worlds[0].vars("broker-crash-1", &overrides));
    eventually(
        "part of the stream indexed",
        Duration::from_secs(90),
        || async { (worlds[2].count().await >= 500).then_some(()) },
    )
    .await;
    first.signal("KILL");
    first.wait(Duration::from_secs(10)).expect("killed");
    assert!(
        worlds[2].count().await < orders.len() as u64,
        "killed mid-stream"
    );
    let mut second = WorkerProcess::start(worlds[0].vars("broker-crash-2", &overrides));
    for (world, select) in worlds.iter().zip(selects) {
        let want = seqs_where(&orders, select);
        world
            .wait_count(want.len() as u64, Duration::from_secs(180))
            .await;
        let got = seqs_in(&world.opensearch, &world.name).await;
        assert_eq!(got.len(), want.len(), "once by _id");
        assert_eq!(got, want);
        eventually(
            "the group at the end of the broker topic",
            Duration::from_secs(30),
            || async {
                let (committed, ends) =
                    world.committed_and_end_of(&broker.topic(), broker.partitions);
                (committed == ends).then_some(())
            },
        )
        .await;
    }
    second.terminate_gracefully();
}

/// Index names from event fields: events of three types go to three indices; past
/// `indexing.maxIndices` distinct values the rest go to the overflow index, counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_names_take_field_values_up_to_the_cap() {
    let _slot = slot().await;
    // One partition, so that the order of first appearance is the order produced.
    let broker = BrokerWorld::new(1).await;
    let prefix = test_support::unique_name("orders");
    let world = broker
        .pipeline(
            json!({}),
            json!({"index": format!("{prefix}-{{cloudevent.type}}-{{yyyy.MM.dd}}"),
                   "indexing": {"maxIndices": 50}}),
        )
        .await;
    // Three types, three events each; then 50 more distinct types, one event each: the 51st
    // to the 53rd distinct value go to the overflow index.
    let mut orders: Vec<Order> = Order::generate(9)
        .into_iter()
        .map(|mut o| {
            o.seq += 1_000;
            o
        })
        .collect();
    for i in 0..50u64 {
        orders.push(Order {
            seq: i,
            ty: format!("Type {i:02}"),
            tier: "basic",
            amount: Some(1),
        });
    }
    assert_eq!(broker.produce(&orders), orders.len());
    let worker = InProcess::start(world.settings("templated-1", &[])).await;
    let index = |value: &str| format!("{prefix}-{value}-2026.11.04");
    for ty in ["order.created", "order.cancelled", "user.signup"] {
        let want = seqs_where(&orders, |o| o.ty == ty);
        eventually(ty, Duration::from_secs(120), || async {
            (seqs_in(&world.opensearch, &index(ty)).await == want).then_some(())
        })
        .await;
    }
    // Values 4 to 50 got their own index ("Type 00" is cleaned to "type-00").
    eventually(
        "the 50th value's own index",
        Duration::from_secs(60),
        || async { (seqs_in(&world.opensearch, &index("type-46")).await == [46]).then_some(()) },
    )
    .await;
    let overflow: BTreeSet<u64> = [47, 48, 49].into();
    eventually("the overflow index", Duration::from_secs(60), || async {
        let got: BTreeSet<u64> = seqs_in(&world.opensearch, &index("_overflow"))
            .await
            .into_iter()
            .collect();
        (got == overflow).then_some(())
    })
    .await;
    assert_eq!(count(&world.opensearch, &index("type-47")).await, 0);
    let counters = world
        .wait_counters("the overflow counter", Duration::from_secs(30), |c| {
            c.indexed == orders.len() as i64
        })
        .await;
    assert_eq!(counters.overflowed, 3);
    worker.shutdown().await;
}
