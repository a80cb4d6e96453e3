//! Back-pressure: stop taking messages while every flight is busy and the buffer is full, and
//! pause the partitions when that lasts.

use super::flights::MAX_FLIGHTS;
use super::{Consumer_, TaskState};
use rdkafka::consumer::Consumer;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// How long the loop may leave the consumer alone (every flight busy, the next buffer full)
/// before it pauses the partitions instead. Not polling keeps the prefetched messages, while a
/// pause drops them and librdkafka takes a long while to fetch again after the resume; but a
/// consumer nobody polls serves no rebalance and, past `max.poll.interval.ms`, leaves the group.
/// So short waits (a busy sink) hold, and long ones (an outage's retries) pause.
pub(super) const HOLD_BEFORE_PAUSE: Duration = Duration::from_secs(2);

impl TaskState {
    /// Whether the loop must stop taking messages now: every flight is busy and the next buffer
    /// is full. Such a hold that has lasted [`HOLD_BEFORE_PAUSE`] pauses the partitions, and the
    /// loop polls the consumer again (for rebalances; a paused consumer hands out at most what it
    /// had queued); its end resumes them. `false` while paused.
    pub(super) fn apply_hold(&mut self, consumer: &Consumer_) -> bool {
        let full = self.flights.len() >= MAX_FLIGHTS && self.buffer.is_full(&self.spec.flush);
        let now = Instant::now();
        let held_since = if full {
            *self.held_since.get_or_insert(now)
        } else {
            self.held_since = None;
            now
        };
        let want = full && now >= held_since + HOLD_BEFORE_PAUSE;
        self.apply_pause(consumer, want);
        full && !self.paused
    }

    /// Pauses or resumes the assigned partitions as `want` says (again after a rebalance).
    pub(super) fn apply_pause(&mut self, consumer: &Consumer_, want: bool) {
        let changed = self
            .env
            .shared
            .assignment_changed
            .swap(false, Ordering::AcqRel);
        if changed {
            self.end.reset();
        }
        if want == self.paused && !(want && changed) {
            return;
        }
        let Ok(assignment) = consumer.assignment() else {
            return;
        };
        let result = if want {
            consumer.pause(&assignment)
        } else {
            consumer.resume(&assignment)
        };
        match result {
            Ok(()) => self.paused = want,
            Err(error) => {
                tracing::warn!(pipeline = %self.env.pipeline, %error, "pause/resume failed")
            }
        }
    }
}
