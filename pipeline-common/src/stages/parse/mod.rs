//! The `parse` stage: turns a log line into the `parsed` object.
//!
//! Output fields by format (`parsed.format` names the one that matched):
//! - `nginx`: `client_ip`, `ident`, `user`, `timestamp`, `method`, `path`, `protocol` (or
//!   `request` when the request line does not split), `status`, `bytes`, `referrer`,
//!   `user_agent`; `-` values are left out. The common-log subset (no referrer and agent) matches.
//! - `syslog`: `priority`, `facility`, `level` (severity keyword) when there is a `<PRI>`;
//!   `timestamp`, `hostname`, `app_name`, `proc_id`, `message`, plus `version`, `msg_id` and
//!   `structured_data` for RFC 5424. RFC 3164 timestamps have no year: the event's year is used.
//! - `json`: the line's own fields.
//! - `simple_split`: `timestamp`, `source`, `level`, `message`.
//! - custom patterns: one string per named group that matched.
//!
//! `timestamp` is rewritten to RFC 3339 (UTC) when it can be read, and that time becomes the
//! document's `@timestamp`. For `json` lines and custom patterns, the time is read from
//! `@timestamp`, `timestamp`, `time` or `ts`.

mod custom;
mod json;
mod nginx;
mod simple_split;
mod spec;
mod syslog;

pub use spec::*;

use super::{EventDoc, Stage, StageResult};
use crate::doc::read::Reader;
use crate::doc::{Fields, Object, Text, Value};
use crate::failure::FailedAt;
use crate::model::FieldPath;
use crate::time::format_rfc3339;
use chrono::{DateTime, Utc};
use serde_json::Number;

/// Where the parse stage writes its result.
pub const PARSED_FIELD: &str = "parsed";

/// The runtime `parse` stage.
#[derive(Debug, Clone)]
pub struct ParseStage {
    field: FieldPath,
    formats: Vec<LogFormat>,
    patterns: Vec<(NamedPattern, Vec<(usize, String)>)>,
    on_failure: OnFailure,
    max_depth: usize,
}

/// One value a format read.
#[derive(Debug)]
enum Piece<'l> {
    /// Text, most often a slice of the line (then it becomes a span of it, not a copy).
    Text(&'l str),
    /// Text the format wrote (a normalised timestamp).
    Owned(String),
    /// A number.
    Number(Number),
}

/// What a line-oriented format read: its fields in the order written (a repeated name keeps its
/// last value), and the time it found.
#[derive(Debug, Default)]
struct Pieces<'l> {
    fields: Vec<(&'l str, Piece<'l>)>,
}

impl<'l> Pieces<'l> {
    fn with_format(format: &'l str) -> Self {
        let mut p = Pieces {
            fields: Vec::with_capacity(12),
        };
        p.text("format", format);
        p
    }

    fn text(&mut self, k: &'l str, v: &'l str) {
        self.fields.push((k, Piece::Text(v)));
    }

    fn owned(&mut self, k: &'l str, v: String) {
        self.fields.push((k, Piece::Owned(v)));
    }

    fn number(&mut self, k: &'l str, n: impl Into<Number>) {
        self.fields.push((k, Piece::Number(n.into())));
    }

    /// `k` unless `v` is empty or `-`.
    fn put(&mut self, k: &'l str, v: &'l str) {
        if !v.is_empty() && v != "-" {
            self.text(k, v);
        }
    }

    /// Writes `timestamp` normalized when `parse` can read it, raw otherwise.
    fn put_time(
        &mut self,
        raw: &'l str,
        parse: impl FnOnce(&str) -> Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let t = parse(raw);
        match &t {
            Some(t) => self.owned("timestamp", format_rfc3339(t)),
            None => self.text("timestamp", raw),
        }
        t
    }

    fn has(&self, k: &str) -> bool {
        self.fields.iter().any(|(name, _)| *name == k)
    }

    /// The text of the last field named `k`.
    fn str_of(&self, k: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(name, _)| *name == k)
            .and_then(|(_, v)| match v {
                Piece::Text(t) => Some(*t),
                Piece::Owned(t) => Some(t.as_str()),
                Piece::Number(_) => None,
            })
    }

    /// The `parsed` object: slices of the line become spans of it, through `reader`.
    fn into_object(mut self, reader: &mut Reader<'_>) -> Object {
        // Stable: of fields with the same name, the last written stays last.
        self.fields.sort_by(|a, b| crate::doc::key_order(a.0, b.0));
        let mut members: Vec<(Text, Value)> = Vec::with_capacity(self.fields.len());
        let mut last: Option<&str> = None;
        for (k, v) in self.fields {
            let v = match v {
                Piece::Text(t) => Value::String(reader.borrowed(t)),
                // Normalised timestamps: digits, `-`, `:`, `.`, `T`, `Z`.
                Piece::Owned(t) => Value::String(reader.owned_clean(&t)),
                Piece::Number(n) => Value::Number(n),
            };
            if last == Some(k) {
                if let Some(m) = members.last_mut() {
                    m.1 = v;
                }
                continue;
            }
            last = Some(k);
            // Field names of the formats, or a custom pattern's group names (letters, digits,
            // `_`, `.`, `[`, `]`): nothing to escape.
            members.push((reader.owned_clean(k), v));
        }
        Object::from_sorted(members)
    }
}

/// Splits off the next space-delimited token, skipping leading spaces.
fn token(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(' ');
    if s.is_empty() {
        return None;
    }
    Some(match s.find(' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    })
}

/// Where `json` lines and custom patterns keep their time, first match wins.
const TIME_KEYS: [&str; 4] = ["@timestamp", "timestamp", "time", "ts"];

/// A parsed line: the `parsed` object and the time found in it.
type Parsed = (Object, Option<DateTime<Utc>>);

/// [`ParseStage::parse_line`]'s answer: the `parsed` object as JSON, and the time found in it.
pub type ParsedLine = (
    serde_json::Map<String, serde_json::Value>,
    Option<DateTime<Utc>>,
);

impl ParseStage {
    /// Builds the stage; `max_depth` bounds the nesting of JSON log lines.
    pub fn new(spec: &ParseSpec, max_depth: usize) -> Self {
        let patterns = spec
            .patterns
            .iter()
            .map(|p| (p.clone(), custom::group_names(p)))
            .collect();
        ParseStage {
            field: spec.field.clone(),
            formats: spec.formats.clone(),
            patterns,
            on_failure: spec.on_failure,
            max_depth,
        }
    }

    /// Parses `line`, the document's text `at`, with the configured patterns, then formats, in
    /// order; what it reads spans the line or is appended through `reader`.
    fn parse_at(
        &self,
        reader: &mut Reader<'_>,
        line: &str,
        reference: DateTime<Utc>,
    ) -> Option<Parsed> {
        let pieces = self
            .patterns
            .iter()
            .find_map(|(p, names)| custom::parse(p, names, line, reference));
        if let Some((pieces, time)) = pieces {
            return Some((pieces.into_object(reader), time));
        }
        self.formats.iter().find_map(|f| {
            let (pieces, time) = match f {
                LogFormat::Nginx => nginx::parse(line)?,
                LogFormat::Syslog => syslog::parse(line, reference)?,
                LogFormat::Json => return json::parse(reader, line, self.max_depth),
                LogFormat::SimpleSplit => simple_split::parse(line)?,
            };
            Some((pieces.into_object(reader), time))
        })
    }

    /// Parses one line on its own, as the stage would: the `parsed` object and the time.
    pub fn parse_line(&self, line: &str, reference: DateTime<Utc>) -> Option<ParsedLine> {
        let mut fields = Fields::from_map(&serde_json::Map::from_iter([(
            "line".to_owned(),
            serde_json::Value::from(line),
        )]));
        let at = fields.root.get(&fields.texts, "line")?.as_text()?;
        let (text, extra) = fields.texts.read_while_appending(at);
        let (parsed, time) = self.parse_at(&mut Reader::new(&text, at, extra), &text, reference)?;
        drop(text);
        fields.root = parsed;
        Some((fields.to_map(), time))
    }
}

impl Stage for ParseStage {
    fn name(&self) -> FailedAt {
        FailedAt::Parse
    }

    fn apply(&self, doc: &mut EventDoc) -> StageResult {
        let reference = doc.event_time.unwrap_or_else(Utc::now);
        let Fields { root, texts } = &mut doc.fields;
        let parsed = match root.get_path(texts, &self.field) {
            Some(Value::String(at)) => {
                let at = *at;
                let (line, extra) = texts.read_while_appending(at);
                self.parse_at(&mut Reader::new(&line, at, extra), &line, reference)
            }
            _ if self.on_failure == OnFailure::Error => {
                return StageResult::Fail(format!(
                    "field {} is missing or not a string",
                    self.field
                ))
            }
            _ => None,
        };
        match parsed {
            Some((m, time)) => {
                root.insert(texts, PARSED_FIELD, Value::Object(m));
                if time.is_some() {
                    doc.parsed_time = time;
                }
            }
            None if self.on_failure == OnFailure::Error => {
                return StageResult::Fail(format!(
                    "field {} matches none of the configured formats",
                    self.field
                ))
            }
            None => {
                let format = texts.push_clean("format");
                let unknown = texts.push_clean("unknown");
                let m = Object::from_sorted(vec![(format, Value::String(unknown))]);
                root.insert(texts, PARSED_FIELD, Value::Object(m));
            }
        }
        StageResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;
    use serde_json::{json, Value};

    fn parse(line: &str) -> Value {
        let st = ParseStage::new(&ParseSpec::default(), 64);
        let reference = parse_rfc3339("2026-11-21T12:00:00Z").unwrap();
        st.parse_line(line, reference)
            .map(|(m, _)| Value::Object(m))
            .unwrap_or(json!({"format": "unknown"}))
    }

    #[test]
    fn nginx_combined_and_common() {
        let v = parse(
            r#"203.0.113.7 - alice [21/Nov/2026:10:15:00 +0000] "GET /a?b=1 HTTP/1.1" 404 512 "https://ref.example/" "curl/8.0""#,
        );
        assert_eq!(
            v,
            json!({"format": "nginx", "client_ip": "203.0.113.7", "user": "alice",
                "timestamp": "2026-11-21T10:15:00Z", "method": "GET", "path": "/a?b=1",
                "protocol": "HTTP/1.1", "status": 404, "bytes": 512,
                "referrer": "https://ref.example/", "user_agent": "curl/8.0"})
        );
        let v = parse(
            r#"10.1.2.3 - - [21/Nov/2026:10:44:00 +0000] "GET /api/v1/items/2046 HTTP/1.1" 500 10428"#,
        );
        assert_eq!(v["client_ip"], "10.1.2.3");
        assert_eq!(v["status"], 500);
        assert_eq!(v["bytes"], 10428);
        assert!(v.get("user").is_none());
        let v = parse(r#"::1 - - [21/Nov/2026:10:44:00 +0000] "-" 400 -"#);
        assert_eq!(v["request"], "-");
        assert!(v.get("bytes").is_none());
    }

    #[test]
    fn syslog_3164_and_5424() {
        let v =
            parse("Nov 5 10:57:16 host9 sshd[1524]: Accepted password for x from 1.2.3.4 port 22");
        assert_eq!(
            v,
            json!({"format": "syslog", "timestamp": "2026-11-05T10:57:16Z", "hostname": "host9",
                "app_name": "sshd", "proc_id": "1524",
                "message": "Accepted password for x from 1.2.3.4 port 22"})
        );
        let v =
            parse("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(v["priority"], 34);
        assert_eq!(v["facility"], 4);
        assert_eq!(v["level"], "crit");
        assert_eq!(v["app_name"], "su");
        assert_eq!(v["timestamp"], "2026-10-11T22:14:15Z");
        let v = parse(
            r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event"#,
        );
        assert_eq!(
            v,
            json!({"format": "syslog", "priority": 165, "facility": 20, "level": "notice",
                "version": "1", "timestamp": "2003-10-11T22:14:15.003Z",
                "hostname": "mymachine.example.com", "app_name": "evntslog", "msg_id": "ID47",
                "structured_data": r#"[exampleSDID@32473 iut="3" eventSource="Application"]"#,
                "message": "An application event"})
        );
        let v = parse("<13>1 - - - - - -");
        assert_eq!(v["format"], "syslog");
    }

    #[test]
    fn json_and_simple_split() {
        let v = parse(
            r#"{"level": "info", "msg": "user x did thing", "lvl": "x", "time": "2026-11-01T00:00:00Z"}"#,
        );
        assert_eq!(v["format"], "json");
        assert_eq!(v["msg"], "user x did thing");
        let v = parse("2023-10-01T12:00:00Z - web-server - INFO - User john login - ok");
        assert_eq!(
            v,
            json!({"format": "simple_split", "timestamp": "2023-10-01T12:00:00Z",
                "source": "web-server", "level": "INFO", "message": "User john login - ok"})
        );
        assert_eq!(parse("just some text")["format"], "unknown");
        assert_eq!(parse("{not json}")["format"], "unknown");
        let deep = format!(
            "{}{}",
            "{\"a\":".repeat(70),
            "1".to_owned() + &"}".repeat(70)
        );
        assert_eq!(parse(&deep)["format"], "unknown");
    }

    #[test]
    fn sets_parsed_time_and_handles_failure() {
        let st = ParseStage::new(&ParseSpec::default(), 64);
        let mut doc = EventDoc::of(json!({"log_message": "2023-10-01T12:00:00Z - a - INFO - m"}));
        assert_eq!(st.apply(&mut doc), StageResult::Continue);
        assert_eq!(
            doc.parsed_time.unwrap().to_rfc3339(),
            "2023-10-01T12:00:00+00:00"
        );
        let strict = ParseStage::new(
            &ParseSpec {
                on_failure: OnFailure::Error,
                ..ParseSpec::default()
            },
            64,
        );
        let mut doc = EventDoc::of(json!({}));
        assert!(matches!(strict.apply(&mut doc), StageResult::Fail(_)));
        let mut doc = EventDoc::of(json!({"log_message": "??"}));
        assert!(matches!(strict.apply(&mut doc), StageResult::Fail(_)));
        let mut doc = EventDoc::of(json!({}));
        assert_eq!(st.apply(&mut doc), StageResult::Continue);
        assert_eq!(doc.to_json()["parsed"], json!({"format": "unknown"}));
    }
}
