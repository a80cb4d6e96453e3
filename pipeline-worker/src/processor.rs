//! What one Kafka message becomes: the stage engine of pipeline-common behind the task, and the
//! [`TaskSpec`] a `pipelines` row gives (the validated definition, its flush thresholds and its
//! [`Processor`]).
//!
//! A live definition change builds a new [`Processor`] and swaps it in whole; the bulk buffer's
//! tests pass a closure instead of one.

use crate::metrics::TaskStats;
use crate::sources::TaskInputs;
use crate::task::TaskSpec;
use crate::trigger::{BrokerFilter, Screened};
use pipeline_common::chain::{Chain, ChainError, EngineContext, Outcome};
use pipeline_common::config::Settings;
use pipeline_common::document::SourceMeta;
use pipeline_common::index_route::IndexRouter;
use pipeline_common::index_template::DEFAULT_MAX_INDICES;
use pipeline_common::kafka_headers::raw_headers;
use pipeline_common::model::{PipelineDefinition, PipelineTopics, ValidationErrors};
use pipeline_common::store::pipelines::PipelineRow;
use rdkafka::message::BorrowedHeaders;
use std::sync::Arc;

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

impl<'a> SourceRecord<'a> {
    /// The headers as (name, value) pairs, an absent value as empty; read from the message
    /// each time the iterator is walked, so cloning it copies nothing. A header whose name is
    /// not UTF-8 names nothing this reads (CloudEvents attributes are ASCII) and is left out.
    fn header_pairs(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + Clone + use<'a> {
        self.headers.into_iter().flat_map(|headers| {
            raw_headers(headers)
                .filter_map(|header| Some((header.name_str()?, header.value.unwrap_or_default())))
        })
    }

    /// Where the document came from, ingested now.
    fn meta(&self) -> SourceMeta<'a> {
        SourceMeta {
            topic: self.topic,
            partition: self.partition,
            offset: self.offset,
            ingested_at: chrono::Utc::now(),
        }
    }
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

/// Why a `pipelines` row cannot become a task; shown as the task's failure reason.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The definition does not validate (a version skew, or a hand-edited row).
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// The definition is valid but this worker cannot run it (a geoip stage without a database).
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// Validates the row's definition and builds the task spec for it, with the worker's `engine`
/// (built once per worker, so the GeoIP database is not read again per task); the processor
/// counts what its source filter and index router decide into `stats`.
pub fn build_spec(
    row: &PipelineRow,
    settings: &Settings,
    engine: &EngineContext,
    stats: &Arc<TaskStats>,
) -> Result<TaskSpec, SpecError> {
    let definition = PipelineDefinition::parse(&row.definition, &engine.validation_context())?;
    let flush = definition.effective_flush(&settings.default_flush());
    let chain = Chain::build(&definition, engine)?;
    let prefix = &settings.kafka.topic_prefix;
    let inputs = TaskInputs {
        input: PipelineTopics::new(prefix, definition.name()).input,
        broker: definition.source().map(|s| s.broker.topic(prefix)),
    };
    let broker = definition.source().map(|source| {
        BrokerFilter::new(
            source,
            source.broker.topic(prefix),
            engine.limits,
            definition.name().as_str(),
            Arc::clone(stats),
        )
    });
    let max_indices = definition
        .indexing()
        .max_indices
        .unwrap_or(DEFAULT_MAX_INDICES);
    let processor = Processor {
        chain,
        router: IndexRouter::new(definition.index().clone(), max_indices as usize),
        broker,
        stats: Arc::clone(stats),
    };
    Ok(TaskSpec {
        version: row.version,
        processor: Arc::new(processor),
        flush,
        output_enabled: definition.output().enabled,
        inputs,
    })
}

/// Turns messages into bulk lines: one pipeline's chain, the source filter of a broker-sourced
/// pipeline in front and the index router behind. Immutable and shared; a definition change
/// builds a new one.
pub struct Processor {
    chain: Chain,
    router: IndexRouter,
    broker: Option<BrokerFilter>,
    stats: Arc<TaskStats>,
}

impl Processor {
    /// Processes one message, appending the bulk action and source lines (each ending in `\n`)
    /// to `body` when the outcome is [`Processed::Document`].
    pub fn process(&self, record: &SourceRecord<'_>, body: &mut Vec<u8>) -> Processed {
        let headers = record.header_pairs();
        let payload = record.payload.unwrap_or_default();
        let outcome = match &self.broker {
            Some(broker) if broker.screens(record.topic) => {
                // A broker's event this pipeline turns away costs only the header scan: no
                // clock read, no copy of its headers, nothing of the chain.
                match broker.screen(headers.clone(), payload) {
                    Screened::Drop => return Processed::Dropped,
                    Screened::Take(Some(event)) => self.chain.process(event, &record.meta()),
                    Screened::Take(None) => {
                        self.chain.process_message(headers, payload, &record.meta())
                    }
                }
            }
            _ => self.chain.process_message(headers, payload, &record.meta()),
        };
        match outcome {
            Outcome::Document(document) => {
                let routed = self.router.route(&document);
                if routed.overflowed {
                    TaskStats::add(&self.stats.overflowed, 1);
                }
                document.write_bulk(&routed.index, body);
                Processed::Document { id: document.id }
            }
            Outcome::Dropped => Processed::Dropped,
            Outcome::Failed { stage, reason } => Processed::Failed { stage, reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline_common::config::ConfigSource;
    use pipeline_common::model::PipelineName;
    use pipeline_common::store::pipelines::PipelineState;
    use serde_json::json;

    fn settings() -> Settings {
        Settings::load(&ConfigSource {
            file: None,
            environment: None,
            vars: Vec::new(),
        })
        .unwrap()
    }

    fn row(definition: serde_json::Value) -> PipelineRow {
        PipelineRow {
            id: uuid::Uuid::nil(),
            name: PipelineName::parse("a").unwrap(),
            definition,
            state: PipelineState::Running,
            state_reason: None,
            version: 3,
            created_by: "test".into(),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn an_invalid_definition_names_each_field() {
        let row = row(json!({"name": "a", "stages": [{"type": "nope"}, {"type": "geoip"}]}));
        let error = build_spec(
            &row,
            &settings(),
            &EngineContext::default(),
            &Arc::default(),
        )
        .err()
        .unwrap();
        let SpecError::Invalid(errors) = &error else {
            panic!("{error:?}")
        };
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["stages[0].type", "stages[1].type"]);
        assert!(error.to_string().starts_with("stages[0].type: "), "{error}");
        assert!(error.to_string().contains("; stages[1].type: "), "{error}");
    }

    #[test]
    fn a_valid_definition_builds_with_the_shared_engine() {
        let row = row(json!({"name": "a", "flush": {"maxItems": 7}}));
        let spec = build_spec(
            &row,
            &settings(),
            &EngineContext::default(),
            &Arc::default(),
        )
        .unwrap();
        assert_eq!(spec.version, 3);
        assert_eq!(spec.flush.max_items, 7);
    }
}
