//! What an operator reads: an in-process pipeline-mgmt on a world's database, asked for
//! `GET /api/v1/pipelines/{id}/status`. The worker writes its task reports; mgmt turns them into
//! `observed` and `reason`, so a test of a degraded worker checks the answer mgmt gives.

use crate::helpers::World;
use pipeline_common::config::{ConfigSource, Settings};
use pipeline_mgmt::Application;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A running mgmt with one viewer token.
pub struct MgmtView {
    base: String,
    token: String,
    client: reqwest::Client,
    server: test_support::InProcess,
}

impl MgmtView {
    /// Starts mgmt on `world`'s database; `vars` add to (or replace) the world's settings.
    pub async fn start(world: &World, vars: &[(String, String)]) -> MgmtView {
        let token = format!("viewer-{}", uuid::Uuid::new_v4().simple());
        let auth = json!([{
            "name": "vera-viewer",
            "role": "viewer",
            "sha256": hex::encode(Sha256::digest(token.as_bytes())),
        }]);
        let mut overrides: Vec<(&str, &str)> =
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let auth = auth.to_string();
        overrides.extend([
            ("FLOW__SERVER__HTTP_PORT", "0"),
            ("FLOW__SERVER__BIND_ADDRESS", "127.0.0.1"),
            ("FLOW__AUTH__TOKENS", auth.as_str()),
        ]);
        let settings = Settings::load(&ConfigSource {
            file: None,
            environment: None,
            vars: world.vars("mgmt", &overrides),
        })
        .expect("mgmt settings");
        let app = Application::build(settings).await.expect("build mgmt");
        let base = format!("http://127.0.0.1:{}", app.port());
        let server =
            test_support::InProcess::spawn(|stop| app.run_with_shutdown(stop.cancelled_owned()));
        MgmtView {
            base,
            token,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            server,
        }
    }

    /// The body of `GET /api/v1/pipelines/{id}/status`, which must answer 200.
    pub async fn status(&self, pipeline_id: &str) -> Value {
        let response = self
            .client
            .get(format!(
                "{}/api/v1/pipelines/{pipeline_id}/status",
                self.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("mgmt answers");
        assert_eq!(
            response.status(),
            reqwest::StatusCode::OK,
            "status answered"
        );
        response.json().await.expect("a JSON status")
    }

    /// Stops mgmt and waits for it.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
