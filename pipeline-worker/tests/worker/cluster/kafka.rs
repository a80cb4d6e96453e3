//! Brokers of the three-broker cluster killed under a running worker and a steady load.

use super::*;
use test_support::cluster::report;

/// The leader of input partition 0 is SIGKILLed under load and started again 20 s later (three
/// replicas, two must be in sync): the leadership moves, and every event is indexed once, none
/// is dead-lettered, the output topic holds each, and offsets reach the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_leader_killed_under_load_and_back_after_20s_loses_nothing() {
    let Some(cluster) = Cluster::exclusive("the leader kill").await else {
        return;
    };
    let world = cluster_world(&cluster, 3).await;
    let (mut worker, load) = one_worker_under_load(&world, &[], 300).await;
    let progress = Progress::start(&world);
    let input = world.topic("input");
    let leader = cluster
        .leader_of(&input, 0)
        .expect("partition 0 has a leader");
    let node = cluster.broker(leader).clone();
    cluster.kill(&node);
    let killed = Instant::now();
    let moved = time_until(
        "a new leader of partition 0",
        Duration::from_secs(60),
        || async { cluster.leader_of(&input, 0).is_some_and(|l| l != leader) },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(killed.elapsed())).await;
    cluster.start(&node);
    let down = killed.elapsed();
    // The load goes on with the broker back, while it catches up and rejoins the in-sync set.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let outcome = deliver(&world, load, progress).await;
    if let Some(exit) = worker.exited() {
        panic!("the worker died: {exit}");
    }
    report(&format!(
        "leader kill (RF 3, min ISR 2, broker {leader} down {:.1} s until started again, \
         partition 0 led elsewhere after {:.1} s): {outcome}",
        down.as_secs_f64(),
        moved.as_secs_f64(),
    ));
    worker.terminate_gracefully();
    clean_up(world).await;
}

/// Two brokers of three are down for 30 s (below `min.insync.replicas`, and the KRaft quorum
/// lost): the worker waits without dying, failing its task or dead-lettering anything, and once
/// they are back it indexes everything by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_three_brokers_down_for_30s_the_worker_waits_and_recovers() {
    let Some(cluster) = Cluster::exclusive("two brokers down").await else {
        return;
    };
    let world = cluster_world(&cluster, 3).await;
    let (mut worker, load) = one_worker_under_load(&world, &[], 200).await;
    let progress = Progress::start(&world);
    let down: Vec<_> = cluster.brokers()[1..].to_vec();
    for node in &down {
        cluster.kill(node);
    }
    let killed = Instant::now();
    while killed.elapsed() < Duration::from_secs(30) {
        if let Some(exit) = worker.exited() {
            panic!("the worker died while two brokers were down: {exit}");
        }
        let failed = world
            .tasks()
            .await
            .into_iter()
            .find(|t| t.report.status.as_str() == "failed");
        assert!(failed.is_none(), "the task gave up: {failed:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for node in &down {
        cluster.start(node);
    }
    let outage = killed.elapsed();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let outcome = deliver(&world, load, progress).await;
    if let Some(exit) = worker.exited() {
        panic!("the worker died: {exit}");
    }
    report(&format!(
        "two of three brokers down {:.1} s until both started again: {outcome}",
        outage.as_secs_f64(),
    ));
    worker.terminate_gracefully();
    clean_up(world).await;
}
