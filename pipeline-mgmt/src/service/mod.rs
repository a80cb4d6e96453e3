//! The pipelines service: what handlers, the CLI-facing API and the console share beyond one
//! request. Dead letters and replays live here; the HTTP modules only translate.

pub mod brokers;
pub mod dead_letters;
pub mod indices;
pub mod ingest;
pub mod ingest_cache;
pub mod pipelines;
pub mod replay;
pub mod retention;
pub mod samples;
pub mod status;
pub mod templates;

use crate::error::{ApiError, Dependency, FieldProblem};
use crate::provision::topics::TooFewBrokers;
use crate::state::AppState;
use pipeline_common::model::PipelineTopics;
use pipeline_common::store::pipelines::{
    self as rows, CorruptRow, Decoded, PipelineRow, PipelineState,
};
use uuid::Uuid;

/// The answer to a create whose topics could not be made: 422 on `topics.replicationFactor` when
/// the Kafka cluster has fewer brokers than it asks for (what was asked cannot be given here, and
/// waiting will not change it), 502 for anything else. `what` names the body, e.g. "the broker".
pub fn topic_creation_error(error: anyhow::Error, what: &str) -> ApiError {
    match error.downcast_ref::<TooFewBrokers>() {
        Some(too_few) => ApiError::Unprocessable {
            detail: format!("{what} is invalid"),
            errors: vec![FieldProblem {
                field: "topics.replicationFactor".into(),
                message: too_few.to_string(),
            }],
        },
        None => ApiError::bad_gateway(Dependency::Kafka, error),
    }
}

/// The row of `id`, or 404.
pub async fn find(state: &AppState, id: Uuid) -> Result<PipelineRow, ApiError> {
    rows::get(&state.db, id).await?.ok_or_else(not_found)
}

fn not_found() -> ApiError {
    ApiError::NotFound("no pipeline with this id".into())
}

/// The rows of a listing that decode; each corrupt one is logged and left out, so one bad row
/// does not take the whole list down.
pub fn usable(decoded: Decoded) -> Vec<PipelineRow> {
    decoded
        .into_iter()
        .filter_map(|row| row.map_err(log_corrupt).ok())
        .collect()
}

/// Rows read per page when every pipeline is walked.
const PAGE: u32 = 500;

/// Every pipeline that decodes, walked in pages by name (templates reconcile, retention).
pub async fn all_rows(state: &AppState) -> Result<Vec<PipelineRow>, sqlx::Error> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = rows::list_page(&state.db, None, after.as_deref(), PAGE).await?;
        let full = page.len() == PAGE as usize;
        after = page.last().map(|row| match row {
            Ok(row) => row.name.as_str().to_owned(),
            Err(bad) => bad.name.clone(),
        });
        out.extend(usable(page));
        if !full {
            return Ok(out);
        }
    }
}

/// Logs a stored row that does not decode, with its raw id and what is wrong.
pub fn log_corrupt(bad: CorruptRow) {
    tracing::error!(pipeline_id = %bad.id, name = %bad.name, problem = %bad.problem,
        "skipping a corrupt pipeline row; repair or remove it in the database");
}

/// The topics of a pipeline whose topics exist (running or stopped); 409 otherwise.
pub fn provisioned_topics(state: &AppState, row: &PipelineRow) -> Result<PipelineTopics, ApiError> {
    if !matches!(row.state, PipelineState::Running | PipelineState::Stopped) {
        return Err(ApiError::Conflict(format!(
            "the pipeline is {}; its topics are not available",
            row.state
        )));
    }
    Ok(PipelineTopics::new(
        &state.settings.kafka.topic_prefix,
        &row.name,
    ))
}

/// The newest dead letters of pipeline `row` (the errors endpoint, dry-run `fromErrors`, the
/// console), reading at most the configured scan budget.
pub async fn dead_letter_page(
    state: &AppState,
    row: &PipelineRow,
    limit: usize,
    selector: dead_letters::Selector,
    after: Option<dead_letters::Cursor>,
) -> Result<dead_letters::Page, ApiError> {
    let topics = provisioned_topics(state, row)?;
    let settings = state.settings.clone();
    tokio::task::spawn_blocking(move || {
        let reader = dead_letters::TopicReader::open(&settings, &topics.error)?;
        let budget = dead_letters::ScanBudget::from_settings(&settings);
        dead_letters::page(&reader, limit, &selector, after.as_ref(), budget)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
    .map_err(|e| ApiError::bad_gateway(Dependency::Kafka, e))
}
