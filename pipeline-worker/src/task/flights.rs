//! Bulk flushes: when one starts, the task that runs it, and what its report settles.

use super::{TaskFailure, TaskState};
use crate::bulk::buffer::{flush_deadline, Batch};
use crate::bulk::classify::ItemOutcome;
use crate::bulk::retry::{flush, FlushEnd, FlushReport};
use crate::consumer::lock;
use crate::producer::{self, Completes};
use pipeline_common::failure::FailedAt;
use std::collections::VecDeque;
use tokio::task::JoinHandle;

/// Bulk requests in flight at once. One leaves the loop idle between a response and the next
/// request (and the sink idle while the loop fills the next buffer); two overlap them.
/// Completion order does not matter for the offsets: only contiguous done offsets are committed.
pub(super) const MAX_FLIGHTS: usize = 2;

/// The oldest flight's end (pending forever when nothing is in flight). Cancel-safe: the handle
/// stays in `flights` until the caller pops it.
pub(super) async fn wait_flight(
    flights: &mut VecDeque<JoinHandle<(Batch, FlushReport)>>,
) -> Result<(Batch, FlushReport), tokio::task::JoinError> {
    match flights.front_mut() {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}

impl TaskState {
    pub(super) fn maybe_start_flush(&mut self) {
        if self.flights.len() >= MAX_FLIGHTS || self.buffer.is_empty() {
            return;
        }
        let due = self
            .flush_deadline()
            .is_some_and(|d| d <= std::time::Instant::now());
        if due || self.buffer.is_full(&self.spec.flush) {
            self.start_flush();
        }
    }

    /// When the buffered documents must be flushed even if the buffer is not full.
    pub(super) fn flush_deadline(&self) -> Option<std::time::Instant> {
        let oldest = self.buffer.oldest()?;
        let (caught_up, last_input) = (self.end.caught_up(), self.end.last_input());
        Some(flush_deadline(
            &self.spec.flush,
            oldest,
            caught_up,
            last_input,
        ))
    }

    pub(super) fn start_flush(&mut self) {
        if self.flights.len() >= MAX_FLIGHTS || self.buffer.is_empty() {
            return;
        }
        let batch = self.buffer.take();
        let service = self.env.bulk.clone();
        let policy = self.env.retry;
        let failures = self.consecutive_failures;
        let metrics = self.env.metrics.bulk.clone();
        let stats = self.env.metrics.stats.clone();
        let abort = self.flush_abort.clone();
        self.flights.push_back(tokio::spawn(async move {
            let alarm = &stats.credentials;
            let report = flush(&batch, &service, &policy, failures, &metrics, alarm, &abort).await;
            (batch, report)
        }));
    }

    /// A flush ended: produce the indexed documents to the output topic (when it is on; otherwise
    /// indexing completes them) and the rejected ones to the error topic; their acknowledgements
    /// complete the offsets.
    pub(super) async fn flushed(
        &mut self,
        batch: Batch,
        report: FlushReport,
    ) -> Result<(), TaskFailure> {
        self.consecutive_failures = report.consecutive_failures;
        for (item, outcome) in batch.items().iter().zip(&report.outcomes) {
            let sent = match outcome {
                ItemOutcome::Done if !self.spec.output_enabled => {
                    lock(&self.env.shared.tracker).complete(item.ticket);
                    self.env.metrics.indexed(1);
                    continue;
                }
                ItemOutcome::Done => {
                    producer::send(
                        &self.producer,
                        &self.env.topics.output,
                        Some(batch.id(item)),
                        Some(batch.source(item)),
                        None,
                        item.ticket,
                        Completes::Indexed,
                    )
                    .await
                }
                ItemOutcome::DeadLetter { status, reason } => {
                    self.dead_letter(
                        item.ticket,
                        batch.original(item),
                        FailedAt::Index,
                        reason,
                        Some(*status),
                    )
                    .await
                }
                // Not settled (the flush gave up or was interrupted): never completed, so never
                // committed.
                ItemOutcome::Retry { .. } => continue,
            };
            sent.map_err(|error| TaskFailure::Produce {
                doing: "producing to the output or error topic",
                error,
            })?;
        }
        self.buffer.recycle(batch);
        match report.end {
            FlushEnd::Complete | FlushEnd::Interrupted => Ok(()),
            FlushEnd::GaveUp(reason) => Err(TaskFailure::BulkGaveUp(reason)),
        }
    }
}
