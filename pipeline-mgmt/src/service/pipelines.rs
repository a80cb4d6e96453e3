//! The life cycle of a pipeline: create (with its undo steps), replace, change state, delete.
//! mgmt's only writer of the `pipelines` table (through `crate::store`; workers write a row's
//! `state_reason` only); the HTTP handlers and the console translate requests into these calls.

use super::find;
use super::templates;
use crate::error::{ApiError, Dependency, FieldProblem};
use crate::name_lock::NameLock;
use crate::provision;
use crate::provision::index_template::PipelineTemplate;
use crate::provision::topics::TopicSpec;
use crate::state::AppState;
use crate::store::{self, AuditAction, Change, Guarded, NewPipeline};
use pipeline_common::model::{DesiredState, PipelineDefinition, PipelineTopics, ValidationErrors};
use pipeline_common::store::pipelines::{self as rows, PipelineRow, PipelineState};
use uuid::Uuid;

fn not_found() -> ApiError {
    ApiError::NotFound("no pipeline with this id".into())
}

/// A 422 naming every offending field of a definition.
pub fn invalid(errors: ValidationErrors) -> ApiError {
    ApiError::Unprocessable {
        detail: "the pipeline definition is invalid".into(),
        errors: errors
            .into_iter()
            .map(|e| FieldProblem {
                field: e.field,
                message: e.message,
            })
            .collect(),
    }
}

fn field_error(field: &str, message: &str) -> ApiError {
    ApiError::Unprocessable {
        detail: "the pipeline definition is invalid".into(),
        errors: vec![FieldProblem {
            field: field.into(),
            message: message.into(),
        }],
    }
}

fn topic_spec(state: &AppState, definition: &PipelineDefinition) -> TopicSpec {
    let names = PipelineTopics::new(&state.settings.kafka.topic_prefix, definition.name());
    let topics = definition.topics();
    TopicSpec {
        names: names.topics().map(str::to_owned).to_vec(),
        partitions: topics.partitions,
        replication_factor: i32::from(topics.replication_factor),
        min_insync_replicas: topics.min_insync_replicas.map(i32::from),
        retention_ms: topics.retention_ms,
    }
}

fn desired(state: DesiredState) -> PipelineState {
    match state {
        DesiredState::Running => PipelineState::Running,
        DesiredState::Stopped => PipelineState::Stopped,
    }
}

/// Creates a pipeline: check that no other pipeline claims its indices, insert it as
/// `provisioning`, install its index template, check or create the index, create its three
/// topics, then set it `running` or `stopped`. A failure undoes what was done. The flow runs in
/// its own task, so a client that hangs up cannot leave it half done.
pub async fn create(
    state: &AppState,
    definition: PipelineDefinition,
    actor: &str,
) -> Result<PipelineRow, ApiError> {
    let task_state = state.clone();
    let actor = actor.to_owned();
    tokio::spawn(async move { create_saga(&task_state, &definition, &actor).await })
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
}

async fn create_saga(
    state: &AppState,
    definition: &PipelineDefinition,
    actor: &str,
) -> Result<PipelineRow, ApiError> {
    let name = definition.name().as_str();
    // No other replica provisions or removes topics and template of this name meanwhile.
    let _lock = NameLock::try_acquire(&state.db, name).await?;
    // Cheap early answer for the common duplicate; the unique key is the real guard.
    if rows::get_by_name(&state.db, definition.name())
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "a pipeline named {name} already exists"
        )));
    }
    templates::check_claim(state, definition, None).await?;
    let id = Uuid::new_v4();
    let stored = definition.to_json();
    // The row first: its unique name makes this create the only one installing the template.
    store::insert(
        &state.db,
        &NewPipeline {
            id,
            name,
            definition: &stored,
            created_by: actor,
        },
    )
    .await?;
    // Before the index and before any worker can write, so that every index of the pipeline is
    // created under it. The row starts at version 1.
    let template = templates::template_for(state, definition, id, 1);
    let spec = topic_spec(state, definition);
    if let Err(err) = provision_search(state, definition, &template).await {
        undo_create(state, id, &[], &template.name).await;
        return Err(err);
    }
    if let Err(failure) = state.topics.create(&spec).await {
        undo_create(state, id, &failure.created, &template.name).await;
        return Err(super::topic_creation_error(
            failure.error,
            "the pipeline definition",
        ));
    }
    if let Err(err) =
        store::set_provisioning_state(&state.db, id, desired(definition.state()), None).await
    {
        undo_create(state, id, &spec.names, &template.name).await;
        return Err(err.into());
    }
    state.ingest.forget(id, definition.name());
    find(state, id).await
}

/// The template, then the index under it. A date pattern gets today's index; later days are
/// created by OpenSearch on first write, under the same template.
async fn provision_search(
    state: &AppState,
    definition: &PipelineDefinition,
    template: &PipelineTemplate,
) -> Result<(), ApiError> {
    templates::install(state, template).await?;
    provision::index::ensure(&state.search, &definition.index().concrete_for_check()).await?;
    Ok(())
}

/// Best effort: delete what the saga created. Failures are logged; the row goes in any case so
/// the name can be used again (a retry treats existing topics as its own).
async fn undo_create(state: &AppState, id: Uuid, topics: &[String], template: &str) {
    if !topics.is_empty() {
        if let Err(err) = state.topics.delete(topics).await {
            tracing::warn!(
                pipeline = %id,
                ?topics,
                error = format!("{err:#}"),
                "undo: deleting topics failed"
            );
        }
    }
    templates::remove_quietly(state, template).await;
    if let Err(err) = store::remove_unprovisioned(&state.db, id).await {
        tracing::error!(pipeline = %id, error = %err, "undo: removing the row failed");
    }
}

/// Which version a change expects: `None` takes whatever is current.
pub type Expected = Option<i64>;

/// Replaces the definition of `id`. Name and topic settings cannot change; `with_state` makes
/// the definition's `state` the desired state.
pub async fn replace(
    state: &AppState,
    id: Uuid,
    expected: Expected,
    definition: PipelineDefinition,
    with_state: bool,
    actor: &str,
) -> Result<PipelineRow, ApiError> {
    // Held while the template changes: a delete of the same name waits its turn (409) instead of
    // removing the template this change then puts back.
    let _lock = NameLock::try_acquire(&state.db, definition.name().as_str()).await?;
    let current = find(state, id).await?;
    if let Some(v) = expected.filter(|v| *v != current.version) {
        return Err(stale(v, current.version));
    }
    if *definition.name() != current.name {
        return Err(field_error("name", "cannot change; create a new pipeline"));
    }
    let current_def = PipelineDefinition::parse(&current.definition, &state.validation);
    if let Ok(current_def) = &current_def {
        if current_def.topics() != definition.topics() {
            return Err(field_error(
                "topics",
                "partitions, replicationFactor, minInsyncReplicas and retentionMs cannot change \
                 after creation",
            ));
        }
    }
    if matches!(
        current.state,
        PipelineState::Provisioning | PipelineState::Deleting
    ) {
        return Err(ApiError::Conflict(format!(
            "the pipeline is {}",
            current.state
        )));
    }
    let index_changed = current_def
        .as_ref()
        .map_or(true, |d| d.index().as_str() != definition.index().as_str());
    if index_changed {
        templates::check_claim(state, &definition, Some(current.id)).await?;
    }
    // The next version's template first, so the index below (and every later dated one) is
    // created under it; the old one comes back if the change does not go through.
    let template = templates::template_for(state, &definition, current.id, current.version + 1);
    templates::install(state, &template).await?;
    let previous = current_def
        .as_ref()
        .ok()
        .map(|d| templates::template_for(state, d, current.id, current.version));
    let outcome = replace_row(
        state,
        &current,
        expected,
        &definition,
        with_state,
        actor,
        index_changed,
    )
    .await;
    if outcome.is_err() {
        if let Some(previous) = &previous {
            templates::restore_quietly(state, previous).await;
        }
    }
    outcome
}

async fn replace_row(
    state: &AppState,
    current: &PipelineRow,
    expected: Expected,
    definition: &PipelineDefinition,
    with_state: bool,
    actor: &str,
    index_changed: bool,
) -> Result<PipelineRow, ApiError> {
    if index_changed {
        provision::index::ensure(&state.search, &definition.index().concrete_for_check())
            .await
            .map_err(ApiError::from)?;
    }
    let new_state = with_state.then(|| desired(definition.state()));
    let stored = definition.to_json();
    let change = Change {
        id: current.id,
        expected_version: Some(expected.unwrap_or(current.version)),
        definition: Some(&stored),
        state: new_state,
        actor,
        action: AuditAction::Update,
    };
    guarded(state, &change).await
}

/// Sets the desired state of `id`; the row unchanged when it already is `target`.
pub async fn change_state(
    state: &AppState,
    id: Uuid,
    expected: Expected,
    target: DesiredState,
    actor: &str,
) -> Result<PipelineRow, ApiError> {
    let current = find(state, id).await?;
    if let Some(v) = expected.filter(|v| *v != current.version) {
        return Err(stale(v, current.version));
    }
    let target = desired(target);
    match current.state {
        PipelineState::Provisioning | PipelineState::Deleting => Err(ApiError::Conflict(format!(
            "the pipeline is {}",
            current.state
        ))),
        s if s == target => Ok(current),
        _ => {
            let change = Change {
                id: current.id,
                expected_version: Some(expected.unwrap_or(current.version)),
                definition: None,
                state: Some(target),
                actor,
                action: AuditAction::State,
            };
            guarded(state, &change).await
        }
    }
}

/// Deletes `id`: 409 while running unless `force`; otherwise mark it `deleting` (so workers stop
/// it), delete its three topics and its index template, then the row. The indices are kept:
/// they hold data.
pub async fn delete(state: &AppState, id: Uuid, force: bool, actor: &str) -> Result<(), ApiError> {
    let row = find(state, id).await?;
    check_deletable(&row, force)?;
    let task_state = state.clone();
    let actor = actor.to_owned();
    tokio::spawn(async move { delete_flow(&task_state, row, force, &actor).await })
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
}

/// 409 for a running (or provisioning) pipeline unless `force`.
fn check_deletable(row: &PipelineRow, force: bool) -> Result<(), ApiError> {
    if matches!(
        row.state,
        PipelineState::Running | PipelineState::Provisioning
    ) && !force
    {
        return Err(ApiError::Conflict(format!(
            "the pipeline is {}; stop it first or delete with force=true",
            row.state
        )));
    }
    Ok(())
}

fn stale(expected: i64, current: i64) -> ApiError {
    ApiError::PreconditionFailed(format!(
        "If-Match names version {expected}, but the pipeline is at version {current}"
    ))
}

async fn guarded(state: &AppState, change: &Change<'_>) -> Result<PipelineRow, ApiError> {
    match store::update(&state.db, change).await? {
        Guarded::Updated(row) => {
            state.ingest.forget(row.id, &row.name);
            Ok(row)
        }
        Guarded::Missing => Err(not_found()),
        Guarded::Stale { current } => Err(stale(change.expected_version.unwrap_or(0), current)),
    }
}

async fn delete_flow(
    state: &AppState,
    row: PipelineRow,
    force: bool,
    actor: &str,
) -> Result<(), ApiError> {
    // A create of this name that is still provisioning holds the lock: deleting now would miss
    // the topics it is about to make (409, retry). Under the lock, the row is read again.
    let _lock = NameLock::try_acquire(&state.db, row.name.as_str()).await?;
    let row = find(state, row.id).await?;
    check_deletable(&row, force)?;
    // Workers run only `running` pipelines: this stops them at their next reconciliation.
    let id = row.id;
    store::set_provisioning_state(&state.db, id, PipelineState::Deleting, None).await?;
    state.ingest.forget(row.id, &row.name);
    // The row decoded, so its name is valid and names exactly this pipeline's topics.
    let names = PipelineTopics::new(&state.settings.kafka.topic_prefix, &row.name);
    let topics = names.topics().map(str::to_owned);
    if let Err(err) = state.topics.delete(&topics).await {
        let reason = "deleting the topics failed; retry DELETE";
        store::set_provisioning_state(&state.db, id, PipelineState::Deleting, Some(reason)).await?;
        return Err(ApiError::bad_gateway(Dependency::Kafka, err));
    }
    // The indices stay (they hold data); the template goes, so no new index takes its mapping.
    let template = templates::name_of(state, &row.name);
    if let Err(err) = provision::index_template::delete(&state.search, &template).await {
        let reason = "removing the index template failed; retry DELETE";
        store::set_provisioning_state(&state.db, id, PipelineState::Deleting, Some(reason)).await?;
        return Err(ApiError::bad_gateway(Dependency::OpenSearch, err));
    }
    store::delete(&state.db, &row, actor).await?;
    state.ingest.forget(row.id, &row.name);
    Ok(())
}
