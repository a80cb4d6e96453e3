//! The stage engine (DESIGN §5): each stage is a plain type built once from its validated
//! [`StageSpec`], and [`Stage::apply`] runs it on one event.
//!
//! Each stage type lives in `stages/<type>/`: its spec with validation and JSON form in
//! `spec.rs`, its runtime in `mod.rs`.

pub mod filter;
pub mod geoip;
pub mod hash;
pub mod mask;
pub mod parse;
pub mod rename;
#[cfg(feature = "openapi")]
mod schema;
pub mod spec;

pub use spec::{StageSpec, MAX_STAGE_LIST};

use crate::doc::Fields;
use chrono::{DateTime, Utc};

/// An event on its way through the stages.
#[derive(Debug, Clone)]
pub struct EventDoc {
    /// The document fields: the event's data, then stage outputs (`parsed`, `geo`, …).
    pub fields: Fields,
    /// The time a stage parsed from the log line; becomes `@timestamp` when set.
    pub parsed_time: Option<DateTime<Utc>>,
    /// The event time (CloudEvents `time`); the parse stage also uses it to infer a missing year.
    pub event_time: Option<DateTime<Utc>>,
    /// The document `_id`, once a hash stage has set it.
    pub id: Option<String>,
    /// Digests of the event as received, one per hash stage, computed before any stage ran.
    pub(crate) received_hashes: Vec<String>,
}

impl EventDoc {
    /// A document around an event's data.
    pub fn new(fields: Fields, event_time: Option<DateTime<Utc>>) -> Self {
        EventDoc {
            fields,
            parsed_time: None,
            event_time,
            id: None,
            received_hashes: Vec::new(),
        }
    }

    /// A document around a JSON object, for tests.
    #[cfg(test)]
    pub(crate) fn of(object: serde_json::Value) -> Self {
        let serde_json::Value::Object(fields) = object else {
            panic!("EventDoc::of takes an object, not {object}");
        };
        EventDoc::new(Fields::from_map(&fields), None)
    }

    /// The fields as a JSON value, for tests.
    #[cfg(test)]
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.fields.to_map())
    }
}

/// What a stage decided about an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageResult {
    /// Go on with the next stage.
    Continue,
    /// Drop the event (filter): counted and committed, not dead-lettered.
    Drop,
    /// Fail the event with this reason: it goes to the error topic.
    Fail(String),
}

/// A runtime stage.
pub trait Stage: Send + Sync + std::fmt::Debug {
    /// The stage type (`parse`, `mask`, …), reported with failures.
    fn name(&self) -> crate::failure::FailedAt;
    /// Runs the stage on one event, in place.
    fn apply(&self, doc: &mut EventDoc) -> StageResult;
}
