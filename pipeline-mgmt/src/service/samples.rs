//! Per-minute samples of the workers' heartbeats, the history behind the console's charts.
//!
//! `worker_tasks` holds only each task's latest report. A sampler copies the live reports into
//! the current minute's row every few seconds (so a minute ends with its last report) and prunes
//! what is older than the charts show. Replicas of pipeline-mgmt may all sample: the upsert is
//! idempotent.

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use sqlx::MySqlPool;
use std::time::Duration;
use uuid::Uuid;

/// How often the live reports are copied.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// How far back the charts look.
pub const WINDOW_MINUTES: i64 = 60;

/// Copies every live task report into the current minute's sample and prunes old samples.
pub async fn sample(db: &MySqlPool, live_within_ms: u64) -> Result<(), sqlx::Error> {
    let now = Utc::now();
    let minute = now
        .duration_trunc(ChronoDuration::minutes(1))
        .unwrap_or(now);
    let since = now - ChronoDuration::milliseconds(i64::try_from(live_within_ms).unwrap_or(0));
    sqlx::query(
        "INSERT INTO worker_samples (pipeline_id, worker_id, minute, consumed, indexed, \
         dead_lettered, lag) \
         SELECT pipeline_id, worker_id, ?, consumed, indexed, dead_lettered, lag \
         FROM worker_tasks WHERE heartbeat_at >= ? \
         ON DUPLICATE KEY UPDATE consumed = VALUES(consumed), indexed = VALUES(indexed), \
         dead_lettered = VALUES(dead_lettered), lag = VALUES(lag)",
    )
    .bind(minute.naive_utc())
    .bind(since)
    .execute(db)
    .await?;
    sqlx::query("DELETE FROM worker_samples WHERE minute < ?")
        .bind((minute - ChronoDuration::minutes(WINDOW_MINUTES * 2)).naive_utc())
        .execute(db)
        .await?;
    Ok(())
}

/// Samples until the process ends; failures are logged and retried at the next tick.
pub async fn run_sampler(db: MySqlPool, live_within_ms: u64) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tick.tick().await;
        if let Err(err) = sample(&db, live_within_ms).await {
            tracing::warn!(error = %err, "sampling worker heartbeats failed");
        }
    }
}

/// One minute of a pipeline, summed over its workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinutePoint {
    /// The minute.
    pub minute: DateTime<Utc>,
    /// Documents indexed during the minute.
    pub indexed: i64,
    /// Events dead-lettered during the minute.
    pub dead_lettered: i64,
    /// Summed consumer lag at the minute's last report.
    pub lag: i64,
}

/// The last hour of `pipeline_id`, oldest first. A minute's rate is the growth of each task's
/// counters since its previous sample; a counter that went down (the task restarted) counts
/// from zero.
pub async fn last_hour(db: &MySqlPool, pipeline_id: Uuid) -> Result<Vec<MinutePoint>, sqlx::Error> {
    let since = Utc::now() - ChronoDuration::minutes(WINDOW_MINUTES + 1);
    let rows: Vec<(String, chrono::NaiveDateTime, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT worker_id, minute, indexed, dead_lettered, lag FROM worker_samples \
         WHERE pipeline_id = ? AND minute >= ? ORDER BY minute, worker_id",
    )
    .bind(pipeline_id.hyphenated().to_string())
    .bind(since.naive_utc())
    .fetch_all(db)
    .await?;
    let mut previous: std::collections::HashMap<String, (i64, i64)> = Default::default();
    let mut points: Vec<MinutePoint> = Vec::new();
    for (worker, minute, indexed, dead, lag) in rows {
        let minute = minute.and_utc();
        let (pi, pd) = previous.get(&worker).copied().unwrap_or((indexed, dead));
        let grow = |now: i64, before: i64| if now >= before { now - before } else { now };
        previous.insert(worker, (indexed, dead));
        if points.last().is_none_or(|p| p.minute != minute) {
            points.push(MinutePoint {
                minute,
                indexed: 0,
                dead_lettered: 0,
                lag: 0,
            });
        }
        if let Some(point) = points.last_mut() {
            point.indexed += grow(indexed, pi);
            point.dead_lettered += grow(dead, pd);
            point.lag += lag.unwrap_or(0);
        }
    }
    Ok(points)
}
