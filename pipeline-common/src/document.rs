//! Document building (DESIGN §4 step 4) and bulk serialization.

use crate::model::IndexName;
use crate::stages::{json, EventDoc};
use crate::time::format_rfc3339;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceMeta<'a> {
    /// The input topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// The message offset.
    pub offset: i64,
    /// When the worker took the message in.
    pub ingested_at: DateTime<Utc>,
}

/// A document ready for OpenSearch.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `_id`: the hash stage's digest, or `<topic>-<partition>-<offset>` without a hash stage.
    pub id: String,
    /// `@timestamp`: parsed time, else event time, else ingest time.
    pub timestamp: DateTime<Utc>,
    /// The source: the event's data fields, stage outputs, `@timestamp` and
    /// `pipeline {name, ingestedAt, partition, offset}`.
    pub body: Map<String, Value>,
}

impl Document {
    /// Builds the document of an event that went through every stage.
    pub fn build(doc: EventDoc, pipeline: &str, meta: &SourceMeta<'_>) -> Document {
        let timestamp = doc
            .parsed_time
            .or(doc.event_time)
            .unwrap_or(meta.ingested_at);
        let id = doc
            .id
            .unwrap_or_else(|| format!("{}-{}-{}", meta.topic, meta.partition, meta.offset));
        let mut body = doc.fields;
        body.insert(
            "@timestamp".into(),
            Value::String(format_rfc3339(&timestamp)),
        );
        let mut p = Map::new();
        p.insert("name".into(), Value::from(pipeline));
        p.insert(
            "ingestedAt".into(),
            Value::String(format_rfc3339(&meta.ingested_at)),
        );
        p.insert("partition".into(), Value::from(meta.partition));
        p.insert("offset".into(), Value::from(meta.offset));
        body.insert("pipeline".into(), Value::Object(p));
        Document {
            id,
            timestamp,
            body,
        }
    }

    /// The concrete index for this document (resolving a date pattern from `@timestamp`).
    pub fn index_name<'a>(&self, index: &'a IndexName) -> Cow<'a, str> {
        index.resolve(self.timestamp)
    }

    /// Appends the `_bulk` action line (`index`, so a redelivered event overwrites its own
    /// document) and the source line, each ending in a newline.
    pub fn write_bulk(&self, index: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"index\":{\"_index\":");
        json::write_str(index, out);
        out.extend_from_slice(b",\"_id\":");
        json::write_str(&self.id, out);
        out.extend_from_slice(b"}}\n");
        self.write_source(out);
        out.push(b'\n');
    }

    /// Appends the source as compact JSON (also the output topic's record value).
    pub fn write_source(&self, out: &mut Vec<u8>) {
        // Byte for byte what `serde_json::to_writer` writes, faster.
        json::write_map(&self.body, out);
    }

    /// The source as a JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.body)
    }
}
