//! The `mask` stage: redacts PII in every string of the document (values and keys), or in the
//! listed subtrees only.
//!
//! Numbers are masked too when they hold a card number (`{"card": 4111111111111111}`): the
//! number becomes the string `[CC_REDACTED]`.
//!
//! Built-in rules are byte scanners (email: checked against one regex), run only on strings that
//! could hold a match (13 digits in a row, spaces and dashes allowed, for card numbers; six `:` or
//! a `::` for IPv6; a `.` for IPv4; `@` for email), in a fixed order: IPv6, IPv4, card numbers,
//! email, then custom rules as listed. Passes repeat until the string settles, so
//! masking is idempotent: `mask(mask(x)) == mask(x)`.

use super::{json, EventDoc, Stage, StageResult};
use crate::model::{FieldPath, Ipv4Mode, MaskRule, MaskSpec};
use regex::{NoExpand, Regex};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// Replacement for email addresses.
pub const EMAIL_REDACTED: &str = "[EMAIL_REDACTED]";
/// Replacement for IPv4 addresses in `redact` mode.
pub const IPV4_REDACTED: &str = "[IPV4_REDACTED]";
/// Replacement for IPv6 addresses.
pub const IPV6_REDACTED: &str = "[IPV6_REDACTED]";
/// Replacement for card numbers.
pub const CC_REDACTED: &str = "[CC_REDACTED]";

fn is_email_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_email_domain(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'-'
}

/// Email addresses, replaced by [`EMAIL_REDACTED`]; `None` when there are none.
///
/// Exactly what `replace_all` of the regex `[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}` does
/// (leftmost-first, greedy, non-overlapping; checked against the regex by a test), found from the
/// `@` signs: the local part is the run of local characters before an `@` (not reaching back
/// into the previous match), the domain ends at the last `.` of the domain run that has two
/// letters after it, then takes every letter that follows.
fn mask_emails(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut hits = Vec::new();
    let mut floor = 0;
    for at in memchr::memchr_iter(b'@', b) {
        if at < floor {
            continue;
        }
        let mut start = at;
        while start > floor && is_email_local(b[start - 1]) {
            start -= 1;
        }
        if start == at {
            continue;
        }
        let mut run_end = at + 1;
        while run_end < b.len() && is_email_domain(b[run_end]) {
            run_end += 1;
        }
        // The last dot with at least one domain character before it and two letters after it.
        let mut dot = None;
        let mut d = run_end;
        while d > at + 2 {
            d -= 1;
            if b[d] == b'.'
                && d + 2 < run_end
                && b[d + 1].is_ascii_alphabetic()
                && b[d + 2].is_ascii_alphabetic()
            {
                dot = Some(d);
                break;
            }
        }
        let Some(dot) = dot else {
            continue;
        };
        let mut end = dot + 1;
        while end < run_end && b[end].is_ascii_alphabetic() {
            end += 1;
        }
        hits.push((start, end, Cow::Borrowed(EMAIL_REDACTED)));
        floor = end;
    }
    splice(s, &hits)
}

/// The runtime `mask` stage.
#[derive(Debug, Clone)]
pub struct MaskStage {
    email: bool,
    ipv4: Option<Ipv4Mode>,
    ipv6: bool,
    credit_card: bool,
    salt: String,
    custom: Vec<(Regex, String)>,
    fields: Option<Vec<FieldPath>>,
}

impl MaskStage {
    /// Builds the stage.
    pub fn new(spec: &MaskSpec) -> Self {
        let mut st = MaskStage {
            email: false,
            ipv4: None,
            ipv6: false,
            credit_card: false,
            salt: spec.salt.clone().unwrap_or_default(),
            custom: Vec::new(),
            fields: spec.fields.clone(),
        };
        for r in &spec.rules {
            match r {
                MaskRule::Email => st.email = true,
                MaskRule::Ipv4 => st.ipv4 = Some(spec.ipv4),
                MaskRule::Ipv6 => st.ipv6 = true,
                MaskRule::CreditCard => st.credit_card = true,
                MaskRule::Custom(c) => st
                    .custom
                    .push((c.regex.regex().clone(), c.replacement.clone())),
            }
        }
        st
    }

    /// The masked form of `s`, or `None` when nothing in it is PII.
    ///
    /// One pass can expose a new match (a replacement changes what surrounds a neighbour), so
    /// passes repeat until nothing changes; a string that has not settled after a few passes is
    /// hostile or pathological and is redacted whole (to the empty string, which no rule
    /// matches). That makes masking idempotent.
    pub fn mask_str(&self, s: &str) -> Option<String> {
        let mut cur = self.mask_once(s)?;
        for _ in 0..4 {
            match self.mask_once(&cur) {
                None => return Some(cur),
                Some(next) => cur = next,
            }
        }
        Some(String::new())
    }

    fn mask_once(&self, s: &str) -> Option<String> {
        let t = Triggers::of(s.as_bytes());
        if self.custom.is_empty() && !t.any() {
            return None;
        }
        let mut cur = Cow::Borrowed(s);
        if self.ipv6 && t.ipv6 && may_hold_ipv6(cur.as_bytes()) {
            if let Some(n) = mask_ipv6(&cur) {
                cur = Cow::Owned(n);
            }
        }
        if let Some(mode) = self.ipv4 {
            if t.ipv4 {
                if let Some(n) = mask_ipv4(&cur, mode, &self.salt) {
                    cur = Cow::Owned(n);
                }
            }
        }
        if self.credit_card && t.card && may_hold_card(cur.as_bytes()) {
            if let Some(n) = mask_cards(&cur) {
                cur = Cow::Owned(n);
            }
        }
        if self.email && t.email && memchr::memchr(b'@', cur.as_bytes()).is_some() {
            if let Some(n) = mask_emails(&cur) {
                cur = Cow::Owned(n);
            }
        }
        for (re, replacement) in &self.custom {
            if let Cow::Owned(n) = re.replace_all(&cur, NoExpand(replacement)) {
                cur = Cow::Owned(n);
            }
        }
        match cur {
            Cow::Owned(n) => Some(n),
            Cow::Borrowed(_) => None,
        }
    }

    /// Masks every string in `v`, recursively.
    pub fn mask_value(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                if let Some(n) = self.mask_str(s) {
                    *s = n;
                }
            }
            Value::Number(n) => {
                if self.credit_card && number_is_card(n) {
                    *v = Value::String(CC_REDACTED.to_owned());
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|x| self.mask_value(x)),
            Value::Object(m) => self.mask_map(m),
            _ => {}
        }
    }

    /// Masks every value and key of `m`, recursively.
    pub fn mask_map(&self, m: &mut Map<String, Value>) {
        for v in m.values_mut() {
            self.mask_value(v);
        }
        // Keys rarely hold PII; rebuild the map only when one does.
        if m.keys().any(|k| self.mask_str(k).is_some()) {
            let old = std::mem::take(m);
            for (k, v) in old {
                let k = self.mask_str(&k).unwrap_or(k);
                m.insert(k, v);
            }
        }
    }
}

impl Stage for MaskStage {
    fn name(&self) -> &'static str {
        "mask"
    }

    fn apply(&self, doc: &mut EventDoc) -> StageResult {
        match &self.fields {
            None => self.mask_map(&mut doc.fields),
            Some(paths) => {
                for p in paths {
                    if let Some(v) = p.remove(&mut doc.fields) {
                        let mut v = v;
                        self.mask_value(&mut v);
                        // The parent existed a moment ago, so this cannot fail.
                        let _ = p.set(&mut doc.fields, v);
                    }
                }
            }
        }
        StageResult::Continue
    }
}

/// Whether a JSON number holds a card number: its JSON text, read as a string, has one. Such a
/// number becomes the string [`CC_REDACTED`], as the same digits in a string would.
fn number_is_card(n: &serde_json::Number) -> bool {
    // Cards have at least 13 digits; smaller magnitudes are settled without writing the number.
    const SMALLEST: u64 = 1_000_000_000_000;
    let big = match (n.as_u64(), n.as_i64(), n.as_f64()) {
        (Some(u), _, _) => u >= SMALLEST,
        (None, Some(i), _) => i.unsigned_abs() >= SMALLEST,
        (None, None, Some(f)) => f.abs() >= SMALLEST as f64,
        (None, None, None) => true,
    };
    if !big {
        return false;
    }
    let mut text = Vec::with_capacity(24);
    json::write_number(n, &mut text);
    std::str::from_utf8(&text).is_ok_and(|t| mask_cards(t).is_some())
}

/// Rebuilds `s` with the spans in `hits` replaced; `None` when there are none.
fn splice(s: &str, hits: &[(usize, usize, Cow<'_, str>)]) -> Option<String> {
    if hits.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut last = 0;
    for (start, end, rep) in hits {
        out.push_str(&s[last..*start]);
        out.push_str(rep);
        last = *end;
    }
    out.push_str(&s[last..]);
    Some(out)
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

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
    first: usize,
    end: usize,
    mode: Ipv4Mode,
    salt: &str,
) -> Cow<'a, str> {
    match mode {
        Ipv4Mode::Partial => {
            let mut r = String::with_capacity(first - start + 6);
            r.push_str(&s[start..first]);
            r.push_str(".x.x.x");
            Cow::Owned(r)
        }
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
fn mask_ipv4(s: &str, mode: Ipv4Mode, salt: &str) -> Option<String> {
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
                hits.push((
                    start,
                    end,
                    ipv4_replacement(s, start, first, end, mode, salt),
                ));
                floor = end;
                pos = end;
                continue;
            }
        }
        pos = dot + 1;
    }
    splice(s, &hits)
}

/// Which built-in scanners could match a string, from one pass counting the bytes they need: an
/// IPv4 address needs 3 dots and 4 digits, an email an `@` and a dot, a card 13 digits, an IPv6
/// address 2 colons. Most field values (names, levels, times, versions, paths) need no scanner.
///
/// The counts are taken once per pass, on its input. Later scanners of the pass see the output
/// of earlier ones, and those replacements never add what a later scanner needs: IPv6 and IPv4
/// replacements remove colons, dots and digits and add none outside brackets (`partial` keeps
/// the first octet it found; `hash` writes hex digits between `[` and `]`, which cannot start or
/// end a card or hold an `@`).
#[derive(Debug, Clone, Copy)]
struct Triggers {
    ipv6: bool,
    ipv4: bool,
    card: bool,
    email: bool,
}

impl Triggers {
    fn of(b: &[u8]) -> Self {
        let (mut digits, mut dots, mut colons, mut ats) = (0u32, 0u32, 0u32, 0u32);
        for &c in b {
            digits += u32::from(c.is_ascii_digit());
            dots += u32::from(c == b'.');
            colons += u32::from(c == b':');
            ats += u32::from(c == b'@');
        }
        Triggers {
            ipv6: colons >= 2,
            ipv4: dots >= 3 && digits >= 4,
            card: digits >= 13,
            email: ats >= 1 && dots >= 1,
        }
    }

    fn any(self) -> bool {
        self.ipv6 || self.ipv4 || self.card || self.email
    }
}

/// Whether `mask_ipv6` could find an address: it needs two `:` in one run, and six of them or
/// a `::` (timestamps and `host:port` have neither).
fn may_hold_ipv6(b: &[u8]) -> bool {
    let mut colons = 0;
    let mut double = false;
    for at in memchr::memchr_iter(b':', b) {
        colons += 1;
        double |= b.get(at + 1) == Some(&b':');
    }
    colons >= 2 && (colons >= 6 || double)
}

/// Whether `mask_cards` could find a card: it needs 13 digits in one run of digits joined by
/// single spaces or dashes, so 13 such bytes in a row. Dates, times and counters are ruled out
/// here without scanning them digit by digit (that scan's branches, with the digit count it
/// replaces, were about half of the stage's own time on the sample log lines, by `perf annotate`).
///
/// Per 64-byte window, bit masks of digits and separators give the run bytes (a digit, or a
/// separator between two digits); shifting and masking keeps the bits that start 13 run bytes
/// in a row. Windows overlap by 12 bytes, so every 13-byte stretch lies inside one of them.
fn may_hold_card(b: &[u8]) -> bool {
    const RUN: usize = 13;
    const WINDOW: usize = 64;
    if b.len() < RUN {
        return false;
    }
    let mut start = 0;
    loop {
        let window = &b[start..b.len().min(start + WINDOW)];
        let (mut digits, mut separators) = (0u64, 0u64);
        for (k, chunk) in window.chunks(8).enumerate() {
            let (d, s) = digits_and_separators(chunk);
            digits |= u64::from(d) << (8 * k);
            separators |= u64::from(s) << (8 * k);
        }
        let mut run = digits | (separators & (digits << 1) & (digits >> 1));
        run &= run >> 1; // 2 in a row
        run &= run >> 2; // 4
        run &= run >> 4; // 8
        run &= run >> 5; // 13
        if run != 0 {
            return true;
        }
        if start + WINDOW >= b.len() {
            return false;
        }
        start += WINDOW - (RUN - 1);
    }
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// For up to 8 bytes, one bit per byte (bit `i` for byte `i`): which are ASCII digits, and which
/// are a space or a dash. Eight bytes at a time in a `u64`, without a branch per byte.
fn digits_and_separators(chunk: &[u8]) -> (u8, u8) {
    let mut bytes = [0u8; 8];
    bytes[..chunk.len()].copy_from_slice(chunk);
    let word = u64::from_le_bytes(bytes);
    let ascii = !word & HIGH_BITS;
    let low7 = word & !HIGH_BITS;
    // Adding 0x80 - c sets a byte's high bit exactly when its low 7 bits are at least c, with no
    // carry into the next byte.
    let at_least_0 = low7.wrapping_add((0x80 - u64::from(b'0')) * LOW_BITS) & HIGH_BITS;
    let above_9 = low7.wrapping_add((0x80 - u64::from(b'9') - 1) * LOW_BITS) & HIGH_BITS;
    let digits = at_least_0 & !above_9 & ascii;
    let separators = zero_bytes(word ^ (u64::from(b' ') * LOW_BITS))
        | zero_bytes(word ^ (u64::from(b'-') * LOW_BITS));
    // Only the first `chunk.len()` bytes are real; the padding is zero, neither digit nor separator.
    (pack_high_bits(digits), pack_high_bits(separators))
}

/// The high bit of each byte of `word` set where that byte is zero (exact, no false positives).
fn zero_bytes(word: u64) -> u64 {
    !(((word & !HIGH_BITS).wrapping_add(!HIGH_BITS)) | word | !HIGH_BITS)
}

/// Gathers the high bit of byte `i` into bit `i`.
fn pack_high_bits(high: u64) -> u8 {
    // Each byte's flag (bit 8i after the shift) lands in bit 56 + i of the product.
    ((high >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8
}

fn is_ipv6_char(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// IPv6 addresses: a run of hex digits, `:` and `.` with at least two colons, not glued to a
/// word character, that parses as an address (or does once trailing `.`/`:` are dropped).
fn mask_ipv6(s: &str) -> Option<String> {
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

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// Card numbers: 13–19 digits in groups separated by single spaces or dashes, starting with 2–6
/// (the issuer ranges of the major networks), Luhn-valid, not glued to letters or digits. Groups
/// are never split, so a match always covers whole digit groups.
fn mask_cards(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut hits = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        // Measure the run of digit groups first; most runs (dates, counters) are too short.
        let mut j = i;
        let mut ndigits = 0;
        loop {
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
                ndigits += 1;
            }
            if j + 1 < b.len() && (b[j] == b' ' || b[j] == b'-') && b[j + 1].is_ascii_digit() {
                j += 1;
            } else {
                break;
            }
        }
        let run_end = j;
        if ndigits < 13 {
            i = run_end;
            continue;
        }
        // Collect the run's digit groups: (start, end) of each.
        let mut groups: Vec<(usize, usize)> = Vec::new();
        let mut j = i;
        loop {
            let g = j;
            while j < run_end && b[j].is_ascii_digit() {
                j += 1;
            }
            groups.push((g, j));
            if j < run_end {
                j += 1;
            } else {
                break;
            }
        }
        let glued = run_end < b.len() && b[run_end].is_ascii_alphanumeric();
        let mut g0 = 0;
        let mut next = run_end;
        while g0 < groups.len() {
            let mut found = None;
            if (b'2'..=b'6').contains(&b[groups[g0].0]) {
                let mut digits: Vec<u8> = Vec::with_capacity(19);
                for (k, &(gs, ge)) in groups.iter().enumerate().skip(g0) {
                    digits.extend(b[gs..ge].iter().map(|c| c - b'0'));
                    if digits.len() > 19 {
                        break;
                    }
                    let last = k == groups.len() - 1;
                    if digits.len() >= 13 && !(last && glued) && luhn(&digits) {
                        found = Some(k);
                    }
                }
            }
            match found {
                Some(k) => {
                    hits.push((groups[g0].0, groups[k].1, Cow::Borrowed(CC_REDACTED)));
                    g0 = k + 1;
                }
                None => g0 += 1,
            }
        }
        if run_end == i {
            next = i + 1;
        }
        i = next;
    }
    splice(s, &hits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn email_regex() -> Regex {
        Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}").unwrap()
    }

    fn by_regex(s: &str) -> Option<String> {
        match email_regex().replace_all(s, EMAIL_REDACTED) {
            Cow::Owned(n) => Some(n),
            Cow::Borrowed(_) => None,
        }
    }

    #[test]
    fn email_scanner_matches_the_regex_on_edge_cases() {
        for s in [
            "a@b.co",
            "a@b.c",
            "a@.co",
            "a@b..co",
            "@b.co",
            "a@b.co.",
            "a@b.co.uk",
            "a@b.co1",
            "a@b.c1o.de",
            "a@b.cx@d.ee",
            "a@b@c.de",
            "x a.b+c%d_e-f@g-h.i.jk l",
            "a@b.c.de-x.fg9",
            "é@b.co a@é.co a@b.éco",
            "a@b-.co",
            "a@@b.co",
            "..@..aa",
            "a@.aa.aa",
            "a@b.co@c.de",
            "john@example.com,x_y@mail.test",
        ] {
            assert_eq!(mask_emails(s), by_regex(s), "{s}");
        }
    }

    proptest::proptest! {
        #[test]
        fn email_scanner_matches_the_regex(s in "[a-c0-9.@_%+ é-]{0,24}") {
            proptest::prop_assert_eq!(mask_emails(&s), by_regex(&s));
        }

        #[test]
        fn email_scanner_matches_the_regex_on_dense_input(s in "[a@.b1-]{0,16}") {
            proptest::prop_assert_eq!(mask_emails(&s), by_regex(&s));
        }
    }

    /// The longest run of digits joined by single spaces or dashes, counted in bytes.
    fn longest_run(s: &str) -> usize {
        let b = s.as_bytes();
        let in_run = |i: usize| {
            b[i].is_ascii_digit()
                || ((b[i] == b' ' || b[i] == b'-')
                    && i > 0
                    && b[i - 1].is_ascii_digit()
                    && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        };
        let (mut best, mut cur) = (0, 0);
        for i in 0..b.len() {
            cur = if in_run(i) { cur + 1 } else { 0 };
            best = best.max(cur);
        }
        best
    }

    #[test]
    fn the_card_pre_check_reads_runs_across_windows() {
        let card = "4111 1111 1111 1111";
        for pad in [
            0, 1, 7, 8, 45, 50, 51, 52, 53, 60, 63, 64, 100, 115, 116, 117,
        ] {
            let s = format!("{}{card} tail", "x".repeat(pad));
            assert!(may_hold_card(s.as_bytes()), "pad {pad}");
            let short = format!("{}4111 1111 11 x", "x".repeat(pad));
            assert!(!may_hold_card(short.as_bytes()), "pad {pad}");
        }
        assert!(!may_hold_card(b"2026-11-04T00:47:17Z"));
        assert!(
            !may_hold_card(b"1234567890  123"),
            "two separators never join"
        );
        assert!(may_hold_card(b"1234567890-123"));
        assert!(!may_hold_card(
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}".as_bytes()
        ));
    }

    proptest::proptest! {
        #[test]
        fn the_card_pre_check_is_exactly_13_run_bytes(s in "[0-9 a-]{0,150}") {
            proptest::prop_assert_eq!(may_hold_card(s.as_bytes()), longest_run(&s) >= 13);
        }

        #[test]
        fn no_card_or_ipv6_is_found_where_the_pre_checks_say_none(
            s in "[0-9 :a-f.-]{0,80}",
        ) {
            if !may_hold_card(s.as_bytes()) {
                proptest::prop_assert_eq!(mask_cards(&s), None);
            }
            if !may_hold_ipv6(s.as_bytes()) {
                proptest::prop_assert_eq!(mask_ipv6(&s), None);
            }
        }
    }

    /// The default rules with every scanner run on every string, no pre-check.
    fn unfiltered(st: &MaskStage, s: &str) -> Option<String> {
        let once = |s: &str| {
            let mut cur = Cow::Borrowed(s);
            for scan in [
                &(|s: &str| mask_ipv6(s)) as &dyn Fn(&str) -> Option<String>,
                &|s: &str| mask_ipv4(s, Ipv4Mode::Partial, &st.salt),
                &|s: &str| mask_cards(s),
                &|s: &str| mask_emails(s),
            ] {
                if let Some(n) = scan(&cur) {
                    cur = Cow::Owned(n);
                }
            }
            match cur {
                Cow::Owned(n) => Some(n),
                Cow::Borrowed(_) => None,
            }
        };
        let mut cur = once(s)?;
        for _ in 0..4 {
            match once(&cur) {
                None => return Some(cur),
                Some(next) => cur = next,
            }
        }
        Some(String::new())
    }

    proptest::proptest! {
        #[test]
        fn pre_checks_never_skip_a_match(
            s in "([0-9]{1,4}|[.:@ -]|[a-f]{1,3}|x|[a-z]{2}|4111111111111111|1.2.3.4|a@b.co|::1){0,16}",
        ) {
            let st = default_stage();
            proptest::prop_assert_eq!(st.mask_str(&s), unfiltered(&st, &s));
        }
    }

    fn default_stage() -> MaskStage {
        MaskStage::new(&MaskSpec::default())
    }

    fn m(s: &str) -> String {
        default_stage().mask_str(s).unwrap_or_else(|| s.to_owned())
    }

    #[test]
    fn emails() {
        assert_eq!(
            m("User john@example.com login"),
            "User [EMAIL_REDACTED] login"
        );
        assert_eq!(
            m("a.b-c@corp.example.org,x_y@mail.test"),
            "[EMAIL_REDACTED],[EMAIL_REDACTED]"
        );
        assert_eq!(m("no at sign"), "no at sign");
    }

    #[test]
    fn ipv4_modes() {
        assert_eq!(m("from 192.168.1.9 port 22"), "from 192.x.x.x port 22");
        assert_eq!(m("ip=10.0.0.1,8.8.8.8."), "ip=10.x.x.x,8.x.x.x.");
        assert_eq!(m("host192.168.1.1"), "host192.x.x.x");
        assert_eq!(
            m("version 1.2.3.4.5 and 999.1.1.1"),
            "version 1.2.3.4.5 and 999.1.1.1"
        );
        let redact = MaskStage::new(&MaskSpec {
            ipv4: Ipv4Mode::Redact,
            ..MaskSpec::default()
        });
        assert_eq!(redact.mask_str("x 1.2.3.4").unwrap(), "x [IPV4_REDACTED]");
        let hash = MaskStage::new(&MaskSpec {
            ipv4: Ipv4Mode::Hash,
            salt: Some("pepper-pepper".into()),
            ..MaskSpec::default()
        });
        let a = hash.mask_str("1.2.3.4").unwrap();
        assert_eq!(a, hash.mask_str("1.2.3.4").unwrap());
        assert_ne!(a, hash.mask_str("1.2.3.5").unwrap());
        assert!(a.starts_with("[IPV4_HASH:") && a.len() == "[IPV4_HASH:]".len() + 12);
        assert_eq!(hash.mask_str(&a), None);
    }

    #[test]
    fn ipv6() {
        assert_eq!(m("from 2001:db8::1 port"), "from [IPV6_REDACTED] port");
        assert_eq!(m("[fe80::1%eth0]:80"), "[[IPV6_REDACTED]%eth0]:80");
        assert_eq!(m("at ::1."), "at [IPV6_REDACTED].");
        assert_eq!(m("::ffff:192.168.1.1"), "[IPV6_REDACTED]");
        assert_eq!(
            m("10:15:00 std::net aa:bb:cc:dd:ee:ff"),
            "10:15:00 std::net aa:bb:cc:dd:ee:ff"
        );
    }

    #[test]
    fn cards() {
        assert_eq!(m("card 4111 1111 1111 1111 ok"), "card [CC_REDACTED] ok");
        assert_eq!(m("4111-1111-1111-1111"), "[CC_REDACTED]");
        assert_eq!(m("4111111111111111 2023"), "[CC_REDACTED] 2023");
        assert_eq!(m("5500 0000 0000 0004"), "[CC_REDACTED]");
        assert_eq!(m("378282246310005"), "[CC_REDACTED]");
        // Not Luhn-valid, too long, or glued to other text.
        assert_eq!(m("4111 1111 1111 1112"), "4111 1111 1111 1112");
        assert_eq!(m("41111111111111111111111"), "41111111111111111111111");
        assert_eq!(m("x4111111111111111"), "x4111111111111111");
        assert_eq!(m("ts 1700000000000"), "ts 1700000000000");
    }

    #[test]
    fn card_numbers_held_as_json_numbers() {
        let st = default_stage();
        let mut v = json!({"card": 4111111111111111u64, "amex": 378282246310005u64,
            "negative": -4111111111111111i64, "float": 4111111111111111.0,
            "in_list": [5500000000000004u64, 7],
            "not_luhn": 4111111111111112u64, "epoch_ms": 1700000000000u64, "small": 42,
            "too_long": 12345678901234567890u64, "fraction": 1.5});
        st.mask_value(&mut v);
        assert_eq!(
            v,
            json!({"card": "[CC_REDACTED]", "amex": "[CC_REDACTED]",
                "negative": "[CC_REDACTED]", "float": "[CC_REDACTED]",
                "in_list": ["[CC_REDACTED]", 7],
                "not_luhn": 4111111111111112u64, "epoch_ms": 1700000000000u64, "small": 42,
                "too_long": 12345678901234567890u64, "fraction": 1.5})
        );
        // Masked once, masked for good.
        let again = v.clone();
        st.mask_value(&mut v);
        assert_eq!(v, again);
        // Without the credit_card rule, numbers stay numbers.
        let no_cards = MaskStage::new(&MaskSpec {
            rules: vec![MaskRule::Email],
            ..MaskSpec::default()
        });
        let mut v = json!({"card": 4111111111111111u64});
        no_cards.mask_value(&mut v);
        assert_eq!(v, json!({"card": 4111111111111111u64}));
    }

    #[test]
    fn every_field_and_keys() {
        let st = default_stage();
        let mut doc = EventDoc::new(
            json!({"log_message": "john@example.com from 10.1.1.1",
                   "parsed": {"message": "john@example.com", "list": ["1.2.3.4", 5]},
                   "john@example.com": 1})
            .as_object()
            .cloned()
            .unwrap(),
            None,
        );
        st.apply(&mut doc);
        assert_eq!(
            Value::Object(doc.fields),
            json!({"log_message": "[EMAIL_REDACTED] from 10.x.x.x",
                   "parsed": {"message": "[EMAIL_REDACTED]", "list": ["1.x.x.x", 5]},
                   "[EMAIL_REDACTED]": 1})
        );
    }

    #[test]
    fn listed_fields_only() {
        let st = MaskStage::new(&MaskSpec {
            fields: Some(vec![FieldPath::parse("a.b").unwrap()]),
            ..MaskSpec::default()
        });
        let mut doc = EventDoc::new(
            json!({"a": {"b": "x@y.org"}, "c": "x@y.org"})
                .as_object()
                .cloned()
                .unwrap(),
            None,
        );
        st.apply(&mut doc);
        assert_eq!(doc.fields["a"]["b"], "[EMAIL_REDACTED]");
        assert_eq!(doc.fields["c"], "x@y.org");
    }
}
