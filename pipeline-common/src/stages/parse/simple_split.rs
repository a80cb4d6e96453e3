//! The `simple_split` format: `timestamp - source - level - message`.

use super::{put_time, s, with_format, Parsed};
use crate::time::parse_log_time;

/// One `" - "`-separated line; `None` when it has fewer than three non-empty parts.
pub(super) fn parse(line: &str) -> Option<Parsed> {
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
