//! The `ipv4` scanner, in its three modes.

use super::Ipv4Mode;
use super::{splice, IPV4_REDACTED};
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// Reads one IPv4 octet at `i`: 1–3 digits, at most 255. Returns the end.
fn octet(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    let mut v: u32 = 0;
    while j < b.len() && j - i < 3 && b[j].is_ascii_digit() {
        v = v * 10 + u32::from(b[j] - b'0');
        j += 1;
    }
    if j == i || v > 255 || b.get(j).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some(j)
}

/// An IPv4 address starting at `i`; returns its end and the end of the first octet.
fn ipv4_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let first = octet(b, i)?;
    let mut j = first;
    for _ in 0..3 {
        if b.get(j) != Some(&b'.') {
            return None;
        }
        j = octet(b, j + 1)?;
    }
    // Not part of a longer dotted number such as 1.2.3.4.5.
    if b.get(j) == Some(&b'.') && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some((j, first))
}

fn ipv4_replacement<'a>(
    s: &'a str,
    start: usize,
    end: usize,
    mode: Ipv4Mode,
    salt: &str,
) -> Cow<'a, str> {
    match mode {
        // Only the part after the first octet is replaced (see `mask_ipv4`).
        Ipv4Mode::Partial => Cow::Borrowed(".x.x.x"),
        Ipv4Mode::Redact => Cow::Borrowed(IPV4_REDACTED),
        Ipv4Mode::Hash => {
            let mut h = Sha256::new();
            h.update(salt.as_bytes());
            h.update(b"\0");
            h.update(&s.as_bytes()[start..end]);
            let digest = h.finalize();
            Cow::Owned(format!("[IPV4_HASH:{}]", hex::encode(&digest[..6])))
        }
    }
}

/// IPv4 addresses: four dot-separated octets (0–255), not part of a longer number or dotted
/// number. Found from the dots, so strings without one cost a single `memchr`.
pub(super) fn mask_ipv4(s: &str, mode: Ipv4Mode, salt: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut hits = Vec::new();
    let mut floor = 0;
    let mut pos = 0;
    while let Some(off) = memchr::memchr(b'.', &b[pos..]) {
        let dot = pos + off;
        let mut start = dot;
        while start > floor && dot - start < 3 && b[start - 1].is_ascii_digit() {
            start -= 1;
        }
        let starts = start < dot
            && (start == 0
                || !(b[start - 1].is_ascii_digit()
                    || (b[start - 1] == b'.' && start >= 2 && b[start - 2].is_ascii_digit())));
        if starts {
            if let Some((end, first)) = ipv4_at(b, start) {
                // `partial` keeps the first octet where it is, which spares building each
                // replacement.
                let from = if mode == Ipv4Mode::Partial {
                    first
                } else {
                    start
                };
                hits.push((from, end, ipv4_replacement(s, start, end, mode, salt)));
                floor = end;
                pos = end;
                continue;
            }
        }
        pos = dot + 1;
    }
    splice(s, &hits)
}
