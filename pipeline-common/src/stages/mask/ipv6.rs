//! The `ipv6` scanner.

use super::{splice, IPV6_REDACTED};
use std::borrow::Cow;

/// Whether `mask_ipv6` could find an address: it needs two `:` in one run, and six of them or
/// a `::` (timestamps and `host:port` have neither).
pub(super) fn may_hold_ipv6(b: &[u8]) -> bool {
    let mut colons = 0;
    let mut double = false;
    for at in memchr::memchr_iter(b':', b) {
        colons += 1;
        double |= b.get(at + 1) == Some(&b':');
    }
    colons >= 2 && (colons >= 6 || double)
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_ipv6_char(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// IPv6 addresses: a run of hex digits, `:` and `.` with at least two colons, not glued to a
/// word character, that parses as an address (or does once trailing `.`/`:` are dropped).
pub(super) fn mask_ipv6(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut hits = Vec::new();
    let mut pos = 0;
    while let Some(off) = memchr::memchr(b':', &b[pos..]) {
        let colon = pos + off;
        let mut start = colon;
        while start > pos && is_ipv6_char(b[start - 1]) {
            start -= 1;
        }
        let mut end = colon + 1;
        while end < b.len() && is_ipv6_char(b[end]) {
            end += 1;
        }
        pos = end;
        let bounded =
            (start == 0 || !is_word(b[start - 1])) && (end == b.len() || !is_word(b[end]));
        let run = &s[start..end];
        let colons = memchr::memchr_iter(b':', run.as_bytes()).count();
        // An address (and so a prefix of the run) has `::`, or 7 colons, or 6 before an IPv4
        // tail: runs such as times (`10:15:00`) are settled without parsing.
        if !bounded
            || colons < 2
            || (colons < 6 && memchr::memmem::find(run.as_bytes(), b"::").is_none())
        {
            continue;
        }
        let candidate = if run.parse::<std::net::Ipv6Addr>().is_ok() {
            Some(run)
        } else {
            // "at fe80::1." or "fe80::1:" at the end of a clause.
            let trimmed = run.trim_end_matches(['.', ':']);
            trimmed
                .parse::<std::net::Ipv6Addr>()
                .is_ok()
                .then_some(trimmed)
        };
        if let Some(c) = candidate {
            hits.push((start, start + c.len(), Cow::Borrowed(IPV6_REDACTED)));
        }
    }
    splice(s, &hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn no_ipv6_is_found_where_the_pre_check_says_none(s in "[0-9 :a-f.-]{0,80}") {
            if !may_hold_ipv6(s.as_bytes()) {
                proptest::prop_assert_eq!(mask_ipv6(&s), None);
            }
        }
    }
}
