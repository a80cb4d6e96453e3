//! Custom patterns: a named regex whose named groups become `parsed`'s fields.

use super::{Pieces, TIME_KEYS};
use crate::time::{parse_bsd_time, parse_log_time, parse_nginx_time};
use chrono::{DateTime, Utc};

use super::NamedPattern;

/// The pattern's named groups with their indices, resolved once when the stage is built.
pub(super) fn group_names(pattern: &NamedPattern) -> Vec<(usize, String)> {
    pattern
        .regex
        .regex()
        .capture_names()
        .enumerate()
        .filter_map(|(i, n)| n.map(|n| (i, n.to_owned())))
        .collect()
}

/// One line matched against `pattern`; `None` when it does not match. The time is read from
/// the first of [`TIME_KEYS`] in any of the log-time formats the stage knows.
pub(super) fn parse<'l>(
    pattern: &'l NamedPattern,
    names: &'l [(usize, String)],
    line: &'l str,
    reference: DateTime<Utc>,
) -> Option<(Pieces<'l>, Option<DateTime<Utc>>)> {
    let caps = pattern.regex.regex().captures(line)?;
    let mut m = Pieces::with_format(&pattern.name);
    for (i, name) in names {
        if let Some(v) = caps.get(*i) {
            m.text(name, v.as_str());
        }
    }
    let time = TIME_KEYS.iter().find_map(|k| {
        m.str_of(k).and_then(|v| {
            parse_log_time(v)
                .or_else(|| parse_nginx_time(v))
                .or_else(|| parse_bsd_time(v, reference))
        })
    });
    Some((m, time))
}
