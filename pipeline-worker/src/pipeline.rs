//! From a `pipelines` row to a runnable [`TaskSpec`]: the validated definition, its flush
//! thresholds and its processor.

use crate::bulk::encoder::FlushPolicy;
use crate::engine::{Processed, Processor, SourceRecord};
use crate::task::TaskSpec;
use pipeline_common::chain::{Chain, EngineContext, Outcome};
use pipeline_common::config::Settings;
use pipeline_common::document::SourceMeta;
use pipeline_common::model::{IndexName, PipelineDefinition};
use pipeline_common::store::pipelines::PipelineRow;
use rdkafka::message::Headers;
use std::sync::Arc;
use std::time::Duration;

/// Validates the row's definition and builds the task spec for it.
pub fn build_spec(row: &PipelineRow, settings: &Settings) -> Result<TaskSpec, String> {
    let engine =
        EngineContext::from_settings(settings).map_err(|e| format!("geoip.database: {e}"))?;
    let definition = PipelineDefinition::parse(&row.definition, &engine.validation_context())
        .map_err(|errors| {
            errors
                .errors()
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
    let flush = definition.effective_flush(&settings.default_flush());
    let flush = FlushPolicy {
        max_bytes: usize::try_from(flush.max_bytes).unwrap_or(usize::MAX),
        max_items: usize::try_from(flush.max_items).unwrap_or(usize::MAX),
        interval: Duration::from_millis(flush.interval_ms),
    };
    let chain = Chain::build(&definition, &engine).map_err(|e| e.to_string())?;
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
