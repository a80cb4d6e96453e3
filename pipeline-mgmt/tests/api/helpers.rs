//! `spawn_app()`: a real pipeline-mgmt on port 0 against a fresh database, the shared broker and
//! OpenSearch node; and a client whose every response is checked: never a 500, every 4xx problem+json.

use pipeline_common::config::{ConfigSource, Settings};
use pipeline_mgmt::Application;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::MySqlPool;
use std::collections::BTreeSet;
use std::time::Duration;

/// Bearer tokens, one per role.
pub struct Tokens {
    pub admin: String,
    pub editor: String,
    pub viewer: String,
    pub ingest: String,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: MySqlPool,
    pub db_url: String,
    pub tokens: Tokens,
    pub brokers: String,
    pub opensearch: String,
    pub prefix: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A checked response.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

/// Options for [`spawn_app_with`].
#[derive(Default)]
pub struct Options {
    /// Kafka bootstrap `host:port`; default the shared broker.
    pub brokers: Option<String>,
    /// Extra `FLOW__…` variables.
    pub vars: Vec<(String, String)>,
    /// A MariaDB server URL (no database) to take the fresh database from; default the shared one.
    pub mysql_url: Option<String>,
    /// An existing database to use instead of a fresh one (a second mgmt on the same data).
    pub database_url: Option<String>,
    /// `kafka.topicPrefix`; default a unique one.
    pub prefix: Option<String>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

fn token(role: &str) -> String {
    format!("{role}-{}", uuid::Uuid::new_v4().simple())
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let servers = test_support::servers();
    let db_url = match (&options.database_url, &options.mysql_url) {
        (Some(existing), _) => existing.clone(),
        (None, Some(url)) => test_support::fresh_database_on(url).await,
        (None, None) => test_support::fresh_database().await,
    };
    let brokers = options
        .brokers
        .unwrap_or_else(|| servers.kafka_brokers.clone());
    let (host, port) = brokers.rsplit_once(':').unwrap();
    let tokens = Tokens {
        admin: token("admin"),
        editor: token("editor"),
        viewer: token("viewer"),
        ingest: token("ingest"),
    };
    let auth = json!([
        {"name": "alice-admin", "role": "admin", "sha256": digest(&tokens.admin)},
        {"name": "eddie-editor", "role": "editor", "sha256": digest(&tokens.editor)},
        {"name": "vera-viewer", "role": "viewer", "sha256": digest(&tokens.viewer)},
        {"name": "ingo-ingest", "role": "ingest", "sha256": digest(&tokens.ingest)},
    ]);
    let prefix = options
        .prefix
        .clone()
        .unwrap_or_else(|| test_support::unique_name("t"));
    let mut vars: Vec<(String, String)> = vec![
        ("FLOW__DATABASE__URL".into(), db_url.clone()),
        ("FLOW__MQ__MQ_HOST".into(), host.into()),
        ("FLOW__MQ__MQ_PORT".into(), port.into()),
        (
            "FLOW__OPENSEARCH__URLS".into(),
            servers.opensearch_url.clone(),
        ),
        ("FLOW__SERVER__HTTP_PORT".into(), "0".into()),
        ("FLOW__SERVER__BIND_ADDRESS".into(), "127.0.0.1".into()),
        ("FLOW__KAFKA__TOPIC_PREFIX".into(), prefix.clone()),
        ("FLOW__AUTH__TOKENS".into(), auth.to_string()),
        (
            "FLOW__LOG__LOG_LEVEL".into(),
            "warn,rdkafka=off,librdkafka=off".into(),
        ),
    ];
    vars.extend(options.vars);
    let settings = Settings::load(&ConfigSource {
        file: None,
        environment: None,
        vars,
    })
    .expect("test settings");
    pipeline_common::telemetry::init(&settings.log);
    let app = Application::build(settings).await.expect("build the app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_with_shutdown(async move {
        let _ = rx.await;
    }));
    TestApp {
        base,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
        db: MySqlPool::connect(&db_url).await.unwrap(),
        db_url,
        tokens,
        brokers,
        opensearch: servers.opensearch_url.clone(),
        prefix,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    /// A console page's HTML as the signed-in viewer sees it (200 asserted).
    pub async fn console_page(&self, path: &str) -> String {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let signed_in = client
            .post(self.url("/console/sign-in"))
            .form(&[("token", self.tokens.viewer.as_str())])
            .send()
            .await
            .unwrap();
        let cookie = signed_in.headers()[reqwest::header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let page = client
            .get(self.url(path))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        page.text().await.unwrap()
    }

    /// Polls `/readyz` until it answers 200 (a dependency came back); panics after `timeout`.
    pub async fn wait_ready(&self, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let ready = self.send(self.request(Method::GET, "/readyz", None)).await;
            if ready.status == StatusCode::OK {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "mgmt did not recover: {}",
                ready.text
            );
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }

    /// Sends a request and checks the response: never 500, every 4xx/5xx problem+json.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Resp {
        let response = request.send().await.expect("request reaches the app");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        assert_ne!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "the app answered 500: {text}"
        );
        if status.is_client_error() || status.is_server_error() {
            let content_type = headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert_eq!(
                content_type, "application/problem+json",
                "{status} without problem+json: {text}"
            );
            let problem: Value = serde_json::from_str(&text).expect("problem body is JSON");
            assert_eq!(problem["status"], status.as_u16(), "{text}");
            for key in ["type", "title", "detail"] {
                assert!(problem[key].is_string(), "problem without {key}: {text}");
            }
        }
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match token {
            Some(t) => builder.bearer_auth(t),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(self.request(Method::GET, path, Some(token)))
            .await
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send(self.request(Method::POST, path, Some(token)).json(body))
            .await
    }

    pub async fn create(&self, definition: &Value) -> Resp {
        self.post_json("/api/v1/pipelines", &self.tokens.editor, definition)
            .await
    }

    /// The names `GET /api/v1/pipelines` lists (one page of up to 1000), which must answer 200.
    pub async fn listed_names(&self) -> Vec<String> {
        let list = self
            .get("/api/v1/pipelines?limit=1000", &self.tokens.viewer)
            .await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text);
        list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// Creates a pipeline named `name` and asserts 201.
    pub async fn create_ok(&self, definition: &Value) -> Value {
        let resp = self.create(definition).await;
        assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
        resp.body
    }

    /// Asserts that the broker at `brokers` lists the three topics of pipeline `name`.
    pub fn assert_topics_exist(&self, brokers: &str, name: &str) {
        let topics: Vec<String> = TestApp::topics_on(brokers)
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        for topic in self.topic_names(name) {
            assert!(topics.contains(&topic), "{topic} exists: {topics:?}");
        }
    }

    /// Topic names present on `brokers`, read with a plain rdkafka metadata request (not the
    /// app's code), with their partition counts.
    pub fn topics_on(brokers: &str) -> Vec<(String, usize)> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("log_level", "3")
            .create()
            .unwrap();
        let metadata = consumer
            .fetch_metadata(None, Duration::from_secs(10))
            .expect("broker metadata");
        metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name().to_owned(), t.partitions().len()))
            .collect()
    }

    pub fn topic_names(&self, name: &str) -> BTreeSet<String> {
        ["input", "output", "error"]
            .iter()
            .map(|k| format!("{}.{name}.{k}", self.prefix))
            .collect()
    }

    pub async fn row_count(&self, name: &str) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM pipelines WHERE name = ?")
            .bind(name)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// Stops the in-process server and keeps the clients: the test then talks to the database
    /// and to other replicas only.
    pub async fn stop_server(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A minimal valid definition.
pub fn definition(name: &str, partitions: i32) -> Value {
    json!({
        "name": name,
        "description": "test pipeline",
        "index": name,
        "topics": {"partitions": partitions, "replicationFactor": 1, "retentionMs": 3_600_000},
        "stages": [
            {"type": "parse", "field": "log_message", "formats": ["json"]},
            {"type": "hash", "target": "event_hash"}
        ],
    })
}

/// Asserts that the dead-letter view `letter` (an item of `GET …/errors`) has header `name`; its
/// value.
pub fn assert_header<'a>(letter: &'a Value, name: &str) -> &'a str {
    letter["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .and_then(|h| h["value"].as_str())
        .unwrap_or_else(|| panic!("no header {name} in {letter}"))
}
