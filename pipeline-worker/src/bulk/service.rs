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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Sends bulk bodies to the nodes of `opensearch.urls`: to one at a time, the first to begin
/// with, and to the next one when a request gets no answer (the node is down or unreachable), so
/// that the loss of one node of a cluster does not stop indexing. Every task of the process
/// shares the choice.
#[derive(Debug, Clone)]
pub struct BulkService {
    client: reqwest::Client,
    /// `<url>/_bulk` of every configured node.
    urls: Arc<[String]>,
    /// Index into `urls` of the node in use (modulo their number).
    current: Arc<AtomicUsize>,
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
    /// A service for the configured OpenSearch URLs, with the CA, client certificate and basic
    /// auth of `opensearch.*` (built by [`OpenSearchAccess`], as mgmt's client is).
    pub fn from_settings(settings: &Settings, timeout: Duration) -> anyhow::Result<Self> {
        let urls: Arc<[String]> = settings
            .opensearch
            .urls
            .iter()
            .map(String::as_str)
            .map(bulk_url)
            .collect();
        if urls.is_empty() {
            anyhow::bail!("opensearch.urls is empty");
        }
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
            urls,
            current: Arc::new(AtomicUsize::new(0)),
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
        let chosen = self.current.load(Ordering::Relaxed);
        let url = &self.urls[chosen % self.urls.len()];
        let result = self.send_to(url, body).await;
        if result.is_err() && self.urls.len() > 1 {
            self.move_on(chosen);
        }
        result
    }

    /// After a request to node `chosen` got no answer: the next node, unless another request
    /// moved on already.
    fn move_on(&self, chosen: usize) {
        let next = chosen.wrapping_add(1);
        if self
            .current
            .compare_exchange(chosen, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            // Positions in `opensearch.urls`, 1-based: a URL may carry credentials.
            let (from, to) = (chosen % self.urls.len() + 1, next % self.urls.len() + 1);
            tracing::warn!(
                from,
                to,
                "an OpenSearch node (opensearch.urls, by position) did \
                not answer; bulk requests go to the next one"
            );
        }
    }

    async fn send_to(&self, url: &str, body: Bytes) -> Result<BulkResponse, RequestFailure> {
        let mut request = self
            .client
            .post(url)
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

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline_common::config::ConfigSource;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A node that answers every request with an empty bulk response.
    async fn answering_node() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = vec![0_u8; 65536];
                let _ = socket.read(&mut buffer).await;
                let body = r#"{"took":1,"errors":false,"items":[]}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        format!("http://{address}")
    }

    fn service(urls: &[String]) -> BulkService {
        let settings = Settings::load(&ConfigSource {
            file: None,
            environment: None,
            vars: vec![("FLOW__OPENSEARCH__URLS".into(), urls.join(","))],
        })
        .unwrap();
        BulkService::from_settings(&settings, Duration::from_secs(5)).unwrap()
    }

    #[tokio::test]
    async fn a_node_that_does_not_answer_hands_the_next_requests_to_the_next_node() {
        // A port nobody listens on: connection refused.
        let down = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", probe.local_addr().unwrap())
        };
        let up = answering_node().await;
        let bulk = service(&[down, up]);
        let first = bulk.send(Bytes::from_static(b"{}\n")).await;
        assert!(
            matches!(first, Err(RequestFailure::Transport(_))),
            "{first:?}"
        );
        let second = bulk.send(Bytes::from_static(b"{}\n")).await.unwrap();
        assert_eq!(second.status, 200);
        let third = bulk.send(Bytes::from_static(b"{}\n")).await.unwrap();
        assert_eq!(third.status, 200, "it stays on the node that answers");
    }

    #[tokio::test]
    async fn one_node_is_retried_as_it_is() {
        let up = answering_node().await;
        let bulk = service(&[up]);
        assert_eq!(
            bulk.send(Bytes::from_static(b"{}\n")).await.unwrap().status,
            200
        );
        assert_eq!(bulk.current.load(Ordering::Relaxed), 0);
    }
}
