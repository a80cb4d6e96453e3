//! The `brokers` table and the brokers' audit rows.
//!
//! Which pipelines read a broker is `pipelines.source_broker`, a column MariaDB derives from each
//! stored definition, with a foreign key on `brokers.name`: the database refuses a pipeline on a
//! broker that does not exist, and the deletion of a broker a pipeline still reads.

use chrono::{DateTime, Utc};
use pipeline_common::model::{BrokerName, BrokerSpec, TopicSpec};
use sqlx::{MySql, MySqlPool, Transaction};
use uuid::Uuid;

/// The `resource` of a broker's audit rows.
const AUDIT_RESOURCE: &str = "broker";

/// A stored broker.
#[derive(Debug, Clone)]
pub struct BrokerRow {
    /// Its id.
    pub id: Uuid,
    /// Its unique name.
    pub name: BrokerName,
    /// Free text.
    pub description: String,
    /// Its topic's settings.
    pub topics: TopicSpec,
    /// The principal that created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct RawRow {
    id: String,
    name: String,
    description: String,
    partitions: i32,
    replication_factor: i16,
    min_insync_replicas: Option<i16>,
    retention_ms: Option<i64>,
    created_by: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<RawRow> for BrokerRow {
    type Error = sqlx::Error;

    fn try_from(raw: RawRow) -> Result<Self, sqlx::Error> {
        let corrupt = |what: String| sqlx::Error::Decode(format!("brokers row: {what}").into());
        Ok(BrokerRow {
            id: Uuid::try_parse(&raw.id).map_err(|e| corrupt(format!("id: {e}")))?,
            name: BrokerName::parse(&raw.name).map_err(|e| corrupt(format!("name: {e}")))?,
            description: raw.description,
            topics: TopicSpec {
                partitions: raw.partitions,
                replication_factor: raw.replication_factor,
                retention_ms: raw.retention_ms,
                min_insync_replicas: raw.min_insync_replicas,
            },
            created_by: raw.created_by,
            created_at: raw.created_at,
        })
    }
}

const COLUMNS: &str = "id, name, description, partitions, replication_factor, \
                       min_insync_replicas, retention_ms, created_by, created_at";

async fn audit(
    tx: &mut Transaction<'_, MySql>,
    id: Uuid,
    name: &BrokerName,
    actor: &str,
    action: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (pipeline_id, pipeline_name, actor, action, version_before, \
         version_after, at, resource) VALUES (?, ?, ?, ?, NULL, NULL, ?, ?)",
    )
    .bind(id.hyphenated().to_string())
    .bind(name.as_str())
    .bind(actor)
    .bind(action)
    .bind(Utc::now())
    .bind(AUDIT_RESOURCE)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts a broker with its `create` audit row; a taken name is a unique violation.
pub async fn insert(
    pool: &MySqlPool,
    spec: &BrokerSpec,
    actor: &str,
) -> Result<BrokerRow, sqlx::Error> {
    let row = BrokerRow {
        id: Uuid::new_v4(),
        name: spec.name.clone(),
        description: spec.description.clone(),
        topics: spec.topics,
        created_by: actor.to_owned(),
        created_at: Utc::now(),
    };
    let mut tx = pool.begin().await?;
    sqlx::query(&format!(
        "INSERT INTO brokers ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(row.id.hyphenated().to_string())
    .bind(row.name.as_str())
    .bind(&row.description)
    .bind(row.topics.partitions)
    .bind(row.topics.replication_factor)
    .bind(row.topics.min_insync_replicas)
    .bind(row.topics.retention_ms)
    .bind(actor)
    .bind(row.created_at)
    .execute(&mut *tx)
    .await?;
    audit(&mut tx, row.id, &row.name, actor, "create").await?;
    tx.commit().await?;
    Ok(row)
}

/// Removes a broker whose topic could not be made (the create's undo step), with no audit row:
/// it never existed as a working broker.
pub async fn remove_unprovisioned(pool: &MySqlPool, id: Uuid) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM brokers WHERE id = ?")
        .bind(id.hyphenated().to_string())
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE audit_log SET action = 'create-undone' WHERE pipeline_id = ? AND resource = ?",
    )
    .bind(id.hyphenated().to_string())
    .bind(AUDIT_RESOURCE)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The broker named `name`.
pub async fn get<'e, E>(executor: E, name: &BrokerName) -> Result<Option<BrokerRow>, sqlx::Error>
where
    E: sqlx::MySqlExecutor<'e>,
{
    let raw: Option<RawRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM brokers WHERE name = ?"))
            .bind(name.as_str())
            .fetch_optional(executor)
            .await?;
    raw.map(BrokerRow::try_from).transpose()
}

/// Every broker, by name.
pub async fn list(pool: &MySqlPool) -> Result<Vec<BrokerRow>, sqlx::Error> {
    let raws: Vec<RawRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM brokers ORDER BY name"))
        .fetch_all(pool)
        .await?;
    raws.into_iter().map(BrokerRow::try_from).collect()
}

/// The names of the pipelines that read each broker, by broker name (brokers no pipeline reads
/// are absent).
pub async fn readers<'e, E>(
    executor: E,
    only: Option<&BrokerName>,
) -> Result<Vec<(String, String)>, sqlx::Error>
where
    E: sqlx::MySqlExecutor<'e>,
{
    sqlx::query_as(
        "SELECT source_broker, name FROM pipelines \
         WHERE source_broker IS NOT NULL AND (? IS NULL OR source_broker = ?) \
         ORDER BY source_broker, name",
    )
    .bind(only.map(BrokerName::as_str))
    .bind(only.map(BrokerName::as_str))
    .fetch_all(executor)
    .await
}

/// A broker deletion under way: the broker's row is locked (no pipeline can start reading it)
/// until [`Deletion::finish`] or a drop, which rolls back.
pub struct Deletion {
    tx: Transaction<'static, MySql>,
    row: BrokerRow,
}

/// What [`begin_delete`] found.
pub enum DeleteCheck {
    /// No such broker.
    Missing,
    /// Pipelines still read it: their names.
    InUse(Vec<String>),
    /// Nothing reads it; the row is locked.
    Free(Deletion),
}

/// Locks broker `name` and checks that no pipeline reads it.
pub async fn begin_delete(pool: &MySqlPool, name: &BrokerName) -> Result<DeleteCheck, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let raw: Option<RawRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM brokers WHERE name = ? FOR UPDATE"
    ))
    .bind(name.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(raw) = raw else {
        return Ok(DeleteCheck::Missing);
    };
    let readers: Vec<String> = readers(&mut *tx, Some(name))
        .await?
        .into_iter()
        .map(|(_, pipeline)| pipeline)
        .collect();
    if !readers.is_empty() {
        return Ok(DeleteCheck::InUse(readers));
    }
    Ok(DeleteCheck::Free(Deletion {
        tx,
        row: BrokerRow::try_from(raw)?,
    }))
}

impl Deletion {
    /// The broker being deleted.
    pub fn row(&self) -> &BrokerRow {
        &self.row
    }

    /// Deletes the row and writes the `delete` audit row.
    pub async fn finish(mut self, actor: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM brokers WHERE id = ?")
            .bind(self.row.id.hyphenated().to_string())
            .execute(&mut *self.tx)
            .await?;
        audit(&mut self.tx, self.row.id, &self.row.name, actor, "delete").await?;
        self.tx.commit().await
    }
}
