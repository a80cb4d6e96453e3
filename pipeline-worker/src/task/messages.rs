//! What the consumer hands the task: a message into the buffer (or straight to the error
//! topic), the end of a partition, or an error.

use super::{TaskFailure, TaskState};
use crate::bulk::buffer::Original;
use crate::consumer::lock;
use crate::dead_letter::DeadLetter;
use crate::offsets::Ticket;
use crate::processor::{Processed, SourceRecord};
use crate::producer::{self, Completes};
use pipeline_common::failure::FailedAt;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use std::ops::ControlFlow;

impl TaskState {
    /// Handles what the consumer stream gave; `Break` when the stream has ended.
    pub(super) async fn on_consumer_event(
        &mut self,
        event: Option<KafkaResult<BorrowedMessage<'_>>>,
    ) -> Result<ControlFlow<()>, TaskFailure> {
        match event {
            Some(Ok(message)) => self.on_message(&message).await?,
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                let assigned = self.env.shared.assigned_numbers();
                self.end.reached_end(partition, &assigned);
            }
            Some(Err(error))
                if matches!(
                    error.rdkafka_error_code(),
                    Some(
                        RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic
                    )
                ) =>
            {
                // Deleted behind mgmt's back (or by a DELETE racing this task's stop). Retrying
                // here would spin on the same error; failing hands it to the watcher, which
                // tries again every watch interval and recovers once the topic is back.
                return Err(TaskFailure::InputTopicMissing(
                    self.env.inputs.topics().join(", "),
                ));
            }
            Some(Err(error)) => {
                tracing::warn!(pipeline = %self.env.pipeline, %error, "consumer error");
            }
            None => return Ok(ControlFlow::Break(())),
        }
        Ok(ControlFlow::Continue(()))
    }

    pub(super) async fn on_message(
        &mut self,
        message: &BorrowedMessage<'_>,
    ) -> Result<(), TaskFailure> {
        // Tests inject a panic here (`panic-<pipeline>`); without the `fail` crate's
        // `failpoints` feature, which only the test build turns on, this is nothing.
        fail::fail_point!(&format!("panic-{}", self.env.pipeline));
        self.env.metrics.consumed();
        let partition = message.partition();
        self.end.message(partition);
        let offset = message.offset();
        let source = self.env.inputs.source_of(message.topic());
        let ticket = lock(&self.env.shared.tracker).track(source, partition, offset);
        let record = SourceRecord {
            topic: message.topic(),
            partition,
            offset,
            key: message.key(),
            payload: message.payload(),
            headers: message.headers(),
            timestamp_ms: message.timestamp().to_millis(),
        };
        let original = Original {
            key: record.key,
            value: record.payload,
        };
        let processor = &self.spec.processor;
        match self
            .buffer
            .push(ticket, original, |body| processor.process(&record, body))
        {
            Processed::Document { .. } => Ok(()),
            Processed::Dropped => {
                lock(&self.env.shared.tracker).complete(ticket);
                self.env.metrics.filtered();
                Ok(())
            }
            Processed::Failed { stage, reason } => self
                .dead_letter(ticket, original, stage, &reason, None)
                .await
                .map_err(|error| TaskFailure::Produce {
                    doing: "producing a dead letter",
                    error,
                }),
        }
    }

    /// Produces the original record to the error topic with the headers of DESIGN §4.7; its
    /// acknowledgement completes `ticket`.
    pub(super) async fn dead_letter(
        &self,
        ticket: Ticket,
        original: Original<'_>,
        stage: FailedAt,
        reason: &str,
        status: Option<u16>,
    ) -> Result<(), KafkaError> {
        let headers = DeadLetter {
            stage,
            reason,
            status,
            source_topic: self.env.inputs.topic(ticket.source),
            source_partition: ticket.partition,
            source_offset: ticket.offset,
            pipeline: &self.env.pipeline,
        }
        .headers();
        producer::send(
            &self.producer,
            &self.env.topics.error,
            original.key,
            original.value,
            Some(headers),
            ticket,
            Completes::DeadLetter(stage),
        )
        .await
    }
}
