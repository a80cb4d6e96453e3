//! The worker fleet changing under load: a rolling restart, and scaling out and in.

use super::*;
use test_support::cluster::{group_assignment, report, GroupAssignment};

/// After each change of the fleet, every partition has an owner again within this time. It is
/// below the default session timeout (45 s, which these tests keep): a worker that left the
/// group without saying so would hold its partitions that long.
const OWNED_WITHIN: Duration = Duration::from_secs(30);

fn assignment(cluster: &Cluster, world: &World) -> GroupAssignment {
    group_assignment(&cluster.bootstrap(), &world.group(), &world.topic("input"))
        .unwrap_or_default()
}

/// Three workers on six partitions under load are restarted one by one, the way a Kubernetes
/// rollout does it: SIGTERM, wait for the exit, start the new one, wait until it holds
/// partitions again, then the next. Nothing is lost and every `_id` is indexed once; the events
/// processed twice (at-least-once) and the longest pause in indexing are reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_three_workers_under_load_loses_nothing() {
    let Some(cluster) = Cluster::exclusive("the rolling restart").await else {
        return;
    };
    let world = cluster_world(&cluster, 6).await;
    let ids = ["w1", "w2", "w3"];
    let mut workers: Vec<WorkerProcess> = ids
        .iter()
        .map(|id| WorkerProcess::start(world.vars(id, &WORKER_VARS)))
        .collect();
    let load = Load::start(&world, 300);
    let shared_by_three = || async {
        let now = assignment(&cluster, &world);
        now.covers(6) && now.busy_members() == 3
    };
    time_until(
        "three workers sharing the partitions",
        Duration::from_secs(120),
        shared_by_three,
    )
    .await;
    eventually("indexing under load", Duration::from_secs(120), || async {
        (world.count().await >= 1_000).then_some(())
    })
    .await;
    let progress = Progress::start(&world);
    let mut restarts = Vec::new();
    for (worker, id) in workers.iter_mut().zip(ids) {
        let started = Instant::now();
        worker.terminate_gracefully();
        let exited = started.elapsed();
        *worker = WorkerProcess::start(world.vars(id, &WORKER_VARS));
        let back = time_until(
            "the new worker back in the group",
            OWNED_WITHIN * 4,
            shared_by_three,
        )
        .await;
        restarts.push(format!(
            "{:.1} + {:.1}",
            exited.as_secs_f64(),
            back.as_secs_f64()
        ));
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let outcome = deliver(&world, load, progress).await;
    report(&format!(
        "rolling restart of 3 workers on 6 partitions under 300 events/s (each: SIGTERM to exit \
         + start to sharing the partitions again, s: {}): {outcome}",
        restarts.join(" / "),
    ));
    for worker in &mut workers {
        worker.terminate_gracefully();
    }
    clean_up(world).await;
}

/// One worker on four partitions under load; three more start (every partition owned, one each,
/// within [`OWNED_WITHIN`]); then the three get SIGTERM at once, as an autoscaler scaling in does
/// (the one left owns every partition within [`OWNED_WITHIN`]). Nothing is lost; the times are
/// reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_one_to_four_to_one_under_load_keeps_every_partition_owned() {
    let Some(cluster) = Cluster::exclusive("scaling 1 -> 4 -> 1").await else {
        return;
    };
    let world = cluster_world(&cluster, 4).await;
    let vars = |id: &str| {
        let mut vars = world.vars(id, &WORKER_VARS);
        vars.push(("FLOW__KAFKA__SESSION_TIMEOUT_MS".into(), "45000".into()));
        vars
    };
    let mut first = WorkerProcess::start(vars("w1"));
    let load = Load::start(&world, 300);
    let owned_by = |members: usize| {
        let (cluster, world) = (&cluster, &world);
        move || async move {
            let now = assignment(cluster, world);
            now.covers(4) && now.busy_members() == members && now.members.len() == members
        }
    };
    time_until(
        "one worker owning every partition",
        Duration::from_secs(120),
        owned_by(1),
    )
    .await;
    eventually("indexing under load", Duration::from_secs(120), || async {
        (world.count().await >= 1_000).then_some(())
    })
    .await;
    let progress = Progress::start(&world);
    let mut added: Vec<WorkerProcess> = (2..=4)
        .map(|i| WorkerProcess::start(vars(&format!("w{i}"))))
        .collect();
    let out = time_until(
        "four workers owning a partition each",
        OWNED_WITHIN,
        owned_by(4),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    for worker in &added {
        worker.signal("TERM");
    }
    let back = time_until(
        "the one worker owning every partition",
        OWNED_WITHIN,
        owned_by(1),
    )
    .await;
    for worker in &mut added {
        let status = worker
            .wait(Duration::from_secs(60))
            .expect("exits after SIGTERM");
        assert!(status.success(), "graceful exit: {status}");
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let outcome = deliver(&world, load, progress).await;
    report(&format!(
        "scaling 1 -> 4 -> 1 workers on 4 partitions under 300 events/s: every partition owned \
         {:.1} s after three workers started and {:.1} s after three got SIGTERM (bound {} s): \
         {outcome}",
        out.as_secs_f64(),
        back.as_secs_f64(),
        OWNED_WITHIN.as_secs(),
    ));
    first.terminate_gracefully();
    clean_up(world).await;
}
