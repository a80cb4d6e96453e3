//! To and from `serde_json` values: for dry-run, HTTP batches and tests, not the hot path.

use super::{Object, Text, Texts, Value};
use serde_json::{Map, Value as Json};

/// `v` in a document whose strings are appended to `texts`.
pub(crate) fn value_from_json(v: &Json, texts: &mut Texts) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::Number(n.clone()),
        Json::String(s) => Value::String(texts.push(s)),
        Json::Array(items) => {
            Value::Array(items.iter().map(|x| value_from_json(x, texts)).collect())
        }
        Json::Object(m) => Value::Object(object_from_map(m, texts)),
    }
}

/// `m` as an object whose strings are appended to `texts`.
pub(crate) fn object_from_map(m: &Map<String, Json>, texts: &mut Texts) -> Object {
    let members: Vec<(Text, Value)> = m
        .iter()
        .map(|(k, v)| (texts.push(k), value_from_json(v, texts)))
        .collect();
    Object::from_members(members, texts)
}

/// `v` as a `serde_json` value.
pub(crate) fn value_to_json(v: &Value, texts: &Texts) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => Json::Number(n.clone()),
        Value::String(t) => Json::String(texts.get(*t).to_owned()),
        Value::Array(items) => Json::Array(items.iter().map(|x| value_to_json(x, texts)).collect()),
        Value::Object(o) => Json::Object(object_to_map(o, texts)),
    }
}

/// `o` as a `serde_json` object.
pub(crate) fn object_to_map(o: &Object, texts: &Texts) -> Map<String, Json> {
    o.members()
        .iter()
        .map(|(k, v)| (texts.get(*k).to_owned(), value_to_json(v, texts)))
        .collect()
}

/// Whether `v` equals the JSON value `want` (numbers as serde_json compares them).
pub(crate) fn equals_json(v: &Value, texts: &Texts, want: &Json) -> bool {
    match (v, want) {
        (Value::Null, Json::Null) => true,
        (Value::Bool(a), Json::Bool(b)) => a == b,
        (Value::Number(a), Json::Number(b)) => a == b,
        (Value::String(t), Json::String(s)) => texts.get(*t) == s,
        (Value::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equals_json(x, texts, y))
        }
        (Value::Object(o), Json::Object(m)) => {
            o.len() == m.len()
                && o.members().iter().all(|(k, x)| {
                    m.get(texts.get(*k))
                        .is_some_and(|y| equals_json(x, texts, y))
                })
        }
        _ => false,
    }
}
