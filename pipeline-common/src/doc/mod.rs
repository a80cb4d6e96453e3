//! The document model of the stage engine: a tree of values whose strings and keys are spans of
//! text instead of allocations of their own.
//!
//! An event's [`Fields`] hold one copy of the record's JSON text (the *source*) and a buffer of
//! text the event gained (the *extra*: strings that had escapes, what masking and parsing wrote,
//! the keys stages add). A [`Text`] is a span of either. Decoding allocates no key and no
//! unescaped string; the parse stage's fields are spans of the log line; masking appends only the
//! strings it changes. Spans of the source hold JSON text that needed no escaping, so writing
//! them is a copy.
//!
//! Objects keep their members sorted by the UTF-8 bytes of their keys, a repeated key keeping its
//! last value: the order and the rule of the `serde_json::Map` this model replaced, so that
//! documents and hashes are byte for byte what they were. Writing in stored order is therefore
//! also the canonical form the hash stage digests: one writer ([`write`]) serves the bulk line,
//! the output record and the hash.

pub(crate) mod convert;
mod object;
pub(crate) mod read;
pub(crate) mod write;

pub(crate) use object::key_order;
pub use object::Object;

use serde_json::Number;
use std::borrow::Cow;

/// The tag bit of a [`Text`] that lies in the extra buffer.
const EXTRA: usize = 1 << (usize::BITS - 1);
/// The tag bit of a [`Text`] of the extra buffer known to need no JSON escaping, so that writing
/// it is a copy, as for a span of the source.
const CLEAN: usize = 1 << (usize::BITS - 2);
/// Both tag bits.
const TAGS: usize = EXTRA | CLEAN;

/// A string of a document: a span of its source text or of its extra buffer (see [`Texts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    /// Start offset, with [`EXTRA`] set for the extra buffer.
    start: usize,
    len: usize,
}

impl Text {
    /// The empty string.
    pub const EMPTY: Text = Text { start: 0, len: 0 };

    /// Whether the span lies in the source: JSON string content that needed no escaping.
    pub(crate) fn in_source(self) -> bool {
        self.start & EXTRA == 0
    }

    /// Whether its string needs no JSON escaping: a span of the source, or one of the extra
    /// buffer pushed as clean.
    #[inline]
    pub(crate) fn is_clean(self) -> bool {
        self.start & EXTRA == 0 || self.start & CLEAN != 0
    }

    /// Its offset in the text it lies in, without the tag bits.
    #[inline]
    pub(crate) fn offset(self) -> usize {
        self.start & !TAGS
    }

    /// Its length in bytes.
    pub fn len(self) -> usize {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    /// The span of bytes `from..to` of this text (offsets within it, on character boundaries).
    pub(crate) fn slice(self, from: usize, to: usize) -> Text {
        let to = to.min(self.len);
        let from = from.min(to);
        Text {
            start: self.start + from,
            len: to - from,
        }
    }
}

/// The text a document's [`Text`] spans point into: the record's JSON text, and what the event
/// gained since.
#[derive(Debug, Clone, Default)]
pub struct Texts {
    source: Box<str>,
    extra: String,
}

impl Texts {
    /// Texts over `source` with `extra` already holding what reading it unescaped.
    pub(crate) fn with_extra(source: Box<str>, extra: String) -> Self {
        Texts { source, extra }
    }

    /// The string `t` spans; empty for a span that is not one of these texts (a defect, not
    /// worth a panic).
    #[inline]
    pub fn get(&self, t: Text) -> &str {
        if t.in_source() {
            self.source.get(t.start..t.start + t.len).unwrap_or("")
        } else {
            let start = t.offset();
            self.extra.get(start..start + t.len).unwrap_or("")
        }
    }

    /// Appends `s` to the extra buffer and returns its span.
    #[inline]
    pub fn push(&mut self, s: &str) -> Text {
        read::push_extra(&mut self.extra, s)
    }

    /// [`Texts::push`] of a string the caller knows needs no JSON escaping (no `"`, `\\` or
    /// control character): it will be written without a scan.
    #[inline]
    pub(crate) fn push_clean(&mut self, s: &str) -> Text {
        read::push_extra_clean(&mut self.extra, s)
    }

    /// The string `t` spans, with the extra buffer to append to meanwhile: a span of the source
    /// is borrowed, one of the extra buffer copied (it could move while appending).
    pub(crate) fn read_while_appending(&mut self, t: Text) -> (Cow<'_, str>, &mut String) {
        if t.in_source() {
            let s = self.source.get(t.start..t.start + t.len).unwrap_or("");
            (Cow::Borrowed(s), &mut self.extra)
        } else {
            let s = self.get(t).to_owned();
            (Cow::Owned(s), &mut self.extra)
        }
    }
}

/// Where the strings of [`Text`] spans can be read: a document's [`Texts`], or the reader
/// filling them.
pub trait TextSource {
    /// The string `t` spans.
    fn text(&self, t: Text) -> &str;
}

impl TextSource for Texts {
    #[inline]
    fn text(&self, t: Text) -> &str {
        self.get(t)
    }
}

/// A JSON value of a document.
#[derive(Debug, Clone)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json reads and writes it.
    Number(Number),
    /// A string.
    String(Text),
    /// An array.
    Array(Vec<Value>),
    /// An object.
    Object(Object),
}

impl Value {
    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_object_mut(&mut self) -> Option<&mut Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The string's span, if this is a string.
    pub fn as_text(&self) -> Option<Text> {
        match self {
            Value::String(t) => Some(*t),
            _ => None,
        }
    }

    /// Its JSON type, as error messages name it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

/// The fields of an event: the top-level object and the texts its strings span.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    /// The top-level object.
    pub root: Object,
    /// What its [`Text`]s point into.
    pub texts: Texts,
}

/// Equal when they hold the same JSON, wherever their strings lie.
impl PartialEq for Fields {
    fn eq(&self, other: &Self) -> bool {
        self.root.len() == other.root.len() && self.to_map() == other.to_map()
    }
}

impl Fields {
    /// The string at top-level `key`, if there is one.
    pub fn str_at(&self, key: &str) -> Option<&str> {
        let t = self.root.get(&self.texts, key)?.as_text()?;
        Some(self.texts.get(t))
    }

    /// The text of `t`.
    pub fn text(&self, t: Text) -> &str {
        self.texts.get(t)
    }

    /// The fields as a `serde_json` object (tests, dry-run).
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        convert::object_to_map(&self.root, &self.texts)
    }

    /// Fields from a `serde_json` object (dry-run, HTTP batch mode, tests).
    pub fn from_map(map: &serde_json::Map<String, serde_json::Value>) -> Fields {
        let mut texts = Texts::default();
        let root = convert::object_from_map(map, &mut texts);
        Fields { root, texts }
    }
}

#[cfg(test)]
mod tests;
