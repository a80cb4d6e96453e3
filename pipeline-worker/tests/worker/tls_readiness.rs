//! The worker's `/readyz` against the TLS servers: a wrong CA and a wrong SASL password
//! are failures an operator must fix, and readiness names them, without a secret, while the
//! worker keeps running. The worker runs as a child process so that its whole log can be read.

use crate::helpers::*;
use crate::mgmt_view::MgmtView;
use serde_json::json;
use std::time::Duration;
use test_support::tls::{tls_servers, TlsServers};

/// A free local port for the worker's endpoints (a child process cannot tell us the one it got).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A worker process on `world` with `overrides`; returns it and its `/readyz` URL.
fn start_worker(world: &World, overrides: &[(&str, &str)]) -> (WorkerProcess, String) {
    let port = free_port().to_string();
    let mut vars: Vec<(&str, &str)> = overrides.to_vec();
    vars.push(("FLOW__WORKER__HTTP_PORT", &port));
    let worker = WorkerProcess::start(world.vars("w1", &vars));
    (worker, format!("http://127.0.0.1:{port}/readyz"))
}

/// Polls `/readyz` until it answers 503 with every one of `expected` in its body.
async fn wait_unready(url: &str, expected: &[&str]) -> String {
    let client = reqwest::Client::new();
    eventually(
        "readiness to name the cause",
        Duration::from_secs(45),
        || {
            let client = client.clone();
            async move {
                let response = client.get(url).send().await.ok()?;
                let status = response.status();
                let body = response.text().await.ok()?;
                (status == reqwest::StatusCode::SERVICE_UNAVAILABLE
                    && expected.iter().all(|e| body.contains(e)))
                .then_some(body)
            }
        },
    )
    .await
}

fn kafka_tls_vars<'a>(brokers: &'a str, ca: &'a str) -> Vec<(&'a str, &'a str)> {
    let (host, port) = brokers.rsplit_once(':').unwrap();
    vec![
        ("FLOW__MQ__MQ_HOST", host),
        ("FLOW__MQ__MQ_PORT", port),
        ("FLOW__MQ__TLS", "true"),
        ("FLOW__MQ__CA_FILE", ca),
    ]
}

async fn secured_world(tls: &TlsServers) -> World {
    let (brokers, _) = shared_servers();
    let index = format!("flow-{}", test_support::unique_name("ready"));
    World::new(&brokers, &tls.opensearch_url, 1, json!({ "index": index })).await
}

/// Acceptance 2: a CA that signed neither the broker's nor the node's certificate. Readiness
/// answers 503 naming the certificate problem of each, the worker keeps running, and no log line
/// holds the OpenSearch password; restarted with the right CA, it is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_makes_readiness_name_the_certificate_problem() {
    let Some(tls) = tls_servers("a_wrong_ca_makes_readiness_name_the_certificate_problem") else {
        return;
    };
    let _slot = slot().await;
    let world = secured_world(tls).await;
    let other_ca = tls.file("other-ca.pem");
    let mut vars = kafka_tls_vars(&tls.kafka_ssl_brokers, &other_ca);
    vars.extend([
        ("FLOW__OPENSEARCH__CA_FILE", other_ca.as_str()),
        ("FLOW__OPENSEARCH__USERNAME", tls.worker.user.as_str()),
        ("FLOW__OPENSEARCH__PASSWORD", tls.worker.password.as_str()),
    ]);
    let (mut worker, readyz) = start_worker(&world, &vars);
    let body = wait_unready(
        &readyz,
        &[
            "kafka failed the TLS handshake",
            "check mq.caFile",
            "opensearch failed the TLS handshake",
            "check opensearch.caFile",
        ],
    )
    .await;
    assert!(worker.exited().is_none(), "the worker keeps running");
    assert!(!body.contains(&tls.worker.password), "no secret: {body}");
    let log = worker.log_text();
    assert!(
        !log.contains(&tls.worker.password),
        "no secret in the log:\n{}",
        worker.log_tail()
    );
    worker.terminate_gracefully();

    // The right CA after a restart: ready.
    let ca = tls.ca_file();
    let mut vars = kafka_tls_vars(&tls.kafka_ssl_brokers, &ca);
    vars.extend([
        ("FLOW__OPENSEARCH__CA_FILE", ca.as_str()),
        ("FLOW__OPENSEARCH__USERNAME", tls.worker.user.as_str()),
        ("FLOW__OPENSEARCH__PASSWORD", tls.worker.password.as_str()),
    ]);
    let (mut worker, readyz) = start_worker(&world, &vars);
    let client = reqwest::Client::new();
    eventually("ready with the right CA", Duration::from_secs(45), || {
        let client = client.clone();
        let readyz = readyz.clone();
        async move {
            let response = client.get(&readyz).send().await.ok()?;
            (response.status() == reqwest::StatusCode::OK).then_some(())
        }
    })
    .await;
    worker.terminate_gracefully();
}

/// Item 3 of acceptance: a wrong SASL password. Nothing is consumed or committed, the task's
/// reason (and mgmt's status) names the user and not the password, readiness names the SASL
/// failure, and no log line holds the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_sasl_password_consumes_nothing_and_says_why() {
    let Some(tls) = tls_servers("a_wrong_sasl_password_consumes_nothing_and_says_why") else {
        return;
    };
    let _slot = slot().await;
    let world = secured_world(tls).await;
    assert_eq!(
        world.produce(&(0..100).map(|i| (None, good_event(i))).collect::<Vec<_>>()),
        100
    );
    let ca = tls.ca_file();
    let (user, _) = test_support::SASL_USER;
    let wrong = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    let mut vars = kafka_tls_vars(&tls.kafka_sasl_ssl_brokers, &ca);
    vars.extend([
        ("FLOW__MQ__USERNAME", user),
        ("FLOW__MQ__PASSWORD", wrong.as_str()),
        ("FLOW__MQ__MECHANISM", "SCRAM-SHA-512"),
        ("FLOW__OPENSEARCH__CA_FILE", ca.as_str()),
        ("FLOW__OPENSEARCH__USERNAME", tls.worker.user.as_str()),
        ("FLOW__OPENSEARCH__PASSWORD", tls.worker.password.as_str()),
    ]);
    let (mut worker, readyz) = start_worker(&world, &vars);
    let body = wait_unready(&readyz, &["kafka rejected the credentials (SASL"]).await;
    assert!(!body.contains(&wrong), "no secret: {body}");
    let reason = eventually(
        "the task to report the SASL failure",
        Duration::from_secs(45),
        || async {
            world
                .tasks()
                .await
                .into_iter()
                .filter(|t| t.report.status.as_str() == "running")
                .find_map(|t| t.report.last_error.filter(|e| e.contains("SASL")))
        },
    )
    .await;
    assert!(reason.contains(user), "the reason names the user: {reason}");
    assert!(
        !reason.contains(&wrong),
        "no secret in the reason: {reason}"
    );
    let mgmt = MgmtView::start(&world, &[]).await;
    let status = mgmt.status(&world.pipeline_id).await;
    mgmt.shutdown().await;
    assert_eq!(status["observed"], "degraded", "{status}");
    assert!(!status.to_string().contains(&wrong), "{status}");

    assert!(worker.exited().is_none(), "the worker keeps running");
    let (committed, _) = world.committed_and_end();
    assert_eq!(committed, vec![0], "nothing committed");
    assert!(
        world
            .read_topic("output", 1, Duration::from_secs(2))
            .is_empty(),
        "nothing consumed"
    );
    assert!(
        !worker.log_text().contains(&wrong),
        "no secret in the log:\n{}",
        worker.log_tail()
    );
    worker.terminate_gracefully();
}
