//! The life cycle of a broker: create (row, then topic; the row goes again if the topic cannot
//! be made), read with the pipelines that read it, delete (refused while pipelines read it), and
//! the topic its HTTP ingest writes to.

use crate::error::{ApiError, Dependency};
use crate::provision::topics::TopicSpec;
use crate::state::AppState;
use crate::store::brokers::{self as store, BrokerRow, DeleteCheck};
use chrono::{DateTime, Utc};
use pipeline_common::model::{BrokerName, BrokerSpec};
use serde::Serialize;
use utoipa::ToSchema;

/// A broker's topic settings, as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerTopics {
    /// Partitions: the most workers of one pipeline that share the broker's events.
    pub partitions: i32,
    /// Replication factor.
    pub replication_factor: i16,
    /// `min.insync.replicas`; `null` for the Kafka cluster's default.
    pub min_insync_replicas: Option<i16>,
    /// `retention.ms`; `null` for the Kafka broker's default.
    pub retention_ms: Option<i64>,
}

/// A broker as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Broker {
    /// Its id.
    #[schema(format = Uuid)]
    pub id: String,
    /// Its unique name, used in every `{name}` path and in a pipeline's `source.broker`.
    pub name: BrokerName,
    /// Free text.
    pub description: String,
    /// Its topic: `<prefix>.broker.<name>`.
    pub topic: String,
    /// The topic's settings.
    pub topics: BrokerTopics,
    /// The pipelines that read it, by name.
    pub pipelines: Vec<String>,
    /// The principal that created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

fn view(state: &AppState, row: BrokerRow, pipelines: Vec<String>) -> Broker {
    Broker {
        id: row.id.hyphenated().to_string(),
        topic: row.name.topic(&state.settings.kafka.topic_prefix),
        name: row.name,
        description: row.description,
        topics: BrokerTopics {
            partitions: row.topics.partitions,
            replication_factor: row.topics.replication_factor,
            min_insync_replicas: row.topics.min_insync_replicas,
            retention_ms: row.topics.retention_ms,
        },
        pipelines,
        created_by: row.created_by,
        created_at: row.created_at,
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("no broker with this name".into())
}

/// Creates a broker: its row (a taken name is 409), then its topic (a failure removes the row
/// again and answers 502). Runs in its own task, so a client that hangs up leaves nothing half
/// done.
pub async fn create(state: &AppState, spec: BrokerSpec, actor: &str) -> Result<Broker, ApiError> {
    let state = state.clone();
    let actor = actor.to_owned();
    tokio::spawn(async move {
        if store::get(&state.db, &spec.name).await?.is_some() {
            return Err(ApiError::Conflict(format!(
                "a broker named {} already exists",
                spec.name
            )));
        }
        let row = store::insert(&state.db, &spec, &actor).await?;
        let topic = TopicSpec {
            names: vec![row.name.topic(&state.settings.kafka.topic_prefix)],
            partitions: row.topics.partitions,
            replication_factor: i32::from(row.topics.replication_factor),
            retention_ms: row.topics.retention_ms,
            min_insync_replicas: row.topics.min_insync_replicas.map(i32::from),
        };
        if let Err(failure) = state.topics.create(&topic).await {
            if !failure.created.is_empty() {
                if let Err(err) = state.topics.delete(&failure.created).await {
                    tracing::warn!(broker = %row.name, error = format!("{err:#}"), "undo: deleting the topic failed");
                }
            }
            if let Err(err) = store::remove_unprovisioned(&state.db, row.id).await {
                tracing::error!(broker = %row.name, error = %err, "undo: removing the row failed");
            }
            return Err(super::topic_creation_error(failure.error, "the broker"));
        }
        Ok(view(&state, row, Vec::new()))
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
}

/// Every broker with the pipelines on it.
pub async fn list(state: &AppState) -> Result<Vec<Broker>, ApiError> {
    let rows = store::list(&state.db).await?;
    let readers = store::readers(&state.db, None).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let on_it = readers
                .iter()
                .filter(|(broker, _)| broker == row.name.as_str())
                .map(|(_, pipeline)| pipeline.clone())
                .collect();
            view(state, row, on_it)
        })
        .collect())
}

/// Broker `name` with the pipelines on it, or 404.
pub async fn get(state: &AppState, name: &BrokerName) -> Result<Broker, ApiError> {
    let row = store::get(&state.db, name).await?.ok_or_else(not_found)?;
    let readers = store::readers(&state.db, Some(name))
        .await?
        .into_iter()
        .map(|(_, pipeline)| pipeline)
        .collect();
    Ok(view(state, row, readers))
}

/// Deletes broker `name`: 409 naming the pipelines that still read it; otherwise its topic,
/// then its row, while the row is locked so that no pipeline can start reading it meanwhile.
pub async fn delete(state: &AppState, name: &BrokerName, actor: &str) -> Result<(), ApiError> {
    let state = state.clone();
    let name = name.clone();
    let actor = actor.to_owned();
    tokio::spawn(async move {
        let deletion = match store::begin_delete(&state.db, &name).await? {
            DeleteCheck::Missing => return Err(not_found()),
            DeleteCheck::InUse(pipelines) => {
                return Err(ApiError::Conflict(format!(
                "pipelines still read broker {name}: {}; delete them or change their source first",
                pipelines.join(", ")
            )))
            }
            DeleteCheck::Free(deletion) => deletion,
        };
        let topic = deletion
            .row()
            .name
            .topic(&state.settings.kafka.topic_prefix);
        state
            .topics
            .delete(&[topic])
            .await
            .map_err(|e| ApiError::bad_gateway(Dependency::Kafka, e))?;
        deletion.finish(&actor).await?;
        Ok(())
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
}

/// The topic HTTP ingest into broker `name` writes to, or 404.
pub async fn ingest_topic(state: &AppState, name: &BrokerName) -> Result<String, ApiError> {
    let row = store::get(&state.db, name).await?.ok_or_else(not_found)?;
    Ok(row.name.topic(&state.settings.kafka.topic_prefix))
}
