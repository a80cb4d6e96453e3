//! The pipeline's composable index template in OpenSearch (`_index_template/<name>`): installed
//! before its index is created and before any worker writes, replaced on update, removed on
//! delete, and re-installed for every pipeline at start-up.

use anyhow::{anyhow, Context};
use opensearch::indices::{IndicesDeleteIndexTemplateParts, IndicesPutIndexTemplateParts};
use opensearch::OpenSearch;
use pipeline_common::index_template::{
    template_body, template_name, TemplateDefaults, TemplateMeta,
};
use pipeline_common::model::PipelineDefinition;
use std::time::Duration;

/// Longest wait for one template call made while a client waits on the HTTP request.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The template of one pipeline at one definition version, ready to install.
#[derive(Debug, Clone)]
pub struct PipelineTemplate {
    /// `flow.<prefix>.<pipeline>`.
    pub name: String,
    /// The `PUT _index_template` body.
    pub body: serde_json::Value,
}

impl PipelineTemplate {
    /// The template of `definition` for pipeline `id` at `version`.
    pub fn new(
        prefix: &str,
        definition: &PipelineDefinition,
        defaults: &TemplateDefaults,
        id: uuid::Uuid,
        version: i64,
    ) -> PipelineTemplate {
        let meta = TemplateMeta::new(&id.hyphenated().to_string(), definition.name(), version);
        PipelineTemplate {
            name: template_name(prefix, definition.name()),
            body: template_body(definition, defaults, &meta),
        }
    }
}

/// Why a template could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// Another template with the same priority (an operator's, or a pipeline's of another
    /// pipeline-mgmt sharing the cluster) claims an overlapping pattern: OpenSearch's reason.
    #[error("{0}")]
    Overlap(String),
    /// OpenSearch failed, refused the body, or could not be reached.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Creates or replaces the template. Indices that exist keep their mapping; the next index
/// created under the template gets the new one.
pub async fn put(client: &OpenSearch, template: &PipelineTemplate) -> Result<(), PutError> {
    let response = tokio::time::timeout(
        CALL_TIMEOUT,
        client
            .indices()
            .put_index_template(IndicesPutIndexTemplateParts::Name(&template.name))
            .body(template.body.clone())
            .send(),
    )
    .await
    .context("OpenSearch index template update timed out")?
    .context("OpenSearch index template update")?;
    let status = response.status_code().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    if status == 401 || status == 403 {
        return Err(anyhow!(super::search_access::CredentialsRejected(status)).into());
    }
    let body = response.text().await.unwrap_or_default();
    if status == 400 && body.contains("matching patterns from existing templates") {
        let reason: Option<String> = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.pointer("/error/reason")?.as_str().map(str::to_owned));
        return Err(PutError::Overlap(reason.unwrap_or(body)));
    }
    Err(anyhow!(
        "OpenSearch refused index template {}: {status}: {body}",
        template.name
    )
    .into())
}

/// Removes template `name`; one that is already gone is success.
pub async fn delete(client: &OpenSearch, name: &str) -> anyhow::Result<()> {
    let response = tokio::time::timeout(
        CALL_TIMEOUT,
        client
            .indices()
            .delete_index_template(IndicesDeleteIndexTemplateParts::Name(name))
            .send(),
    )
    .await
    .context("OpenSearch index template removal timed out")?
    .context("OpenSearch index template removal")?;
    match response.status_code().as_u16() {
        200..=299 | 404 => Ok(()),
        status @ (401 | 403) => Err(anyhow!(super::search_access::CredentialsRejected(status))),
        status => {
            let body = response.text().await.unwrap_or_default();
            Err(anyhow!(
                "OpenSearch refused to remove index template {name}: {status}: {body}"
            ))
        }
    }
}
