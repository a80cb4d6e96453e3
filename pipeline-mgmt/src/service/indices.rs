//! A pipeline's indices (`GET /api/v1/pipelines/{id}/indices`): the ones its index template
//! claims, with what OpenSearch reports and the date each holds.

use super::pipelines::invalid;
use crate::error::{ApiError, Dependency};
use crate::provision::index_stats;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use pipeline_common::index_template::IndexClaim;
use pipeline_common::model::PipelineDefinition;
use pipeline_common::store::pipelines::PipelineRow;
use serde::Serialize;
use utoipa::ToSchema;

/// One index of a pipeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineIndex {
    /// The index name.
    pub name: String,
    /// Documents (primaries).
    pub documents: u64,
    /// Store size of the primaries, in bytes.
    pub store_bytes: u64,
    /// Start of the period a dated index holds (`web-logs-2026.03.07` → `2026-03-07T00:00:00Z`);
    /// `null` for a concrete index or a name that does not parse back to the pattern.
    pub date: Option<DateTime<Utc>>,
    /// The pipeline version whose template the index was created under; `null` when it was
    /// created without one (before templates, or by hand).
    pub template_version: Option<i64>,
    /// When retention deletes the index (the end of its period plus `indexing.retention`);
    /// `null` when it is kept: no retention, or a name that does not parse back to the pattern.
    pub retention_deletes_at: Option<DateTime<Utc>>,
    /// Whether the next retention sweep deletes it (its deletion time has passed).
    pub retention_deletes_next: bool,
}

/// The indices of a pipeline, oldest date first (undated ones last, by name).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PipelineIndices {
    /// The indices.
    pub items: Vec<PipelineIndex>,
}

/// The indices `row`'s template claims, as OpenSearch reports them.
pub async fn list(state: &AppState, row: &PipelineRow) -> Result<PipelineIndices, ApiError> {
    let definition =
        PipelineDefinition::parse(&row.definition, &state.validation).map_err(invalid)?;
    let claim = IndexClaim::of(definition.index());
    let retention = definition.indexing().retention.as_ref();
    let now = Utc::now();
    let facts = index_stats::facts(&state.search, &claim.patterns())
        .await
        .map_err(|e| ApiError::bad_gateway(Dependency::OpenSearch, e))?;
    let mut items: Vec<PipelineIndex> = facts
        .into_iter()
        .filter(|(name, _)| claim.covers(name))
        .map(|(name, f)| {
            let deletes_at = retention.and_then(|r| r.deletes_at(definition.index(), &name));
            PipelineIndex {
                date: definition.index().date_of(&name),
                documents: f.documents,
                store_bytes: f.store_bytes,
                template_version: f.template_version,
                retention_deletes_at: deletes_at,
                retention_deletes_next: deletes_at.is_some_and(|at| at <= now),
                name,
            }
        })
        .collect();
    items.sort_by(|a, b| {
        (a.date.is_none(), a.date, &a.name).cmp(&(b.date.is_none(), b.date, &b.name))
    });
    Ok(PipelineIndices { items })
}
