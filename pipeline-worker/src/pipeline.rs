//! From a `pipelines` row to a runnable [`TaskSpec`]: the validated definition, its flush
//! thresholds and its processor.

use crate::engine::{Processed, Processor, SourceRecord};
use crate::task::TaskSpec;
use pipeline_common::chain::{Chain, ChainError, EngineContext, Outcome};
use pipeline_common::config::Settings;
use pipeline_common::document::SourceMeta;
use pipeline_common::model::{IndexName, PipelineDefinition, ValidationErrors};
use pipeline_common::store::pipelines::PipelineRow;
use rdkafka::message::Headers;
use std::sync::Arc;

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
/// (built once per worker, so the GeoIP database is not read again per task).
pub fn build_spec(
    row: &PipelineRow,
    settings: &Settings,
    engine: &EngineContext,
) -> Result<TaskSpec, SpecError> {
    let definition = PipelineDefinition::parse(&row.definition, &engine.validation_context())?;
    let flush = definition.effective_flush(&settings.default_flush());
    let chain = Chain::build(&definition, engine)?;
    let processor = ChainProcessor {
        chain,
        index: definition.index().clone(),
    };
    Ok(TaskSpec {
        version: row.version,
        processor: Arc::new(processor),
        flush,
        output_enabled: definition.output().enabled,
    })
}

/// The stage engine of pipeline-common behind the task's [`Processor`] seam.
struct ChainProcessor {
    chain: Chain,
    index: IndexName,
}

impl Processor for ChainProcessor {
    fn process(&self, record: &SourceRecord<'_>, body: &mut Vec<u8>) -> Processed {
        let meta = SourceMeta {
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
            ingested_at: chrono::Utc::now(),
        };
        let headers = record
            .headers
            .into_iter()
            .flat_map(|headers| headers.iter())
            .map(|header| (header.key, header.value.unwrap_or_default()));
        let payload = record.payload.unwrap_or_default();
        match self.chain.process_message(headers, payload, &meta) {
            Outcome::Document(document) => {
                let index = document.index_name(&self.index);
                document.write_bulk(&index, body);
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
        let error = build_spec(&row, &settings(), &EngineContext::default())
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
        let spec = build_spec(&row, &settings(), &EngineContext::default()).unwrap();
        assert_eq!(spec.version, 3);
        assert_eq!(spec.flush.max_items, 7);
    }
}
