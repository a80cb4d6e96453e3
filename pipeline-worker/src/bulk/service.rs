//! The bulk service: one HTTP `_bulk` request, answered or failed.
//!
//! Plain `reqwest` rather than the `opensearch` crate: the body is already NDJSON bytes encoded
//! once, straight into the buffer, and `opensearch`'s bulk API wants one serde value per operation, which
//! would serialize every document a second time. We need the raw status and body bytes, a
//! timeout per request, and nothing else.

use super::classify::RequestFailure;
use bytes::Bytes;
use pipeline_common::clients::OpenSearchAccess;
use pipeline_common::config::Settings;
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use std::time::Duration;

/// Sends bulk bodies to one OpenSearch endpoint.
#[derive(Debug, Clone)]
pub struct BulkService {
    client: reqwest::Client,
    url: String,
    auth: Option<(String, String)>,
    /// Which credential the requests carry, for reasons that name it (never the secret).
    credential: String,
}

/// An HTTP response to a bulk request.
#[derive(Debug)]
pub struct BulkResponse {
    /// HTTP status.
    pub status: u16,
    /// Response body.
    pub body: Bytes,
}

impl BulkService {
    /// A service for the first configured OpenSearch URL, with the CA, client certificate and
    /// basic auth of `opensearch.*` (built by [`OpenSearchAccess`], as mgmt's client is).
    pub fn from_settings(settings: &Settings, timeout: Duration) -> anyhow::Result<Self> {
        let base = settings
            .opensearch
            .urls
            .first()
            .ok_or_else(|| anyhow::anyhow!("opensearch.urls is empty"))?;
        let access = OpenSearchAccess::from_settings(&settings.opensearch)?;
        let credential = match (
            settings.opensearch.username.as_str(),
            settings.opensearch.cert_file.as_str(),
        ) {
            ("", "") => "the anonymous user (no opensearch.username)".to_owned(),
            ("", cert) => format!("the client certificate opensearch.certFile ({cert})"),
            (user, _) => format!("opensearch.username `{user}`"),
        };
        Ok(BulkService {
            client: access.reqwest_client(timeout)?,
            url: bulk_url(base),
            auth: access.basic_auth().cloned(),
            credential,
        })
    }

    /// Which credential the requests carry, e.g. "opensearch.username `flow_worker`".
    pub fn credential(&self) -> &str {
        &self.credential
    }

    /// Sends one body. A transport failure (no HTTP response) is an `Err`; any HTTP status is an
    /// `Ok` for the classifier to judge.
    pub async fn send(&self, body: Bytes) -> Result<BulkResponse, RequestFailure> {
        let mut request = self
            .client
            .post(&self.url)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            )
            .body(body);
        if let Some((user, password)) = &self.auth {
            request = request.basic_auth(user, Some(password));
        }
        let response = request
            .send()
            .await
            .map_err(|e| RequestFailure::Transport(error_chain(&e)))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| RequestFailure::Transport(error_chain(&e)))?;
        Ok(BulkResponse { status, body })
    }
}

fn bulk_url(base: &str) -> String {
    format!("{}/_bulk", base.trim_end_matches('/'))
}

/// The error with its causes, without the URL's credentials (reqwest never prints them).
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
