//! Whether the consumer has read every assigned partition to its end, and when it last got a
//! message.
//!
//! When the input has run dry, nothing more is coming for now, so waiting out the rest of
//! `flush.intervalMs` only delays the buffered documents. librdkafka reports reaching the end of
//! a partition (`enable.partition.eof`) once each time it gets there; a message from the
//! partition means it is no longer at its end. That report is lost when the partition is paused
//! while it waits in the queue (the queue is dropped and refetched, and the end is not reported
//! twice), so the time of the last message is kept as well.

use std::collections::BTreeSet;
use std::time::Instant;

/// Partitions read to their end, against the current assignment.
#[derive(Debug, Default)]
pub struct EndOfInput {
    at_end: BTreeSet<i32>,
    caught_up: bool,
    last_input: Option<Instant>,
}

impl EndOfInput {
    /// Nothing known yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `partition` was read to its end; `assigned` is the current assignment.
    pub fn reached_end(&mut self, partition: i32, assigned: &BTreeSet<i32>) {
        self.at_end.insert(partition);
        self.caught_up = !assigned.is_empty() && assigned.iter().all(|p| self.at_end.contains(p));
    }

    /// A message of `partition` arrived.
    pub fn message(&mut self, partition: i32) {
        if !self.at_end.is_empty() && self.at_end.remove(&partition) {
            self.caught_up = false;
        }
    }

    /// Messages arrived up to `at`.
    pub fn input_seen(&mut self, at: Instant) {
        self.last_input = Some(at);
    }

    /// When the last message arrived, if any did.
    pub fn last_input(&self) -> Option<Instant> {
        self.last_input
    }

    /// The assignment changed: every partition's position is unknown again.
    pub fn reset(&mut self) {
        self.at_end.clear();
        self.caught_up = false;
    }

    /// Whether every assigned partition is at its end.
    pub fn caught_up(&self) -> bool {
        self.caught_up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assigned(partitions: &[i32]) -> BTreeSet<i32> {
        partitions.iter().copied().collect()
    }

    #[test]
    fn caught_up_only_when_every_assigned_partition_is_at_its_end() {
        let mut end = EndOfInput::new();
        let both = assigned(&[0, 1]);
        end.reached_end(0, &both);
        assert!(!end.caught_up());
        end.reached_end(1, &both);
        assert!(end.caught_up());
    }

    #[test]
    fn a_message_means_its_partition_is_no_longer_at_its_end() {
        let mut end = EndOfInput::new();
        let both = assigned(&[0, 1]);
        end.reached_end(0, &both);
        end.reached_end(1, &both);
        end.message(1);
        assert!(!end.caught_up());
        end.message(0);
        end.reached_end(1, &both);
        assert!(!end.caught_up(), "partition 0 had a message since its end");
        end.reached_end(0, &both);
        assert!(end.caught_up());
    }

    #[test]
    fn a_new_assignment_or_none_is_not_caught_up() {
        let mut end = EndOfInput::new();
        end.reached_end(0, &assigned(&[]));
        assert!(!end.caught_up(), "nothing assigned");
        end.reached_end(0, &assigned(&[0]));
        assert!(end.caught_up());
        end.reset();
        assert!(!end.caught_up());
        end.reached_end(0, &assigned(&[0, 2]));
        assert!(
            !end.caught_up(),
            "partition 2 is new and not known to be at its end"
        );
    }
}
