//! Why a task stopped on its own, and the panic catcher the supervisor shares.

use crate::producer::DeliveryFailure;
use futures::FutureExt;
use pipeline_common::startup::panic_message;
use rdkafka::error::KafkaError;
use std::panic::AssertUnwindSafe;

/// Why a task stopped on its own. Its text is what `stateReason` and `lastError` show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskFailure {
    /// A Kafka client could not be built or set up (`doing` says which step).
    #[error("{doing}: {error}")]
    KafkaSetup {
        /// The step, e.g. "creating the consumer".
        doing: &'static str,
        /// librdkafka's error.
        error: KafkaError,
    },
    /// A record we must not lose (a dead letter, an output record) could not be enqueued.
    #[error("{doing}: {error}")]
    Produce {
        /// What was being produced.
        doing: &'static str,
        /// The producer's error.
        error: KafkaError,
    },
    /// The broker refused or lost an output record or a dead letter.
    #[error("producing to the output or error topic: {0}")]
    Undelivered(DeliveryFailure),
    /// `failureThreshold` consecutive flushes failed.
    #[error("{0}")]
    BulkGaveUp(String),
    /// The task that sends bulk requests ended without a report (it panicked).
    #[error("bulk flush task died: {0}")]
    FlushTaskDied(String),
    /// The input topic does not exist (any more).
    #[error("input topic missing: {0}")]
    InputTopicMissing(String),
    /// The task itself panicked; the supervisor caught it.
    #[error("task panicked: {0}")]
    Panicked(String),
}

/// Runs `work`, turning a panic in it into [`TaskFailure::Panicked`] with the panic's message.
pub async fn catching_panics(
    work: impl std::future::Future<Output = Result<(), TaskFailure>>,
) -> Result<(), TaskFailure> {
    AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .unwrap_or_else(|payload| Err(TaskFailure::Panicked(panic_message(&*payload))))
}
