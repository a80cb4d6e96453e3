//! Reading JSON text into a document with serde_json's parser: strings without escapes become
//! spans of the text read, not copies; only strings that had escapes are written to the extra
//! buffer. Objects are sorted as they close.

use super::{Object, Text, TextSource, Value, CLEAN, EXTRA};
use crate::json;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;
use std::fmt;

/// Appends `s` to an extra buffer and returns its span, tagged clean when a short string needs
/// no JSON escaping (keys and the like: one word to test; a longer string is scanned when it
/// is written, as it would be here).
#[inline]
pub(crate) fn push_extra(extra: &mut String, s: &str) -> Text {
    if s.len() <= 8 && !json::needs_escaping(s.as_bytes()) {
        return push_extra_clean(extra, s);
    }
    let start = extra.len();
    extra.push_str(s);
    Text {
        start: start | EXTRA,
        len: s.len(),
    }
}

/// [`push_extra`] of a string known to need no JSON escaping.
#[inline]
pub(crate) fn push_extra_clean(extra: &mut String, s: &str) -> Text {
    let start = extra.len();
    extra.push_str(s);
    Text {
        start: start | EXTRA | CLEAN,
        len: s.len(),
    }
}

/// The text being read, where it lies among a document's texts, and the extra buffer.
pub(crate) struct Reader<'t> {
    text: &'t str,
    at: Text,
    extra: &'t mut String,
    /// Copy every string: the text is not where `at` says.
    copy: bool,
}

impl<'t> Reader<'t> {
    /// A reader of `text`, which is (a copy of) the span `at` of the document's texts.
    pub(crate) fn new(text: &'t str, at: Text, extra: &'t mut String) -> Self {
        Reader {
            text,
            at,
            extra,
            copy: false,
        }
    }

    /// A reader of `text`, a slice of the text this one reads (a JSON log line's object), that
    /// appends to the same extra buffer.
    pub(crate) fn within<'s>(&'s mut self, text: &'s str) -> Reader<'s> {
        let offset = (text.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        let inside = offset <= self.text.len() && text.len() <= self.text.len() - offset;
        let at = if inside {
            self.at.slice(offset, offset + text.len())
        } else {
            // Not a slice of it: a span would point elsewhere, so every string is copied.
            Text {
                start: EXTRA,
                len: 0,
            }
        };
        Reader {
            text,
            at,
            extra: &mut *self.extra,
            copy: !inside || self.copy,
        }
    }

    /// A reader of a document's whole source text.
    pub(crate) fn of_source(text: &'t str, extra: &'t mut String) -> Self {
        Reader::new(
            text,
            Text {
                start: 0,
                len: text.len(),
            },
            extra,
        )
    }

    /// The span of `s`, a string the parser borrowed from the text; a copy if it is not in it.
    #[inline]
    pub(crate) fn borrowed(&mut self, s: &str) -> Text {
        let offset = (s.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        if !self.copy && offset <= self.text.len() && s.len() <= self.text.len() - offset {
            self.at.slice(offset, offset + s.len())
        } else {
            self.owned(s)
        }
    }

    /// A string the parser unescaped, or one added to what is read: appended to the extra
    /// buffer.
    #[inline]
    pub(crate) fn owned(&mut self, s: &str) -> Text {
        push_extra(self.extra, s)
    }

    /// [`Reader::owned`] of a string known to need no JSON escaping.
    #[inline]
    pub(crate) fn owned_clean(&mut self, s: &str) -> Text {
        push_extra_clean(self.extra, s)
    }

    /// The string `t` spans, for sorting keys while reading.
    pub(crate) fn text_of(&self, t: Text) -> &str {
        let at = self.at.offset();
        let (from, same_text) = (t.offset(), t.in_source() == self.at.in_source());
        if !self.copy && same_text && from >= at && from + t.len <= at + self.at.len {
            let from = from - at;
            return self.text.get(from..from + t.len).unwrap_or("");
        }
        if t.in_source() {
            return "";
        }
        self.extra.get(from..from + t.len).unwrap_or("")
    }

    /// An object of the members read, sorted.
    pub(crate) fn object(&self, members: Vec<(Text, Value)>) -> Object {
        Object::sorted_by(members, |t| self.text_of(t))
    }

    /// Reads one JSON value, the whole text.
    pub(crate) fn read(&mut self) -> Result<Value, serde_json::Error> {
        let text = self.text;
        let mut de = serde_json::Deserializer::from_str(text);
        let v = ValueSeed(self).deserialize(&mut de)?;
        de.end()?;
        Ok(v)
    }
}

impl TextSource for Reader<'_> {
    fn text(&self, t: Text) -> &str {
        self.text_of(t)
    }
}

/// Reads a value.
pub(crate) struct ValueSeed<'r, 't>(pub(crate) &'r mut Reader<'t>);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(Number::from(n)))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(Number::from(n)))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Value, E> {
        Ok(Value::String(self.0.borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(self.0.owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(ValueSeed(&mut *self.0))? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        // Most objects of events are small: one allocation for them.
        let mut members = Vec::with_capacity(8);
        while let Some(k) = map.next_key_seed(KeySeed(&mut *self.0))? {
            let v = map.next_value_seed(ValueSeed(&mut *self.0))?;
            members.push((k, v));
        }
        Ok(Value::Object(self.0.object(members)))
    }
}

/// Reads an object key.
pub(crate) struct KeySeed<'r, 't>(pub(crate) &'r mut Reader<'t>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = Text;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Text, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = Text;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text, E> {
        Ok(self.0.borrowed(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Text, E> {
        Ok(self.0.owned(s))
    }
}
