//! A named lease in MariaDB that at most one pipeline-mgmt replica holds at a time.
//!
//! Replicas share nothing but the database, so the lease is a row (`leases`): its holder and an
//! expiry in the database's own clock (`NOW(6)`), which every replica reads the same way whatever
//! its own clock says. A holder renews it before each step of its work; when it stops renewing
//! (it crashed, or lost the database), another replica takes it over once it has expired. The
//! work done under a lease must still tolerate a step done twice across a takeover (a holder
//! that stalls past the expiry in the middle of a step): renewing before each step keeps that
//! window to one step.

use sqlx::MySqlPool;
use std::time::Duration;
use uuid::Uuid;

/// One lease as seen by one replica.
#[derive(Debug, Clone)]
pub struct Lease {
    name: &'static str,
    holder: String,
    ttl: Duration,
}

impl Lease {
    /// The lease `name` for this process: the holder id is unique per process, so two replicas
    /// on one host (or one test process) never mistake each other's lease for their own.
    pub fn new(name: &'static str, ttl: Duration) -> Lease {
        let host = hostname();
        Lease {
            name,
            holder: format!("{host}/{}", Uuid::new_v4().simple()),
            ttl,
        }
    }

    /// This replica's holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Takes the lease when it is free or expired, renews it when this replica holds it, and
    /// answers whether this replica holds it now (for the next `ttl`).
    pub async fn try_hold(&self, db: &MySqlPool) -> Result<bool, sqlx::Error> {
        // The row must exist for `FOR UPDATE` to lock it: two replicas racing on an empty table
        // would otherwise both insert.
        sqlx::query(
            "INSERT IGNORE INTO leases (name, holder, expires_at) \
             VALUES (?, '', '1970-01-01 00:00:01')",
        )
        .bind(self.name)
        .execute(db)
        .await?;
        let mut tx = db.begin().await?;
        let (holder, expired): (String, bool) = sqlx::query_as(
            "SELECT holder, expires_at < NOW(6) FROM leases WHERE name = ? FOR UPDATE",
        )
        .bind(self.name)
        .fetch_one(&mut *tx)
        .await?;
        let ours = holder == self.holder || expired;
        if ours {
            let micros = i64::try_from(self.ttl.as_micros()).unwrap_or(i64::MAX);
            sqlx::query(
                "UPDATE leases SET holder = ?, expires_at = NOW(6) + INTERVAL ? MICROSECOND \
                 WHERE name = ?",
            )
            .bind(&self.holder)
            .bind(micros)
            .bind(self.name)
            .execute(&mut *tx)
            .await?;
            if holder != self.holder {
                tracing::info!(lease = self.name, holder = %self.holder, previous = %holder,
                    "lease taken");
            }
        }
        tx.commit().await?;
        Ok(ours)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "pipeline-mgmt".to_owned())
}
