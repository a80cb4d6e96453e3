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

mod spec;

pub use spec::*;

use super::{EventDoc, Stage, StageResult};
use crate::event::exceeds_depth;
use crate::failure::FailedAt;
use crate::model::FieldPath;
use crate::time::{
    format_rfc3339, parse_bsd_parts, parse_bsd_time, parse_log_time, parse_nginx_time,
    parse_rfc3339,
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

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

type Parsed = (Map<String, Value>, Option<DateTime<Utc>>);

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn put(m: &mut Map<String, Value>, k: &str, v: &str) {
    if !v.is_empty() && v != "-" {
        m.insert(k.to_owned(), s(v));
    }
}

/// Writes `timestamp` normalized when `parse` can read it, raw otherwise.
fn put_time(
    m: &mut Map<String, Value>,
    raw: &str,
    parse: impl FnOnce(&str) -> Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let t = parse(raw);
    match &t {
        Some(t) => m.insert("timestamp".into(), Value::String(format_rfc3339(t))),
        None => m.insert("timestamp".into(), s(raw)),
    };
    t
}

fn with_format(format: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("format".into(), s(format));
    m
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

fn parse_nginx(line: &str) -> Option<Parsed> {
    let (ip, rest) = line.split_once(' ')?;
    if ip.is_empty() || ip.contains(['"', '[']) {
        return None;
    }
    let (ident, rest) = rest.split_once(' ')?;
    let (user, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix('[')?;
    let (time, rest) = rest.split_once("] \"")?;
    let (request, rest) = rest.split_once("\" ")?;
    let (status, rest) = rest.split_once(' ')?;
    if status.len() != 3 || !status.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (bytes, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if bytes != "-" && (bytes.is_empty() || !bytes.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let mut m = with_format("nginx");
    put(&mut m, "client_ip", ip);
    put(&mut m, "ident", ident);
    put(&mut m, "user", user);
    let t = put_time(&mut m, time, parse_nginx_time);
    let mut parts = request.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(path), Some(proto), None) if proto.starts_with("HTTP/") => {
            put(&mut m, "method", method);
            put(&mut m, "path", path);
            put(&mut m, "protocol", proto);
        }
        (Some(method), Some(path), None, None) => {
            put(&mut m, "method", method);
            put(&mut m, "path", path);
        }
        _ => {
            m.insert("request".into(), s(request));
        }
    }
    if let Ok(n) = status.parse::<u16>() {
        m.insert("status".into(), Value::from(n));
    }
    if let Ok(n) = bytes.parse::<u64>() {
        m.insert("bytes".into(), Value::from(n));
    }
    // Combined format: "referrer" "agent"; anything after them is ignored.
    if let Some(rest) = rest.strip_prefix('"') {
        if let Some((referrer, rest)) = rest.split_once('"') {
            put(&mut m, "referrer", referrer);
            if let Some(rest) = rest.strip_prefix(" \"") {
                if let Some((agent, _)) = rest.split_once('"') {
                    put(&mut m, "user_agent", agent);
                }
            }
        }
    }
    Some((m, t))
}

const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

fn parse_syslog(line: &str, reference: DateTime<Utc>) -> Option<Parsed> {
    let mut m = with_format("syslog");
    let mut rest = line;
    if let Some(after) = line.strip_prefix('<') {
        let end = after.find('>').filter(|&e| (1..=3).contains(&e))?;
        let pri: u16 = after[..end].parse().ok()?;
        if pri > 191 {
            return None;
        }
        m.insert("priority".into(), Value::from(pri));
        m.insert("facility".into(), Value::from(pri / 8));
        m.insert("level".into(), s(SEVERITIES[usize::from(pri % 8)]));
        rest = &after[end + 1..];
    }
    let is_5424 = rest.split_once(' ').is_some_and(|(v, _)| {
        !v.is_empty()
            && v.len() <= 2
            && v.bytes().all(|b| b.is_ascii_digit())
            && !v.starts_with('0')
    });
    if is_5424 && m.contains_key("priority") {
        let (version, r) = token(rest)?;
        let (ts, r) = token(r)?;
        let t = if ts == "-" {
            None
        } else {
            Some(put_time(&mut m, ts, parse_rfc3339)?)
        };
        let (host, r) = token(r)?;
        let (app, r) = token(r)?;
        let (proc_id, r) = token(r)?;
        let (msg_id, r) = token(r)?;
        m.insert("version".into(), s(version));
        put(&mut m, "hostname", host);
        put(&mut m, "app_name", app);
        put(&mut m, "proc_id", proc_id);
        put(&mut m, "msg_id", msg_id);
        let r = r.trim_start_matches(' ');
        let msg = if let Some(after) = r.strip_prefix('-') {
            after
        } else if r.starts_with('[') {
            let end = structured_data_end(r)?;
            put(&mut m, "structured_data", &r[..end]);
            &r[end..]
        } else {
            return None;
        };
        let msg = msg.strip_prefix(' ').unwrap_or(msg);
        let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
        if !msg.is_empty() {
            m.insert("message".into(), s(msg));
        }
        return Some((m, t));
    }
    // RFC 3164: "Mmm dd hh:mm:ss host tag[pid]: message".
    let (mon, r) = token(rest)?;
    let (day, r) = token(r)?;
    let (hms, r) = token(r)?;
    if mon.len() != 3 || hms.len() != 8 || day.len() > 2 {
        return None;
    }
    let has_space = |w: &str| w.bytes().any(|c| c.is_ascii_whitespace());
    let t = if has_space(mon) || has_space(day) || has_space(hms) {
        parse_bsd_time(&format!("{mon} {day} {hms}"), reference)?
    } else {
        parse_bsd_parts(mon, day, hms, reference)?
    };
    m.insert("timestamp".into(), Value::String(format_rfc3339(&t)));
    let (host, r) = token(r)?;
    put(&mut m, "hostname", host);
    let r = r.trim_start_matches(' ');
    let (tag, msg) = match r.split_once(' ') {
        Some((tag, msg)) if tag.ends_with(':') => (Some(&tag[..tag.len() - 1]), msg),
        None if r.ends_with(':') => (Some(&r[..r.len() - 1]), ""),
        _ => (None, r),
    };
    if let Some(tag) = tag {
        match tag.split_once('[') {
            Some((app, pid)) if pid.ends_with(']') => {
                put(&mut m, "app_name", app);
                put(&mut m, "proc_id", &pid[..pid.len() - 1]);
            }
            _ => put(&mut m, "app_name", tag),
        }
    }
    if !msg.is_empty() {
        m.insert("message".into(), s(msg));
    }
    Some((m, Some(t)))
}

/// End (exclusive) of RFC 5424 structured data: one or more `[...]`, `\]` escaped inside.
fn structured_data_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] == b'[' {
        i += 1;
        loop {
            match b.get(i)? {
                b'\\' => i += 2,
                b']' => {
                    i += 1;
                    break;
                }
                _ => i += 1,
            }
        }
    }
    Some(i)
}

const TIME_KEYS: [&str; 4] = ["@timestamp", "timestamp", "time", "ts"];

fn time_of(m: &Map<String, Value>) -> Option<DateTime<Utc>> {
    TIME_KEYS
        .iter()
        .find_map(|k| m.get(*k).and_then(Value::as_str).and_then(parse_log_time))
}

fn parse_json(line: &str, max_depth: usize) -> Option<Parsed> {
    let t = line.trim();
    if !(t.starts_with('{') && t.ends_with('}')) || exceeds_depth(t.as_bytes(), max_depth) {
        return None;
    }
    let mut m: Map<String, Value> = serde_json::from_str(t).ok()?;
    m.insert("format".into(), s("json"));
    let time = time_of(&m);
    Some((m, time))
}

fn parse_simple_split(line: &str) -> Option<Parsed> {
    let mut parts = line.splitn(4, " - ");
    let ts = parts.next()?.trim();
    let source = parts.next()?.trim();
    let level = parts.next()?.trim();
    let message = parts.next().unwrap_or("");
    if ts.is_empty() || source.is_empty() || level.is_empty() || level.contains(char::is_whitespace)
    {
        return None;
    }
    let mut m = with_format("simple_split");
    let t = put_time(&mut m, ts, parse_log_time);
    m.insert("source".into(), s(source));
    m.insert("level".into(), s(level));
    m.insert("message".into(), s(message));
    Some((m, t))
}

impl ParseStage {
    /// Builds the stage; `max_depth` bounds the nesting of JSON log lines.
    pub fn new(spec: &ParseSpec, max_depth: usize) -> Self {
        let patterns = spec
            .patterns
            .iter()
            .map(|p| {
                let names = p
                    .regex
                    .regex()
                    .capture_names()
                    .enumerate()
                    .filter_map(|(i, n)| n.map(|n| (i, n.to_owned())))
                    .collect();
                (p.clone(), names)
            })
            .collect();
        ParseStage {
            field: spec.field.clone(),
            formats: spec.formats.clone(),
            patterns,
            on_failure: spec.on_failure,
            max_depth,
        }
    }

    /// Parses one line with the configured patterns, then formats, in order.
    pub fn parse_line(&self, line: &str, reference: DateTime<Utc>) -> Option<Parsed> {
        for (p, names) in &self.patterns {
            if let Some(caps) = p.regex.regex().captures(line) {
                let mut m = with_format(&p.name);
                for (i, name) in names {
                    if let Some(v) = caps.get(*i) {
                        m.insert(name.clone(), s(v.as_str()));
                    }
                }
                let time = TIME_KEYS.iter().find_map(|k| {
                    m.get(*k).and_then(Value::as_str).and_then(|v| {
                        parse_log_time(v)
                            .or_else(|| parse_nginx_time(v))
                            .or_else(|| parse_bsd_time(v, reference))
                    })
                });
                return Some((m, time));
            }
        }
        self.formats.iter().find_map(|f| match f {
            LogFormat::Nginx => parse_nginx(line),
            LogFormat::Syslog => parse_syslog(line, reference),
            LogFormat::Json => parse_json(line, self.max_depth),
            LogFormat::SimpleSplit => parse_simple_split(line),
        })
    }
}

impl Stage for ParseStage {
    fn name(&self) -> FailedAt {
        FailedAt::Parse
    }

    fn apply(&self, doc: &mut EventDoc) -> StageResult {
        let reference = doc.event_time.unwrap_or_else(Utc::now);
        let parsed = match self.field.get(&doc.fields) {
            Some(Value::String(line)) => self.parse_line(line, reference),
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
                doc.fields.insert(PARSED_FIELD.into(), Value::Object(m));
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
                doc.fields
                    .insert(PARSED_FIELD.into(), Value::Object(with_format("unknown")));
            }
        }
        StageResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let mut doc = EventDoc::new(Map::new(), None);
        assert!(matches!(strict.apply(&mut doc), StageResult::Fail(_)));
        let mut doc = EventDoc::of(json!({"log_message": "??"}));
        assert!(matches!(strict.apply(&mut doc), StageResult::Fail(_)));
        let mut doc = EventDoc::new(Map::new(), None);
        assert_eq!(st.apply(&mut doc), StageResult::Continue);
        assert_eq!(doc.fields["parsed"], json!({"format": "unknown"}));
    }
}
