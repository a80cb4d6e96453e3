//! The `syslog` format: an optional `<PRI>`, then an RFC 5424 header (only after a `<PRI>`) or
//! an RFC 3164 one.

use super::{token, Pieces};
use crate::time::{format_rfc3339, parse_bsd_parts, parse_bsd_time, parse_rfc3339};
use chrono::{DateTime, Utc};

type Parsed<'l> = (Pieces<'l>, Option<DateTime<Utc>>);

const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// One syslog line; RFC 3164 timestamps take their year from `reference`.
pub(super) fn parse(line: &str, reference: DateTime<Utc>) -> Option<Parsed<'_>> {
    let mut m = Pieces::with_format("syslog");
    let mut rest = line;
    if let Some(after) = line.strip_prefix('<') {
        let end = after.find('>').filter(|&e| (1..=3).contains(&e))?;
        let pri: u16 = after[..end].parse().ok()?;
        if pri > 191 {
            return None;
        }
        m.number("priority", pri);
        m.number("facility", pri / 8);
        m.text("level", SEVERITIES[usize::from(pri % 8)]);
        rest = &after[end + 1..];
    }
    let is_5424 = rest.split_once(' ').is_some_and(|(v, _)| {
        !v.is_empty()
            && v.len() <= 2
            && v.bytes().all(|b| b.is_ascii_digit())
            && !v.starts_with('0')
    });
    if is_5424 && m.has("priority") {
        return rfc5424(m, rest);
    }
    rfc3164(m, rest, reference)
}

/// RFC 5424 after the `<PRI>`: "version timestamp host app procid msgid [sd] message".
fn rfc5424<'l>(mut m: Pieces<'l>, rest: &'l str) -> Option<Parsed<'l>> {
    let (version, r) = token(rest)?;
    let (ts, r) = token(r)?;
    let t = if ts == "-" {
        None
    } else {
        Some(m.put_time(ts, parse_rfc3339)?)
    };
    let (host, r) = token(r)?;
    let (app, r) = token(r)?;
    let (proc_id, r) = token(r)?;
    let (msg_id, r) = token(r)?;
    m.text("version", version);
    m.put("hostname", host);
    m.put("app_name", app);
    m.put("proc_id", proc_id);
    m.put("msg_id", msg_id);
    let r = r.trim_start_matches(' ');
    let msg = if let Some(after) = r.strip_prefix('-') {
        after
    } else if r.starts_with('[') {
        let end = structured_data_end(r)?;
        m.put("structured_data", &r[..end]);
        &r[end..]
    } else {
        return None;
    };
    let msg = msg.strip_prefix(' ').unwrap_or(msg);
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    if !msg.is_empty() {
        m.text("message", msg);
    }
    Some((m, t))
}

/// RFC 3164: "Mmm dd hh:mm:ss host tag[pid]: message".
fn rfc3164<'l>(mut m: Pieces<'l>, rest: &'l str, reference: DateTime<Utc>) -> Option<Parsed<'l>> {
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
    m.owned("timestamp", format_rfc3339(&t));
    let (host, r) = token(r)?;
    m.put("hostname", host);
    let r = r.trim_start_matches(' ');
    let (tag, msg) = match r.split_once(' ') {
        Some((tag, msg)) if tag.ends_with(':') => (Some(&tag[..tag.len() - 1]), msg),
        None if r.ends_with(':') => (Some(&r[..r.len() - 1]), ""),
        _ => (None, r),
    };
    if let Some(tag) = tag {
        match tag.split_once('[') {
            Some((app, pid)) if pid.ends_with(']') => {
                m.put("app_name", app);
                m.put("proc_id", &pid[..pid.len() - 1]);
            }
            _ => m.put("app_name", tag),
        }
    }
    if !msg.is_empty() {
        m.text("message", msg);
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
