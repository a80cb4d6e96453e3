//! One change at a time to a pipeline's Kafka topics and index template, across every replica of
//! pipeline-mgmt: a MariaDB named lock (`GET_LOCK`) per pipeline name.
//!
//! The topics and the template are named after the pipeline, not after its row, so two replicas
//! that provision the same name at once would undo each other's work: a DELETE that runs while a
//! create is still provisioning deletes topics the create then makes again, and leaves them
//! behind with no row; a create that fails late would delete the topics of a pipeline created
//! again under the same name meanwhile. Create, replace and delete therefore hold the name's lock
//! for their whole flow, and a second one that finds it taken answers 409 at once rather than
//! queue behind a flow that takes seconds.
//!
//! The lock lives in a connection of its own, outside the pool, and ends with it: when the flow
//! is done, when it is dropped half way, and when the process dies (the server ends the session).

use sqlx::mysql::MySqlConnection;
use sqlx::{Connection, MySqlPool};

/// The named lock of one pipeline name, held until dropped.
#[derive(Debug)]
pub struct NameLock {
    /// Dropping the connection closes the session, which releases the lock.
    _session: MySqlConnection,
}

/// Taking the lock did not work.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another replica (or request) is creating, changing or deleting this pipeline.
    #[error("another create, change or delete of pipeline {0} is in progress; retry")]
    Busy(String),
    /// The database did not answer.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl NameLock {
    /// Takes the lock of pipeline `name` in the database of `pool`, without waiting.
    pub async fn try_acquire(pool: &MySqlPool, name: &str) -> Result<NameLock, LockError> {
        let options = pool.connect_options();
        let mut session = MySqlConnection::connect_with(&options).await?;
        // Lock names are server-wide and at most 64 characters: the database's name keeps two
        // databases on one server apart, the digest keeps it short.
        let taken: Option<i64> = sqlx::query_scalar(
            "SELECT GET_LOCK(CONCAT('flow-stream:', SHA1(CONCAT(DATABASE(), '/', ?))), 0)",
        )
        .bind(name)
        .fetch_one(&mut session)
        .await?;
        match taken {
            Some(1) => Ok(NameLock { _session: session }),
            _ => Err(LockError::Busy(name.to_owned())),
        }
    }
}

impl From<LockError> for crate::error::ApiError {
    fn from(err: LockError) -> Self {
        match err {
            LockError::Busy(_) => crate::error::ApiError::Conflict(err.to_string()),
            LockError::Db(err) => err.into(),
        }
    }
}
