//! pipeline-mgmt against TLS servers: Kafka's SASL_SSL listener with the private CA,
//! OpenSearch's security plugin over https as `flow_mgmt`, a user without rights, and a wrong CA.
//! Skipped, with a line on stderr, when the stack runs without `FLOW_STACK_TLS=1`.

use crate::helpers::*;
use reqwest::StatusCode;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use test_support::tls::{tls_servers, Credentials, TlsServers};

/// `FLOW__…` variables for SASL_SSL (SCRAM) with `ca` and the secured OpenSearch as `user`,
/// trusting `search_ca`.
fn tls_vars(
    tls: &TlsServers,
    ca: &str,
    search_ca: &str,
    user: &Credentials,
) -> Vec<(String, String)> {
    let (sasl_user, sasl_password) = test_support::SASL_USER;
    [
        ("FLOW__MQ__TLS", "true"),
        ("FLOW__MQ__CA_FILE", ca),
        ("FLOW__MQ__USERNAME", sasl_user),
        ("FLOW__MQ__PASSWORD", sasl_password),
        ("FLOW__MQ__MECHANISM", "SCRAM-SHA-512"),
        ("FLOW__OPENSEARCH__URLS", tls.opensearch_url.as_str()),
        ("FLOW__OPENSEARCH__CA_FILE", search_ca),
        ("FLOW__OPENSEARCH__USERNAME", user.user.as_str()),
        ("FLOW__OPENSEARCH__PASSWORD", user.password.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

async fn spawn_tls_app(tls: &TlsServers, user: &Credentials) -> TestApp {
    let ca = tls.ca_file();
    spawn_app_with(Options {
        brokers: Some(tls.kafka_sasl_ssl_brokers.clone()),
        vars: tls_vars(tls, &ca, &ca, user),
        ..Options::default()
    })
    .await
}

/// Acceptance 1 (mgmt): topics provisioned over SASL_SSL, the index created as flow_mgmt.
#[tokio::test]
async fn mgmt_provisions_over_sasl_ssl_and_creates_the_index_as_flow_mgmt() {
    let Some(tls) = tls_servers("mgmt_provisions_over_sasl_ssl_and_creates_the_index_as_flow_mgmt")
    else {
        return;
    };
    let app = spawn_tls_app(tls, &tls.mgmt).await;
    app.wait_ready(Duration::from_secs(30)).await;
    let name = test_support::unique_name("p");
    let index = format!("flow-{name}");
    let mut def = definition(&name, 1);
    def["index"] = index.clone().into();
    app.create_ok(&def).await;
    app.assert_topics_exist(&test_support::servers().kafka_brokers, &name);
    let (status, _) = tls
        .admin_call(reqwest::Method::HEAD, &format!("/{index}"), None)
        .await;
    assert_eq!(status, 200, "index {index} exists");
}

/// Acceptance 4: a user without rights → 502 naming the refused credential, and nothing is
/// left: no row, no topics, no index.
#[tokio::test]
async fn a_user_without_rights_gets_502_naming_the_credential_and_nothing_is_kept() {
    let Some(tls) =
        tls_servers("a_user_without_rights_gets_502_naming_the_credential_and_nothing_is_kept")
    else {
        return;
    };
    let app = spawn_tls_app(tls, &tls.nobody).await;
    let name = test_support::unique_name("p");
    let index = format!("flow-{name}");
    let mut def = definition(&name, 1);
    def["index"] = index.clone().into();
    let resp = app.create(&def).await;
    assert_eq!(resp.status, StatusCode::BAD_GATEWAY, "{}", resp.text);
    let detail = resp.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("credentials") && detail.contains("403"),
        "{detail}"
    );
    assert!(!resp.text.contains(&tls.nobody.password), "{}", resp.text);
    assert_eq!(app.row_count(&name).await, 0);
    let topics: Vec<String> = TestApp::topics_on(&test_support::servers().kafka_brokers)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    for topic in app.topic_names(&name) {
        assert!(!topics.contains(&topic), "{topic} was undone");
    }
    let (status, _) = tls
        .admin_call(reqwest::Method::HEAD, &format!("/{index}"), None)
        .await;
    assert_eq!(status, 404, "no index {index}");
}

/// The pipeline-mgmt binary with `vars`, its log in a file.
struct MgmtProcess {
    child: Child,
    log: std::path::PathBuf,
    port: u16,
}

impl MgmtProcess {
    fn start(vars: &[(String, String)], log: std::path::PathBuf) -> MgmtProcess {
        let port = test_support::free_port();
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pipeline-mgmt"))
            .arg("serve")
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("FLOW__SERVER__HTTP_PORT", port.to_string())
            .env("FLOW__SERVER__BIND_ADDRESS", "127.0.0.1")
            .env("FLOW__LOG__LOG_LEVEL", "debug")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        MgmtProcess { child, log, port }
    }

    /// `/readyz` once it answers: (status, body).
    fn readyz(&mut self) -> (u16, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "mgmt exited: {}",
                self.log_text()
            );
            // Readiness waits up to its own timeout per dependency before answering.
            if let Some(answer) = test_support::http_get(self.port, "/readyz") {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "no /readyz answer: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(mut self) -> String {
        test_support::send_signal(self.child.id(), "TERM");
        let _ = self.child.wait();
        self.log_text()
    }
}

/// Acceptance 2: with a CA that signed neither server, readiness answers 503 naming the
/// certificate problem for Kafka and OpenSearch, the process keeps running, and no log line
/// holds a secret; restarted with the right CA it is ready.
#[tokio::test]
async fn a_wrong_ca_is_named_by_readiness_without_a_crash_or_a_secret_in_the_log() {
    let Some(tls) =
        tls_servers("a_wrong_ca_is_named_by_readiness_without_a_crash_or_a_secret_in_the_log")
    else {
        return;
    };
    let db_url = test_support::fresh_database().await;
    let (host, port) = tls.kafka_sasl_ssl_brokers.rsplit_once(':').unwrap();
    let common = [
        ("FLOW__DATABASE__URL".to_owned(), db_url),
        ("FLOW__MQ__MQ_HOST".to_owned(), host.to_owned()),
        ("FLOW__MQ__MQ_PORT".to_owned(), port.to_owned()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let wrong = tls.file("other-ca.pem");
    let mut vars = tls_vars(tls, &wrong, &wrong, &tls.mgmt);
    vars.extend(common.clone());
    let mut mgmt = MgmtProcess::start(&vars, dir.path().join("wrong.log"));
    let (status, body) = mgmt.readyz();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("kafka failed the TLS handshake"), "{body}");
    assert!(body.contains("mq.caFile"), "{body}");
    assert!(
        body.contains("opensearch failed the TLS handshake"),
        "{body}"
    );
    assert!(body.contains("opensearch.caFile"), "{body}");
    // Still serving: a second probe answers the same.
    assert_eq!(mgmt.readyz().0, 503);
    let log = mgmt.stop();
    assert!(!log.is_empty(), "the log was captured");
    for secret in [test_support::SASL_USER.1, tls.mgmt.password.as_str()] {
        assert!(!log.contains(secret), "a secret reached the log:\n{log}");
    }

    let ca = tls.ca_file();
    let mut vars = tls_vars(tls, &ca, &ca, &tls.mgmt);
    vars.extend(common);
    let mut mgmt = MgmtProcess::start(&vars, dir.path().join("right.log"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = mgmt.readyz();
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "{status}: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    mgmt.stop();
}
