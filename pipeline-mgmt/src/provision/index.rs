//! The pipeline's OpenSearch index.

use anyhow::{anyhow, Context};
use opensearch::indices::{IndicesCreateParts, IndicesExistsParts};
use opensearch::OpenSearch;
use std::time::Duration;

/// Longest wait for one OpenSearch call made while a client waits on the HTTP request.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes sure index `name` exists, creating it when it does not. Another creator winning the race
/// (`resource_already_exists_exception`) is success.
pub async fn ensure(client: &OpenSearch, name: &str) -> anyhow::Result<()> {
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
        other => return Err(anyhow!("OpenSearch index check answered {other}")),
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
    let body = created.text().await.unwrap_or_default();
    if body.contains("resource_already_exists_exception") {
        return Ok(());
    }
    Err(anyhow!(
        "OpenSearch index creation answered {status}: {body}"
    ))
}

/// Pings the cluster: the readiness check.
pub async fn ping(client: &OpenSearch, timeout: Duration) -> anyhow::Result<()> {
    let response = tokio::time::timeout(timeout, client.ping().send())
        .await
        .context("OpenSearch ping timed out")?
        .context("OpenSearch ping")?;
    let status = response.status_code().as_u16();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(anyhow!("OpenSearch ping answered {status}"))
    }
}
