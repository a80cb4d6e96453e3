//! The task's Kafka consumer: configuration, and a context that tracks the assignment and commits
//! synchronously when partitions are revoked.

use crate::bulk::credentials::CredentialAlarm;
use crate::offsets::OffsetTracker;
use crate::sources::{Source, TaskInputs};
use pipeline_common::clients::kafka_base_config;
use pipeline_common::config::Settings;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Locks a mutex, recovering the data if a panicking holder poisoned it (the data is plain
/// bookkeeping that stays consistent between statements).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// State shared between the task loop and the consumer's rebalance callbacks (which librdkafka
/// runs inside `recv`, on the task's own thread of control).
#[derive(Debug, Default)]
pub struct Shared {
    /// Offsets of the messages in flight.
    pub tracker: Mutex<OffsetTracker>,
    /// Currently assigned partitions of each topic (reported in heartbeats).
    pub assigned: Mutex<BTreeSet<(Source, i32)>>,
    /// Set when the assignment changed; the loop re-applies its pause state.
    pub assignment_changed: AtomicBool,
    /// Set while the broker turns the SASL credentials away; cleared by the next assignment,
    /// which only an authenticated consumer gets. Nothing is consumed meanwhile, so nothing is
    /// half-done: the task's report says why instead.
    pub kafka_credentials: CredentialAlarm,
}

impl Shared {
    /// The assigned partitions a heartbeat reports: the broker topic's when the task has any of
    /// them (that is where a broker-sourced pipeline's events are), else the input topic's.
    pub fn reported_partitions(&self) -> Vec<i32> {
        let assigned = lock(&self.assigned);
        let source = if assigned.iter().any(|(s, _)| *s == Source::Broker) {
            Source::Broker
        } else {
            Source::Input
        };
        assigned
            .iter()
            .filter(|(s, _)| *s == source)
            .map(|(_, p)| *p)
            .collect()
    }

    /// The partition numbers assigned, of any topic (the end-of-input bookkeeping, whose
    /// partition-end reports name no topic).
    pub fn assigned_numbers(&self) -> BTreeSet<i32> {
        lock(&self.assigned).iter().map(|(_, p)| *p).collect()
    }
}

/// The consumer context of one task.
pub struct TaskContext {
    /// The topics, for logs (joined) and to tell them apart.
    inputs: TaskInputs,
    topic: String,
    shared: Arc<Shared>,
    /// The SASL user, named in the reason when the broker rejects it (`mq.username`).
    username: String,
}

impl TaskContext {
    /// A context for the consumer of `inputs`, authenticating as `username` (may be empty).
    pub fn new(inputs: &TaskInputs, shared: Arc<Shared>, username: &str) -> Self {
        TaskContext {
            topic: inputs.topics().join(","),
            inputs: inputs.clone(),
            shared,
            username: username.to_owned(),
        }
    }

    /// The reason reported while the broker rejects the SASL credentials: names the user,
    /// never the password.
    fn authentication_reason(&self) -> String {
        format!(
            "Kafka rejected the SASL credentials of mq.username `{}` (authentication failed: \
             check mq.username, mq.password and mq.mechanism); nothing is consumed until it is fixed",
            self.username
        )
    }
}

impl ClientContext for TaskContext {
    /// rdkafka hands every consumer error event to this callback before the stream sees it,
    /// partition ends included (`enable.partition.eof`). Those are routine, and the task acts on
    /// them; logging them at error level, as rdkafka's default does, would bury real errors.
    fn error(&self, error: KafkaError, reason: &str) {
        if is_partition_end(&error) {
            tracing::trace!(topic = %self.topic, reason, "end of partition");
        } else if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Authentication) {
            // librdkafka's own text may quote the mechanism's exchange; log ours only.
            tracing::error!(topic = %self.topic, "the Kafka broker rejected the SASL credentials");
            self.shared
                .kafka_credentials
                .raise(self.authentication_reason());
        } else {
            tracing::error!(topic = %self.topic, %error, reason, "kafka consumer error");
        }
    }
}

/// Whether `error`, as rdkafka passes it to [`ClientContext::error`], only reports that a
/// partition has been read to its end.
fn is_partition_end(error: &KafkaError) -> bool {
    error.rdkafka_error_code() == Some(RDKafkaErrorCode::PartitionEOF)
}

impl ConsumerContext for TaskContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(revoked) = rebalance else {
            return;
        };
        // Commit what is done on the revoked partitions before they change hands, and forget
        // them: work still in flight for them completes into stale tickets and is redone by the
        // next owner (at-least-once; the `_id` makes the second write an overwrite).
        let mut commits = TopicPartitionList::new();
        {
            let mut tracker = lock(&self.shared.tracker);
            let mut assigned = lock(&self.shared.assigned);
            for element in revoked.elements() {
                let partition = element.partition();
                let source = self.inputs.source_of(element.topic());
                assigned.remove(&(source, partition));
                if let Some(offset) = tracker.revoke(source, partition) {
                    if let Err(error) = commits.add_partition_offset(
                        element.topic(),
                        partition,
                        Offset::Offset(offset),
                    ) {
                        tracing::warn!(partition, offset, %error, "cannot commit this offset");
                    }
                }
            }
        }
        self.shared
            .assignment_changed
            .store(true, Ordering::Release);
        if commits.count() > 0 {
            match consumer.commit(&commits, CommitMode::Sync) {
                Ok(()) => {
                    tracing::info!(topic = %self.topic, partitions = commits.count(), "committed on revocation")
                }
                Err(error) => {
                    tracing::warn!(topic = %self.topic, %error, "commit on revocation failed")
                }
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(assignment) = rebalance {
            let mut assigned = lock(&self.shared.assigned);
            for element in assignment.elements() {
                assigned.insert((self.inputs.source_of(element.topic()), element.partition()));
            }
            tracing::info!(topic = %self.topic, partitions = ?*assigned, "partitions assigned");
            self.shared.kafka_credentials.clear();
            self.shared
                .assignment_changed
                .store(true, Ordering::Release);
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        let Err(error) = result else {
            return;
        };
        tracing::warn!(topic = %self.topic, %error, "offset commit failed; retried at the next commit");
        let mut tracker = lock(&self.shared.tracker);
        for element in offsets.elements() {
            if let Offset::Offset(offset) = element.offset() {
                let source = self.inputs.source_of(element.topic());
                tracker.commit_failed(source, element.partition(), offset);
            }
        }
    }
}

/// librdkafka refuses a `fetch.max.bytes` below `message.max.bytes` (1,000,000 by default).
const MIN_FETCH_BYTES: u64 = 1_000_000;

/// A quarter of the prefetch bound, but never below what one record may need.
fn fetch_max_bytes(settings: &Settings) -> u64 {
    (u64::from(settings.kafka.queued_max_messages_kbytes) * 1024 / 4).max(MIN_FETCH_BYTES)
}

/// The consumer configuration of a pipeline's task: group `<prefix>.<name>.worker`, offsets
/// stored and committed only by us, bounded prefetch, the `kafka.*` timeouts.
pub fn consumer_config(settings: &Settings, group: &str, client_id: &str) -> rdkafka::ClientConfig {
    let mut config = kafka_base_config(settings);
    config
        .set("group.id", group)
        .set("client.id", client_id)
        // Only offsets whose messages are all done are ever committed, by the task itself.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // Reaching the end of every partition flushes the buffer early (see `end_of_input`).
        .set("enable.partition.eof", "true")
        .set(
            "auto.offset.reset",
            settings.kafka.auto_offset_reset.as_str(),
        )
        .set(
            "session.timeout.ms",
            settings.kafka.session_timeout_ms.to_string(),
        )
        .set(
            "max.poll.interval.ms",
            settings.kafka.max_poll_interval_ms.to_string(),
        )
        // Bounded prefetch: the local queue holds at most this many KiB, and one fetch response
        // (which lands on top of the queue) at most a quarter of that, not librdkafka's 50 MB.
        // Larger fetches cost the broker less per record, and the faster input then fills the
        // output producer's queue, which is where the memory goes; the measured rate and peak
        // RSS per queue size are in docs/operator-guide.md (`kafka.queuedMaxMessagesKbytes`).
        .set(
            "queued.max.messages.kbytes",
            settings.kafka.queued_max_messages_kbytes.to_string(),
        )
        .set("fetch.max.bytes", fetch_max_bytes(settings).to_string())
        // When the bounded queue is full librdkafka waits this long before fetching again; its
        // 1 s default starves the task after every full queue.
        .set("fetch.queue.backoff.ms", "10")
        // librdkafka's 500 ms default leaves a caught-up consumer idle between fetches; the
        // operator guide (`kafka.fetchWaitMaxMs`) says what it costs.
        .set(
            "fetch.wait.max.ms",
            settings.kafka.fetch_wait_max_ms.to_string(),
        );
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_ends_are_routine_and_other_errors_are_not() {
        assert!(is_partition_end(&KafkaError::Global(
            RDKafkaErrorCode::PartitionEOF
        )));
        assert!(!is_partition_end(&KafkaError::Global(
            RDKafkaErrorCode::BrokerTransportFailure
        )));
        assert!(!is_partition_end(&KafkaError::MessageConsumption(
            RDKafkaErrorCode::UnknownTopicOrPartition
        )));
    }
}
