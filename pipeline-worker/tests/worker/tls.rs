//! The worker against TLS servers: Kafka's SSL, SASL_SSL and client-certificate
//! listeners, and OpenSearch with its security plugin over https with the private CA and the
//! least-privilege user `flow_worker`. Skipped, with a line on stderr, when the stack runs without
//! `FLOW_STACK_TLS=1`.
//!
//! Each test checks the index by `_id` as OpenSearch's admin sees it, against the `_id`s the
//! worker produced to the output topic (one per event).

use crate::helpers::*;
use crate::mgmt_view::MgmtView;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
use test_support::tls::{tls_servers, TlsServers};

fn events(from: usize, to: usize) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    (from..to).map(|i| (None, good_event(i))).collect()
}

/// A one-partition world on the shared broker whose index `flow-<name>` lies inside the pattern
/// the secured node's roles grant (`flow-*`).
async fn secured_world(tls: &TlsServers) -> (World, String) {
    let (brokers, _) = shared_servers();
    let index = format!("flow-{}", test_support::unique_name("tls"));
    let world = World::new(&brokers, &tls.opensearch_url, 1, json!({ "index": index })).await;
    (world, index)
}

/// Waits until `index` holds `total` documents, then checks them by `_id` against the output
/// topic: each of the `total` events indexed once.
async fn wait_indexed_once(tls: &TlsServers, world: &World, index: &str, total: usize) {
    let total = total as u64;
    eventually(
        &format!("{total} documents in {index}"),
        Duration::from_secs(120),
        || async {
            let count = tls.count(index).await;
            assert!(count <= total, "{count} documents, more than {total}");
            (count == total).then_some(())
        },
    )
    .await;
    let produced: BTreeSet<String> = world
        .read_topic("output", total as usize, Duration::from_secs(60))
        .iter()
        .filter_map(|r| {
            r.key
                .as_ref()
                .map(|k| String::from_utf8_lossy(k).into_owned())
        })
        .collect();
    let ids: BTreeSet<String> = tls.ids(index).await.into_iter().collect();
    assert_eq!(produced.len() as u64, total, "one `_id` per event");
    let missing = produced.difference(&ids).count();
    assert!(
        missing == 0 && ids.len() == produced.len(),
        "{missing} of {total} `_id`s missing from {index}, which holds {}",
        ids.len()
    );
}

/// Worker variables for the secured OpenSearch as flow_worker, over https with the private CA.
fn secured_search_vars(tls: &TlsServers) -> Vec<(String, String)> {
    vec![
        ("FLOW__OPENSEARCH__CA_FILE".into(), tls.ca_file()),
        ("FLOW__OPENSEARCH__USERNAME".into(), tls.worker.user.clone()),
        (
            "FLOW__OPENSEARCH__PASSWORD".into(),
            tls.worker.password.clone(),
        ),
    ]
}

fn with_vars(
    world: &World,
    worker: &str,
    vars: &[(String, String)],
) -> pipeline_common::config::Settings {
    let overrides: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    world.settings(worker, &overrides)
}

fn kafka_vars(brokers: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let (host, port) = brokers.rsplit_once(':').unwrap();
    let mut vars: Vec<(String, String)> = vec![
        ("FLOW__MQ__MQ_HOST".into(), host.into()),
        ("FLOW__MQ__MQ_PORT".into(), port.into()),
        ("FLOW__MQ__TLS".into(), "true".into()),
    ];
    vars.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
    vars
}

/// Acceptance 1: 2,000 events through the SSL listener and 2,000 through SASL_SSL (SCRAM), both
/// verified against the private CA with host-name checks on, land in the secured OpenSearch as
/// flow_worker, once each by `_id`, with offsets committed to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_and_sasl_ssl_events_reach_the_secured_index_as_flow_worker() {
    let Some(tls) = tls_servers("ssl_and_sasl_ssl_events_reach_the_secured_index_as_flow_worker")
    else {
        return;
    };
    let _slot = slot().await;
    let ca = tls.ca_file();
    let (user, password) = test_support::SASL_USER;
    let listeners = [
        kafka_vars(&tls.kafka_ssl_brokers, &[("FLOW__MQ__CA_FILE", &ca)]),
        kafka_vars(
            &tls.kafka_sasl_ssl_brokers,
            &[
                ("FLOW__MQ__CA_FILE", &ca),
                ("FLOW__MQ__USERNAME", user),
                ("FLOW__MQ__PASSWORD", password),
                ("FLOW__MQ__MECHANISM", "SCRAM-SHA-512"),
            ],
        ),
    ];
    for kafka in listeners {
        let (world, index) = secured_world(tls).await;
        assert_eq!(world.produce(&events(0, 2_000)), 2_000);
        let mut vars = kafka;
        vars.extend(secured_search_vars(tls));
        let worker = InProcess::start(with_vars(&world, "w1", &vars)).await;
        wait_indexed_once(tls, &world, &index, 2_000).await;
        world.wait_committed_at_end(Duration::from_secs(30)).await;
        worker.shutdown().await;
    }
}

/// Acceptance 1 (mTLS): the listener that requires a client certificate, and OpenSearch
/// authenticating the same certificate (CN flow-client, mapped to role flow_worker) with no
/// password at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_alone_authenticate_to_kafka_and_opensearch() {
    let Some(tls) = tls_servers("client_certificates_alone_authenticate_to_kafka_and_opensearch")
    else {
        return;
    };
    let _slot = slot().await;
    let (world, index) = secured_world(tls).await;
    assert_eq!(world.produce(&events(0, 2_000)), 2_000);
    let (ca, cert, key) = (
        tls.ca_file(),
        tls.file("client.pem"),
        tls.file("client.key"),
    );
    let mut vars = kafka_vars(
        &tls.kafka_mtls_brokers,
        &[
            ("FLOW__MQ__CA_FILE", &ca),
            ("FLOW__MQ__CERT_FILE", &cert),
            ("FLOW__MQ__KEY_FILE", &key),
        ],
    );
    vars.extend([
        ("FLOW__OPENSEARCH__CA_FILE".to_owned(), ca.clone()),
        ("FLOW__OPENSEARCH__CERT_FILE".to_owned(), cert.clone()),
        ("FLOW__OPENSEARCH__KEY_FILE".to_owned(), key.clone()),
    ]);
    let worker = InProcess::start(with_vars(&world, "w1", &vars)).await;
    wait_indexed_once(tls, &world, &index, 2_000).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    worker.shutdown().await;
}

/// Acceptance 3: the worker's index privilege is revoked while 5,000 events flow. Nothing is
/// dead-lettered, nothing is committed past the last indexed event, and the task reports the 403
/// naming the user (which mgmt's status shows as `degraded`), without the password. Restored, the
/// worker carries on by itself: all indexed once by `_id`, offsets at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_index_privilege_keeps_every_event_until_it_is_restored() {
    let Some(tls) = tls_servers("a_revoked_index_privilege_keeps_every_event_until_it_is_restored")
    else {
        return;
    };
    let _slot = slot().await;
    let (world, index) = secured_world(tls).await;
    let role = format!("flow_worker_{}", world.name.replace('-', "_"));
    let user = tls.create_worker_user(&role, &index).await;
    let mut vars = secured_search_vars(tls);
    vars.retain(|(k, _)| !k.starts_with("FLOW__OPENSEARCH__USERNAME") && !k.contains("PASSWORD"));
    vars.extend([
        ("FLOW__OPENSEARCH__USERNAME".to_owned(), user.user.clone()),
        (
            "FLOW__OPENSEARCH__PASSWORD".to_owned(),
            user.password.clone(),
        ),
        (
            "FLOW__WORKER__RETRY_MAX_BACKOFF_MS".to_owned(),
            "1000".to_owned(),
        ),
    ]);
    let worker = InProcess::start(with_vars(&world, "w1", &vars)).await;
    assert_eq!(world.produce(&events(0, 1_000)), 1_000);
    wait_indexed_once(tls, &world, &index, 1_000).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;

    tls.set_worker_index_privileges(&role, &index, false).await;
    assert_eq!(world.produce(&events(1_000, 6_000)), 5_000);
    let reason = eventually(
        "the task to report the 403",
        Duration::from_secs(60),
        || async {
            world
                .tasks()
                .await
                .into_iter()
                .filter(|t| t.report.status.as_str() == "running")
                .find_map(|t| t.report.last_error.filter(|e| e.contains("403")))
        },
    )
    .await;
    assert!(
        reason.contains(&user.user),
        "the reason names the user: {reason}"
    );
    assert!(
        !reason.contains(&user.password),
        "no secret in the reason: {reason}"
    );
    // What the operator reads: mgmt's status of the pipeline says degraded, with the 403.
    let mgmt = MgmtView::start(&world, &secured_search_vars(tls)).await;
    let status = mgmt.status(&world.pipeline_id).await;
    assert_eq!(status["observed"], "degraded", "{status}");
    let shown = status["reason"].as_str().unwrap_or_default();
    assert!(
        shown.contains("403") && shown.contains(&user.user),
        "mgmt's reason names the 403 and the user: {status}"
    );
    assert!(
        !status.to_string().contains(&user.password),
        "no secret in mgmt's status: {status}"
    );
    // Retrying, not failed; and nothing moved while refused.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tasks = world.tasks().await;
    assert!(
        tasks.iter().all(|t| t.report.status.as_str() == "running"),
        "{tasks:?}"
    );
    assert_eq!(
        tls.count(&index).await,
        1_000,
        "nothing indexed while refused"
    );
    let (committed, _) = world.committed_and_end();
    assert_eq!(
        committed,
        vec![1_000],
        "nothing committed past the last indexed event"
    );
    assert!(
        world
            .read_topic("error", 1, Duration::from_secs(2))
            .is_empty(),
        "a refused credential is not bad data: nothing dead-lettered"
    );

    tls.set_worker_index_privileges(&role, &index, true).await;
    wait_indexed_once(tls, &world, &index, 6_000).await;
    world.wait_committed_at_end(Duration::from_secs(30)).await;
    eventually("the 403 to clear", Duration::from_secs(30), || async {
        let tasks = world.tasks().await;
        tasks
            .iter()
            .all(|t| t.report.last_error.is_none())
            .then_some(())
    })
    .await;
    let status = mgmt.status(&world.pipeline_id).await;
    assert_eq!(status["observed"], "running", "restored: {status}");
    mgmt.shutdown().await;
    worker.shutdown().await;
}
