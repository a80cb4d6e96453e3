//! Index names that hold field references, `orders-{cloudevent.type}-{yyyy.MM.dd}`: each
//! reference is resolved per document and cleaned to what OpenSearch allows in a name.
//!
//! A cleaned value holds only `a-z`, `0-9`, `.` and `-`, at most [`MAX_FIELD_VALUE`] bytes. The
//! two stand-ins, [`OVERFLOW_VALUE`] (past the pipeline's cap on distinct values) and
//! [`MISSING_VALUE`] (no usable value), start with `_`, so no value can be mistaken for them, and
//! a name parses back to its values and date without guessing.

use super::FieldPath;
use regex::Regex;
use std::fmt::Write;

/// Longest cleaned value of one field reference, in bytes.
pub const MAX_FIELD_VALUE: usize = 64;
/// What every field reference becomes in the overflow index.
pub const OVERFLOW_VALUE: &str = "_overflow";
/// What a field reference becomes when the document has no usable value for it.
pub const MISSING_VALUE: &str = "_missing";

/// One piece of a templated name.
#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Field(FieldPath),
}

/// The part of an index name before its date pattern, when it holds field references.
#[derive(Debug, Clone)]
pub(super) struct FieldTemplate {
    parts: Vec<Part>,
    /// Matches every name the template can give, the date text (of `date_width` bytes) last.
    matcher: Regex,
}

impl FieldTemplate {
    /// Parses `text` (the name without its date pattern); `Ok(None)` when it has no reference.
    pub(super) fn parse(text: &str, date_width: usize) -> Result<Option<FieldTemplate>, String> {
        if !text.contains(['{', '}']) {
            return Ok(None);
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                Some(0) if rest.starts_with('{') => {
                    let close = rest
                        .find('}')
                        .ok_or("a field reference {…} is not closed")?;
                    let inner = &rest[1..close];
                    if inner.contains('{') {
                        return Err("field references cannot nest".into());
                    }
                    let path = FieldPath::parse(inner)
                        .map_err(|e| format!("field reference {{{inner}}}: {e}"))?;
                    parts.push(Part::Field(path));
                    rest = &rest[close + 1..];
                }
                Some(0) => return Err("has '}' without '{'".into()),
                Some(at) => {
                    parts.push(Part::Literal(rest[..at].to_owned()));
                    rest = &rest[at..];
                }
                None => {
                    parts.push(Part::Literal(rest.to_owned()));
                    rest = "";
                }
            }
        }
        if !matches!(parts.first(), Some(Part::Literal(_))) {
            return Err(
                "must start with a fixed part before the first field reference, e.g. \
                        orders-{cloudevent.type}"
                    .into(),
            );
        }
        let mut pattern = String::from("^");
        for part in &parts {
            match part {
                Part::Literal(l) => pattern.push_str(&regex::escape(l)),
                Part::Field(_) => {
                    let _ = write!(
                        pattern,
                        "(?:[a-z0-9.-]{{1,{MAX_FIELD_VALUE}}}|{OVERFLOW_VALUE}|{MISSING_VALUE})"
                    );
                }
            }
        }
        let _ = write!(pattern, "(.{{{date_width}}})$");
        let matcher = Regex::new(&pattern).map_err(|e| format!("cannot match this name: {e}"))?;
        Ok(Some(FieldTemplate { parts, matcher }))
    }

    /// The field references, in order.
    pub(super) fn fields(&self) -> impl Iterator<Item = &FieldPath> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) => Some(f),
            Part::Literal(_) => None,
        })
    }

    /// The name with `values[i]` for the i-th reference (cleaned values or a stand-in).
    pub(super) fn fill(&self, values: &[&str], out: &mut String) {
        let mut values = values.iter();
        for part in &self.parts {
            match part {
                Part::Literal(l) => out.push_str(l),
                Part::Field(_) => out.push_str(values.next().copied().unwrap_or(MISSING_VALUE)),
            }
        }
    }

    /// The date text at the end of `index` when `index` is a name of this template.
    pub(super) fn date_text<'i>(&self, index: &'i str) -> Option<&'i str> {
        self.matcher
            .captures(index)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str())
    }

    /// The template as `index_patterns` say it: each reference a `*`.
    pub(super) fn glob(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Literal(l) => l.as_str(),
                Part::Field(_) => "*",
            })
            .collect()
    }
}

/// A field's value cleaned for an index name: lowercase, every character but `a-z`, `0-9`, `.`
/// and `-` replaced by `-`, cut at [`MAX_FIELD_VALUE`] bytes; `None` when nothing is left.
pub fn clean_field_value(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len().min(MAX_FIELD_VALUE));
    for c in raw.chars().flat_map(char::to_lowercase) {
        if out.len() == MAX_FIELD_VALUE {
            break;
        }
        out.push(match c {
            'a'..='z' | '0'..='9' | '.' | '-' => c,
            _ => '-',
        });
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_cleaned() {
        assert_eq!(
            clean_field_value("Order.Created").as_deref(),
            Some("order.created")
        );
        assert_eq!(
            clean_field_value("a b/c_d*É").as_deref(),
            Some("a-b-c-d-é".replace('é', "-").as_str())
        );
        assert_eq!(clean_field_value(""), None);
        assert_eq!(
            clean_field_value(&"x".repeat(100)).unwrap().len(),
            MAX_FIELD_VALUE
        );
    }

    #[test]
    fn templates_parse_fill_and_match() {
        let t = FieldTemplate::parse("orders-{cloudevent.type}-", 10)
            .unwrap()
            .unwrap();
        assert_eq!(t.glob(), "orders-*-");
        let mut name = String::new();
        t.fill(&["order.created"], &mut name);
        assert_eq!(name, "orders-order.created-");
        assert_eq!(
            t.date_text("orders-order.created-2026.03.07"),
            Some("2026.03.07")
        );
        assert_eq!(
            t.date_text("orders-_overflow-2026.03.07"),
            Some("2026.03.07")
        );
        assert_eq!(t.date_text("orders-Bad-2026.03.07"), None);
        assert_eq!(t.date_text("orders-x_y-2026.03.07"), None);
        assert!(FieldTemplate::parse("plain", 0).unwrap().is_none());
        for bad in ["{a}-x", "x-{a", "x-}", "x-{}", "x-{a{b}}"] {
            assert!(FieldTemplate::parse(bad, 0).is_err(), "{bad}");
        }
    }
}
