//! The `nginx` format: the combined log format, or its common-log subset.

use super::{put, put_time, s, with_format, Parsed};
use crate::time::parse_nginx_time;
use serde_json::Value;

/// One access-log line; `None` when it is not one.
pub(super) fn parse(line: &str) -> Option<Parsed> {
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
