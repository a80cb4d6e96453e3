//! The stage chain of one pipeline, built once from its validated definition and run on every
//! event (DESIGN §4 steps 2–4).

use crate::document::{CloudEventContext, Document, SourceMeta};
use crate::event::{decode_message, DecodeLimits, Event};
use crate::failure::FailedAt;
use crate::model::FieldPath;
use crate::model::{
    GeoipSpec, HashSpec, MaskSpec, ParseSpec, PipelineDefinition, RenameSpec, StageSpec,
    ValidationContext, DEFAULT_GEOIP_FIELD,
};
use crate::stages::filter::FilterStage;
use crate::stages::geoip::{GeoIpDb, GeoIpError, GeoipStage};
use crate::stages::hash::HashStage;
use crate::stages::mask::MaskStage;
use crate::stages::parse::ParseStage;
use crate::stages::rename::RenameStage;
use crate::stages::{EventDoc, Stage, StageResult};
use std::sync::Arc;

/// What the engine needs from the process: the opened GeoIP database, if configured, and the
/// decoding limits.
#[derive(Debug, Clone, Default)]
pub struct EngineContext {
    /// The MaxMind database (`geoip.database`), opened when the context is built and shared
    /// (`Arc`) by every chain built from this context. Each process builds one context: mgmt at
    /// start-up, a worker when its supervisor is created.
    pub geoip: Option<Arc<GeoIpDb>>,
    /// Event size and depth limits (`server.maxEventBytes`, `server.maxEventDepth`).
    pub limits: DecodeLimits,
}

impl EngineContext {
    /// From the loaded configuration: opens `geoip.database` when it is set.
    pub fn from_settings(settings: &crate::config::Settings) -> Result<Self, GeoIpError> {
        let path = settings.geoip.database.trim();
        let geoip = if path.is_empty() {
            None
        } else {
            Some(Arc::new(GeoIpDb::open(path)?))
        };
        Ok(EngineContext {
            geoip,
            limits: DecodeLimits::from_settings(settings),
        })
    }

    /// The validation context matching this engine (geoip available when a database is open).
    pub fn validation_context(&self) -> ValidationContext {
        ValidationContext::new(self.geoip.is_some())
    }
}

/// A chain cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The definition has a geoip stage but this process has no GeoIP database open.
    #[error("stages[{index}]: geoip.database is not configured")]
    GeoIpUnavailable {
        /// Index of the stage.
        index: usize,
    },
}

/// The default chain (DESIGN §2): parse (all built-in formats) → geoip (only when a database is
/// configured) → mask (email, ipv4 partial, ipv6, credit_card, every string field) → rename (the
/// defaults) → hash.
pub fn default_stages(geoip_available: bool) -> Vec<StageSpec> {
    let mut v = vec![StageSpec::Parse(ParseSpec::default())];
    if geoip_available {
        v.push(StageSpec::Geoip(GeoipSpec {
            field: FieldPath::known(DEFAULT_GEOIP_FIELD),
            target: FieldPath::known("geo"),
        }));
    }
    v.push(StageSpec::Mask(MaskSpec::default()));
    v.push(StageSpec::Rename(RenameSpec::default()));
    v.push(StageSpec::Hash(HashSpec::default()));
    v
}

/// What became of one event.
// Built once per event and taken apart at once; boxing the document would add back an
// allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Index this document.
    Document(Document),
    /// A filter dropped the event: count it and commit, do not dead-letter.
    Dropped,
    /// A stage failed: dead-letter the original bytes with these headers.
    Failed {
        /// `decode`, or the type of the failing stage.
        stage: FailedAt,
        /// Why.
        reason: String,
    },
}

/// The runtime stages of one pipeline, built from its definition; each task builds its own.
#[derive(Debug)]
pub struct Chain {
    pipeline: Arc<str>,
    stages: Vec<Box<dyn Stage>>,
    hashers: Vec<HashStage>,
    limits: DecodeLimits,
}

impl Chain {
    /// Builds the chain of `def` (its stages, or the default chain).
    pub fn build(def: &PipelineDefinition, ctx: &EngineContext) -> Result<Chain, ChainError> {
        let defaults;
        let specs = match def.stages() {
            Some(s) => s,
            None => {
                defaults = default_stages(ctx.geoip.is_some());
                &defaults
            }
        };
        Self::from_specs(def.name().as_str(), specs, ctx)
    }

    /// Builds a chain from stage specs for pipeline `name`.
    pub fn from_specs(
        name: &str,
        specs: &[StageSpec],
        ctx: &EngineContext,
    ) -> Result<Chain, ChainError> {
        let mut stages: Vec<Box<dyn Stage>> = Vec::with_capacity(specs.len());
        let mut hashers = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            stages.push(match spec {
                StageSpec::Parse(s) => Box::new(ParseStage::new(s, ctx.limits.max_depth)),
                StageSpec::Geoip(s) => {
                    let db = ctx
                        .geoip
                        .clone()
                        .ok_or(ChainError::GeoIpUnavailable { index })?;
                    Box::new(GeoipStage::new(s, db))
                }
                StageSpec::Mask(s) => Box::new(MaskStage::new(s)),
                StageSpec::Rename(s) => Box::new(RenameStage::new(s)),
                StageSpec::Filter(s) => Box::new(FilterStage::new(s)),
                StageSpec::Hash(s) => {
                    let h = HashStage::new(s, hashers.len());
                    hashers.push(h.clone());
                    Box::new(h)
                }
            });
        }
        Ok(Chain {
            pipeline: Arc::from(name),
            stages,
            hashers,
            limits: ctx.limits,
        })
    }

    /// The stage types, in order.
    pub fn stage_names(&self) -> Vec<&'static str> {
        self.stages.iter().map(|s| s.name().as_str()).collect()
    }

    /// The decoding limits this chain applies in [`Chain::process_message`].
    pub fn limits(&self) -> &DecodeLimits {
        &self.limits
    }

    /// Runs the stages on a decoded event and builds its document.
    pub fn process(&self, event: Event<'_>, meta: &SourceMeta<'_>) -> Outcome {
        let cloudevent = event.cloudevent.as_ref().map(CloudEventContext::from);
        let mut doc = EventDoc::new(event.data, event.time);
        // Hashes cover the event as received, so they are taken before any stage changes it.
        doc.received_hashes = self.hashers.iter().map(|h| h.digest(&doc.fields)).collect();
        for st in &self.stages {
            match st.apply(&mut doc) {
                StageResult::Continue => {}
                StageResult::Drop => return Outcome::Dropped,
                StageResult::Fail(reason) => {
                    return Outcome::Failed {
                        stage: st.name(),
                        reason,
                    }
                }
            }
        }
        Outcome::Document(Document::build(doc, &self.pipeline, meta, cloudevent))
    }

    /// Decodes a Kafka message (headers as name/value pairs) and processes it; a message that is
    /// not an event fails at stage `decode`.
    pub fn process_message<'a, I>(
        &self,
        headers: I,
        payload: &'a [u8],
        meta: &SourceMeta<'_>,
    ) -> Outcome
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        match decode_message(headers, payload, &self.limits) {
            Ok(event) => self.process(event, meta),
            Err(e) => Outcome::Failed {
                stage: FailedAt::Decode,
                reason: e.to_string(),
            },
        }
    }
}
