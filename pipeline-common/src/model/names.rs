//! Names that end up in Kafka topic and OpenSearch index names, valid by construction.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

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
/// from each document's `@timestamp`.
///
/// Rules (OpenSearch's): lowercase; none of `\ / * ? " < > | , # :` or space; must not start with
/// `_`, `-` or `+`; not `.` or `..`; at most 255 bytes, also once a date pattern is resolved.
/// Pattern tokens: `yyyy`, `MM`, `dd`, `HH`, separated by `.`, `-` or `_`, in one trailing `{…}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IndexName {
    raw: String,
    /// Byte length of the part before `{` when the name is a pattern.
    prefix_len: usize,
    pattern: Vec<DatePart>,
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

impl IndexName {
    /// OpenSearch's index rules, as far as a regular expression can state them (for schemas):
    /// not starting with `_`, `-` or `+`; not `.` or `..`; none of `\ / * ? " < > | , # :`, space
    /// or control characters. Lowercase and a well-formed trailing date pattern are checked by
    /// [`IndexName::parse`] only.
    pub const PATTERN: &'static str =
        "^(?![_+-])(?!\\.\\.?$)[^\\\\/*?\"<>|,#: \\u0000-\\u001f\\u007f-\\u009f]+$";

    /// Validates `s` as an index name or index name pattern.
    pub fn parse(s: &str) -> Result<IndexName, String> {
        let Some(open) = s.find('{') else {
            if s.contains('}') {
                return Err("has '}' without '{'".into());
            }
            check_concrete_index(s)?;
            return Ok(IndexName {
                raw: s.to_owned(),
                prefix_len: s.len(),
                pattern: Vec::new(),
            });
        };
        if !s.ends_with('}') || s[open + 1..].contains('{') || s[open..s.len() - 1].contains('}') {
            return Err("a date pattern must be one trailing {…}, e.g. logs-{yyyy.MM.dd}".into());
        }
        let spec = &s[open + 1..s.len() - 1];
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
                return Err(format!(
                    "unsupported date pattern {{{spec}}}: use yyyy, MM, dd, HH and . - _"
                ));
            };
            pattern.push(part);
            rest = &rest[len..];
        }
        if !pattern.iter().any(|p| !matches!(p, DatePart::Sep(_))) {
            return Err("date pattern names no date field".into());
        }
        let name = IndexName {
            raw: s.to_owned(),
            prefix_len: open,
            pattern,
        };
        // The resolved names share the prefix's rules; check one of them.
        check_concrete_index(&name.resolve(DateTime::<Utc>::UNIX_EPOCH))?;
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

    /// The concrete index for a document whose `@timestamp` is `ts`.
    pub fn resolve(&self, ts: DateTime<Utc>) -> Cow<'_, str> {
        if self.pattern.is_empty() {
            return Cow::Borrowed(&self.raw);
        }
        let mut out = String::with_capacity(self.prefix_len + 16);
        out.push_str(&self.raw[..self.prefix_len]);
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
        Cow::Owned(out)
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
    /// time (another pipeline's name, a hand-made `web-logs-foo`, or a name that is not a pattern).
    pub fn date_of(&self, index: &str) -> Option<DateTime<Utc>> {
        let mut rest = index.strip_prefix(self.date_prefix()?)?;
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
        (year.is_some() && self.resolve(start) == index).then_some(start)
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
        if self.is_pattern() {
            format!("{}*", &self.raw[..self.prefix_len])
        } else {
            self.raw.clone()
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
            "a-{xx}",
            "a-{yyyy}-b",
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
