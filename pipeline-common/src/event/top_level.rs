//! A message's JSON read straight into what decoding needs: an object with its CloudEvents
//! envelope members set apart, or the type of anything else.
//!
//! Reading into a [`Value`] first would allocate every envelope key, the map that holds them and
//! every attribute string, only to move them out again. Here keys are matched as they are read,
//! only the keys of other members are allocated, and once `specversion` has been read the
//! attributes borrow their text from the message.

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// The context attributes that are kept, `specversion` first.
pub(super) const ATTRIBUTES: [&str; 8] = [
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
];

/// The envelope members: the attributes, then `data` and `data_base64`.
const MEMBERS: [&str; 10] = [
    ATTRIBUTES[0],
    ATTRIBUTES[1],
    ATTRIBUTES[2],
    ATTRIBUTES[3],
    ATTRIBUTES[4],
    ATTRIBUTES[5],
    ATTRIBUTES[6],
    ATTRIBUTES[7],
    "data",
    "data_base64",
];
const DATA: usize = ATTRIBUTES.len();

/// A context attribute's value, as far as decoding cares.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Attribute<'a> {
    /// `null`, which counts as absent.
    Null,
    /// A string.
    Text(Cow<'a, str>),
    /// Anything else, which breaks the rules.
    NotText,
}

impl Attribute<'static> {
    fn from_value(value: Value) -> Self {
        match value {
            Value::Null => Attribute::Null,
            Value::String(s) => Attribute::Text(Cow::Owned(s)),
            _ => Attribute::NotText,
        }
    }
}

/// The envelope members of a structured-mode CloudEvent, ready to be checked.
#[derive(Debug, Default)]
pub(super) struct CloudParts<'a> {
    /// By index in [`ATTRIBUTES`].
    pub(super) attributes: [Option<Attribute<'a>>; ATTRIBUTES.len()],
    /// `data`.
    pub(super) data: Option<Value>,
    /// `data_base64`.
    pub(super) data_base64: Option<Value>,
}

/// The members of an object whose keys are in [`MEMBERS`].
#[derive(Debug, Default)]
pub(super) struct Envelope<'a> {
    /// Attributes read once `specversion` had been read, by index in [`ATTRIBUTES`].
    attributes: [Option<Attribute<'a>>; ATTRIBUTES.len()],
    /// Members read as whole values, by index in [`MEMBERS`]: `data`, `data_base64`, and
    /// attributes read before `specversion`, while the object might still be a plain event.
    values: [Option<Value>; MEMBERS.len()],
    /// Whether `specversion` was read: the object is a CloudEvent.
    cloud_event: bool,
}

impl Envelope<'static> {
    /// Takes the envelope members out of a parsed object; the rest is dropped.
    pub(super) fn from_object(obj: Map<String, Value>) -> Self {
        let mut envelope = Envelope::default();
        for (key, value) in obj {
            if let Some(i) = member_index(&key) {
                envelope.cloud_event |= i == 0;
                envelope.values[i] = Some(value);
            }
        }
        envelope
    }
}

impl<'a> Envelope<'a> {
    /// Whether the object is a structured-mode CloudEvent: it has `specversion`.
    pub(super) fn is_cloud_event(&self) -> bool {
        self.cloud_event
    }

    /// Puts the members back into the object they were read from, when it is not a CloudEvent
    /// (then every member was read as a whole value).
    pub(super) fn restore_into(self, object: &mut Map<String, Value>) {
        for (key, value) in MEMBERS.iter().zip(self.values) {
            if let Some(value) = value {
                object.insert((*key).to_owned(), value);
            }
        }
    }

    /// The members of a CloudEvent. An attribute read both before and after `specversion`
    /// keeps its later value, as a repeated key does in a [`Value`].
    pub(super) fn into_cloud_parts(self) -> CloudParts<'a> {
        let [values @ .., data, data_base64] = self.values;
        let mut attributes = self.attributes;
        for (slot, value) in attributes.iter_mut().zip(values) {
            if slot.is_none() {
                *slot = value.map(Attribute::from_value);
            }
        }
        CloudParts {
            attributes,
            data,
            data_base64,
        }
    }
}

fn member_index(key: &str) -> Option<usize> {
    MEMBERS.iter().position(|m| *m == key)
}

/// A JSON document at the top of a message.
// Built once per message and taken apart at once; boxing the envelope would add back an
// allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum TopLevel<'a> {
    /// An object: its envelope members, and every other member.
    Object {
        /// Members named in [`MEMBERS`].
        envelope: Envelope<'a>,
        /// The others.
        rest: Map<String, Value>,
    },
    /// Not an object: its JSON type.
    Other(&'static str),
}

impl<'de> Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TopLevelVisitor)
    }
}

/// Drains an array, so that malformed JSON after its first element is still an error.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Drains an object, likewise.
fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel<'de>, A::Error> {
        let mut envelope = Envelope::default();
        let mut rest = Map::new();
        // A repeated key keeps its last value, as in a `Value`.
        while let Some(key) = map.next_key::<MemberKey>()? {
            match key {
                MemberKey::Envelope(i) if i < DATA && (envelope.cloud_event || i == 0) => {
                    envelope.cloud_event = true;
                    envelope.attributes[i] = Some(map.next_value()?);
                }
                MemberKey::Envelope(i) => envelope.values[i] = Some(map.next_value()?),
                MemberKey::Other(k) => {
                    rest.insert(k, map.next_value()?);
                }
            }
        }
        Ok(TopLevel::Object { envelope, rest })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<TopLevel<'de>, A::Error> {
        drain_seq(seq)?;
        Ok(TopLevel::Other("array"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<TopLevel<'de>, E> {
        Ok(TopLevel::Other("null"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<TopLevel<'de>, E> {
        Ok(TopLevel::Other("boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<TopLevel<'de>, E> {
        Ok(TopLevel::Other("number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<TopLevel<'de>, E> {
        Ok(TopLevel::Other("number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<TopLevel<'de>, E> {
        Ok(TopLevel::Other("number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<TopLevel<'de>, E> {
        Ok(TopLevel::Other("string"))
    }
}

impl<'de> Deserialize<'de> for Attribute<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AttributeVisitor)
    }
}

struct AttributeVisitor;

impl<'de> Visitor<'de> for AttributeVisitor {
    type Value = Attribute<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Attribute<'de>, E> {
        Ok(Attribute::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Attribute<'de>, E> {
        Ok(Attribute::Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Attribute<'de>, E> {
        Ok(Attribute::Text(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Attribute<'de>, E> {
        Ok(Attribute::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Attribute<'de>, E> {
        Ok(Attribute::NotText)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Attribute<'de>, E> {
        Ok(Attribute::NotText)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Attribute<'de>, E> {
        Ok(Attribute::NotText)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Attribute<'de>, E> {
        Ok(Attribute::NotText)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Attribute<'de>, A::Error> {
        drain_seq(seq)?;
        Ok(Attribute::NotText)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Attribute<'de>, A::Error> {
        drain_map(map)?;
        Ok(Attribute::NotText)
    }
}

/// An object key: an envelope member's index in [`MEMBERS`], or any other key, owned.
enum MemberKey {
    Envelope(usize),
    Other(String),
}

impl<'de> Deserialize<'de> for MemberKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(MemberKeyVisitor)
    }
}

struct MemberKeyVisitor;

impl<'de> Visitor<'de> for MemberKeyVisitor {
    type Value = MemberKey;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<MemberKey, E> {
        Ok(match member_index(key) {
            Some(i) => MemberKey::Envelope(i),
            None => MemberKey::Other(key.to_owned()),
        })
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<MemberKey, E> {
        Ok(match member_index(&key) {
            Some(i) => MemberKey::Envelope(i),
            None => MemberKey::Other(key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// What decoding sees of `text`: the object as a [`Value`] would hold it, the checked
    /// envelope of a CloudEvent, or the type of anything else.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Plain(Value),
        Cloud(
            Vec<Option<Attribute<'static>>>,
            Option<Value>,
            Option<Value>,
        ),
        Other(String),
        Error(String),
    }

    fn owned(a: Attribute<'_>) -> Attribute<'static> {
        match a {
            Attribute::Text(t) => Attribute::Text(Cow::Owned(t.into_owned())),
            Attribute::Null => Attribute::Null,
            Attribute::NotText => Attribute::NotText,
        }
    }

    fn cloud(envelope: Envelope<'_>) -> Seen {
        let parts = envelope.into_cloud_parts();
        Seen::Cloud(
            parts.attributes.into_iter().map(|a| a.map(owned)).collect(),
            parts.data,
            parts.data_base64,
        )
    }

    fn read(text: &str) -> Seen {
        match serde_json::from_str::<TopLevel>(text) {
            Ok(TopLevel::Object { envelope, .. }) if envelope.is_cloud_event() => cloud(envelope),
            Ok(TopLevel::Object { envelope, mut rest }) => {
                envelope.restore_into(&mut rest);
                Seen::Plain(Value::Object(rest))
            }
            Ok(TopLevel::Other(ty)) => Seen::Other(ty.to_owned()),
            Err(e) => Seen::Error(e.to_string()),
        }
    }

    /// The same through a [`Value`], as `decode_value` reads an already parsed event.
    fn via_value(text: &str) -> Seen {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) if m.contains_key("specversion") => {
                cloud(Envelope::from_object(m))
            }
            Ok(Value::Object(m)) => Seen::Plain(Value::Object(m)),
            Ok(Value::Null) => Seen::Other("null".into()),
            Ok(Value::Bool(_)) => Seen::Other("boolean".into()),
            Ok(Value::Number(_)) => Seen::Other("number".into()),
            Ok(Value::String(_)) => Seen::Other("string".into()),
            Ok(Value::Array(_)) => Seen::Other("array".into()),
            Err(e) => Seen::Error(e.to_string()),
        }
    }

    #[test]
    fn reads_what_value_reads() {
        for text in [
            r#"{"specversion":"1.0","id":"x","data":{"a":1},"extra":[1,2],"id":"y"}"#,
            r#"{"id":"x","type":{"a":[1]},"specversion":"1.0","id":"y","source":null,"data":1}"#,
            r#"{"sp\u0065cversion":"1.0","d\"ata":1,"data_base64":"e30=","time":"t\u0031"}"#,
            r#"{"specversion":1,"subject":[1,{"a":2}],"dataschema":true}"#,
            r#"{"time":"2026-11-04T00:47:17Z","msg":"plain","data":[1]}"#,
            "{}",
            "[1,{\"a\":2}]",
            "[1,",
            r#"{"specversion":"1.0","id":[1,"#,
            r#"{"specversion":"1.0","id":{"a":"#,
            "null",
            "true",
            "-1",
            "18446744073709551615",
            "1.5",
            "\"text\"",
            "{\"a\":1} trailing",
            "{\"a\":",
            "not json",
            "",
        ] {
            assert_eq!(read(text), via_value(text), "{text}");
        }
    }

    #[test]
    fn attributes_after_specversion_borrow_the_message() {
        let text = r#"{"specversion":"1.0","type":"t","data":{"a":1},"other":2}"#;
        let Ok(TopLevel::Object { envelope, rest }) = serde_json::from_str::<TopLevel>(text) else {
            panic!("not an object")
        };
        assert!(envelope.is_cloud_event());
        let parts = envelope.into_cloud_parts();
        assert!(matches!(
            parts.attributes[3],
            Some(Attribute::Text(Cow::Borrowed("t")))
        ));
        assert_eq!(parts.data, Some(json!({"a": 1})));
        assert_eq!(Value::Object(rest), json!({"other": 2}));
    }

    proptest! {
        #[test]
        fn any_object_reads_as_value_does(
            members in proptest::collection::vec(
                (prop_oneof![proptest::sample::select(MEMBERS.to_vec()).prop_map(str::to_owned), "[a-z_]{0,8}"],
                 prop_oneof![Just(Value::Null), any::<i64>().prop_map(Value::from), "[ -~]{0,8}".prop_map(Value::from), Just(json!({"k": [1]}))]),
                0..12,
            ),
        ) {
            // Written member by member, so that repeated keys reach the reader.
            let text = format!(
                "{{{}}}",
                members
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            prop_assert_eq!(read(&text), via_value(&text));
        }
    }
}
