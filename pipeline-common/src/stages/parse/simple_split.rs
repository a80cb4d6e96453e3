//! The `simple_split` format: `timestamp - source - level - message`.

use super::Pieces;
use crate::time::parse_log_time;
use chrono::{DateTime, Utc};

/// One `" - "`-separated line; `None` when it has fewer than three non-empty parts.
pub(super) fn parse(line: &str) -> Option<(Pieces<'_>, Option<DateTime<Utc>>)> {
    let mut parts = line.splitn(4, " - ");
    let ts = parts.next()?.trim();
    let source = parts.next()?.trim();
    let level = parts.next()?.trim();
    let message = parts.next().unwrap_or("");
    if ts.is_empty() || source.is_empty() || level.is_empty() || level.contains(char::is_whitespace)
    {
        return None;
    }
    let mut m = Pieces::with_format("simple_split");
    let t = m.put_time(ts, parse_log_time);
    m.text("source", source);
    m.text("level", level);
    m.text("message", message);
    Some((m, t))
}
