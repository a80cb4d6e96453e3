//! An OpenSearch data node killed under a running worker and a steady load.

use super::*;
use serde_json::Value;
use test_support::cluster::report;

/// The index's shard copies on the second node: (primaries, replicas).
async fn copies_on(world: &World, node: &str) -> (usize, usize) {
    let url = format!(
        "{}/_cat/shards/{}?format=json",
        world.opensearch, world.name
    );
    let shards: Vec<Value> = reqwest::get(url).await.unwrap().json().await.unwrap();
    let on = |kind: &str| {
        shards
            .iter()
            .filter(|s| s["node"] == node && s["prirep"] == kind && s["state"] == "STARTED")
            .count()
    };
    (on("p"), on("r"))
}

/// The second OpenSearch node (a data node, and the first of the worker's `opensearch.urls`) is
/// SIGKILLed under load while the index has one replica of each of its two shards: the worker
/// goes on indexing through the other node while it is down (the replicas of its primaries take
/// over), nothing is lost or dead-lettered, and once the node is back the cluster is green again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opensearch_data_node_killed_under_load_loses_nothing_and_the_cluster_heals() {
    let Some(cluster) = Cluster::exclusive("the data node kill").await else {
        return;
    };
    let world = cluster_world(&cluster, 3).await;
    let settings = json!({"settings": {"number_of_shards": 2, "number_of_replicas": 1}});
    let created = reqwest::Client::new()
        .put(format!("{}/{}", world.opensearch, world.name))
        .json(&settings)
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{:?}", created.text().await);
    let health = format!(
        "{}/_cluster/health/{}?wait_for_status=green&timeout=60s",
        world.opensearch, world.name
    );
    assert!(reqwest::get(&health).await.unwrap().status().is_success());
    let data_node = cluster.search_nodes()[1].clone();
    // The node about to die first: the worker must move on to the other one.
    let urls = format!("{},{}", data_node.address, world.opensearch);
    let overrides = [
        ("FLOW__SERVER__FAILURE_THRESHOLD", "1000"),
        ("FLOW__OPENSEARCH__URLS", urls.as_str()),
    ];
    let (mut worker, load) = one_worker_under_load(&world, &overrides, 300).await;
    let (primaries, replicas) = copies_on(&world, "flow-stream-node-2").await;
    assert_eq!(
        primaries + replicas,
        2,
        "one copy of each shard on the data node"
    );
    let progress = Progress::start(&world);
    cluster.kill(&data_node);
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let early = world.count().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let late = world.count().await;
    assert!(
        late > early,
        "indexing went on while the node was down ({early} documents, 10 s later {late})"
    );
    cluster.start(&data_node);
    let down = killed.elapsed();
    let green = time_until("green again", Duration::from_secs(300), || async {
        cluster.search_health().await.as_deref() == Some("green")
    })
    .await;
    let outcome = deliver(&world, load, progress).await;
    if let Some(exit) = worker.exited() {
        panic!("the worker died: {exit}");
    }
    report(&format!(
        "OpenSearch data node down {:.1} s until started again ({primaries} primaries, \
         {replicas} replicas on it, one replica per shard), green {:.1} s after: {outcome}",
        down.as_secs_f64(),
        green.as_secs_f64()
    ));
    worker.terminate_gracefully();
    clean_up(world).await;
}
