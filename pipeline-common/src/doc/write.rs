//! Compact JSON of a document, for every purpose at once: objects are stored in key order, so
//! the stored order is both what `serde_json` wrote for the map this model replaced (the bulk
//! source and the output record) and the canonical form the hash stage digests.

use super::{Object, Text, Texts, Value};
use crate::json::{self, Sink};

/// Writes the string `t`: a span of the source is JSON string content that needed no escaping
/// (the reader only borrows strings without escapes, and JSON text holds no raw control
/// character or quote), as is one of the extra buffer pushed clean, so it is copied as it is;
/// any other string is escaped.
#[inline]
pub(crate) fn write_text<S: Sink>(t: Text, texts: &Texts, out: &mut S) {
    let s = texts.get(t);
    if t.is_clean() {
        out.put_quoted(s.as_bytes());
    } else {
        json::write_str(s, out);
    }
}

/// Writes `v` as compact JSON.
pub(crate) fn write_value<S: Sink>(v: &Value, texts: &Texts, out: &mut S) {
    match v {
        Value::Null => out.put(b"null"),
        Value::Bool(true) => out.put(b"true"),
        Value::Bool(false) => out.put(b"false"),
        Value::Number(n) => json::write_number(n, out),
        Value::String(t) => write_text(*t, texts, out),
        Value::Array(items) => {
            out.put(b"[");
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.put(b",");
                }
                write_value(x, texts, out);
            }
            out.put(b"]");
        }
        Value::Object(o) => write_object(o, texts, out),
    }
}

/// Writes `o` as a compact JSON object, keys in byte order.
pub(crate) fn write_object<S: Sink>(o: &Object, texts: &Texts, out: &mut S) {
    out.put(b"{");
    for (i, (k, v)) in o.members().iter().enumerate() {
        if i > 0 {
            out.put(b",");
        }
        write_member(*k, v, texts, out);
    }
    out.put(b"}");
}

/// Writes `"key":value`.
#[inline]
pub(crate) fn write_member<S: Sink>(k: Text, v: &Value, texts: &Texts, out: &mut S) {
    write_text(k, texts, out);
    out.put(b":");
    write_value(v, texts, out);
}
