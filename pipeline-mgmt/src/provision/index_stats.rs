//! What OpenSearch knows about the indices matching a pipeline's index patterns: documents,
//! store size, and the `_meta.version` each was created with.

use anyhow::{anyhow, Context};
use opensearch::indices::{IndicesGetMappingParts, IndicesStatsParts};
use opensearch::OpenSearch;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Longest wait for one call made while a client waits on the HTTP request.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One index as OpenSearch reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFacts {
    /// Documents on the primaries.
    pub documents: u64,
    /// Store size of the primaries, in bytes.
    pub store_bytes: u64,
    /// `_meta.version` of its mapping: the pipeline version its template was derived from.
    pub template_version: Option<i64>,
}

/// The body of a 2xx answer; `None` for a 404 (a concrete index that does not exist yet).
async fn get_json(
    response: Result<opensearch::http::response::Response, opensearch::Error>,
    what: &str,
) -> anyhow::Result<Option<Value>> {
    let response = response.with_context(|| format!("OpenSearch {what}"))?;
    let status = response.status_code().as_u16();
    if status == 404 {
        return Ok(None);
    }
    if !(200..300).contains(&status) {
        let body = response.text().await.unwrap_or_default();
        return Err(anyhow!("OpenSearch {what} answered {status}: {body}"));
    }
    response
        .json()
        .await
        .map(Some)
        .with_context(|| format!("OpenSearch {what}: unreadable body"))
}

/// The open indices matching `patterns`, by name; none is an empty map.
pub async fn facts(
    client: &OpenSearch,
    patterns: &[String],
) -> anyhow::Result<BTreeMap<String, IndexFacts>> {
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    let indices = client.indices();
    let stats = indices
        .stats(IndicesStatsParts::IndexMetric(
            &patterns,
            &["docs", "store"],
        ))
        .send();
    let stats = tokio::time::timeout(CALL_TIMEOUT, stats)
        .await
        .context("OpenSearch index stats timed out")?;
    let Some(stats) = get_json(stats, "index stats").await? else {
        return Ok(BTreeMap::new());
    };
    let mappings = indices
        .get_mapping(IndicesGetMappingParts::Index(&patterns))
        .ignore_unavailable(true)
        .allow_no_indices(true)
        .send();
    let mappings = tokio::time::timeout(CALL_TIMEOUT, mappings)
        .await
        .context("OpenSearch mappings timed out")?;
    let mappings = get_json(mappings, "mappings").await?.unwrap_or_default();
    let mut out = BTreeMap::new();
    if let Some(indices) = stats["indices"].as_object() {
        for (name, index) in indices {
            let primaries = &index["primaries"];
            out.insert(
                name.clone(),
                IndexFacts {
                    documents: primaries["docs"]["count"].as_u64().unwrap_or(0),
                    store_bytes: primaries["store"]["size_in_bytes"].as_u64().unwrap_or(0),
                    template_version: mappings[name]["mappings"]["_meta"]["version"].as_i64(),
                },
            );
        }
    }
    Ok(out)
}
