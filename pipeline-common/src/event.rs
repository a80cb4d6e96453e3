//! Event decoding (DESIGN §4 step 2): CloudEvents binary mode, structured mode, or a plain JSON
//! object, within size and nesting limits. Anything else is a [`DecodeError`], reported at stage
//! `decode`.

mod attributes;
mod top_level;

pub use attributes::{MessageAttributes, Wanted};

use crate::doc::read::Reader;
use crate::doc::{Fields, Texts, Value};
use crate::time::parse_rfc3339;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use top_level::{Attribute, CloudParts, Envelope, TopLevel, TopLevelSeed, ATTRIBUTES};

/// Bounds on what an event may be (config `server.maxEventBytes`, `server.maxEventDepth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted event, in bytes (default 1 MiB).
    pub max_bytes: usize,
    /// Deepest accepted nesting of arrays and objects (default 64).
    pub max_depth: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_bytes: 1 << 20,
            max_depth: 64,
        }
    }
}

impl DecodeLimits {
    /// From `server.maxEventBytes` and `server.maxEventDepth`.
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        DecodeLimits {
            max_bytes: settings.server.max_event_bytes,
            max_depth: settings.server.max_event_depth,
        }
    }
}

/// Why a message is not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Over `max_bytes`.
    #[error("event is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Size of the message.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not valid UTF-8.
    #[error("event is not valid UTF-8")]
    NotUtf8,
    /// Not JSON.
    #[error("event is not valid JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("event is JSON {0}, not an object")]
    NotObject(&'static str),
    /// Nested deeper than `max_depth`.
    #[error("event is nested deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// A CloudEvents envelope or header that breaks the rules.
    #[error("invalid CloudEvent: {0}")]
    BadEnvelope(String),
}

/// The CloudEvents context attributes of an event, when it came as a CloudEvent. They borrow
/// from the message where they can, so decoding does not copy them; the document copies the few
/// it shows (`cloudevent.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudEventAttributes<'a> {
    /// `specversion`.
    pub specversion: Cow<'a, str>,
    /// `id`.
    pub id: Option<Cow<'a, str>>,
    /// `source`.
    pub source: Option<Cow<'a, str>>,
    /// `type`.
    pub ty: Option<Cow<'a, str>>,
    /// `subject`.
    pub subject: Option<Cow<'a, str>>,
    /// `time`, as sent.
    pub time: Option<Cow<'a, str>>,
    /// `datacontenttype`.
    pub datacontenttype: Option<Cow<'a, str>>,
    /// `dataschema`.
    pub dataschema: Option<Cow<'a, str>>,
}

impl<'a> CloudEventAttributes<'a> {
    /// Sets the attribute at `index` in [`ATTRIBUTES`].
    fn set(&mut self, index: usize, value: Cow<'a, str>) {
        let slot = match index {
            0 => {
                self.specversion = value;
                return;
            }
            1 => &mut self.id,
            2 => &mut self.source,
            3 => &mut self.ty,
            4 => &mut self.subject,
            5 => &mut self.time,
            6 => &mut self.datacontenttype,
            _ => &mut self.dataschema,
        };
        *slot = Some(value);
    }
}

/// A decoded event. Its attributes may borrow from the message it was decoded from; its data
/// holds a copy of the message text that its strings span.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// The data object: the event as received, which the hash stage hashes.
    pub data: Fields,
    /// CloudEvents attributes, when the event was a CloudEvent.
    pub cloudevent: Option<CloudEventAttributes<'a>>,
    /// Event time: the CloudEvents `time`, else an RFC 3339 `@timestamp` or `timestamp` field at
    /// the top of the data.
    pub time: Option<DateTime<Utc>>,
}

impl Event<'static> {
    /// A plain event around `data`, its time taken from the data.
    pub fn from_fields(data: Fields) -> Self {
        let time = data_time(&data);
        Event {
            data,
            cloudevent: None,
            time,
        }
    }

    /// A plain event around the JSON object `data` (tests, fuzzing).
    pub fn from_data(data: serde_json::Map<String, serde_json::Value>) -> Self {
        Event::from_fields(Fields::from_map(&data))
    }
}

fn data_time(data: &Fields) -> Option<DateTime<Utc>> {
    ["@timestamp", "timestamp"]
        .iter()
        .find_map(|k| data.str_at(k).and_then(parse_rfc3339))
}

/// True when `bytes`, taken as JSON, nests arrays and objects deeper than `max_depth`. Scans
/// bytes without recursion and without parsing, so hostile input cannot exhaust the stack.
pub fn exceeds_depth(bytes: &[u8], max_depth: usize) -> bool {
    // Depth never exceeds the number of opening brackets (inside strings or not); counting them
    // is branch-free and settles almost every event without the scan below.
    let openers = memchr::memchr2_iter(b'{', b'[', bytes)
        .take(max_depth.saturating_add(1))
        .count();
    if openers <= max_depth {
        return false;
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // Skip the string: jump to the next quote or backslash.
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &bytes[i.min(bytes.len())..]) {
                        None => return false,
                        Some(off) => {
                            let at = i + off;
                            if bytes[at] == b'\\' {
                                i = at + 2;
                            } else {
                                i = at + 1;
                                break;
                            }
                        }
                    }
                }
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

/// Nesting depth of a parsed value, without recursion; stops counting past `limit`.
fn value_exceeds_depth(v: &serde_json::Value, limit: usize) -> bool {
    use serde_json::Value;
    let mut stack: Vec<(&Value, usize)> = vec![(v, 1)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(a) => {
                if d > limit {
                    return true;
                }
                stack.extend(a.iter().map(|x| (x, d + 1)));
            }
            Value::Object(m) => {
                if d > limit {
                    return true;
                }
                stack.extend(m.values().map(|x| (x, d + 1)));
            }
            _ => {}
        }
    }
    false
}

fn json_type(v: &serde_json::Value) -> &'static str {
    crate::model::reader::type_name(v)
}

/// The text of a message that is within `limits`: not too large, UTF-8, not nested too deep.
fn checked_text<'b>(bytes: &'b [u8], limits: &DecodeLimits) -> Result<&'b str, DecodeError> {
    if bytes.len() > limits.max_bytes {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8)?;
    if exceeds_depth(bytes, limits.max_depth) {
        return Err(DecodeError::TooDeep {
            limit: limits.max_depth,
        });
    }
    Ok(text)
}

/// Parses a JSON object from bytes within `limits`; its fields span a copy of the text.
pub fn parse_object(bytes: &[u8], limits: &DecodeLimits) -> Result<Fields, DecodeError> {
    let text = checked_text(bytes, limits)?;
    let mut extra = String::new();
    let read = Reader::of_source(text, &mut extra).read();
    match read {
        Ok(Value::Object(root)) => Ok(Fields {
            root,
            texts: Texts::with_extra(text.into(), extra),
        }),
        Ok(other) => Err(DecodeError::NotObject(other.type_name())),
        Err(e) => Err(DecodeError::NotJson(e.to_string())),
    }
}

/// Decodes one message: CloudEvents binary mode when the headers carry `ce_specversion` (Kafka
/// binding) or `ce-specversion` (HTTP binding, any case), with the body as the data object;
/// otherwise a JSON object, which is a structured-mode CloudEvent when it has `specversion`, and a
/// plain event otherwise.
pub fn decode_message<'a, I>(
    headers: I,
    payload: &'a [u8],
    limits: &DecodeLimits,
) -> Result<Event<'a>, DecodeError>
where
    I: IntoIterator<Item = (&'a str, &'a [u8])>,
{
    let mut attrs: Option<CloudEventAttributes<'a>> = None;
    for (name, value) in headers {
        if !is_ce_header(name) {
            continue;
        }
        let value = std::str::from_utf8(value)
            .map_err(|_| DecodeError::BadEnvelope(format!("header {name} is not UTF-8")))?;
        let a = attrs.get_or_insert_with(CloudEventAttributes::default);
        // Extension attributes are not kept.
        if let Some(i) = ATTRIBUTES
            .iter()
            .position(|attr| attr.eq_ignore_ascii_case(&name[3..]))
        {
            a.set(i, Cow::Borrowed(value));
        }
    }
    match attrs {
        Some(a) if !a.specversion.is_empty() => {
            let data = parse_object(payload, limits)?;
            Ok(cloud_event(a, data))
        }
        _ => {
            let text = checked_text(payload, limits)?;
            // Room for what the stages add (masked strings, parsed keys, the digest) without
            // growing it string by string.
            let mut extra = String::with_capacity(text.len());
            let top = TopLevelSeed(&mut Reader::of_source(text, &mut extra)).read(text);
            match top {
                Ok(TopLevel::Object { envelope, rest }) => {
                    let mut texts = Texts::with_extra(text.into(), extra);
                    if envelope.is_cloud_event() {
                        drop(rest);
                        let parts = envelope.into_cloud_parts(&texts);
                        return structured_event(parts, texts, limits);
                    }
                    let mut root = rest;
                    envelope.restore_into(&mut root, &mut texts);
                    Ok(Event::from_fields(Fields { root, texts }))
                }
                Ok(TopLevel::Other(ty)) => Err(DecodeError::NotObject(ty)),
                Err(e) => Err(DecodeError::NotJson(e.to_string())),
            }
        }
    }
}

/// Decodes a JSON value that was already parsed (dry-run, HTTP batch mode): a structured-mode
/// CloudEvent or a plain object, checked against `limits.max_depth`.
pub fn decode_value(
    value: &serde_json::Value,
    limits: &DecodeLimits,
) -> Result<Event<'static>, DecodeError> {
    match value {
        serde_json::Value::Object(m) => {
            if value_exceeds_depth_map(m, limits.max_depth) {
                return Err(DecodeError::TooDeep {
                    limit: limits.max_depth,
                });
            }
            decode_object(Fields::from_map(m), limits)
        }
        other => Err(DecodeError::NotObject(json_type(other))),
    }
}

fn value_exceeds_depth_map(m: &serde_json::Map<String, serde_json::Value>, limit: usize) -> bool {
    limit == 0 || m.values().any(|v| value_exceeds_depth(v, limit - 1))
}

/// `ce_*` (Kafka binding) or `ce-*` (HTTP binding), in any case.
fn is_ce_header(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 3 && b[..2].eq_ignore_ascii_case(b"ce") && (b[2] == b'_' || b[2] == b'-')
}

/// A parsed JSON object: structured CloudEvent or plain event.
fn decode_object(obj: Fields, limits: &DecodeLimits) -> Result<Event<'static>, DecodeError> {
    if obj.root.get(&obj.texts, "specversion").is_none() {
        return Ok(Event::from_fields(obj));
    }
    let Fields { root, texts } = obj;
    let parts = Envelope::from_object(root, &texts).into_cloud_parts(&texts);
    structured_event(parts, texts, limits)
}

/// A structured-mode CloudEvent from its envelope members (their strings spanning `texts`),
/// checked in a fixed order.
fn structured_event<'a>(
    parts: CloudParts<'a>,
    texts: Texts,
    limits: &DecodeLimits,
) -> Result<Event<'a>, DecodeError> {
    let CloudParts {
        attributes,
        data,
        data_base64,
    } = parts;
    let mut a = CloudEventAttributes::default();
    for (i, attribute) in attributes.into_iter().enumerate() {
        match attribute {
            Some(Attribute::Text(text)) => a.set(i, text),
            None | Some(Attribute::Null) if i > 0 => {}
            _ if i == 0 => {
                return Err(DecodeError::BadEnvelope(
                    "specversion is not a string".into(),
                ))
            }
            _ => {
                return Err(DecodeError::BadEnvelope(format!(
                    "attribute {} is not a string",
                    ATTRIBUTES[i]
                )))
            }
        }
    }
    let data = match (data, data_base64) {
        (Some(Value::Object(root)), None) => Fields { root, texts },
        (Some(other), None) => {
            return Err(DecodeError::BadEnvelope(format!(
                "data is a {}, not a JSON object",
                other.type_name()
            )))
        }
        (None, Some(Value::String(b64))) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(texts.get(b64).trim())
                .map_err(|e| DecodeError::BadEnvelope(format!("data_base64: {e}")))?;
            parse_object(&bytes, limits).map_err(|e| match e {
                DecodeError::TooDeep { .. } | DecodeError::TooLarge { .. } => e,
                other => DecodeError::BadEnvelope(format!("data_base64: {other}")),
            })?
        }
        (None, Some(_)) => {
            return Err(DecodeError::BadEnvelope(
                "data_base64 is not a string".into(),
            ))
        }
        (Some(_), Some(_)) => {
            return Err(DecodeError::BadEnvelope(
                "both data and data_base64 are set".into(),
            ))
        }
        (None, None) => {
            return Err(DecodeError::BadEnvelope(
                "structured event has no data".into(),
            ))
        }
    };
    Ok(cloud_event(a, data))
}

/// A CloudEvent, binary or structured: its time is the `time` attribute, else one in its data.
fn cloud_event<'a>(attrs: CloudEventAttributes<'a>, data: Fields) -> Event<'a> {
    let time = attrs
        .time
        .as_deref()
        .and_then(parse_rfc3339)
        .or_else(|| data_time(&data));
    Event {
        data,
        cloudevent: Some(attrs),
        time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const L: DecodeLimits = DecodeLimits {
        max_bytes: 1 << 20,
        max_depth: 64,
    };

    fn no_headers() -> Vec<(&'static str, &'static [u8])> {
        Vec::new()
    }

    #[test]
    fn plain_object() {
        let e = decode_message(
            no_headers(),
            br#"{"a":1,"timestamp":"2026-01-02T03:04:05Z"}"#,
            &L,
        )
        .unwrap();
        assert_eq!(e.data.to_map()["a"], 1);
        assert!(e.cloudevent.is_none());
        assert_eq!(e.time.unwrap().to_rfc3339(), "2026-01-02T03:04:05+00:00");
    }

    #[test]
    fn structured_mode() {
        let body = json!({"specversion":"1.0","id":"1","source":"s","type":"t","time":"2026-11-04T00:47:17Z",
            "data":{"log_message":"x"}});
        let text = body.to_string();
        let e = decode_message(no_headers(), text.as_bytes(), &L).unwrap();
        assert_eq!(
            serde_json::Value::Object(e.data.to_map()),
            json!({"log_message":"x"})
        );
        let ce = e.cloudevent.unwrap();
        assert_eq!(ce.id.as_deref(), Some("1"));
        assert_eq!(ce.ty.as_deref(), Some("t"));
        assert!(e.time.is_some());
        // Attributes before `specversion`, escaped text, and a `null` attribute.
        let text = r#"{"id":"a","time":"2026-11-04T00:47:17\u005a","specversion":"1.0","id":"b","subject":null,"data":{}}"#;
        let e = decode_message(no_headers(), text.as_bytes(), &L).unwrap();
        let ce = e.cloudevent.unwrap();
        assert_eq!(ce.id.as_deref(), Some("b"));
        assert_eq!(ce.subject, None);
        assert_eq!(e.time.unwrap().to_rfc3339(), "2026-11-04T00:47:17+00:00");
        let b64 = json!({"specversion":"1.0","data_base64": base64::engine::general_purpose::STANDARD.encode(b"{\"k\":2}")});
        let e = decode_value(&b64, &L).unwrap();
        assert_eq!(e.data.to_map()["k"], 2);
    }

    #[test]
    fn binary_mode() {
        let headers: Vec<(&str, &[u8])> = vec![
            ("ce_specversion", b"1.0"),
            ("ce_id", b"abc"),
            ("ce_time", b"2026-11-04T00:47:17Z"),
            ("other", b"\xff"),
        ];
        let e = decode_message(headers, br#"{"specversion":"not-an-envelope"}"#, &L).unwrap();
        assert_eq!(e.data.to_map()["specversion"], "not-an-envelope");
        assert_eq!(e.cloudevent.unwrap().id.as_deref(), Some("abc"));
        let http: Vec<(&str, &[u8])> = vec![
            ("Ce-Specversion", b"1.0"),
            ("Ce-Type", b"t"),
            ("CE_TIME", b"2026-11-04T00:47:17Z"),
            ("ce-extension", b"kept out"),
        ];
        let e = decode_message(http, b"{}", &L).unwrap();
        assert_eq!(e.time.unwrap().to_rfc3339(), "2026-11-04T00:47:17+00:00");
        assert_eq!(e.cloudevent.unwrap().ty.as_deref(), Some("t"));
        let bad: Vec<(&str, &[u8])> = vec![("ce_specversion", b"1.0"), ("ce_x", b"\xff")];
        assert!(matches!(
            decode_message(bad, b"{}", &L),
            Err(DecodeError::BadEnvelope(_))
        ));
    }

    #[test]
    fn rejects() {
        let cases: Vec<(&[u8], &str)> = vec![
            (b"\xff\xfe", "UTF-8"),
            (b"{not json", "not valid JSON"),
            (b"[1,2]", "array, not an object"),
            (b"\"s\"", "string, not an object"),
            (
                br#"{"specversion":"1.0","data":"text"}"#,
                "data is a string",
            ),
            (br#"{"specversion":"1.0"}"#, "no data"),
            (br#"{"specversion":1,"data":{}}"#, "specversion"),
            (br#"{"data":{},"specversion":null}"#, "specversion"),
            (
                br#"{"specversion":"1.0","id":7,"data":{}}"#,
                "attribute id is not a string",
            ),
            (
                br#"{"time":["t"],"specversion":"1.0","data":{}}"#,
                "attribute time is not a string",
            ),
            (b"[1,", "not valid JSON"),
            (b"{\"a\":1} trailing", "not valid JSON"),
            (
                br#"{"specversion":"1.0","data_base64":"!!"}"#,
                "data_base64",
            ),
        ];
        for (bytes, want) in cases {
            let err = decode_message(no_headers(), bytes, &L)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err} !~ {want}");
        }
        let deep = format!(
            "{}{}",
            "{\"a\":".repeat(65),
            "1".to_owned() + &"}".repeat(65)
        );
        assert_eq!(
            decode_message(no_headers(), deep.as_bytes(), &L).unwrap_err(),
            DecodeError::TooDeep { limit: 64 }
        );
        let ok = format!(
            "{}{}",
            "{\"a\":".repeat(64),
            "1".to_owned() + &"}".repeat(64)
        );
        assert!(decode_message(no_headers(), ok.as_bytes(), &L).is_ok());
        let small = DecodeLimits {
            max_bytes: 4,
            max_depth: 64,
        };
        assert!(matches!(
            decode_message(no_headers(), b"{\"a\":1}", &small),
            Err(DecodeError::TooLarge { .. })
        ));
        let very_deep = "[".repeat(100_000);
        assert!(matches!(
            decode_message(no_headers(), very_deep.as_bytes(), &L),
            Err(DecodeError::TooDeep { .. })
        ));
        // Brackets inside strings do not count.
        let s = format!("{{\"a\":\"{}\\\"{}\"}}", "[".repeat(100), "{".repeat(100));
        assert!(decode_message(no_headers(), s.as_bytes(), &L).is_ok());
    }

    #[test]
    fn value_depth() {
        let mut v = json!(1);
        for _ in 0..64 {
            v = json!({ "a": v });
        }
        assert!(decode_value(&v, &L).is_ok());
        assert!(decode_value(&json!({ "a": v }), &L).is_err());
        assert!(decode_value(&json!([1]), &L).is_err());
    }
}
