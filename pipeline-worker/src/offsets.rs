//! Per-partition offset tracking: only the highest *contiguous* done offset may be committed.
//!
//! Messages of one partition arrive in offset order but finish out of order: a filtered event is
//! done at once, an indexed one only when its bulk item succeeded and its output record was
//! acknowledged, a dead letter when the error topic acknowledged it. Committing the highest
//! finished offset would lose every unfinished message below it on a crash (the defect of
//! Vector #24215), so the tracker commits only up to the first unfinished one.
//!
//! Offsets that never reach the application (transaction markers, compacted records) are simply
//! never tracked: "contiguous" means contiguous among the messages that were delivered.
//!
//! Every tracked message gets a [`Ticket`] carrying the partition's *generation*. Revoking a
//! partition bumps the generation, so work that finishes after a revocation (the message now
//! belongs to another consumer, which re-reads it from the committed offset) can never move
//! this consumer's offsets.

use crate::sources::Source;
use std::collections::{HashMap, VecDeque};

/// Identifies one tracked message; handed back to [`OffsetTracker::complete`] when it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// The topic it came from.
    pub source: Source,
    /// Kafka partition.
    pub partition: i32,
    /// Offset of the message.
    pub offset: i64,
    /// Generation of the partition's assignment when the message was tracked.
    generation: u64,
}

#[derive(Debug, Default)]
struct PartitionOffsets {
    generation: u64,
    /// In-flight messages in offset order, with their done flag.
    pending: VecDeque<(i64, bool)>,
    /// Next offset to commit (Kafka convention: last done + 1), once anything is done.
    committable: Option<i64>,
    /// What was last handed out for committing.
    committed: Option<i64>,
}

impl PartitionOffsets {
    fn advance(&mut self) {
        while let Some(&(offset, true)) = self.pending.front() {
            self.committable = Some(offset + 1);
            self.pending.pop_front();
        }
    }
}

/// Offsets of every assigned partition (of each of the task's topics) of one consumer.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<(Source, i32), PartitionOffsets>,
    next_generation: u64,
}

impl OffsetTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a message that was just received. Offsets of a partition must be tracked in
    /// increasing order, which is how a consumer receives them.
    pub fn track(&mut self, source: Source, partition: i32, offset: i64) -> Ticket {
        let next_generation = &mut self.next_generation;
        let entry = self
            .partitions
            .entry((source, partition))
            .or_insert_with(|| {
                *next_generation += 1;
                PartitionOffsets {
                    generation: *next_generation,
                    ..PartitionOffsets::default()
                }
            });
        // A consumer that re-reads after a seek would track lower offsets again; the entries at
        // or above it are stale and are dropped so the queue stays ordered.
        while entry.pending.back().is_some_and(|&(o, _)| o >= offset) {
            entry.pending.pop_back();
        }
        entry.pending.push_back((offset, false));
        Ticket {
            source,
            partition,
            offset,
            generation: entry.generation,
        }
    }

    /// Marks a message done. Returns false when the ticket is stale (its partition was revoked
    /// since) or unknown.
    pub fn complete(&mut self, ticket: Ticket) -> bool {
        let Some(entry) = self.partitions.get_mut(&(ticket.source, ticket.partition)) else {
            return false;
        };
        if entry.generation != ticket.generation {
            return false;
        }
        // A message done as soon as it is tracked (an event the source filter turns away) is the
        // newest one; only those done later need the search.
        let newest = (entry.pending.len().checked_sub(1))
            .filter(|&last| entry.pending[last].0 == ticket.offset);
        let Some(index) = newest.or_else(|| {
            entry
                .pending
                .binary_search_by_key(&ticket.offset, |&(o, _)| o)
                .ok()
        }) else {
            return false;
        };
        entry.pending[index].1 = true;
        if index == 0 {
            entry.advance();
        }
        true
    }

    /// The next offset to commit for `partition` (last contiguous done + 1), if any is done.
    pub fn committable(&self, source: Source, partition: i32) -> Option<i64> {
        self.partitions
            .get(&(source, partition))
            .and_then(|p| p.committable)
    }

    /// Partitions whose committable offset moved since the last call, with that offset; the
    /// caller commits them.
    pub fn take_commits(&mut self) -> Vec<((Source, i32), i64)> {
        let mut commits = Vec::new();
        for (&at, entry) in &mut self.partitions {
            if let Some(offset) = entry.committable {
                if entry.committed != Some(offset) {
                    entry.committed = Some(offset);
                    commits.push((at, offset));
                }
            }
        }
        commits.sort_unstable();
        commits
    }

    /// An asynchronous commit of `offset` failed at the broker (a rebalance under way, the group
    /// coordinator moving): hand it out again at the next [`OffsetTracker::take_commits`]. Without
    /// this, a partition whose input has stopped would keep its committed offset behind until the
    /// final commit, and its lag would never reach zero. Nothing is lost either way (the messages
    /// would be redelivered), but a restart would redo them.
    pub fn commit_failed(&mut self, source: Source, partition: i32, offset: i64) {
        if let Some(entry) = self.partitions.get_mut(&(source, partition)) {
            if entry.committed == Some(offset) {
                entry.committed = None;
            }
        }
    }

    /// Every partition's committable offset, moved or not (for the final, synchronous commit).
    pub fn all_commits(&self) -> Vec<((Source, i32), i64)> {
        let mut commits: Vec<((Source, i32), i64)> = self
            .partitions
            .iter()
            .filter_map(|(&p, entry)| entry.committable.map(|o| (p, o)))
            .collect();
        commits.sort_unstable();
        commits
    }

    /// Forgets a revoked partition and returns its committable offset, which the caller commits
    /// synchronously before the partition changes hands. Tickets issued before are now stale.
    pub fn revoke(&mut self, source: Source, partition: i32) -> Option<i64> {
        self.partitions
            .remove(&(source, partition))
            .and_then(|entry| entry.committable)
    }

    /// Number of messages tracked and not yet done (or done behind an unfinished one).
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.partitions.values().map(|p| p.pending.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const I: Source = Source::Input;

    #[test]
    fn in_order_completion_commits_last_plus_one() {
        let mut t = OffsetTracker::new();
        let a = t.track(I, 0, 0);
        let b = t.track(I, 0, 1);
        assert_eq!(t.committable(I, 0), None);
        assert!(t.complete(a));
        assert_eq!(t.committable(I, 0), Some(1));
        assert!(t.complete(b));
        assert_eq!(t.committable(I, 0), Some(2));
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn out_of_order_completion_waits_for_the_lowest() {
        let mut t = OffsetTracker::new();
        let tickets: Vec<Ticket> = (10..15).map(|o| t.track(I, 3, o)).collect();
        assert!(t.complete(tickets[4]));
        assert!(t.complete(tickets[2]));
        assert!(t.complete(tickets[1]));
        assert_eq!(t.committable(I, 3), None, "offset 10 is not done yet");
        assert!(t.complete(tickets[0]));
        assert_eq!(t.committable(I, 3), Some(13), "13 is still in flight");
        assert!(t.complete(tickets[3]));
        assert_eq!(t.committable(I, 3), Some(15));
    }

    #[test]
    fn messages_done_on_arrival_wait_behind_an_unfinished_one() {
        // A broker-sourced pipeline: offset 20 is being indexed while the filter turns away the
        // messages after it, each done as soon as it is tracked.
        let mut t = OffsetTracker::new();
        let indexed = t.track(I, 0, 20);
        for offset in 21..25 {
            let filtered = t.track(I, 0, offset);
            assert!(t.complete(filtered));
            assert_eq!(t.committable(I, 0), None, "20 is still in flight");
        }
        let late = t.track(I, 0, 25);
        assert!(t.complete(indexed));
        assert_eq!(t.committable(I, 0), Some(25), "25 is not done");
        assert!(!t.complete(Ticket { offset: 26, ..late }), "never tracked");
        assert!(t.complete(late));
        assert_eq!(t.committable(I, 0), Some(26));
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn gaps_in_delivered_offsets_do_not_block() {
        // Offsets 1 and 2 were transaction markers or compacted away: never delivered.
        let mut t = OffsetTracker::new();
        let a = t.track(I, 0, 0);
        let b = t.track(I, 0, 3);
        let c = t.track(I, 0, 7);
        assert!(t.complete(c));
        assert!(t.complete(a));
        assert_eq!(t.committable(I, 0), Some(1));
        assert!(t.complete(b));
        assert_eq!(t.committable(I, 0), Some(8));
    }

    #[test]
    fn partitions_are_independent() {
        let mut t = OffsetTracker::new();
        let a0 = t.track(I, 0, 5);
        let b0 = t.track(I, 1, 100);
        let b1 = t.track(I, 1, 101);
        assert!(t.complete(b1));
        assert!(t.complete(a0));
        assert_eq!(t.committable(I, 0), Some(6));
        assert_eq!(t.committable(I, 1), None);
        assert!(t.complete(b0));
        assert_eq!(t.take_commits(), vec![((I, 0), 6), ((I, 1), 102)]);
        assert_eq!(t.take_commits(), vec![], "nothing moved since");
        assert_eq!(t.all_commits(), vec![((I, 0), 6), ((I, 1), 102)]);
    }

    #[test]
    fn a_failed_commit_is_handed_out_again() {
        let mut t = OffsetTracker::new();
        let a = t.track(I, 0, 7);
        assert!(t.complete(a));
        assert_eq!(t.take_commits(), vec![((I, 0), 8)]);
        t.commit_failed(I, 0, 8);
        assert_eq!(t.take_commits(), vec![((I, 0), 8)], "retried");
        assert_eq!(t.take_commits(), vec![], "once");
        // A failure reported for an offset that has moved on since changes nothing.
        let b = t.track(I, 0, 8);
        assert!(t.complete(b));
        assert_eq!(t.take_commits(), vec![((I, 0), 9)]);
        t.commit_failed(I, 0, 8);
        assert_eq!(t.take_commits(), vec![]);
    }

    #[test]
    fn revocation_resets_and_makes_old_tickets_stale() {
        let mut t = OffsetTracker::new();
        let a = t.track(I, 2, 0);
        let b = t.track(I, 2, 1);
        assert!(t.complete(a));
        assert_eq!(t.revoke(I, 2), Some(1));
        assert!(
            !t.complete(b),
            "a ticket from before the revocation is stale"
        );
        assert_eq!(t.committable(I, 2), None);
        // Re-assigned later: the consumer re-reads from the committed offset 1.
        let b2 = t.track(I, 2, 1);
        assert!(t.complete(b2));
        assert_eq!(t.committable(I, 2), Some(2));
        assert!(!t.complete(b), "still stale after re-assignment");
    }

    #[test]
    fn re_reading_lower_offsets_drops_stale_entries() {
        let mut t = OffsetTracker::new();
        let _ = t.track(I, 0, 0);
        let _ = t.track(I, 0, 1);
        let _ = t.track(I, 0, 2);
        let again = t.track(I, 0, 1);
        assert_eq!(t.in_flight(), 2);
        assert!(t.complete(again));
        assert_eq!(t.committable(I, 0), None);
    }

    #[test]
    fn the_same_partition_of_two_topics_is_two_partitions() {
        let mut t = OffsetTracker::new();
        let a = t.track(I, 0, 10);
        let b = t.track(Source::Broker, 0, 500);
        assert!(t.complete(b));
        assert_eq!(t.committable(I, 0), None);
        assert_eq!(t.committable(Source::Broker, 0), Some(501));
        assert!(t.complete(a));
        assert_eq!(
            t.take_commits(),
            vec![((I, 0), 11), ((Source::Broker, 0), 501)]
        );
    }

    #[test]
    fn unknown_tickets_are_ignored() {
        let mut t = OffsetTracker::new();
        let a = t.track(I, 0, 0);
        assert!(t.complete(a));
        assert!(!t.complete(a), "completed twice");
        assert_eq!(t.committable(I, 0), Some(1));
    }
}
