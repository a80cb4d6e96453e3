//! The CloudEvents attributes of a Kafka message, read without decoding its data: from the
//! `ce_*` headers of binary mode, or from the top-level members of a structured envelope (whose
//! `data` is skipped, not built). A broker's filters read only these, so an event a pipeline does
//! not take costs it a header scan or one pass over the bytes, and no document.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::fmt;

/// Which attributes to read: these names exactly, and every attribute under one of `roots`
/// (`customer` takes `customer.tier`). Names compare ignoring ASCII case, as HTTP headers do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    names: Vec<String>,
    roots: Vec<String>,
}

impl Wanted {
    /// Reads `names` exactly and every attribute under one of `roots`.
    pub fn new(names: Vec<String>, roots: Vec<String>) -> Self {
        Wanted { names, roots }
    }

    /// Whether nothing is wanted.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.roots.is_empty()
    }

    /// Whether attribute `name` is wanted.
    pub fn wants(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
            || self.roots.iter().any(|root| {
                name.len() > root.len() + 1
                    && name.as_bytes()[root.len()] == b'.'
                    && name[..root.len()].eq_ignore_ascii_case(root)
            })
            || self
                .roots
                .iter()
                .any(|root| root.eq_ignore_ascii_case(name))
    }
}

/// The wanted attributes of one message, lowercase names; empty when it is not a CloudEvent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageAttributes<'a> {
    pairs: Pairs<'a>,
}

/// A filter names few attributes: up to this many are kept without a heap allocation, which
/// every event a pipeline turns away would otherwise cost.
const INLINE_ATTRIBUTES: usize = 4;

type Pairs<'a> = SmallVec<[(Cow<'a, str>, Cow<'a, str>); INLINE_ATTRIBUTES]>;

impl<'a> MessageAttributes<'a> {
    /// The value of attribute `name` (lowercase), if the message has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// Every wanted attribute the message has, as (name, value).
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.pairs
            .iter()
            .map(|(n, v)| (n.as_ref(), v.as_ref()))
            .collect()
    }

    /// Reads the `wanted` attributes of a message: binary mode when a header names
    /// `ce_specversion` (or `ce-specversion`, any case), otherwise the top level of a JSON
    /// object with `specversion`. A structured attribute that is a number or a boolean reads as
    /// its JSON text (CloudEvents' canonical string form); `null`, objects and arrays as absent.
    /// Anything that is not a CloudEvent has no attributes.
    pub fn read<I>(headers: I, payload: &'a [u8], wanted: &Wanted) -> MessageAttributes<'a>
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        let mut binary = false;
        let mut pairs = Pairs::new();
        for (name, value) in headers {
            let Some(attribute) = ce_attribute(name) else {
                continue;
            };
            binary |= attribute.eq_ignore_ascii_case("specversion");
            if wanted.wants(attribute) {
                if let Ok(value) = std::str::from_utf8(value) {
                    pairs.push((lowercase(attribute), Cow::Borrowed(value)));
                }
            }
        }
        if binary {
            return MessageAttributes { pairs };
        }
        let mut de = serde_json::Deserializer::from_slice(payload);
        match de.deserialize_map(EnvelopeVisitor { wanted }) {
            Ok(Some(pairs)) => MessageAttributes { pairs },
            _ => MessageAttributes::default(),
        }
    }
}

/// The attribute a `ce_<attr>` (Kafka binding) or `ce-<attr>` (HTTP binding) header carries.
fn ce_attribute(name: &str) -> Option<&str> {
    let b = name.as_bytes();
    (b.len() > 3 && b[..2].eq_ignore_ascii_case(b"ce") && (b[2] == b'_' || b[2] == b'-'))
        .then(|| &name[3..])
}

fn lowercase(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Reads the wanted top-level members of an object; `None` when it has no `specversion`.
struct EnvelopeVisitor<'w> {
    wanted: &'w Wanted,
}

impl<'de> Visitor<'de> for EnvelopeVisitor<'_> {
    type Value = Option<Pairs<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut cloud_event = false;
        let mut pairs = Pairs::new();
        // Keys are read as `Scalar`, which borrows them from the input (serde's own `Cow` would
        // copy every one); a JSON key is always a string.
        while let Some(Scalar(key)) = map.next_key::<Scalar<'de>>()? {
            let key = key.unwrap_or_default();
            if key == "specversion" {
                cloud_event = true;
            }
            if key != "data" && key != "data_base64" && self.wanted.wants(&key) {
                if let Some(value) = map.next_value::<Scalar<'de>>()?.0 {
                    pairs.push((key, value));
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(cloud_event.then_some(pairs))
    }
}

/// A JSON value as attribute text: strings borrowed where they can be, numbers and booleans
/// as their JSON text, anything else absent.
struct Scalar<'a>(Option<Cow<'a, str>>);

impl<'de> de::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar(Some(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar(Some(Cow::Owned(v.to_owned()))))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar(None))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> Wanted {
        Wanted::new(
            vec!["type".into(), "source".into()],
            vec!["customer".into()],
        )
    }

    #[test]
    fn binary_mode_reads_headers_only() {
        let headers: Vec<(&str, &[u8])> = vec![
            ("ce_specversion", b"1.0"),
            ("Ce-Type", b"order.created"),
            ("ce_customer.tier", b"premium"),
            ("ce_id", b"1"),
        ];
        let a = MessageAttributes::read(headers, b"not json at all", &wanted());
        assert_eq!(a.get("type"), Some("order.created"));
        assert_eq!(a.get("customer.tier"), Some("premium"));
        assert_eq!(a.get("id"), None, "not wanted");
    }

    #[test]
    fn structured_mode_reads_top_level_members() {
        let body = br#"{"data":{"type":"inner"},"type":"order.created","specversion":"1.0",
            "customer.tier":"premium","source":7,"customer":{"x":1}}"#;
        let a = MessageAttributes::read(Vec::new(), body, &wanted());
        assert_eq!(a.get("type"), Some("order.created"));
        assert_eq!(a.get("customer.tier"), Some("premium"));
        assert_eq!(a.get("source"), Some("7"));
        assert_eq!(a.get("customer"), None, "an object is no attribute");
        let plain = MessageAttributes::read(Vec::new(), br#"{"type":"t"}"#, &wanted());
        assert_eq!(plain, MessageAttributes::default(), "not a CloudEvent");
        for junk in [
            &b"[1]"[..],
            b"{",
            b"\xff",
            b"",
            b"{\"specversion\":\"1.0\",}",
        ] {
            assert_eq!(
                MessageAttributes::read(Vec::new(), junk, &wanted()),
                MessageAttributes::default()
            );
        }
    }
}
