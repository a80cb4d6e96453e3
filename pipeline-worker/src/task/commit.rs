//! Delivery reports complete offsets; the contiguous done ones are committed.

use super::{Consumer_, TaskFailure, TaskState};
use crate::consumer::lock;
use crate::producer;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

impl TaskState {
    /// Completes the offsets of the records the broker has acknowledged since the last call.
    pub(super) fn serve_deliveries(&self) -> Result<(), TaskFailure> {
        producer::serve_deliveries(&self.producer).map_err(TaskFailure::Undelivered)
    }

    /// Commits the contiguous done offsets (only those that moved, unless synchronous).
    pub(super) fn commit(&self, consumer: &Consumer_, mode: CommitMode) {
        let commits = {
            let mut tracker = lock(&self.env.shared.tracker);
            match mode {
                CommitMode::Sync => tracker.all_commits(),
                CommitMode::Async => tracker.take_commits(),
            }
        };
        if commits.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for (partition, offset) in commits {
            if let Err(error) =
                list.add_partition_offset(&self.env.topics.input, partition, Offset::Offset(offset))
            {
                tracing::warn!(partition, offset, %error, "cannot commit this offset");
            }
        }
        if let Err(error) = consumer.commit(&list, mode) {
            tracing::warn!(pipeline = %self.env.pipeline, %error, "offset commit failed");
        }
    }
}
