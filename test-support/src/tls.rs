//! The TLS half of the shared servers, present when the stack was started with
//! `FLOW_STACK_TLS=1` (`scripts/servers/tls/stack-hooks`):
//!
//! | variable | meaning |
//! |---|---|
//! | `FLOW_TEST_TLS_DIR` | the private PKI: `ca.pem`, `client.pem`/`client.key`, `other-ca.pem` |
//! | `FLOW_TEST_KAFKA_SSL_BROKERS` | `localhost:PORT`, the shared broker's SSL listener |
//! | `FLOW_TEST_KAFKA_SASL_SSL_BROKERS` | its SASL_SSL listener ([`crate::SASL_USER`]) |
//! | `FLOW_TEST_KAFKA_MTLS_BROKERS` | its SSL listener that requires a client certificate |
//! | `FLOW_TEST_SECURE_OPENSEARCH_URL` | `https://localhost:PORT`, OpenSearch with the security plugin |
//! | `FLOW_TEST_SECURE_OPENSEARCH_{ADMIN,WORKER,MGMT,NOBODY}` | `user:password` of its users |
//!
//! Tests call [`tls_servers`] and skip (with a line on stderr saying why) when it is `None`.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// A `user:password` pair.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl Credentials {
    fn parse(var: &str) -> Option<Credentials> {
        let value = std::env::var(var).ok()?;
        let (user, password) = value.split_once(':')?;
        Some(Credentials {
            user: user.to_owned(),
            password: password.to_owned(),
        })
    }
}

/// Addresses, PKI and users of the TLS servers.
#[derive(Debug, Clone)]
pub struct TlsServers {
    /// The PKI directory.
    pub dir: PathBuf,
    /// SSL listener (no client certificate).
    pub kafka_ssl_brokers: String,
    /// SASL_SSL listener.
    pub kafka_sasl_ssl_brokers: String,
    /// SSL listener with `ssl.client.auth=required`.
    pub kafka_mtls_brokers: String,
    /// Base URL of the secured OpenSearch node.
    pub opensearch_url: String,
    /// all_access: set-up and assertions.
    pub admin: Credentials,
    /// Role flow_worker.
    pub worker: Credentials,
    /// Role flow_mgmt.
    pub mgmt: Credentials,
    /// No role.
    pub nobody: Credentials,
}

/// The TLS servers, or `None` (after one line on stderr naming `test`) when the stack runs
/// without them.
pub fn tls_servers(test: &str) -> Option<&'static TlsServers> {
    static SERVERS: OnceLock<Option<TlsServers>> = OnceLock::new();
    let servers = SERVERS.get_or_init(|| {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(TlsServers {
            dir: PathBuf::from(var("FLOW_TEST_TLS_DIR")?),
            kafka_ssl_brokers: var("FLOW_TEST_KAFKA_SSL_BROKERS")?,
            kafka_sasl_ssl_brokers: var("FLOW_TEST_KAFKA_SASL_SSL_BROKERS")?,
            kafka_mtls_brokers: var("FLOW_TEST_KAFKA_MTLS_BROKERS")?,
            opensearch_url: var("FLOW_TEST_SECURE_OPENSEARCH_URL")?,
            admin: Credentials::parse("FLOW_TEST_SECURE_OPENSEARCH_ADMIN")?,
            worker: Credentials::parse("FLOW_TEST_SECURE_OPENSEARCH_WORKER")?,
            mgmt: Credentials::parse("FLOW_TEST_SECURE_OPENSEARCH_MGMT")?,
            nobody: Credentials::parse("FLOW_TEST_SECURE_OPENSEARCH_NOBODY")?,
        })
    });
    if servers.is_none() {
        eprintln!(
            "SKIPPED {test}: no TLS servers (FLOW_TEST_KAFKA_SSL_BROKERS etc. unset); \
             start the stack with FLOW_STACK_TLS=1 (scripts/test does)"
        );
    }
    servers.as_ref()
}

impl TlsServers {
    /// A file of the PKI directory (`ca.pem`, `client.pem`, `client.key`, `other-ca.pem`).
    pub fn file(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// The private CA.
    pub fn ca_file(&self) -> String {
        self.file("ca.pem")
    }

    fn http(&self) -> reqwest::Client {
        let ca = std::fs::read(Path::new(&self.ca_file())).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .unwrap()
    }

    /// `method path` on the secured node as admin, with an optional JSON body: (status, body).
    pub async fn admin_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http()
            .request(method, format!("{}{path}", self.opensearch_url))
            .basic_auth(&self.admin.user, Some(&self.admin.password));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Documents in `index` after a refresh (0 when it does not exist).
    pub async fn count(&self, index: &str) -> u64 {
        let refresh = format!("/{index}/_refresh");
        self.admin_call(reqwest::Method::POST, &refresh, None).await;
        let (status, body) = self
            .admin_call(reqwest::Method::GET, &format!("/{index}/_count"), None)
            .await;
        if status == 404 {
            return 0;
        }
        body["count"].as_u64().unwrap_or(0)
    }

    /// The `_id`s of every document in `index` (up to 10,000).
    pub async fn ids(&self, index: &str) -> Vec<String> {
        let (_, body) = self
            .admin_call(
                reqwest::Method::POST,
                &format!("/{index}/_search"),
                Some(json!({"size": 10000, "_source": false, "query": {"match_all": {}}})),
            )
            .await;
        body["hits"]["hits"]
            .as_array()
            .map(|hits| {
                hits.iter()
                    .filter_map(|h| h["_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A new internal user `name` (with a random password) and its own role `name`, holding
    /// exactly flow_worker's privileges on `index`: a worker credential one test may revoke
    /// without touching the others'.
    pub async fn create_worker_user(&self, name: &str, index: &str) -> Credentials {
        self.set_worker_index_privileges(name, index, true).await;
        // The plugin refuses a password that resembles the user name.
        let password = format!("Pw-{}", uuid::Uuid::new_v4().simple());
        let user = format!("/_plugins/_security/api/internalusers/{name}");
        let (status, body) = self
            .admin_call(
                reqwest::Method::PUT,
                &user,
                Some(json!({"password": password})),
            )
            .await;
        assert!(status == 200 || status == 201, "{status}: {body}");
        let mapping = format!("/_plugins/_security/api/rolesmapping/{name}");
        let (status, body) = self
            .admin_call(
                reqwest::Method::PUT,
                &mapping,
                Some(json!({"users": [name]})),
            )
            .await;
        assert!(status == 200 || status == 201, "{status}: {body}");
        Credentials {
            user: name.to_owned(),
            password,
        }
    }

    /// Grants (`true`) or revokes (`false`) role `role`'s flow_worker index privileges on
    /// `index`, keeping its cluster privilege: the mid-stream revocation an operator could make.
    pub async fn set_worker_index_privileges(&self, role: &str, index: &str, granted: bool) {
        let index_permissions = if granted {
            json!([{
                "index_patterns": [index],
                "allowed_actions": ["indices:data/write/index", "indices:data/write/bulk*",
                                    "indices:admin/create", "indices:admin/mapping/put"]
            }])
        } else {
            json!([])
        };
        let path = format!("/_plugins/_security/api/roles/{role}");
        let (status, body) = self
            .admin_call(
                reqwest::Method::PUT,
                &path,
                Some(json!({
                    "cluster_permissions": ["indices:data/write/bulk"],
                    "index_permissions": index_permissions,
                })),
            )
            .await;
        assert!(status == 200 || status == 201, "{status}: {body}");
    }
}
