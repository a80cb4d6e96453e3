//! Which index a document goes to: the pipeline's index name resolved for the document's
//! `@timestamp` and, for a name with field references, the document's values of those fields,
//! with a cap on how many distinct values get an index of their own.

use crate::doc::Value;
use crate::document::Document;
use crate::model::{clean_field_value, FieldPath, IndexName, MISSING_VALUE, OVERFLOW_VALUE};
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Mutex;

/// The index of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed<'a> {
    /// The concrete index name.
    pub index: Cow<'a, str>,
    /// Whether the document went to the overflow index because the cap was reached.
    pub overflowed: bool,
}

/// Resolves a pipeline's index name per document. Values are admitted first come, first
/// served, up to `max_values` distinct combinations; documents with a value that is not
/// admitted go to the overflow index. A document without a usable value for a reference goes
/// to the `_missing` index of it, which does not count against the cap.
#[derive(Debug)]
pub struct IndexRouter {
    index: IndexName,
    max_values: usize,
    admitted: Mutex<HashSet<String>>,
}

impl IndexRouter {
    /// A router for `index` admitting at most `max_values` distinct values.
    pub fn new(index: IndexName, max_values: usize) -> IndexRouter {
        IndexRouter {
            index,
            max_values,
            admitted: Mutex::new(HashSet::new()),
        }
    }

    /// The index of `document`.
    pub fn route(&self, document: &Document) -> Routed<'_> {
        if !self.index.is_templated() {
            return Routed {
                index: document.index_name(&self.index),
                overflowed: false,
            };
        }
        let values: Vec<Option<String>> = self
            .index
            .field_paths()
            .map(|path| field_text(document, path).and_then(|raw| clean_field_value(&raw)))
            .collect();
        let overflowed = values.iter().all(Option::is_some) && !self.admit(&values);
        let texts: Vec<&str> = values
            .iter()
            .map(|v| match v {
                _ if overflowed => OVERFLOW_VALUE,
                Some(v) => v.as_str(),
                None => MISSING_VALUE,
            })
            .collect();
        Routed {
            index: Cow::Owned(self.index.resolve_with(&texts, document.timestamp)),
            overflowed,
        }
    }

    /// Whether this combination of values has (or now gets) an index of its own.
    fn admit(&self, values: &[Option<String>]) -> bool {
        let key = values
            .iter()
            .map(|v| v.as_deref().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\u{0}");
        let mut admitted = match self.admitted.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if admitted.contains(&key) {
            return true;
        }
        if admitted.len() >= self.max_values {
            return false;
        }
        admitted.insert(key);
        true
    }
}

/// The text of the field `path` names in `document`: `cloudevent.<attr>` from its CloudEvents
/// context, anything else from its fields; strings as they are, numbers and booleans as JSON
/// text, anything else nothing. The one place that reads the document model for index names.
fn field_text<'d>(document: &'d Document, path: &FieldPath) -> Option<Cow<'d, str>> {
    let segments = path.segments();
    if let (Some(ce), [root, attr]) = (&document.cloudevent, segments) {
        if root == "cloudevent" {
            let text = match attr.as_str() {
                "id" => ce.id.as_deref(),
                "source" => ce.source.as_deref(),
                "type" => ce.ty.as_deref(),
                "subject" => ce.subject.as_deref(),
                _ => None,
            };
            return text.map(Cow::Borrowed);
        }
    }
    let fields = &document.fields;
    match fields.root.get_path(&fields.texts, path)? {
        Value::String(t) => Some(Cow::Borrowed(fields.texts.get(*t))),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{CloudEventContext, Origin};
    use chrono::TimeZone;
    use serde_json::json;
    use std::sync::Arc;

    fn doc(ty: Option<&str>, fields: serde_json::Value) -> Document {
        Document {
            id: "1".into(),
            timestamp: chrono::Utc.with_ymd_and_hms(2026, 3, 7, 1, 0, 0).unwrap(),
            fields: crate::doc::Fields::from_map(fields.as_object().unwrap()),
            origin: Origin {
                name: Arc::from("p"),
                ingested_at: chrono::Utc::now(),
                partition: 0,
                offset: 0,
            },
            cloudevent: Some(CloudEventContext {
                ty: ty.map(str::to_owned),
                ..CloudEventContext::default()
            }),
        }
    }

    #[test]
    fn values_get_indices_up_to_the_cap_then_overflow() {
        let index = IndexName::parse("orders-{cloudevent.type}-{yyyy.MM.dd}").unwrap();
        let router = IndexRouter::new(index, 2);
        let route = |ty: Option<&str>| router.route(&doc(ty, json!({}))).clone();
        assert_eq!(
            route(Some("Order.Created")).index,
            "orders-order.created-2026.03.07"
        );
        assert_eq!(route(Some("b")).index, "orders-b-2026.03.07");
        let third = route(Some("c"));
        assert_eq!(third.index, "orders-_overflow-2026.03.07");
        assert!(third.overflowed);
        assert!(
            !route(Some("b")).overflowed,
            "an admitted value keeps its index"
        );
        let missing = route(None);
        assert_eq!(
            (missing.index.as_ref(), missing.overflowed),
            ("orders-_missing-2026.03.07", false)
        );
    }

    #[test]
    fn data_fields_and_plain_names() {
        let router = IndexRouter::new(IndexName::parse("t-{region}-{n}").unwrap(), 50);
        let routed = router.route(&doc(None, json!({"region": "EU West", "n": 7})));
        assert_eq!(routed.index, "t-eu-west-7");
        let plain = IndexRouter::new(IndexName::parse("web").unwrap(), 1);
        assert_eq!(plain.route(&doc(None, json!({}))).index, "web");
    }
}
