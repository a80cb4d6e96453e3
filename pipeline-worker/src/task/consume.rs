//! The task loop: take messages, start and settle flushes, commit; and the graceful drain.

use super::flights::{wait_flight, MAX_FLIGHTS};
use super::hold::HOLD_BEFORE_PAUSE;
use super::{Consumer_, TaskFailure, TaskSpec, TaskState};
use crate::consumer::TaskContext;
use crate::producer;
use futures::{FutureExt, StreamExt};
use rdkafka::consumer::{CommitMode, MessageStream};
use rdkafka::error::KafkaResult;
use rdkafka::message::BorrowedMessage;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// At most this many already-fetched messages are taken in one turn of the task loop.
const MESSAGE_BURST: usize = 256;

/// How often delivery reports are served while records are in flight and nothing else wakes
/// the task.
const DELIVERY_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How often done offsets are committed (asynchronously) while running.
const COMMIT_INTERVAL: Duration = Duration::from_secs(1);

impl TaskState {
    /// The consuming loop; returns `Ok` when asked to stop.
    pub(super) async fn consume(
        &mut self,
        consumer: &Consumer_,
        spec_rx: &mut watch::Receiver<Arc<TaskSpec>>,
        stop: &CancellationToken,
    ) -> Result<(), TaskFailure> {
        let mut messages = consumer.stream();
        let mut commit_tick = tokio::time::interval(COMMIT_INTERVAL);
        commit_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut delivery_tick = tokio::time::interval(DELIVERY_POLL_INTERVAL);
        delivery_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let far = || Instant::now() + Duration::from_secs(3600);
        let deadline_timer = tokio::time::sleep_until(far());
        tokio::pin!(deadline_timer);
        let mut armed: Option<Instant> = None;
        loop {
            self.serve_deliveries()?;
            self.maybe_start_flush();
            let holding = self.apply_hold(consumer);
            let pause_at = self.held_since.map(|since| since + HOLD_BEFORE_PAUSE);
            // Re-arm the interval timer only when the oldest document changes.
            let deadline = if self.flights.len() < MAX_FLIGHTS {
                self.flush_deadline().map(Instant::from_std)
            } else {
                None
            };
            if deadline != armed {
                deadline_timer.as_mut().reset(deadline.unwrap_or_else(far));
                armed = deadline;
            }
            tokio::select! {
                biased;
                () = stop.cancelled() => return Ok(()),
                // The loop head serves the reports.
                _ = delivery_tick.tick(), if producer::pending(&self.producer) > 0 => {}
                joined = wait_flight(&mut self.flights) => {
                    self.flights.pop_front();
                    let (batch, report) = joined
                        .map_err(|e| TaskFailure::FlushTaskDied(e.to_string()))?;
                    self.flushed(batch, report).await?;
                }
                changed = spec_rx.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let spec = spec_rx.borrow_and_update().clone();
                    tracing::info!(pipeline = %self.env.pipeline, version = spec.version, "definition changed; new events use it");
                    self.spec = spec;
                }
                () = &mut deadline_timer, if armed.is_some() => {
                    armed = None;
                    deadline_timer.as_mut().reset(far());
                    // The loop head starts the flush: the oldest document is old enough.
                    self.start_flush();
                }
                // The loop head pauses: the hold has lasted too long.
                () = tokio::time::sleep_until(pause_at.unwrap_or_else(far)), if holding && pause_at.is_some() => {}
                _ = commit_tick.tick() => self.commit(consumer, CommitMode::Async),
                event = messages.next(), if !holding => {
                    if self.take_messages(event, &mut messages).await?.is_break() {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Handles `first`, then takes what is already fetched without a trip round the loop per
    /// message (which polls every branch again), until the buffer is full. `Break` when the
    /// stream has ended.
    async fn take_messages(
        &mut self,
        first: Option<KafkaResult<BorrowedMessage<'_>>>,
        messages: &mut MessageStream<'_, TaskContext>,
    ) -> Result<ControlFlow<()>, TaskFailure> {
        if self.on_consumer_event(first).await?.is_break() {
            return Ok(ControlFlow::Break(()));
        }
        for _ in 1..MESSAGE_BURST {
            if self.buffer.is_full(&self.spec.flush) {
                break;
            }
            // While input keeps coming the task loop never waits, so it must yield now and then
            // by itself: a flush it has just spawned (and the HTTP connection that writes its
            // body) waits in this thread's queue, where no other thread may take it, until the
            // loop yields.
            tokio::task::coop::consume_budget().await;
            let Some(event) = messages.next().now_or_never() else {
                break;
            };
            if self.on_consumer_event(event).await?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        self.end.input_seen(std::time::Instant::now());
        Ok(ControlFlow::Continue(()))
    }

    /// Graceful end: flush what is buffered, wait for the broker's acknowledgements, commit.
    pub(super) async fn drain(&mut self, consumer: &Consumer_) -> Result<(), TaskFailure> {
        let grace = self.env.shutdown_grace;
        let drained = tokio::time::timeout(grace, async {
            loop {
                if let Some(flight) = self.flights.front_mut() {
                    let joined = flight.await;
                    self.flights.pop_front();
                    let (batch, report) =
                        joined.map_err(|e| TaskFailure::FlushTaskDied(e.to_string()))?;
                    self.flushed(batch, report).await?;
                } else if !self.buffer.is_empty() {
                    self.start_flush();
                } else if producer::pending(&self.producer) > 0 {
                    self.serve_deliveries()?;
                    tokio::time::sleep(DELIVERY_POLL_INTERVAL).await;
                } else {
                    return self.serve_deliveries();
                }
            }
        })
        .await;
        let result = match drained {
            Ok(result) => result,
            Err(_) => {
                self.flush_abort.cancel();
                tracing::warn!(pipeline = %self.env.pipeline, grace_ms = grace.as_millis() as u64,
                    "stopping before everything was flushed; the rest is redelivered");
                Ok(())
            }
        };
        self.commit(consumer, CommitMode::Sync);
        result
    }
}
