//! Document building (DESIGN §4 step 4) and bulk serialization.

use crate::doc::{write, Fields};
use crate::event::CloudEventAttributes;
use crate::json;
use crate::model::IndexName;
use crate::stages::EventDoc;
use crate::time::{format_rfc3339, parse_rfc3339, write_rfc3339_json};
use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// The source field that carries the document time.
const TIMESTAMP_KEY: &str = "@timestamp";
/// The source field that carries [`Origin`].
const PIPELINE_KEY: &str = "pipeline";
/// The source field that carries [`CloudEventContext`].
const CLOUDEVENT_KEY: &str = "cloudevent";

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

/// The `pipeline` object of a document: which pipeline indexed it, when, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `pipeline.name`.
    pub name: Arc<str>,
    /// `pipeline.ingestedAt`.
    pub ingested_at: DateTime<Utc>,
    /// `pipeline.partition`.
    pub partition: i32,
    /// `pipeline.offset`.
    pub offset: i64,
}

/// The CloudEvents context a document keeps: `cloudevent {id, source, type, time, subject}`.
///
/// The system flow-stream replaces records `ce-id` as the ingestion id, so searches and
/// dashboards rely on these; absent attributes are left out of the object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CloudEventContext {
    /// `id`.
    pub id: Option<String>,
    /// `source`.
    pub source: Option<String>,
    /// `type`.
    pub ty: Option<String>,
    /// `time`, normalised to RFC 3339 UTC. A `time` that is not RFC 3339 is left out, so that
    /// the field keeps one mapping (a date) in every index.
    pub time: Option<DateTime<Utc>>,
    /// `subject`.
    pub subject: Option<String>,
}

impl From<&CloudEventAttributes<'_>> for CloudEventContext {
    fn from(a: &CloudEventAttributes<'_>) -> Self {
        CloudEventContext {
            id: a.id.as_deref().map(str::to_owned),
            source: a.source.as_deref().map(str::to_owned),
            ty: a.ty.as_deref().map(str::to_owned),
            time: a.time.as_deref().and_then(parse_rfc3339),
            subject: a.subject.as_deref().map(str::to_owned),
        }
    }
}

impl CloudEventContext {
    /// The members that are present, in byte order of their keys (as a `BTreeMap` holds them).
    fn members(&self) -> impl Iterator<Item = (&'static str, Member<'_>)> {
        [
            ("id", self.id.as_deref().map(Member::Text)),
            ("source", self.source.as_deref().map(Member::Text)),
            ("subject", self.subject.as_deref().map(Member::Text)),
            ("time", self.time.as_ref().map(Member::Time)),
            ("type", self.ty.as_deref().map(Member::Text)),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }

    fn to_value(&self) -> Value {
        let members = self.members().map(|(k, v)| {
            let v = match v {
                Member::Text(t) => Value::from(t),
                Member::Time(t) => Value::String(format_rfc3339(t)),
            };
            (k.to_owned(), v)
        });
        Value::Object(members.collect())
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (key, value)) in self.members().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Our own keys: nothing to escape.
            json::Sink::put_quoted(out, key.as_bytes());
            out.push(b':');
            match value {
                Member::Text(t) => json::write_str(t, out),
                Member::Time(t) => write_rfc3339_json(t, out),
            }
        }
        out.push(b'}');
    }
}

/// One member of the `cloudevent` object.
enum Member<'a> {
    Text(&'a str),
    Time(&'a DateTime<Utc>),
}

/// A document ready for OpenSearch.
///
/// Its source is [`Document::fields`] plus `@timestamp`, `pipeline` and, for a CloudEvent,
/// `cloudevent`, which replace fields of the same names. The two are kept apart and only merged
/// as they are written out, in one walk over the fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `_id`: the hash stage's digest, or `<topic>-<partition>-<offset>` without a hash stage.
    pub id: String,
    /// `@timestamp`: parsed time, else event time, else ingest time.
    pub timestamp: DateTime<Utc>,
    /// The event's data fields and stage outputs.
    pub fields: Fields,
    /// `pipeline {name, ingestedAt, partition, offset}`.
    pub origin: Origin,
    /// `cloudevent {id, source, type, time, subject}`, when the event arrived as a CloudEvent.
    pub cloudevent: Option<CloudEventContext>,
}

/// The source fields a document adds to its event's, in the byte order of their keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Added {
    Timestamp,
    CloudEvent,
    Pipeline,
}

impl Added {
    fn key(self) -> &'static str {
        match self {
            Added::Timestamp => TIMESTAMP_KEY,
            Added::CloudEvent => CLOUDEVENT_KEY,
            Added::Pipeline => PIPELINE_KEY,
        }
    }
}

impl Document {
    /// Builds the document of an event that went through every stage, for pipeline `pipeline`;
    /// `cloudevent` is the context of an event that arrived as a CloudEvent.
    pub fn build(
        doc: EventDoc,
        pipeline: &Arc<str>,
        meta: &SourceMeta<'_>,
        cloudevent: Option<CloudEventContext>,
    ) -> Document {
        let timestamp = doc
            .parsed_time
            .or(doc.event_time)
            .unwrap_or(meta.ingested_at);
        let id = doc
            .id
            .unwrap_or_else(|| format!("{}-{}-{}", meta.topic, meta.partition, meta.offset));
        Document {
            id,
            timestamp,
            fields: doc.fields,
            origin: Origin {
                name: Arc::clone(pipeline),
                ingested_at: meta.ingested_at,
                partition: meta.partition,
                offset: meta.offset,
            },
            cloudevent,
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

    /// Appends the source as compact JSON (also the output topic's record value): byte for byte
    /// what `serde_json::to_writer` writes for [`Document::into_value`], in one walk over the
    /// fields, copying the strings that came unescaped in the record as they are.
    pub fn write_source(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        let mut separate = |out: &mut Vec<u8>| {
            if !first {
                out.push(b',');
            }
            first = false;
        };
        // Merged into the fields where their keys sort, as a `BTreeMap` would hold them.
        let has_cloudevent = self.cloudevent.is_some();
        let mut added = [Added::Timestamp, Added::CloudEvent, Added::Pipeline]
            .into_iter()
            .filter(|a| *a != Added::CloudEvent || has_cloudevent)
            .peekable();
        let texts = &self.fields.texts;
        for (k, value) in self.fields.root.members() {
            let key = texts.get(*k);
            if key == TIMESTAMP_KEY
                || key == PIPELINE_KEY
                || (has_cloudevent && key == CLOUDEVENT_KEY)
            {
                continue;
            }
            while let Some(a) = added.next_if(|a| a.key().as_bytes() < key.as_bytes()) {
                separate(out);
                self.write_added(a, out);
            }
            separate(out);
            write::write_member(*k, value, texts, out);
        }
        for a in added {
            separate(out);
            self.write_added(a, out);
        }
        out.push(b'}');
    }

    /// `"key":value` of an added field; `pipeline`'s keys in byte order, like the other objects.
    fn write_added(&self, added: Added, out: &mut Vec<u8>) {
        json::Sink::put_quoted(out, added.key().as_bytes());
        out.push(b':');
        match added {
            Added::Timestamp => write_rfc3339_json(&self.timestamp, out),
            Added::CloudEvent => match &self.cloudevent {
                Some(ce) => ce.write(out),
                None => out.extend_from_slice(b"null"),
            },
            Added::Pipeline => {
                let o = &self.origin;
                out.extend_from_slice(b"{\"ingestedAt\":");
                write_rfc3339_json(&o.ingested_at, out);
                out.extend_from_slice(b",\"name\":");
                json::write_str(&o.name, out);
                out.extend_from_slice(b",\"offset\":");
                json::write_number(&Number::from(o.offset), out);
                out.extend_from_slice(b",\"partition\":");
                json::write_number(&Number::from(o.partition), out);
                out.push(b'}');
            }
        }
    }

    /// The source as a JSON value.
    pub fn into_value(self) -> Value {
        let mut body = self.fields.to_map();
        body.insert(
            TIMESTAMP_KEY.into(),
            Value::String(format_rfc3339(&self.timestamp)),
        );
        let o = self.origin;
        let mut p = Map::new();
        p.insert("name".into(), Value::from(&*o.name));
        p.insert(
            "ingestedAt".into(),
            Value::String(format_rfc3339(&o.ingested_at)),
        );
        p.insert("partition".into(), Value::from(o.partition));
        p.insert("offset".into(), Value::from(o.offset));
        body.insert(PIPELINE_KEY.into(), Value::Object(p));
        if let Some(ce) = &self.cloudevent {
            body.insert(CLOUDEVENT_KEY.into(), ce.to_value());
        }
        Value::Object(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn document(fields: Value, nanos: u32) -> Document {
        let Value::Object(fields) = fields else {
            panic!("not an object")
        };
        let at = DateTime::from_timestamp(1_790_000_000, nanos).unwrap();
        Document {
            id: "id".into(),
            timestamp: at,
            fields: Fields::from_map(&fields),
            origin: Origin {
                name: Arc::from("web \"logs\""),
                ingested_at: at,
                partition: 3,
                offset: 1 << 40,
            },
            cloudevent: None,
        }
    }

    fn assert_source_like_serde_json(doc: &Document) {
        let mut ours = Vec::new();
        doc.write_source(&mut ours);
        let want = serde_json::to_vec(&doc.clone().into_value()).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&want)
        );
    }

    #[test]
    fn added_fields_replace_and_sort_among_the_event_fields() {
        for fields in [
            json!({}),
            json!({"a": 1}),
            json!({"!": 1, "0": 2, "?": 3, "@": 4, "@timestamp": "event's", "@u": 5,
                   "pipe": 6, "pipeline": {"x": 1}, "pipeline0": 7, "z": [1, {"b": 2, "a": 1}]}),
            json!({"\u{7f}": 1, "é": 2, "pipeline": null}),
        ] {
            for nanos in [0, 5_000_000, 123_456_789] {
                assert_source_like_serde_json(&document(fields.clone(), nanos));
            }
        }
    }

    #[test]
    fn cloudevent_context_is_written_among_the_fields() {
        let context = CloudEventContext {
            id: Some("evt-\"1\"".into()),
            source: Some("/edge".into()),
            ty: Some("com.example.log".into()),
            time: parse_rfc3339("2026-11-04T01:47:17+01:00"),
            subject: None,
        };
        for fields in [
            json!({}),
            json!({"cloudevent": "the event's own", "b": 1, "cloud": 2, "d": 3}),
        ] {
            let mut doc = document(fields, 0);
            doc.cloudevent = Some(context.clone());
            assert_source_like_serde_json(&doc);
            let v = doc.into_value();
            assert_eq!(
                v["cloudevent"],
                json!({"id": "evt-\"1\"", "source": "/edge", "type": "com.example.log",
                       "time": "2026-11-04T00:47:17Z"})
            );
        }
        // Without a CloudEvent, a field of that name is the event's own.
        let doc = document(json!({"cloudevent": 1}), 0);
        assert_source_like_serde_json(&doc);
        assert_eq!(doc.into_value()["cloudevent"], 1);
    }

    proptest! {
        #[test]
        fn source_is_what_serde_json_writes(
            keys in proptest::collection::vec(
                prop_oneof![Just("@timestamp".to_owned()), Just("pipeline".to_owned()), "[ -~]{0,12}"],
                0..12,
            ),
        ) {
            let fields: Map<String, Value> =
                keys.into_iter().enumerate().map(|(i, k)| (k, json!(i))).collect();
            assert_source_like_serde_json(&document(Value::Object(fields), 1));
        }
    }
}
