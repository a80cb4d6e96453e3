//! The `hash` stage: sha256 (hex) of the canonical JSON of the event as received.
//!
//! Canonical JSON here: object keys sorted by their UTF-8 bytes (sorted explicitly, whatever order
//! the map keeps), no whitespace, strings escaped minimally (`"`, `\`, and control characters;
//! `\b \f \n \r \t` short forms, others `\u00xx`), numbers as serde_json writes them. So the same
//! event gets the same id whatever its key order, whitespace or delivery attempt, and whatever
//! stages ran before: the chain computes the digest before the first stage changes anything.
//! With `fields`, the digest covers the object `{"<path>": value, …}` of the listed fields that
//! are present.

mod spec;

pub use crate::json::Sink;
pub use spec::*;

use super::{EventDoc, Stage, StageResult};
use crate::doc::{write, Fields, Texts, Value};
use crate::failure::FailedAt;
use crate::json;
use crate::model::FieldPath;
use sha2::{Digest, Sha256};

/// Bytes [`HashSink`] gathers before it feeds the hasher: enough for the canonical form of a
/// typical event, so that the hasher is fed once, with whole blocks.
const HASH_BUFFER: usize = 1024;

/// Feeds a sha256 through a buffer, so that the many tiny writes of a serializer do not each go
/// through the hasher.
struct HashSink {
    hasher: Sha256,
    buf: [u8; HASH_BUFFER],
    len: usize,
}

impl HashSink {
    fn new() -> Self {
        HashSink {
            hasher: Sha256::new(),
            buf: [0; HASH_BUFFER],
            len: 0,
        }
    }

    // By reference: the sink is over a kilobyte, which a move copies.
    fn finish(&mut self) -> String {
        self.hasher.update(&self.buf[..self.len]);
        let digest = self.hasher.finalize_reset();
        // `hex::encode` builds its string a char at a time; this is one copy.
        let mut text = [0u8; 64];
        match hex::encode_to_slice(digest, &mut text)
            .ok()
            .and_then(|()| std::str::from_utf8(&text).ok())
        {
            Some(text) => text.to_owned(),
            None => hex::encode(digest),
        }
    }
}

impl Sink for HashSink {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > self.buf.len() {
            self.hasher.update(&self.buf[..self.len]);
            self.len = 0;
            if bytes.len() > self.buf.len() {
                self.hasher.update(bytes);
                return;
            }
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    #[inline]
    fn put_quoted(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len() + 2;
        if end > self.buf.len() {
            self.put(b"\"");
            self.put(bytes);
            self.put(b"\"");
            return;
        }
        self.buf[self.len] = b'"';
        self.buf[self.len + 1..end - 1].copy_from_slice(bytes);
        self.buf[end - 1] = b'"';
        self.len = end;
    }
}

/// Writes the canonical JSON of `v`: compact, object keys in UTF-8 byte order.
pub fn write_canonical<S: Sink>(v: &serde_json::Value, out: &mut S) {
    let mut texts = Texts::default();
    let v = crate::doc::convert::value_from_json(v, &mut texts);
    write::write_value(&v, &texts, out);
}

/// The canonical JSON of `v` as bytes.
pub fn canonical_json(v: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(v, &mut out);
    out
}

/// sha256 hex of the canonical JSON of an object.
pub fn hash_object(m: &serde_json::Map<String, serde_json::Value>) -> String {
    hash_fields(&Fields::from_map(m))
}

/// sha256 hex of the canonical JSON of an event's fields.
pub fn hash_fields(fields: &Fields) -> String {
    let mut sink = HashSink::new();
    write::write_object(&fields.root, &fields.texts, &mut sink);
    sink.finish()
}

/// The runtime `hash` stage.
#[derive(Debug, Clone)]
pub struct HashStage {
    target: FieldPath,
    /// Listed fields, sorted by path.
    fields: Option<Vec<FieldPath>>,
    slot: usize,
}

impl HashStage {
    /// Builds the stage; `slot` is its index among the chain's hash stages.
    pub fn new(spec: &HashSpec, slot: usize) -> Self {
        let fields = spec.fields.as_ref().map(|f| {
            let mut f = f.clone();
            f.sort_by(|a, b| a.as_str().as_bytes().cmp(b.as_str().as_bytes()));
            f.dedup();
            f
        });
        HashStage {
            target: spec.target.clone(),
            fields,
            slot,
        }
    }

    /// The digest of `received`, the event as received.
    pub fn digest(&self, received: &Fields) -> String {
        match &self.fields {
            None => hash_fields(received),
            Some(paths) => {
                let mut sink = HashSink::new();
                sink.put(b"{");
                let mut first = true;
                for p in paths {
                    if let Some(v) = received.root.get_path(&received.texts, p) {
                        if !first {
                            sink.put(b",");
                        }
                        first = false;
                        json::write_str(p.as_str(), &mut sink);
                        sink.put(b":");
                        write::write_value(v, &received.texts, &mut sink);
                    }
                }
                sink.put(b"}");
                sink.finish()
            }
        }
    }
}

impl Stage for HashStage {
    fn name(&self) -> FailedAt {
        FailedAt::Hash
    }

    fn apply(&self, doc: &mut EventDoc) -> StageResult {
        // Run alone (outside a chain), the fields are still the event as received.
        // Each hash stage runs once per event: its cached digest is moved out, not cloned.
        let digest = match doc.received_hashes.get_mut(self.slot) {
            Some(d) if !d.is_empty() => std::mem::take(d),
            _ => self.digest(&doc.fields),
        };
        let fields = &mut doc.fields;
        // Hex digits: nothing to escape.
        let text = Value::String(fields.texts.push_clean(&digest));
        if fields
            .root
            .set_path(&mut fields.texts, &self.target, text)
            .is_err()
        {
            return StageResult::Fail(format!(
                "target {} is under a field that is not an object",
                self.target
            ));
        }
        doc.id = Some(digest);
        StageResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn canonical_form() {
        let v: Value = serde_json::from_str(
            "{ \"b\": [1, 2.5, -3, 1e3, true, null], \"a\": {\"z\": \"q\\\"\\n\\u0001é/\", \"y\": {}} }",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(canonical_json(&v)).unwrap(),
            r#"{"a":{"y":{},"z":"q\"\n\u0001é/"},"b":[1,2.5,-3,1000.0,true,null]}"#
        );
    }

    #[test]
    fn digest_matches_sha256_of_canonical_bytes() {
        let v = json!({"b": "x".repeat(600), "a": [1, {"c": "d"}]});
        let m = v.as_object().unwrap();
        let want = hex::encode(Sha256::digest(canonical_json(&v)));
        assert_eq!(hash_object(m), want);
    }

    #[test]
    fn digest_of_a_form_longer_than_the_buffer() {
        for n in [HASH_BUFFER - 20, HASH_BUFFER, 3 * HASH_BUFFER + 7] {
            let v = json!({"b": "y".repeat(n), "a": ["z".repeat(n / 3), 1, "w"]});
            let want = hex::encode(Sha256::digest(canonical_json(&v)));
            assert_eq!(hash_object(v.as_object().unwrap()), want, "{n}");
        }
    }

    #[test]
    fn subset_of_fields() {
        let st = HashStage::new(
            &HashSpec {
                target: FieldPath::parse("h").unwrap(),
                fields: Some(vec![
                    FieldPath::parse("m.x").unwrap(),
                    FieldPath::parse("a").unwrap(),
                    FieldPath::parse("missing").unwrap(),
                ]),
            },
            0,
        );
        let one = json!({"a": 1, "m": {"x": 2, "y": 3}, "noise": 1});
        let two = json!({"a": 1, "m": {"x": 2, "y": 4}, "noise": 2});
        let d1 = st.digest(&Fields::from_map(one.as_object().unwrap()));
        assert_eq!(d1, st.digest(&Fields::from_map(two.as_object().unwrap())));
        let want = hex::encode(Sha256::digest(br#"{"a":1,"m.x":2}"#));
        assert_eq!(d1, want);
    }
}
