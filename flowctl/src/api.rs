//! The parts of the server's answers that flowctl prints, as types. flowctl stays a thin client
//! of the JSON (it does not depend on the server's crates), but it reads that JSON through these
//! structs: a field the server renamed or dropped is an error naming it, not a `-` in a table.

use crate::client::Failure;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// `value` as a `T`; `Err` says which answer did not have the expected shape.
pub fn read<T: DeserializeOwned>(what: &str, value: Value) -> Result<T, Failure> {
    serde_json::from_value(value).map_err(|e| {
        Failure::local(format!(
            "the server's {what} does not have the shape this flowctl expects: {e}"
        ))
    })
}

/// A page of `GET /api/v1/pipelines`.
#[derive(Debug, Deserialize)]
pub struct PipelinePage {
    /// Whole pipelines; `apply` compares them, the list prints their [`PipelineSummary`].
    pub items: Vec<Value>,
    /// Cursor of the next page.
    pub next: Option<String>,
}

/// What flowctl prints of a pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSummary {
    /// Server-assigned id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Desired state.
    pub state: String,
    /// Version (the `If-Match` of a change).
    pub version: i64,
    /// Index name or pattern.
    pub index: String,
}

/// `GET …/status`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Desired state.
    pub desired: String,
    /// Observed state.
    pub observed: String,
    /// Why, when not as desired.
    pub reason: Option<String>,
    /// One per worker task.
    pub workers: Vec<WorkerStatus>,
}

/// One worker's task in a status.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerStatus {
    /// Worker id.
    pub worker: String,
    /// Task status.
    pub status: String,
    /// Assigned partitions.
    pub partitions: Vec<i32>,
    /// Events consumed.
    pub consumed: i64,
    /// Documents indexed.
    pub indexed: i64,
    /// Events dead-lettered.
    pub dead_lettered: i64,
    /// Events filtered.
    pub filtered: i64,
    /// Broker events the source filter took.
    pub matched: i64,
    /// Documents sent to the overflow index.
    pub overflowed: i64,
    /// Consumer lag, when known.
    pub lag: Option<i64>,
    /// Age of the last heartbeat.
    pub heartbeat_age_ms: i64,
}

/// `GET …/errors`.
#[derive(Debug, Deserialize)]
pub struct ErrorPage {
    /// Dead letters, newest first.
    pub items: Vec<DeadLetter>,
    /// Cursor of the next (older) page.
    pub next: Option<String>,
    /// How far the read went.
    pub scan: Scan,
}

/// How far one read of the error topic went.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scan {
    /// The scan budget ended the read.
    pub budget_exhausted: bool,
    /// Timestamp of the oldest record read.
    pub reached_back: Option<String>,
}

/// One dead letter.
#[derive(Debug, Deserialize)]
pub struct DeadLetter {
    /// Partition of the error topic.
    pub partition: i32,
    /// Offset there.
    pub offset: i64,
    /// Record time.
    pub timestamp: Option<String>,
    /// `error.stage`.
    pub stage: Option<String>,
    /// `error.reason`.
    pub reason: Option<String>,
    /// The original value (text, or base64).
    pub value: Option<String>,
}

/// A replay job.
#[derive(Debug, Clone, Deserialize)]
pub struct ReplayJob {
    /// Job id.
    pub id: String,
    /// `running`, `succeeded` or `failed`.
    pub state: String,
    /// Records that matched.
    pub matched: i64,
    /// Records acknowledged in the input topic.
    pub replayed: i64,
    /// Records not acknowledged.
    pub failed: i64,
    /// Why it failed.
    pub error: Option<String>,
}

/// A dry run's answer.
#[derive(Debug, Deserialize)]
pub struct DryRun {
    /// One per event, in order.
    pub results: Vec<DryRunResult>,
    /// `POST /api/v1/dry-run`: the definition as the server would store it.
    pub definition: Option<Value>,
}

/// One dry-run result.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum DryRunResult {
    /// The document that would be indexed.
    Document {
        /// Its `_id`.
        id: String,
    },
    /// Dropped by a filter.
    Dropped {
        /// Always `true`.
        #[serde(rename = "dropped")]
        _dropped: bool,
        /// Why, when a broker source's filter turned it away.
        #[serde(default)]
        reason: Option<String>,
    },
    /// Would be dead-lettered.
    Error {
        /// Where and why.
        error: DryRunError,
    },
}

/// Where and why a dry-run event failed.
#[derive(Debug, Deserialize)]
pub struct DryRunError {
    /// The failing stage.
    pub stage: String,
    /// Why.
    pub reason: String,
}
