//! A message's JSON read straight into what decoding needs: an object with its CloudEvents
//! envelope members set apart, or the type of anything else.
//!
//! Reading into a whole value first would keep every envelope member, only to take them apart
//! again. Here keys are matched as they are read, the other members become the document's
//! fields (spans of the message, see [`crate::doc`]), and once `specversion` has been read the
//! attributes borrow their text from the message.

use crate::doc::read::{KeySeed, Reader, ValueSeed};
use crate::doc::{Object, Text, Texts, Value};
use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
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
    fn from_value(value: Value, texts: &Texts) -> Self {
        match value {
            Value::Null => Attribute::Null,
            Value::String(t) => Attribute::Text(Cow::Owned(texts.get(t).to_owned())),
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
    pub(super) fn from_object(obj: Object, texts: &Texts) -> Self {
        let mut envelope = Envelope::default();
        for (key, value) in obj.into_members() {
            if let Some(i) = member_index(texts.get(key)) {
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
    pub(super) fn restore_into(self, object: &mut Object, texts: &mut Texts) {
        for (key, value) in MEMBERS.iter().zip(self.values) {
            if let Some(value) = value {
                object.insert(texts, key, value);
            }
        }
    }

    /// The members of a CloudEvent. An attribute read both before and after `specversion`
    /// keeps its later value, as a repeated key does in a [`Value`].
    pub(super) fn into_cloud_parts(self, texts: &Texts) -> CloudParts<'a> {
        let [values @ .., data, data_base64] = self.values;
        let mut attributes = self.attributes;
        for (slot, value) in attributes.iter_mut().zip(values) {
            if slot.is_none() {
                *slot = value.map(|v| Attribute::from_value(v, texts));
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
        rest: Object,
    },
    /// Not an object: its JSON type.
    Other(&'static str),
}

/// Reads the top of a message, its members into the reader's document.
pub(super) struct TopLevelSeed<'r, 't>(pub(super) &'r mut Reader<'t>);

impl<'r, 't> TopLevelSeed<'r, 't> {
    /// Reads the whole text of the reader.
    pub(super) fn read<'de>(self, text: &'de str) -> Result<TopLevel<'de>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let top = self.deserialize(&mut de)?;
        de.end()?;
        Ok(top)
    }
}

impl<'de> DeserializeSeed<'de> for TopLevelSeed<'_, '_> {
    type Value = TopLevel<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<TopLevel<'de>, D::Error> {
        deserializer.deserialize_any(self)
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

impl<'de> Visitor<'de> for TopLevelSeed<'_, '_> {
    type Value = TopLevel<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel<'de>, A::Error> {
        let reader = self.0;
        let mut envelope = Envelope::default();
        let mut rest = Vec::with_capacity(8);
        // A repeated key keeps its last value, as in an object (the envelope's slots are
        // overwritten, and `Object` keeps the last of the other members).
        while let Some(key) = map.next_key_seed(MemberKeySeed(&mut *reader))? {
            match key {
                MemberKey::Envelope(i) if i < DATA && (envelope.cloud_event || i == 0) => {
                    envelope.cloud_event = true;
                    envelope.attributes[i] = Some(map.next_value()?);
                }
                MemberKey::Envelope(i) => {
                    envelope.values[i] = Some(map.next_value_seed(ValueSeed(&mut *reader))?)
                }
                MemberKey::Other(k) => {
                    rest.push((k, map.next_value_seed(ValueSeed(&mut *reader))?))
                }
            }
        }
        let rest = reader.object(rest);
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

/// An object key: an envelope member's index in [`MEMBERS`], or any other key.
enum MemberKey {
    Envelope(usize),
    Other(Text),
}

/// Reads a key of the top-level object.
struct MemberKeySeed<'r, 't>(&'r mut Reader<'t>);

impl<'de> DeserializeSeed<'de> for MemberKeySeed<'_, '_> {
    type Value = MemberKey;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<MemberKey, D::Error> {
        // Envelope names are matched by text; any other key becomes a span, as `KeySeed` reads it.
        let key = KeySeed(&mut *self.0).deserialize(deserializer)?;
        Ok(match member_index(self.0.text_of(key)) {
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

    use crate::doc::convert::{object_to_map, value_to_json};
    use crate::doc::Fields;
    use serde_json::Value as Json;

    /// What decoding sees of `text`: the object as a JSON value holds it, the checked envelope
    /// of a CloudEvent, or the type of anything else.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Plain(Json),
        Cloud(Vec<Option<Attribute<'static>>>, Option<Json>, Option<Json>),
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

    fn cloud(envelope: Envelope<'_>, texts: &Texts) -> Seen {
        let parts = envelope.into_cloud_parts(texts);
        let json = |v: Option<Value>| v.map(|v| value_to_json(&v, texts));
        Seen::Cloud(
            parts.attributes.into_iter().map(|a| a.map(owned)).collect(),
            json(parts.data),
            json(parts.data_base64),
        )
    }

    /// Reads `text` as decoding does, its members into a document over it.
    fn top(text: &str) -> (Result<TopLevel<'_>, serde_json::Error>, Texts) {
        let mut extra = String::new();
        let top = TopLevelSeed(&mut Reader::of_source(text, &mut extra)).read(text);
        (top, Texts::with_extra(text.into(), extra))
    }

    fn read(text: &str) -> Seen {
        match top(text) {
            (Ok(TopLevel::Object { envelope, .. }), texts) if envelope.is_cloud_event() => {
                cloud(envelope, &texts)
            }
            (Ok(TopLevel::Object { envelope, mut rest }), mut texts) => {
                envelope.restore_into(&mut rest, &mut texts);
                Seen::Plain(Json::Object(object_to_map(&rest, &texts)))
            }
            (Ok(TopLevel::Other(ty)), _) => Seen::Other(ty.to_owned()),
            (Err(e), _) => Seen::Error(e.to_string()),
        }
    }

    /// The same through a JSON value, as `decode_value` reads an already parsed event.
    fn via_value(text: &str) -> Seen {
        match serde_json::from_str::<Json>(text) {
            Ok(Json::Object(m)) if m.contains_key("specversion") => {
                let Fields { root, texts } = Fields::from_map(&m);
                cloud(Envelope::from_object(root, &texts), &texts)
            }
            Ok(Json::Object(m)) => Seen::Plain(Json::Object(m)),
            Ok(Json::Null) => Seen::Other("null".into()),
            Ok(Json::Bool(_)) => Seen::Other("boolean".into()),
            Ok(Json::Number(_)) => Seen::Other("number".into()),
            Ok(Json::String(_)) => Seen::Other("string".into()),
            Ok(Json::Array(_)) => Seen::Other("array".into()),
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
        let (Ok(TopLevel::Object { envelope, rest }), texts) = top(text) else {
            panic!("not an object")
        };
        assert!(envelope.is_cloud_event());
        let parts = envelope.into_cloud_parts(&texts);
        assert!(matches!(
            parts.attributes[3],
            Some(Attribute::Text(Cow::Borrowed("t")))
        ));
        assert_eq!(value_to_json(&parts.data.unwrap(), &texts), json!({"a": 1}));
        assert_eq!(
            Json::Object(object_to_map(&rest, &texts)),
            json!({"other": 2})
        );
    }

    proptest! {
        #[test]
        fn any_object_reads_as_value_does(
            members in proptest::collection::vec(
                (prop_oneof![proptest::sample::select(MEMBERS.to_vec()).prop_map(str::to_owned), "[a-z_]{0,8}"],
                 prop_oneof![Just(Json::Null), any::<i64>().prop_map(Json::from), "[ -~]{0,8}".prop_map(Json::from), Just(json!({"k": [1]}))]),
                0..12,
            ),
        ) {
            // Written member by member, so that repeated keys reach the reader.
            let text = format!(
                "{{{}}}",
                members
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", Json::from(k.as_str())))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            prop_assert_eq!(read(&text), via_value(&text));
        }
    }
}
