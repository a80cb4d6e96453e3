//! The `credit_card` scanner, for strings and for numbers.

use super::{splice, CC_REDACTED};
use crate::json;
use crate::swar::{bytes_below, bytes_equal, load_word, pack_high_bits, HIGH_BITS};
use std::borrow::Cow;

/// Whether `mask_cards` could find a card: it needs 13 digits in one run of digits joined by
/// single spaces or dashes, so 13 such bytes in a row. Dates, times and counters are ruled out
/// here without scanning them digit by digit, whose branches dominated the stage's own time on
/// log lines.
pub(super) fn may_hold_card(b: &[u8]) -> bool {
    if b.len() < CARD_RUN {
        return false;
    }
    // 13 bytes in a row hold 8 that start at a multiple of 4 (one of any 6 consecutive offsets
    // is), and run bytes are below `:`. Eight bytes that are all below `:` are rare in text, so
    // this rules out most strings with a few operations per 4 bytes, before the exact test.
    let mut at = 0;
    while at + 8 <= b.len() {
        if bytes_below(load_word(&b[at..at + 8], 0), b':') == HIGH_BITS {
            // The exact test covers the whole string.
            return runs_of_13(b);
        }
        at += 4;
    }
    false
}

/// The bytes in a row a card number needs: 13 digits, with single separators between them.
const CARD_RUN: usize = 13;

/// The exact test of [`may_hold_card`].
///
/// Per 64-byte window, bit masks of digits and separators give the run bytes (a digit, or a
/// separator between two digits); shifting and masking keeps the bits that start 13 run bytes
/// in a row. Windows overlap by 12 bytes, so every 13-byte stretch lies inside one of them.
fn runs_of_13(b: &[u8]) -> bool {
    const RUN: usize = CARD_RUN;
    const WINDOW: usize = 64;
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

/// For up to 8 bytes, one bit per byte (bit `i` for byte `i`): which are ASCII digits, and which
/// are a space or a dash. Eight bytes at a time in a `u64`, without a branch per byte.
fn digits_and_separators(chunk: &[u8]) -> (u8, u8) {
    let word = load_word(chunk, 0);
    let digits = bytes_below(word, b'9' + 1) & !bytes_below(word, b'0');
    let separators = bytes_equal(word, b' ') | bytes_equal(word, b'-');
    // Only the first `chunk.len()` bytes are real; the padding is zero, neither digit nor separator.
    (pack_high_bits(digits), pack_high_bits(separators))
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
pub(super) fn mask_cards(s: &str) -> Option<String> {
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

/// Whether a JSON number holds a card number: its JSON text, read as a string, has one. Such a
/// number becomes the string [`CC_REDACTED`], as the same digits in a string would.
pub(super) fn number_is_card(n: &serde_json::Number) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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

        #[test]
        fn no_card_is_found_where_the_pre_check_says_none(s in "[0-9 :a-f.-]{0,80}") {
            if !may_hold_card(s.as_bytes()) {
                proptest::prop_assert_eq!(mask_cards(&s), None);
            }
        }
    }
}
