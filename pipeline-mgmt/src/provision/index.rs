//! The pipeline's OpenSearch index.

use anyhow::{anyhow, Context};
use opensearch::cat::CatIndicesParts;
use opensearch::indices::{IndicesCreateParts, IndicesDeleteParts, IndicesExistsParts};
use opensearch::params::ExpandWildcards;
use opensearch::OpenSearch;
use std::time::Duration;

/// Longest wait for one OpenSearch call made while a client waits on the HTTP request.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an index could not be made sure of.
#[derive(Debug, thiserror::Error)]
pub enum EnsureError {
    /// OpenSearch refused the name (`invalid_index_name_exception`): its rules go further than
    /// ours (Java's lowercasing, e.g. of titlecase letters), and the name is the client's.
    #[error("OpenSearch refused the index name: {0}")]
    InvalidName(String),
    /// OpenSearch failed or could not be reached.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Makes sure index `name` exists, creating it when it does not. Another creator winning the race
/// (`resource_already_exists_exception`) is success.
pub async fn ensure(client: &OpenSearch, name: &str) -> Result<(), EnsureError> {
    let exists = tokio::time::timeout(
        CALL_TIMEOUT,
        client
            .indices()
            .exists(IndicesExistsParts::Index(&[name]))
            .send(),
    )
    .await
    .context("OpenSearch index check timed out")?
    .context("OpenSearch index check")?;
    match exists.status_code().as_u16() {
        200 => return Ok(()),
        404 => {}
        status @ (401 | 403) => {
            return Err(anyhow!(super::search_access::CredentialsRejected(status)).into())
        }
        other => return Err(anyhow!("OpenSearch index check answered {other}").into()),
    }
    let created = tokio::time::timeout(
        CALL_TIMEOUT,
        client
            .indices()
            .create(IndicesCreateParts::Index(name))
            .send(),
    )
    .await
    .context("OpenSearch index creation timed out")?
    .context("OpenSearch index creation")?;
    let status = created.status_code().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    if status == 401 || status == 403 {
        return Err(anyhow!(super::search_access::CredentialsRejected(status)).into());
    }
    let body = created.text().await.unwrap_or_default();
    if body.contains("resource_already_exists_exception") {
        return Ok(());
    }
    if status == 400 && body.contains("invalid_index_name_exception") {
        let reason: Option<String> = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.pointer("/error/reason")?.as_str().map(str::to_owned));
        return Err(EnsureError::InvalidName(
            reason.unwrap_or_else(|| "invalid index name".to_owned()),
        ));
    }
    Err(anyhow!("OpenSearch index creation answered {status}: {body}").into())
}

/// The names of the indices (open or closed) matching `patterns`; none is an empty list.
pub async fn list_names(client: &OpenSearch, patterns: &[String]) -> anyhow::Result<Vec<String>> {
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    let response = tokio::time::timeout(
        CALL_TIMEOUT,
        client
            .cat()
            .indices(CatIndicesParts::Index(&patterns))
            .expand_wildcards(&[ExpandWildcards::Open, ExpandWildcards::Closed])
            .h(&["index"])
            .format("json")
            .send(),
    )
    .await
    .context("OpenSearch index listing timed out")?
    .context("OpenSearch index listing")?;
    match response.status_code().as_u16() {
        200..=299 => {}
        404 => return Ok(Vec::new()),
        status @ (401 | 403) => {
            return Err(anyhow!(super::search_access::CredentialsRejected(status)))
        }
        status => {
            let body = response.text().await.unwrap_or_default();
            return Err(anyhow!(
                "OpenSearch index listing answered {status}: {body}"
            ));
        }
    }
    #[derive(serde::Deserialize)]
    struct Row {
        index: String,
    }
    let rows: Vec<Row> = response
        .json()
        .await
        .context("OpenSearch index listing: unreadable body")?;
    Ok(rows.into_iter().map(|r| r.index).collect())
}

/// What deleting an index did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// This call deleted it.
    Now,
    /// It was gone already (deleted by hand, or by another replica in a takeover).
    AlreadyGone,
}

/// Deletes the concrete index `name` (never a pattern: the name is checked to hold no wildcard).
pub async fn delete(client: &OpenSearch, name: &str) -> anyhow::Result<Deleted> {
    if name.contains(['*', '?', ',']) || name.starts_with('_') {
        return Err(anyhow!(
            "refusing to delete {name:?}: not one concrete index name"
        ));
    }
    let response = tokio::time::timeout(
        CALL_TIMEOUT,
        client
            .indices()
            .delete(IndicesDeleteParts::Index(&[name]))
            .send(),
    )
    .await
    .context("OpenSearch index deletion timed out")?
    .context("OpenSearch index deletion")?;
    match response.status_code().as_u16() {
        200..=299 => Ok(Deleted::Now),
        404 => Ok(Deleted::AlreadyGone),
        status @ (401 | 403) => Err(anyhow!(super::search_access::CredentialsRejected(status))),
        status => {
            let body = response.text().await.unwrap_or_default();
            Err(anyhow!(
                "OpenSearch refused to delete index {name}: {status}: {body}"
            ))
        }
    }
}

/// Pings the cluster: the readiness check.
pub async fn ping(client: &OpenSearch, timeout: Duration) -> anyhow::Result<()> {
    let response = tokio::time::timeout(timeout, client.ping().send())
        .await
        .context("OpenSearch ping timed out")?
        .map_err(|err| {
            if super::search_access::is_certificate_error(&err) {
                anyhow!(super::search_access::CertificateRejected).context(err.to_string())
            } else {
                anyhow!(err).context("OpenSearch ping")
            }
        })?;
    let status = response.status_code().as_u16();
    match status {
        200..=299 => Ok(()),
        401 | 403 => Err(anyhow!(super::search_access::CredentialsRejected(status))),
        _ => Err(anyhow!("OpenSearch ping answered {status}")),
    }
}
