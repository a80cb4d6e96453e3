//! Index templates in the pipeline life cycle: which template a definition gets, the rule that
//! no two pipelines claim the same index, and the start-up reconcile of existing pipelines.

use super::all_rows;
use crate::error::{ApiError, Dependency};
use crate::provision::index_template::{self, PipelineTemplate};
use crate::state::AppState;
use pipeline_common::index_template::{template_name, IndexClaim, TemplateDefaults};
use pipeline_common::model::{PipelineDefinition, PipelineName};
use pipeline_common::store::pipelines::PipelineState;
use uuid::Uuid;

/// The template of `definition` for pipeline `id` at definition `version`.
pub fn template_for(
    state: &AppState,
    definition: &PipelineDefinition,
    id: Uuid,
    version: i64,
) -> PipelineTemplate {
    PipelineTemplate::new(
        &state.settings.kafka.topic_prefix,
        definition,
        &TemplateDefaults::from_settings(&state.settings),
        id,
        version,
    )
}

/// The name of pipeline `name`'s template.
pub fn name_of(state: &AppState, name: &PipelineName) -> String {
    template_name(&state.settings.kafka.topic_prefix, name)
}

/// Installs `template`: 409 when another template claims an overlapping pattern at the same
/// priority (the index is taken), 502 for any other refusal or an outage.
pub async fn install(state: &AppState, template: &PipelineTemplate) -> Result<(), ApiError> {
    match index_template::put(&state.search, template).await {
        Ok(()) => Ok(()),
        Err(index_template::PutError::Overlap(reason)) => Err(ApiError::Conflict(format!(
            "another index template claims this pipeline's index: {reason}"
        ))),
        Err(index_template::PutError::Failed(e)) => {
            Err(ApiError::bad_gateway(Dependency::OpenSearch, e))
        }
    }
}

/// Best effort, for undo steps: removes template `name`, logging a failure.
pub async fn remove_quietly(state: &AppState, name: &str) {
    if let Err(err) = index_template::delete(&state.search, name).await {
        tracing::warn!(
            template = name,
            error = format!("{err:#}"),
            "undo: removing the index template failed"
        );
    }
}

/// Best effort, for undo steps: puts `template` back, logging a failure.
pub async fn restore_quietly(state: &AppState, template: &PipelineTemplate) {
    if let Err(err) = index_template::put(&state.search, template).await {
        tracing::warn!(template = %template.name, error = format!("{err:#}"), "undo: restoring the index template failed");
    }
}

/// 409 when `definition`'s indices overlap those of another pipeline than `except`: two
/// templates would claim the same index, and two pipelines would write into one.
pub async fn check_claim(
    state: &AppState,
    definition: &PipelineDefinition,
    except: Option<Uuid>,
) -> Result<(), ApiError> {
    let claim = IndexClaim::of(definition.index());
    for row in all_rows(state).await? {
        if Some(row.id) == except {
            continue;
        }
        let Ok(other) = PipelineDefinition::parse(&row.definition, &state.validation) else {
            continue;
        };
        if claim.overlaps(&IndexClaim::of(other.index())) {
            return Err(ApiError::Conflict(format!(
                "index {} overlaps the indices of pipeline {} ({}); choose an index name that \
                 no other pipeline's index starts with followed by a digit, and that starts no \
                 other pipeline's that way",
                definition.index(),
                row.name,
                other.index()
            )));
        }
    }
    Ok(())
}

/// Installs the template of every existing pipeline (start-up): pipelines made before templates
/// existed get theirs, and a template removed by hand comes back. Idempotent; logs each outcome.
pub async fn reconcile_all(state: AppState) {
    let rows = match all_rows(&state).await {
        Ok(rows) => rows,
        Err(err) => {
            tracing::warn!(error = %err, "index templates: listing pipelines failed; not reconciled");
            return;
        }
    };
    let (mut installed, mut failed) = (0_usize, 0_usize);
    for row in rows {
        if matches!(row.state, PipelineState::Deleting) {
            continue;
        }
        let Ok(definition) = PipelineDefinition::parse(&row.definition, &state.validation) else {
            tracing::warn!(pipeline = %row.name, "index templates: stored definition does not validate; skipped");
            failed += 1;
            continue;
        };
        let template = template_for(&state, &definition, row.id, row.version);
        match index_template::put(&state.search, &template).await {
            Ok(()) => installed += 1,
            Err(err) => {
                failed += 1;
                tracing::warn!(pipeline = %row.name, template = %template.name,
                    error = format!("{err:#}"), "index templates: installing failed");
            }
        }
    }
    tracing::info!(installed, failed, "index templates reconciled at start-up");
}
