//! The seam between a task and the stage engine: what one Kafka message becomes.
//!
//! A task only needs "message in, document lines or drop or failure out"; keeping that behind
//! [`Processor`] lets a live definition change swap the whole chain atomically. It has one
//! implementation (`pipeline.rs`); the bulk buffer's tests pass a closure instead.

use rdkafka::message::BorrowedHeaders;

/// One Kafka message as the engine sees it.
#[derive(Clone, Copy)]
pub struct SourceRecord<'a> {
    /// Input topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Record key.
    pub key: Option<&'a [u8]>,
    /// Record value.
    pub payload: Option<&'a [u8]>,
    /// Record headers (CloudEvents binary mode puts its attributes here).
    pub headers: Option<&'a BorrowedHeaders>,
    /// Record timestamp in milliseconds since the epoch, if the broker set one.
    pub timestamp_ms: Option<i64>,
}

/// What processing one message gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// A document whose action and source lines were appended to the bulk body.
    Document {
        /// Its `_id`.
        id: String,
    },
    /// Dropped by a filter: done, nothing to index.
    Dropped,
    /// Decoding or a stage failed: dead-letter the original message.
    Failed {
        /// The stage that failed (`decode` for undecodable input).
        stage: pipeline_common::failure::FailedAt,
        /// Why.
        reason: String,
    },
}

/// Turns messages into bulk lines. Implementations are immutable and shared: a definition change
/// builds a new one.
pub trait Processor: Send + Sync + 'static {
    /// Processes one message, appending the bulk action and source lines (each ending in `\n`)
    /// to `body` when the outcome is [`Processed::Document`].
    fn process(&self, record: &SourceRecord<'_>, body: &mut Vec<u8>) -> Processed;
}
