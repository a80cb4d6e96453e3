//! pipeline-mgmt's own queries: writes to `pipelines` with optimistic concurrency, the audit
//! trail. Reads that the worker shares live in `pipeline_common::store`.

use anyhow::Context;
use chrono::Utc;
use pipeline_common::config::{ExposeSecret, Settings};
use pipeline_common::store::pipelines::{self, PipelineRow, PipelineState, ReadError};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::types::Json;
use sqlx::{MySql, MySqlPool, Transaction};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

/// The embedded migrations (`pipeline-mgmt/migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The character set of every table and connection (migration `utf8mb4`): the schema does not
/// depend on the server's default.
pub const CHARSET: &str = "utf8mb4";
/// The collation of every table and connection.
pub const COLLATION: &str = "utf8mb4_unicode_ci";

/// Opens the pool. Connections are made on demand, so a database that is down at start-up
/// fails the migration step with a clear error rather than hanging.
pub fn pool(settings: &Settings) -> anyhow::Result<MySqlPool> {
    let options = MySqlConnectOptions::from_str(settings.database.url.expose_secret())
        // The URL may hold a password: never echo the parse error's input.
        .map_err(|_| anyhow::anyhow!("configuration key `database.url`: not a valid MySQL URL"))?
        .charset(CHARSET)
        .collation(COLLATION);
    Ok(MySqlPoolOptions::new()
        .max_connections(settings.database.max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options))
}

/// Applies pending migrations.
pub async fn migrate(pool: &MySqlPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying database migrations")
}

/// An audit action.
#[derive(Debug, Clone, Copy)]
pub enum AuditAction {
    /// Pipeline created.
    Create,
    /// Definition replaced.
    Update,
    /// Desired state changed.
    State,
    /// Pipeline deleted.
    Delete,
    /// One of the pipeline's dated indices deleted by retention (the index in `detail`).
    RetentionDelete,
    /// Dead letters replayed (a replay job started).
    Replay,
    /// A create whose provisioning failed and was undone; its `create` row is relabelled.
    CreateUndone,
}

impl AuditAction {
    fn as_str(self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Update => "update",
            AuditAction::State => "state",
            AuditAction::Delete => "delete",
            AuditAction::RetentionDelete => "retention-delete",
            AuditAction::Replay => "replay",
            AuditAction::CreateUndone => "create-undone",
        }
    }
}

/// Writes one audit row in `tx`, the transaction of the change it records.
pub async fn audit(
    tx: &mut Transaction<'_, MySql>,
    row: (Uuid, &str),
    actor: &str,
    action: AuditAction,
    before: Option<i64>,
    after: Option<i64>,
    detail: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log \
         (pipeline_id, pipeline_name, actor, action, version_before, version_after, at, detail) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(row.0.hyphenated().to_string())
    .bind(row.1)
    .bind(actor)
    .bind(action.as_str())
    .bind(before)
    .bind(after)
    .bind(Utc::now())
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A new pipeline to insert in state `provisioning`.
#[derive(Debug)]
pub struct NewPipeline<'a> {
    /// Its id.
    pub id: Uuid,
    /// Unique name.
    pub name: &'a str,
    /// Stored definition.
    pub definition: &'a serde_json::Value,
    /// Principal.
    pub created_by: &'a str,
}

/// Inserts a pipeline as `provisioning`, version 1, with its `create` audit row.
/// A duplicate name surfaces as a unique violation (409).
pub async fn insert(pool: &MySqlPool, new: &NewPipeline<'_>) -> Result<(), sqlx::Error> {
    let now = Utc::now();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO pipelines \
         (id, name, definition, state, state_reason, version, created_by, created_at, updated_at) \
         VALUES (?, ?, ?, ?, NULL, 1, ?, ?, ?)",
    )
    .bind(new.id.hyphenated().to_string())
    .bind(new.name)
    .bind(Json(new.definition))
    .bind(PipelineState::Provisioning.as_str())
    .bind(new.created_by)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        (new.id, new.name),
        new.created_by,
        AuditAction::Create,
        None,
        Some(1),
        None,
    )
    .await?;
    tx.commit().await
}

/// Sets the state of a pipeline without a version bump: the steps of provisioning and
/// deletion, which are part of one API change that was already counted.
pub async fn set_provisioning_state(
    pool: &MySqlPool,
    id: Uuid,
    state: PipelineState,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE pipelines SET state = ?, state_reason = ?, updated_at = ? WHERE id = ?")
        .bind(state.as_str())
        .bind(reason)
        .bind(Utc::now())
        .bind(id.hyphenated().to_string())
        .execute(pool)
        .await?;
    Ok(())
}

/// Removes a row that never finished provisioning (the undo step of the create saga).
pub async fn remove_unprovisioned(pool: &MySqlPool, id: Uuid) -> Result<(), sqlx::Error> {
    let id = id.hyphenated().to_string();
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM pipelines WHERE id = ?")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    // The create was never visible as a working pipeline; the audit trail says it was undone.
    sqlx::query("UPDATE audit_log SET action = ? WHERE pipeline_id = ?")
        .bind(AuditAction::CreateUndone.as_str())
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// The outcome of a guarded update.
#[derive(Debug)]
pub enum Guarded {
    /// Done; the row as it is now.
    Updated(PipelineRow),
    /// No such pipeline.
    Missing,
    /// The current version is not the expected one.
    Stale {
        /// The version in the database.
        current: i64,
    },
}

/// A change to apply under a version check.
#[derive(Debug)]
pub struct Change<'a> {
    /// Pipeline id.
    pub id: Uuid,
    /// The version the caller saw; `None` skips the check.
    pub expected_version: Option<i64>,
    /// New definition, if replaced.
    pub definition: Option<&'a serde_json::Value>,
    /// New desired state, if changed.
    pub state: Option<PipelineState>,
    /// Principal.
    pub actor: &'a str,
    /// For the audit row.
    pub action: AuditAction,
}

/// Applies `change` in one transaction: lock the row, check the version, write, audit.
pub async fn update(pool: &MySqlPool, change: &Change<'_>) -> Result<Guarded, ReadError> {
    let id = change.id.hyphenated().to_string();
    let mut tx = pool.begin().await?;
    let current: Option<(i64, String)> =
        sqlx::query_as("SELECT version, name FROM pipelines WHERE id = ? FOR UPDATE")
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((version, name)) = current else {
        return Ok(Guarded::Missing);
    };
    if change.expected_version.is_some_and(|v| v != version) {
        return Ok(Guarded::Stale { current: version });
    }
    sqlx::query(
        "UPDATE pipelines SET \
         definition = COALESCE(?, definition), \
         state = COALESCE(?, state), \
         state_reason = CASE WHEN ? IS NULL THEN state_reason ELSE NULL END, \
         version = version + 1, updated_at = ? \
         WHERE id = ?",
    )
    .bind(change.definition.map(Json))
    .bind(change.state.map(PipelineState::as_str))
    .bind(change.state.map(PipelineState::as_str))
    .bind(Utc::now())
    .bind(&id)
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        (change.id, &name),
        change.actor,
        change.action,
        Some(version),
        Some(version + 1),
        None,
    )
    .await?;
    let row = pipelines::get(&mut *tx, change.id).await?;
    tx.commit().await?;
    Ok(row.map_or(Guarded::Missing, Guarded::Updated))
}

/// Deletes a pipeline row, its worker task rows and writes the `delete` audit row.
pub async fn delete(pool: &MySqlPool, row: &PipelineRow, actor: &str) -> Result<(), sqlx::Error> {
    let id = row.id.hyphenated().to_string();
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM worker_tasks WHERE pipeline_id = ?")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM pipelines WHERE id = ?")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        (row.id, row.name.as_str()),
        actor,
        AuditAction::Delete,
        Some(row.version),
        None,
        None,
    )
    .await?;
    tx.commit().await
}

/// The actor of audit rows that retention writes.
pub const RETENTION_ACTOR: &str = "retention";

/// Records that retention deleted `index` of pipeline `row` (at the version whose retention
/// applied).
pub async fn record_retention_delete(
    pool: &MySqlPool,
    row: &PipelineRow,
    index: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    audit(
        &mut tx,
        (row.id, row.name.as_str()),
        RETENTION_ACTOR,
        AuditAction::RetentionDelete,
        Some(row.version),
        Some(row.version),
        Some(index),
    )
    .await?;
    tx.commit().await
}
