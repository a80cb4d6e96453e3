//! The `nginx` format: the combined log format, or its common-log subset.

use super::Pieces;
use crate::time::parse_nginx_time;
use chrono::{DateTime, Utc};

/// One access-log line; `None` when it is not one.
pub(super) fn parse(line: &str) -> Option<(Pieces<'_>, Option<DateTime<Utc>>)> {
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
    let mut m = Pieces::with_format("nginx");
    m.put("client_ip", ip);
    m.put("ident", ident);
    m.put("user", user);
    let t = m.put_time(time, parse_nginx_time);
    let mut parts = request.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(path), Some(proto), None) if proto.starts_with("HTTP/") => {
            m.put("method", method);
            m.put("path", path);
            m.put("protocol", proto);
        }
        (Some(method), Some(path), None, None) => {
            m.put("method", method);
            m.put("path", path);
        }
        _ => {
            m.text("request", request);
        }
    }
    if let Ok(n) = status.parse::<u16>() {
        m.number("status", n);
    }
    if let Ok(n) = bytes.parse::<u64>() {
        m.number("bytes", n);
    }
    // Combined format: "referrer" "agent"; anything after them is ignored.
    if let Some(rest) = rest.strip_prefix('"') {
        if let Some((referrer, rest)) = rest.split_once('"') {
            m.put("referrer", referrer);
            if let Some(rest) = rest.strip_prefix(" \"") {
                if let Some((agent, _)) = rest.split_once('"') {
                    m.put("user_agent", agent);
                }
            }
        }
    }
    Some((m, t))
}
