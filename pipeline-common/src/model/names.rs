//! Names that end up in Kafka topic and OpenSearch index names, valid by construction.

use super::index_fields::{FieldTemplate, MAX_FIELD_VALUE, OVERFLOW_VALUE};
use super::FieldPath;
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A pipeline name: `^[a-z0-9][a-z0-9-]{0,62}$`, so topic and index names built from it are legal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PipelineName(String);

impl PipelineName {
    /// What [`PipelineName::parse`] accepts, as a regular expression (for schemas).
    pub const PATTERN: &'static str = "^[a-z0-9][a-z0-9-]{0,62}$";

    /// Validates `s` as a pipeline name.
    pub fn parse(s: &str) -> Result<PipelineName, String> {
        let b = s.as_bytes();
        let ok_char = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        match b.first() {
            None => return Err("must not be empty".into()),
            Some(c) if !ok_char(c) => {
                return Err("must start with a lowercase letter or a digit".into())
            }
            _ => {}
        }
        if b.len() > 63 {
            return Err("must be at most 63 characters".into());
        }
        if !b.iter().all(|c| ok_char(c) || *c == b'-') {
            return Err("may only hold lowercase letters, digits and '-'".into());
        }
        Ok(PipelineName(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PipelineName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PipelineName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        PipelineName::parse(&s)
    }
}

impl From<PipelineName> for String {
    fn from(n: PipelineName) -> String {
        n.0
    }
}

impl AsRef<str> for PipelineName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The Kafka names of a pipeline, all derived from `kafka.topicPrefix` and its
/// [`PipelineName`]: the three topics `<prefix>.<name>.input|output|error` and the workers'
/// consumer group `<prefix>.<name>.worker`. Provisioning, deletion, the dead-letter reader, replay
/// and the worker all take their names from here, so they cannot disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineTopics {
    /// Where producers write raw events.
    pub input: String,
    /// Where workers write processed documents.
    pub output: String,
    /// Where workers write dead letters.
    pub error: String,
    /// The consumer group every worker's task of this pipeline joins on `input`.
    pub consumer_group: String,
}

impl PipelineTopics {
    /// The names of pipeline `name` under `prefix` (config `kafka.topicPrefix`).
    pub fn new(prefix: &str, name: &PipelineName) -> Self {
        Self {
            input: format!("{prefix}.{name}.input"),
            output: format!("{prefix}.{name}.output"),
            error: format!("{prefix}.{name}.error"),
            consumer_group: format!("{prefix}.{name}.worker"),
        }
    }

    /// The three topics (input, output, error): what is created and deleted with the pipeline.
    pub fn topics(&self) -> [&str; 3] {
        [&self.input, &self.output, &self.error]
    }
}

/// One element of a date suffix pattern such as `{yyyy.MM.dd}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DatePart {
    Year,
    Month,
    Day,
    Hour,
    Sep(u8),
}

/// An OpenSearch index name, optionally ending in a date pattern (`web-logs-{yyyy.MM.dd}`) resolved
/// from each document's `@timestamp`, and optionally holding field references
/// (`orders-{cloudevent.type}-{yyyy.MM.dd}`) resolved from each document's fields.
///
/// Rules (OpenSearch's): lowercase; none of `\ / * ? " < > | , # :` or space; must not start with
/// `_`, `-` or `+`; not `.` or `..`; at most 255 bytes, also once a date pattern is resolved.
/// Pattern tokens: `yyyy`, `MM`, `dd`, `HH`, separated by `.`, `-` or `_`, in one trailing `{…}`.
/// Any other `{…}` is a field reference (a dotted path; `cloudevent.*` names the document's
/// CloudEvents context); a fixed part must come before the first one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IndexName {
    raw: String,
    /// Byte length of the part before the date pattern's `{` when the name is a pattern.
    prefix_len: usize,
    pattern: Vec<DatePart>,
    /// The field references of the part before the date pattern, if any.
    fields: Option<Arc<FieldTemplate>>,
}

impl PartialEq for IndexName {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}
impl Eq for IndexName {}

fn check_concrete_index(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > 255 {
        return Err("must be at most 255 bytes".into());
    }
    if s == "." || s == ".." {
        return Err("must not be '.' or '..'".into());
    }
    if s.starts_with(['_', '-', '+']) {
        return Err("must not start with '_', '-' or '+'".into());
    }
    if let Some(c) = s.chars().find(|c| {
        matches!(
            c,
            '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ':' | ' '
        ) || c.is_control()
    }) {
        return Err(format!("must not contain {c:?}"));
    }
    if s.chars().any(char::is_uppercase) {
        return Err("must be lowercase".into());
    }
    Ok(())
}

/// The date parts of `spec` (the inside of `{…}`), when it is only date tokens and separators;
/// `None` when it holds anything else (a field reference).
fn date_spec(spec: &str) -> Option<Result<Vec<DatePart>, String>> {
    if spec.is_empty() || !spec.bytes().all(|b| b"yMdH.-_".contains(&b)) {
        return None;
    }
    let mut pattern = Vec::new();
    let mut rest = spec;
    while !rest.is_empty() {
        let (part, len) = if rest.starts_with("yyyy") {
            (DatePart::Year, 4)
        } else if rest.starts_with("MM") {
            (DatePart::Month, 2)
        } else if rest.starts_with("dd") {
            (DatePart::Day, 2)
        } else if rest.starts_with("HH") {
            (DatePart::Hour, 2)
        } else if let Some(c @ (b'.' | b'-' | b'_')) = rest.bytes().next() {
            (DatePart::Sep(c), 1)
        } else {
            return Some(Err(format!(
                "unsupported date pattern {{{spec}}}: use yyyy, MM, dd, HH and . - _"
            )));
        };
        pattern.push(part);
        rest = &rest[len..];
    }
    if !pattern.iter().any(|p| !matches!(p, DatePart::Sep(_))) {
        return Some(Err("date pattern names no date field".into()));
    }
    Some(Ok(pattern))
}

fn date_width(pattern: &[DatePart]) -> usize {
    pattern
        .iter()
        .map(|p| match p {
            DatePart::Year => 4,
            DatePart::Sep(_) => 1,
            _ => 2,
        })
        .sum()
}

impl IndexName {
    /// OpenSearch's index rules, as far as a regular expression can state them (for schemas):
    /// not starting with `_`, `-` or `+`; not `.` or `..`; none of `\ / * ? " < > | , # :`, space
    /// or control characters. Lowercase and a well-formed trailing date pattern are checked by
    /// [`IndexName::parse`] only.
    pub const PATTERN: &'static str =
        "^(?![_+-])(?!\\.\\.?$)[^\\\\/*?\"<>|,#: \\u0000-\\u001f\\u007f-\\u009f]+$";

    /// Validates `s` as an index name or index name pattern.
    pub fn parse(s: &str) -> Result<IndexName, String> {
        let mut head = s;
        let mut pattern = Vec::new();
        if let (Some(open), true) = (s.rfind('{'), s.ends_with('}')) {
            if let Some(parts) = date_spec(&s[open + 1..s.len() - 1]) {
                pattern = parts?;
                head = &s[..open];
            }
        }
        // A date pattern anywhere but at the end.
        let mut braces = head.match_indices('{');
        if braces.any(|(at, _)| {
            head[at + 1..]
                .split_once('}')
                .is_some_and(|(inner, _)| date_spec(inner).is_some())
        }) {
            return Err("a date pattern must be one trailing {…}, e.g. logs-{yyyy.MM.dd}".into());
        }
        let fields = FieldTemplate::parse(head, date_width(&pattern))?;
        let name = IndexName {
            raw: s.to_owned(),
            prefix_len: head.len(),
            pattern,
            fields: fields.map(Arc::new),
        };
        // The resolved names share the fixed parts' rules; check one of them, and the longest.
        check_concrete_index(&name.resolve(DateTime::<Utc>::UNIX_EPOCH))?;
        if let Some(template) = &name.fields {
            let longest = "x".repeat(MAX_FIELD_VALUE);
            let values: Vec<&str> = template.fields().map(|_| longest.as_str()).collect();
            check_concrete_index(&name.resolve_with(&values, DateTime::<Utc>::UNIX_EPOCH))
                .map_err(|e| format!("with {MAX_FIELD_VALUE}-byte values: {e}"))?;
        }
        Ok(name)
    }

    /// The name as written, with its pattern if any.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// True when the name ends in a date pattern.
    pub fn is_pattern(&self) -> bool {
        !self.pattern.is_empty()
    }

    /// The concrete index for a document whose `@timestamp` is `ts`. A name with field
    /// references resolves to its overflow index here: see [`IndexName::resolve_with`].
    pub fn resolve(&self, ts: DateTime<Utc>) -> Cow<'_, str> {
        if self.pattern.is_empty() && self.fields.is_none() {
            return Cow::Borrowed(&self.raw);
        }
        let stand_ins: Vec<&str> = self.field_paths().map(|_| OVERFLOW_VALUE).collect();
        Cow::Owned(self.resolve_with(&stand_ins, ts))
    }

    /// The concrete index for `values` of the field references (cleaned, or a stand-in) and a
    /// document whose `@timestamp` is `ts`.
    pub fn resolve_with(&self, values: &[&str], ts: DateTime<Utc>) -> String {
        let mut out = String::with_capacity(self.prefix_len + 16);
        match &self.fields {
            Some(template) => template.fill(values, &mut out),
            None => out.push_str(&self.raw[..self.prefix_len]),
        }
        for p in &self.pattern {
            use std::fmt::Write;
            // Writing to a String cannot fail.
            let _ = match p {
                DatePart::Year => write!(out, "{:04}", ts.year()),
                DatePart::Month => write!(out, "{:02}", ts.month()),
                DatePart::Day => write!(out, "{:02}", ts.day()),
                DatePart::Hour => write!(out, "{:02}", ts.hour()),
                DatePart::Sep(c) => {
                    out.push(char::from(*c));
                    Ok(())
                }
            };
        }
        out
    }

    /// The field references, in order (none for a plain or dated name).
    pub fn field_paths(&self) -> impl Iterator<Item = &FieldPath> {
        self.fields.iter().flat_map(|t| t.fields())
    }

    /// True when the name holds field references.
    pub fn is_templated(&self) -> bool {
        self.fields.is_some()
    }

    /// Whether `index` is a name this one gives: the name itself, or the pattern resolved for
    /// some time and (for field references) some cleaned values or stand-ins.
    pub fn matches(&self, index: &str) -> bool {
        match &self.fields {
            Some(template) => template.date_text(index).is_some_and(|date| {
                self.pattern.is_empty() || self.start_of_date_text(date).is_some()
            }),
            None if self.is_pattern() => self.date_of(index).is_some(),
            None => index == self.raw,
        }
    }

    /// `index_patterns` (`*` wildcards only) covering every name this one gives: the name, the
    /// fixed part of a date pattern followed by a digit (`web-logs-0*` … `web-logs-9*`), each
    /// field reference a `*`.
    pub fn claim_patterns(&self) -> Vec<String> {
        let head = match &self.fields {
            Some(template) => template.glob(),
            None => self.raw[..self.prefix_len].to_owned(),
        };
        if !self.is_pattern() {
            return vec![head];
        }
        // Leading separators of the pattern (`x{.yyyy}`) belong to the fixed part.
        let seps: String = self
            .pattern
            .iter()
            .map_while(|p| match p {
                DatePart::Sep(c) => Some(char::from(*c)),
                _ => None,
            })
            .collect();
        (0..10).map(|d| format!("{head}{seps}{d}*")).collect()
    }

    /// A concrete name to check or create at provisioning time: the name itself, or the pattern
    /// resolved for the current time.
    pub fn concrete_for_check(&self) -> String {
        self.resolve(Utc::now()).into_owned()
    }

    /// The part before the date pattern (`web-logs-` of `web-logs-{yyyy.MM.dd}`); `None` when the
    /// name is not a pattern.
    pub fn date_prefix(&self) -> Option<&str> {
        self.is_pattern().then(|| &self.raw[..self.prefix_len])
    }

    /// The start of the period a concrete index of this pattern holds (`web-logs-2026.03.07` →
    /// 2026-03-07T00:00:00Z); `None` when `index` is not exactly this pattern resolved for some
    /// time (another pipeline's name, a hand-made `web-logs-foo`, or a name that is not a
    /// pattern). With field references, the values may be any cleaned values or stand-ins.
    pub fn date_of(&self, index: &str) -> Option<DateTime<Utc>> {
        if !self.is_pattern() {
            return None;
        }
        match &self.fields {
            Some(template) => self.start_of_date_text(template.date_text(index)?),
            None => self.start_of_date_text(index.strip_prefix(self.date_prefix()?)?),
        }
    }

    /// The start of the period whose date text (the resolved pattern, nothing around it) is
    /// `text`.
    fn start_of_date_text(&self, text: &str) -> Option<DateTime<Utc>> {
        let mut rest = text;
        let (mut year, mut month, mut day, mut hour) = (None, None, None, None);
        for part in &self.pattern {
            let width = match part {
                DatePart::Year => 4,
                DatePart::Sep(c) => {
                    rest = rest.strip_prefix(char::from(*c))?;
                    continue;
                }
                _ => 2,
            };
            let digits = rest.get(..width)?;
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: u32 = digits.parse().ok()?;
            rest = &rest[width..];
            match part {
                DatePart::Year => year = Some(i32::try_from(n).ok()?),
                DatePart::Month => month = Some(n),
                DatePart::Day => day = Some(n),
                _ => hour = Some(n),
            }
        }
        if !rest.is_empty() {
            return None;
        }
        let date = chrono::NaiveDate::from_ymd_opt(
            year.unwrap_or(1970),
            month.unwrap_or(1),
            day.unwrap_or(1),
        )?;
        let start = date.and_hms_opt(hour.unwrap_or(0), 0, 0)?.and_utc();
        // A pattern without a year (`{MM.dd}`) names no single period.
        (year.is_some() && self.date_text_of(start) == text).then_some(start)
    }

    /// The date text of the period starting at `start`.
    fn date_text_of(&self, start: DateTime<Utc>) -> String {
        let mut text = self.resolve_with(&[], start);
        text.split_off(text.len() - date_width(&self.pattern))
    }

    /// The period a concrete index of this pattern holds, `[start, end)`: a day for
    /// `{yyyy.MM.dd}`, an hour for `{yyyy.MM.dd.HH}`, a month for `{yyyy.MM}`. `None` when `index`
    /// does not parse back to the pattern ([`IndexName::date_of`]), or when the pattern skips a
    /// unit (`{yyyy.dd}`, `{yyyy.MM.HH}`), whose indices hold no single contiguous period.
    pub fn period_of(&self, index: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let start = self.date_of(index)?;
        let end = match self.finest_contiguous_unit()? {
            DatePart::Year => start.checked_add_months(chrono::Months::new(12))?,
            DatePart::Month => start.checked_add_months(chrono::Months::new(1))?,
            DatePart::Day => start.checked_add_days(chrono::Days::new(1))?,
            _ => start.checked_add_signed(chrono::TimeDelta::hours(1))?,
        };
        Some((start, end))
    }

    /// The finest date unit of the pattern when its units run from the year down without a gap
    /// (year; year and month; year, month and day; all four), in any order and with any
    /// separators; `None` otherwise.
    fn finest_contiguous_unit(&self) -> Option<DatePart> {
        let has = |unit: DatePart| self.pattern.contains(&unit);
        let units = [
            DatePart::Year,
            DatePart::Month,
            DatePart::Day,
            DatePart::Hour,
        ];
        let present = units.iter().take_while(|u| has(**u)).count();
        if present == 0 || units[present..].iter().any(|u| has(*u)) {
            return None;
        }
        Some(units[present - 1])
    }

    /// The wildcard covering every index of a pattern (`web-logs-*`), e.g. for an index template;
    /// the name itself when it is not a pattern.
    pub fn wildcard(&self) -> String {
        let head = match &self.fields {
            Some(template) => template.glob(),
            None => self.raw[..self.prefix_len].to_owned(),
        };
        if self.is_pattern() {
            format!("{head}*")
        } else {
            head
        }
    }
}

impl fmt::Display for IndexName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl TryFrom<String> for IndexName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        IndexName::parse(&s)
    }
}

impl From<IndexName> for String {
    fn from(n: IndexName) -> String {
        n.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn pipeline_names() {
        assert!(PipelineName::parse("web-logs").is_ok());
        assert!(PipelineName::parse("0").is_ok());
        assert!(PipelineName::parse(&"a".repeat(63)).is_ok());
        for bad in ["", "-a", "Web", "a_b", "a.b", &"a".repeat(64), "é"] {
            assert!(PipelineName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn index_names() {
        for ok in ["web-logs", "logs.2024", ".hidden"] {
            let n = IndexName::parse(ok).unwrap();
            assert!(!n.is_pattern());
            assert_eq!(n.resolve(Utc::now()), ok);
        }
        for bad in [
            "",
            "Web",
            "a b",
            "a:b",
            "a#b",
            "_a",
            "-a",
            "+a",
            ".",
            "..",
            "a*",
            "a,b",
            "a\"b",
            "a{yyyy",
            "a-{yyyy}-b",
            "a-{yyy}",
            "{type}-x",
            "a-{}",
            "a-{..}",
        ] {
            assert!(IndexName::parse(bad).is_err(), "{bad}");
        }
        assert!(IndexName::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn index_pattern_resolves_from_timestamp() {
        let n = IndexName::parse("web-logs-{yyyy.MM.dd}").unwrap();
        assert!(n.is_pattern());
        let ts = Utc.with_ymd_and_hms(2026, 3, 7, 23, 59, 0).unwrap();
        assert_eq!(n.resolve(ts), "web-logs-2026.03.07");
        assert_eq!(n.wildcard(), "web-logs-*");
        let h = IndexName::parse("x-{yyyy-MM-dd_HH}").unwrap();
        assert_eq!(h.resolve(ts), "x-2026-03-07_23");
    }

    #[test]
    fn a_dated_index_parses_back_to_its_period() {
        let n = IndexName::parse("web-logs-{yyyy.MM.dd}").unwrap();
        let day = Utc.with_ymd_and_hms(2026, 3, 7, 0, 0, 0).unwrap();
        assert_eq!(n.date_of("web-logs-2026.03.07"), Some(day));
        for other in [
            "web-logs-2026.3.7",
            "web-logs-2026.02.30",
            "web-logs-foo",
            "web-logs-2026.03.07x",
            "web-logs-eu-2026.03.07",
            "web-2026.03.07",
            "web-logs-",
        ] {
            assert_eq!(n.date_of(other), None, "{other}");
        }
        let h = IndexName::parse("x-{yyyy-MM-dd_HH}").unwrap();
        assert_eq!(
            h.date_of("x-2026-03-07_23"),
            Some(Utc.with_ymd_and_hms(2026, 3, 7, 23, 0, 0).unwrap())
        );
        assert_eq!(IndexName::parse("web").unwrap().date_of("web"), None);
    }

    #[test]
    fn field_references_resolve_match_and_parse_back() {
        let n = IndexName::parse("orders-{cloudevent.type}-{yyyy.MM.dd}").unwrap();
        assert!(n.is_templated() && n.is_pattern());
        let ts = Utc.with_ymd_and_hms(2026, 3, 7, 23, 59, 0).unwrap();
        assert_eq!(
            n.resolve_with(&["order.created"], ts),
            "orders-order.created-2026.03.07"
        );
        assert_eq!(n.resolve(ts), "orders-_overflow-2026.03.07");
        let day = Utc.with_ymd_and_hms(2026, 3, 7, 0, 0, 0).unwrap();
        for ours in [
            "orders-order.created-2026.03.07",
            "orders-_overflow-2026.03.07",
            "orders-_missing-2026.03.07",
        ] {
            assert_eq!(n.date_of(ours), Some(day), "{ours}");
            assert!(n.matches(ours), "{ours}");
        }
        for other in [
            "orders-2026.03.07",
            "orders-a_b-2026.03.07",
            "orders-x-2026.3.7",
            "orders-x-2026.02.30",
            "other-x-2026.03.07",
        ] {
            assert_eq!(n.date_of(other), None, "{other}");
            assert!(!n.matches(other), "{other}");
        }
        assert_eq!(n.claim_patterns()[3], "orders-*-3*");
        assert_eq!(
            n.field_paths().map(|p| p.as_str()).collect::<Vec<_>>(),
            ["cloudevent.type"]
        );
        let plain = IndexName::parse("t-{a}-{b.c}").unwrap();
        assert!(!plain.is_pattern());
        assert_eq!(plain.claim_patterns(), ["t-*-*"]);
        assert!(plain.matches("t-x-y") && !plain.matches("t-x"));
        assert_eq!(plain.date_of("t-x-y"), None);
        assert!(
            IndexName::parse(&format!("{}-{{a}}-{{b}}-{{c}}-{{d}}", "x".repeat(10))).is_err(),
            "too long with 64-byte values"
        );
        assert!(IndexName::parse("Orders-{a}").is_err());
    }

    #[test]
    fn a_dated_index_holds_one_period_of_its_finest_unit() {
        let at = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
        let day = IndexName::parse("web-{yyyy.MM.dd}").unwrap();
        assert_eq!(
            day.period_of("web-2026.02.28"),
            Some((at(2026, 2, 28, 0), at(2026, 3, 1, 0)))
        );
        let hour = IndexName::parse("web-{yyyy.MM.dd-HH}").unwrap();
        assert_eq!(
            hour.period_of("web-2026.12.31-23"),
            Some((at(2026, 12, 31, 23), at(2027, 1, 1, 0)))
        );
        let month = IndexName::parse("web-{MM_yyyy}").unwrap();
        assert_eq!(
            month.period_of("web-01_2026"),
            Some((at(2026, 1, 1, 0), at(2026, 2, 1, 0)))
        );
        let year = IndexName::parse("web-{yyyy}").unwrap();
        assert_eq!(
            year.period_of("web-2026"),
            Some((at(2026, 1, 1, 0), at(2027, 1, 1, 0)))
        );
        for gap in ["web-{yyyy.dd}", "web-{yyyy.MM.HH}", "web-{MM.dd}"] {
            let n = IndexName::parse(gap).unwrap();
            let index = n.resolve(at(2026, 3, 7, 5));
            assert_eq!(n.period_of(&index), None, "{gap}");
        }
        assert_eq!(day.period_of("web-foo"), None);
    }

    #[test]
    fn topics() {
        let t = PipelineTopics::new("pipeline", &PipelineName::parse("web").unwrap());
        assert_eq!(t.input, "pipeline.web.input");
        assert_eq!(t.output, "pipeline.web.output");
        assert_eq!(t.error, "pipeline.web.error");
        assert_eq!(t.consumer_group, "pipeline.web.worker");
        assert_eq!(
            t.topics(),
            [
                "pipeline.web.input",
                "pipeline.web.output",
                "pipeline.web.error"
            ]
        );
    }
}
