//! The event generator: CloudEvents (structured JSON, specversion 1.0) whose `data.log_message`
//! holds an nginx, syslog, JSON or `simple_split` line with emails and IP addresses in it, in the
//! shape of `shared/baseline/gen_events.py`, plus a configurable share of malformed events.
//!
//! Everything is drawn from one seeded [`fastrand::Rng`], so a seed gives the same sequence on
//! every run and machine (with [`Timestamps::Random`]; [`Timestamps::Now`] stamps the wall clock).
//! The malformed draw is made for every event, so the valid events of a seed are the same whatever
//! the malformed ratio: a ratio only decides which of them are replaced by malformed bytes.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// 2026-11-01T00:00:00Z, the start of the baseline's date range.
const BASE_EPOCH: i64 = 1_793_491_200;
/// The baseline draws days 1 to 20 of November 2026.
const RANGE_SECS: i64 = 20 * 86_400;
/// Nesting depth of a [`MalformedKind::TooDeep`] event (the services accept 64 by default).
pub const TOO_DEEP_LEVELS: usize = 200;

const SOURCES: [&str; 4] = ["web-server", "api-gateway", "database", "auth-service"];
const USERS: [&str; 3] = [
    "john@example.com",
    "a.b-c@corp.example.org",
    "x_y@mail.test",
];
const TYPES: [&str; 3] = ["log.ingest", "log.error", "log.audit"];
const SEVERITIES: [&str; 4] = ["INFO", "ERROR", "WARN", "DEBUG"];
const REGIONS: [&str; 3] = ["us-east", "us-west", "eu-central"];
const ENVIRONMENTS: [&str; 3] = ["production", "staging", "development"];
const STATUSES: [u16; 4] = [200, 201, 404, 500];
const METHODS: [&str; 4] = ["GET", "GET", "POST", "PUT"];
/// A Luhn-valid test card number, for the `credit_card` mask rule.
const TEST_CARD: &str = "4111 1111 1111 1111";

/// Where event times come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Timestamps {
    /// Drawn from the seed in 2026-11-01..20, like the baseline: fully deterministic.
    Random,
    /// The wall clock at generation: what a live demo wants.
    Now,
}

/// The log line format inside `data.log_message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// nginx combined log format.
    Nginx,
    /// RFC 3164 syslog (`Nov  5 10:11:12 host sshd[42]: …`).
    Syslog3164,
    /// RFC 5424 syslog (`<38>1 2026-11-05T10:11:12Z host sshd 42 - - …`).
    Syslog5424,
    /// A JSON object with `level`, `msg`, `lvl`, `time`.
    Json,
    /// `<ts> - <source> - <LEVEL> - <message>`.
    SimpleSplit,
}

/// The kinds of malformed events, each an error at stage `decode` in a worker and a 400 at the
/// HTTP ingest endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedKind {
    /// A CloudEvent cut in the middle: not JSON.
    NotJson,
    /// A CloudEvent whose `log_message` holds bytes that are not UTF-8.
    NotUtf8,
    /// A JSON array holding a CloudEvent: JSON, but not an object.
    JsonArray,
    /// A CloudEvent whose data nests [`TOO_DEEP_LEVELS`] objects deep.
    TooDeep,
}

impl MalformedKind {
    /// Every kind, in the order the generator draws them.
    pub const ALL: [MalformedKind; 4] = [
        MalformedKind::NotJson,
        MalformedKind::NotUtf8,
        MalformedKind::JsonArray,
        MalformedKind::TooDeep,
    ];

    /// A short name, for logs and summaries.
    pub fn name(self) -> &'static str {
        match self {
            MalformedKind::NotJson => "not-json",
            MalformedKind::NotUtf8 => "not-utf8",
            MalformedKind::JsonArray => "json-array",
            MalformedKind::TooDeep => "too-deep",
        }
    }
}

/// What an event carries.
#[derive(Debug, Clone)]
pub enum Body {
    /// A well-formed structured CloudEvent.
    Valid {
        /// The envelope (`specversion`, `type`, `source`, `id`, `time`, `data`, …).
        envelope: Value,
        /// The format of `data.log_message`.
        format: LineFormat,
    },
    /// Bytes that no decoder accepts.
    Malformed {
        /// Which way they are broken.
        kind: MalformedKind,
        /// The bytes to send as they are.
        bytes: Vec<u8>,
    },
}

/// One generated event.
#[derive(Debug, Clone)]
pub struct Event {
    /// The CloudEvents `id` (also used as the Kafka key).
    pub id: String,
    /// The payload.
    pub body: Body,
}

impl Event {
    /// Whether the event is malformed.
    pub fn is_malformed(&self) -> bool {
        matches!(self.body, Body::Malformed { .. })
    }

    /// The bytes of the event as sent: the structured CloudEvent's JSON, or the malformed bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.body {
            Body::Valid { envelope, .. } => envelope.to_string().into_bytes(),
            Body::Malformed { bytes, .. } => bytes.clone(),
        }
    }
}

/// A deterministic stream of events.
#[derive(Debug)]
pub struct Generator {
    rng: fastrand::Rng,
    malformed_ratio: f64,
    timestamps: Timestamps,
}

impl Generator {
    /// A generator for `seed`; `malformed_ratio` (0.0..=1.0) of the events are malformed.
    pub fn new(seed: u64, malformed_ratio: f64, timestamps: Timestamps) -> Self {
        Generator {
            rng: fastrand::Rng::with_seed(seed),
            malformed_ratio: malformed_ratio.clamp(0.0, 1.0),
            timestamps,
        }
    }

    /// The next event.
    pub fn next_event(&mut self) -> Event {
        // Both draws happen for every event, so the valid events do not depend on the ratio.
        let malformed = self.rng.f64() < self.malformed_ratio;
        let kind = MalformedKind::ALL[self.rng.usize(..MalformedKind::ALL.len())];
        let (id, envelope, format) = self.envelope();
        let body = if malformed {
            Body::Malformed {
                kind,
                bytes: corrupt(kind, &envelope),
            }
        } else {
            Body::Valid { envelope, format }
        };
        Event { id, body }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.usize(..items.len())]
    }

    fn time(&mut self) -> DateTime<Utc> {
        match self.timestamps {
            Timestamps::Random => {
                let secs = BASE_EPOCH + self.rng.i64(0..RANGE_SECS);
                DateTime::from_timestamp(secs, 0).unwrap_or_default()
            }
            Timestamps::Now => Utc::now(),
        }
    }

    /// An IPv4 address, private or public, as the baseline draws them.
    fn ipv4(&mut self) -> String {
        match self.rng.u8(..3) {
            0 => format!("192.168.{}.{}", self.rng.u8(..), self.rng.u8(1..=254)),
            1 => format!(
                "10.{}.{}.{}",
                self.rng.u8(..),
                self.rng.u8(..),
                self.rng.u8(1..=254)
            ),
            _ => format!(
                "{}.{}.{}.{}",
                self.rng.u8(11..=223),
                self.rng.u8(..),
                self.rng.u8(..),
                self.rng.u8(1..=254)
            ),
        }
    }

    /// An IPv4 address most of the time, an IPv6 one (documentation range) otherwise.
    fn ip(&mut self) -> String {
        if self.rng.u8(..5) == 0 {
            format!(
                "2001:db8:{:x}:{:x}::{:x}",
                self.rng.u16(..),
                self.rng.u16(..),
                self.rng.u16(1..)
            )
        } else {
            self.ipv4()
        }
    }

    fn user(&mut self) -> &'static str {
        self.pick(&USERS)
    }

    fn line(&mut self, at: DateTime<Utc>, source: &str) -> (String, LineFormat) {
        let iso = at.to_rfc3339_opts(SecondsFormat::Secs, true);
        match self.rng.u8(..5) {
            0 => {
                let ip = self.ipv4();
                let method = self.pick(&METHODS);
                let item = self.rng.u16(1..10_000);
                let status = self.pick(&STATUSES);
                let bytes = self.rng.u32(100..100_000);
                let line = format!(
                    "{ip} - - [{}] \"{method} /api/v1/items/{item} HTTP/1.1\" {status} {bytes} \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
                    at.format("%d/%b/%Y:%H:%M:%S +0000")
                );
                (line, LineFormat::Nginx)
            }
            1 => {
                let host = self.rng.u8(1..10);
                let pid = self.rng.u16(100..10_000);
                let user = self.user();
                let ip = self.ip();
                let port = self.rng.u16(1024..);
                if self.rng.bool() {
                    let line = format!(
                        "{} host{host} sshd[{pid}]: Accepted password for {user} from {ip} port {port} ssh2",
                        at.format("%b %e %H:%M:%S")
                    );
                    (line, LineFormat::Syslog3164)
                } else {
                    let pri = 8 * 4 + self.rng.u8(..8); // facility auth
                    let line = format!(
                        "<{pri}>1 {iso} host{host} sshd {pid} - - Accepted password for {user} from {ip} port {port} ssh2"
                    );
                    (line, LineFormat::Syslog5424)
                }
            }
            2 => {
                let level = self.pick(&["info", "error"]);
                let user = self.user();
                let msg = if self.rng.u8(..4) == 0 {
                    format!("payment by {user} with card {TEST_CARD} declined")
                } else {
                    format!("user {user} did thing")
                };
                let line = json!({"level": level, "msg": msg, "lvl": "x", "time": iso});
                (line.to_string(), LineFormat::Json)
            }
            _ => {
                let level = self.pick(&SEVERITIES);
                let user = self.user();
                let ip = self.ip();
                let line =
                    format!("{iso} - {source} - {level} - User {user} login successful from {ip}");
                (line, LineFormat::SimpleSplit)
            }
        }
    }

    fn envelope(&mut self) -> (String, Value, LineFormat) {
        let at = self.time();
        let iso = at.to_rfc3339_opts(SecondsFormat::Secs, true);
        let source = self.pick(&SOURCES);
        let (line, format) = self.line(at, source);
        let kind = self.pick(&TYPES);
        let id = uuid::Builder::from_random_bytes(self.rng.u128(..).to_le_bytes())
            .into_uuid()
            .to_string();
        let severity = self.pick(&SEVERITIES);
        let region = self.pick(&REGIONS);
        let environment = self.pick(&ENVIRONMENTS);
        let version = format!("1.{}.{}", self.rng.u8(..=5), self.rng.u8(..=20));
        let envelope = json!({
            "specversion": "1.0",
            "type": kind,
            "source": format!("event-generator/{source}"),
            "id": id,
            "time": iso,
            "datacontenttype": "application/json",
            "data": {
                "log_message": line,
                "severity": severity,
                "service": source,
                "timestamp": iso,
                "metadata": {"region": region, "environment": environment, "version": version},
            },
        });
        (id, envelope, format)
    }
}

/// Turns a valid envelope into malformed bytes of `kind`.
pub fn corrupt(kind: MalformedKind, envelope: &Value) -> Vec<u8> {
    const MARK: &str = "@@flow-loadgen-mark@@";
    match kind {
        MalformedKind::NotJson => {
            let text = envelope.to_string();
            // Cut inside the data: an unterminated object, as a crashed producer leaves it.
            let cut = text.find("\"log_message\"").unwrap_or(text.len() / 2) + 20;
            let mut end = cut.min(text.len().saturating_sub(1));
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.as_bytes()[..end].to_vec()
        }
        MalformedKind::NotUtf8 => {
            let mut event = envelope.clone();
            event["data"]["log_message"] = Value::String(format!("latin-1 user M{MARK}ller"));
            let text = event.to_string();
            // 0xFC is ü in Latin-1; 0xC3 0x28 is an invalid UTF-8 sequence.
            replace(text.as_bytes(), MARK.as_bytes(), &[0xFC, 0xC3, 0x28, 0xFF])
        }
        MalformedKind::JsonArray => format!("[{envelope}]").into_bytes(),
        MalformedKind::TooDeep => {
            let mut event = envelope.clone();
            event["data"]["nested"] = Value::String(MARK.to_owned());
            let text = event.to_string();
            let mut deep = String::with_capacity(TOO_DEEP_LEVELS * 7);
            for _ in 0..TOO_DEEP_LEVELS {
                deep.push_str("{\"n\":");
            }
            deep.push('0');
            for _ in 0..TOO_DEEP_LEVELS {
                deep.push('}');
            }
            replace(
                text.as_bytes(),
                format!("\"{MARK}\"").as_bytes(),
                deep.as_bytes(),
            )
        }
    }
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    match haystack.windows(needle.len()).position(|w| w == needle) {
        Some(at) => {
            let mut out = Vec::with_capacity(haystack.len() + with.len());
            out.extend_from_slice(&haystack[..at]);
            out.extend_from_slice(with);
            out.extend_from_slice(&haystack[at + needle.len()..]);
            out
        }
        None => haystack.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn events(seed: u64, ratio: f64, n: usize) -> Vec<Event> {
        let mut g = Generator::new(seed, ratio, Timestamps::Random);
        (0..n).map(|_| g.next_event()).collect()
    }

    fn has_ip(s: &str) -> bool {
        s.contains("2001:db8:")
            || s.split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .any(|t| t.split('.').count() == 4 && t.split('.').all(|p| p.parse::<u8>().is_ok()))
    }

    #[test]
    fn valid_events_have_the_cloudevents_shape() {
        for event in events(7, 0.0, 500) {
            let Body::Valid { envelope, .. } = &event.body else {
                panic!("ratio 0 gave a malformed event");
            };
            let parsed: Value = serde_json::from_slice(&event.to_bytes()).unwrap();
            assert_eq!(&parsed, envelope);
            assert_eq!(parsed["specversion"], "1.0");
            assert_eq!(parsed["id"], event.id.as_str());
            assert!(uuid::Uuid::parse_str(&event.id).is_ok());
            assert!(TYPES.contains(&parsed["type"].as_str().unwrap()));
            assert!(parsed["source"]
                .as_str()
                .unwrap()
                .starts_with("event-generator/"));
            assert!(DateTime::parse_from_rfc3339(parsed["time"].as_str().unwrap()).is_ok());
            let data = &parsed["data"];
            for key in ["log_message", "severity", "service", "timestamp"] {
                assert!(data[key].is_string(), "data.{key} missing in {parsed}");
            }
            for key in ["region", "environment", "version"] {
                assert!(data["metadata"][key].is_string(), "metadata.{key} missing");
            }
        }
    }

    #[test]
    fn every_format_appears_with_pii_in_it() {
        let mut seen = HashSet::new();
        for event in events(11, 0.0, 1000) {
            let Body::Valid { envelope, format } = &event.body else {
                unreachable!()
            };
            let line = envelope["data"]["log_message"].as_str().unwrap();
            seen.insert(format!("{format:?}"));
            match format {
                LineFormat::Nginx => {
                    assert!(line.contains(" HTTP/1.1\" "), "{line}");
                    assert!(has_ip(line), "{line}");
                }
                LineFormat::Syslog3164 => {
                    assert!(line.contains(" sshd["), "{line}");
                    assert!(line.contains('@') && has_ip(line), "{line}");
                }
                LineFormat::Syslog5424 => {
                    assert!(line.starts_with('<') && line.contains(">1 "), "{line}");
                    assert!(line.contains('@') && has_ip(line), "{line}");
                }
                LineFormat::Json => {
                    let inner: Value = serde_json::from_str(line).unwrap();
                    assert!(inner["msg"].as_str().unwrap().contains('@'), "{line}");
                    assert!(inner["level"].is_string() && inner["time"].is_string());
                }
                LineFormat::SimpleSplit => {
                    let parts: Vec<&str> = line.splitn(4, " - ").collect();
                    assert_eq!(parts.len(), 4, "{line}");
                    assert!(SEVERITIES.contains(&parts[2]), "{line}");
                    assert!(parts[3].contains('@') && has_ip(parts[3]), "{line}");
                }
            }
        }
        assert_eq!(seen.len(), 5, "formats seen: {seen:?}");
    }

    #[test]
    fn a_seed_gives_the_same_events() {
        let a: Vec<Vec<u8>> = events(42, 0.05, 300).iter().map(Event::to_bytes).collect();
        let b: Vec<Vec<u8>> = events(42, 0.05, 300).iter().map(Event::to_bytes).collect();
        let c: Vec<Vec<u8>> = events(43, 0.05, 300).iter().map(Event::to_bytes).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn the_ratio_does_not_change_the_valid_events() {
        let clean = events(5, 0.0, 400);
        let mixed = events(5, 0.2, 400);
        let mut replaced = 0;
        for (c, m) in clean.iter().zip(&mixed) {
            assert_eq!(c.id, m.id);
            if m.is_malformed() {
                replaced += 1;
            } else {
                assert_eq!(c.to_bytes(), m.to_bytes());
            }
        }
        assert!(
            (40..=130).contains(&replaced),
            "{replaced} of 400 malformed at 0.2"
        );
    }

    #[test]
    fn the_malformed_ratio_is_honoured() {
        let n = 20_000;
        let bad = events(1, 0.01, n)
            .iter()
            .filter(|e| e.is_malformed())
            .count();
        assert!((120..=280).contains(&bad), "{bad} of {n} malformed at 0.01");
        assert!(events(1, 1.0, 200).iter().all(Event::is_malformed));
    }

    #[test]
    fn every_malformed_kind_is_rejected_by_a_json_object_decoder() {
        let mut seen = HashSet::new();
        for event in events(3, 1.0, 400) {
            let Body::Malformed { kind, bytes } = &event.body else {
                unreachable!()
            };
            seen.insert(kind.name());
            let as_object = serde_json::from_slice::<serde_json::Map<String, Value>>(bytes);
            assert!(as_object.is_err(), "{} decoded as an object", kind.name());
            match kind {
                MalformedKind::NotJson => {
                    let text = std::str::from_utf8(bytes).unwrap();
                    assert!(text.starts_with("{\""));
                    assert!(serde_json::from_str::<Value>(text).is_err());
                }
                MalformedKind::NotUtf8 => {
                    assert!(std::str::from_utf8(bytes).is_err());
                    // Everything else is a proper CloudEvent.
                    let lossy = String::from_utf8_lossy(bytes);
                    let v: Value = serde_json::from_str(&lossy).unwrap();
                    assert_eq!(v["specversion"], "1.0");
                }
                MalformedKind::JsonArray => {
                    let v: Value = serde_json::from_slice(bytes).unwrap();
                    assert!(v.as_array().is_some_and(|a| a[0]["specversion"] == "1.0"));
                }
                MalformedKind::TooDeep => {
                    let text = std::str::from_utf8(bytes).unwrap();
                    let mut depth = 0usize;
                    let mut max = 0usize;
                    for c in text.chars() {
                        match c {
                            '{' | '[' => {
                                depth += 1;
                                max = max.max(depth);
                            }
                            '}' | ']' => depth -= 1,
                            _ => {}
                        }
                    }
                    assert_eq!(depth, 0, "unbalanced");
                    assert!(max > TOO_DEEP_LEVELS, "depth {max}");
                    // serde_json's own recursion limit (128) refuses it too.
                    assert!(serde_json::from_str::<Value>(text).is_err());
                }
            }
        }
        assert_eq!(seen.len(), MalformedKind::ALL.len(), "kinds seen: {seen:?}");
    }

    #[test]
    fn now_timestamps_follow_the_clock() {
        let before = Utc::now() - chrono::Duration::seconds(2);
        let mut g = Generator::new(9, 0.0, Timestamps::Now);
        let Body::Valid { envelope, .. } = g.next_event().body else {
            unreachable!()
        };
        let t = DateTime::parse_from_rfc3339(envelope["time"].as_str().unwrap()).unwrap();
        assert!(t >= before);
    }
}
