//! Compact JSON writing for the hot path (documents, the hash stage's canonical form; see
//! [`crate::doc::write`]): strings and numbers byte for byte as `serde_json::to_writer` writes
//! them, but with strings scanned a word (8 bytes) at a time for characters that need escaping
//! and copied in runs, instead of byte by byte.

use crate::swar::{load_word, lowest_bytes_below, lowest_bytes_equal};

/// Where JSON bytes go: a buffer, or a hasher.
pub trait Sink {
    /// Appends bytes.
    fn put(&mut self, bytes: &[u8]);

    /// Appends `"`, the bytes, `"` (a string that needs no escaping).
    fn put_quoted(&mut self, bytes: &[u8]) {
        self.put(b"\"");
        self.put(bytes);
        self.put(b"\"");
    }
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    #[inline]
    fn put_quoted(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len() + 2);
        self.push(b'"');
        self.extend_from_slice(bytes);
        self.push(b'"');
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[inline(always)]
fn needs_escape(c: u8) -> bool {
    (c < 0x20) | (c == b'"') | (c == b'\\')
}

/// The bytes of `x` (little-endian) that need escaping, below 0x20, `"` or `\\`, flagged by
/// their high bit; the lowest flag is exact, which is all a search for the first one needs.
#[inline(always)]
fn escape_flags(x: u64) -> u64 {
    lowest_bytes_below(x, 0x20) | lowest_bytes_equal(x, b'"') | lowest_bytes_equal(x, b'\\')
}

#[cfg(test)]
fn word_needs_escape(x: u64) -> bool {
    escape_flags(x) != 0
}

/// Index of the first byte of `b` that JSON needs escaped.
#[inline(always)]
fn first_escape(b: &[u8]) -> Option<usize> {
    if b.len() <= 8 {
        // Most keys and many values: one word, padded with a byte that needs no escaping.
        let flags = escape_flags(load_word(b, b'a'));
        return (flags != 0).then_some((flags.trailing_zeros() / 8) as usize);
    }
    first_escape_in_long(b)
}

/// [`first_escape`] of more than eight bytes.
#[inline(never)]
fn first_escape_in_long(b: &[u8]) -> Option<usize> {
    // Whole blocks of 32 bytes are cleared with one branch each: a fold without an early exit,
    // which the compiler turns into a few vector compares. The word scan finds the byte.
    let clean = b
        .chunks_exact(32)
        .take_while(|block| {
            block
                .iter()
                .fold(0u8, |acc, &c| acc | u8::from(needs_escape(c)))
                == 0
        })
        .count();
    let start = clean * 32;
    first_escape_in_words(&b[start..]).map(|i| start + i)
}

/// [`first_escape`], eight bytes at a time.
#[inline]
fn first_escape_in_words(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let flags = escape_flags(load_word(chunk, 0));
        if flags != 0 {
            return Some(i + (flags.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let rest = chunks.remainder();
    if rest.is_empty() {
        return None;
    }
    let flags = if b.len() >= 8 {
        // The last eight bytes, overlapping bytes already found clean: those carry no flag, so
        // the lowest flag is still exact and lies in the tail.
        i = b.len() - 8;
        escape_flags(load_word(&b[i..], 0))
    } else {
        // The tail, padded with a byte that needs no escaping.
        escape_flags(load_word(rest, b'a'))
    };
    (flags != 0).then(|| i + (flags.trailing_zeros() / 8) as usize)
}

/// Whether `b` holds a byte that a JSON string needs escaped.
#[inline]
pub(crate) fn needs_escaping(b: &[u8]) -> bool {
    first_escape(b).is_some()
}

/// Writes `s` as a JSON string, escaped as serde_json does: `"`, `\`, `\b \f \n \r \t`, other
/// control characters as `\u00xx` (lowercase hex), nothing else.
pub(crate) fn write_str<S: Sink>(s: &str, out: &mut S) {
    let b = s.as_bytes();
    let Some(first) = first_escape(b) else {
        out.put_quoted(b);
        return;
    };
    out.put(b"\"");
    let mut start = 0;
    let mut next = Some(first);
    while let Some(i) = next {
        if i > start {
            out.put(&b[start..i]);
        }
        put_escaped(b[i], out);
        start = i + 1;
        next = first_escape(&b[start..]).map(|off| start + off);
    }
    out.put(&b[start..]);
    out.put(b"\"");
}

/// Writes the escape sequence of a byte that needs one.
fn put_escaped<S: Sink>(c: u8, out: &mut S) {
    match c {
        b'"' => out.put(b"\\\""),
        b'\\' => out.put(b"\\\\"),
        0x08 => out.put(b"\\b"),
        0x0c => out.put(b"\\f"),
        b'\n' => out.put(b"\\n"),
        b'\r' => out.put(b"\\r"),
        b'\t' => out.put(b"\\t"),
        _ => out.put(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(c >> 4)],
            HEX[usize::from(c & 0xf)],
        ]),
    }
}

/// Lets serde_json's number writer feed a [`Sink`].
struct SinkWriter<'a, S: Sink>(&'a mut S);

impl<S: Sink> std::io::Write for SinkWriter<'_, S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.put(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes a number as serde_json does.
#[inline]
pub(crate) fn write_number<S: Sink>(n: &serde_json::Number, out: &mut S) {
    if let Some(u) = n.as_u64() {
        let mut buf = itoa_buf();
        out.put(fmt_u64(u, &mut buf));
    } else {
        // Writing to a Sink cannot fail.
        let _ = serde_json::to_writer(SinkWriter(out), n);
    }
}

fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// Decimal digits of `u`, at the end of `buf`.
fn fmt_u64(mut u: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// Through the document model's writer, which writes strings and numbers with these.
    fn ours(v: &Value) -> Vec<u8> {
        let mut texts = crate::doc::Texts::default();
        let v = crate::doc::convert::value_from_json(v, &mut texts);
        let mut out = Vec::new();
        crate::doc::write::write_value(&v, &texts, &mut out);
        out
    }

    #[test]
    fn every_ascii_and_some_unicode_like_serde_json() {
        let mut s = String::new();
        for c in 0u8..=0x7f {
            s.push(char::from(c));
        }
        s.push_str("é😀\u{2028}\u{feff}");
        for text in [
            s.clone(),
            s.repeat(3),
            "plain text longer than sixteen bytes".into(),
            String::new(),
            "\"".into(),
            "x".repeat(33) + "\\",
        ] {
            let v = Value::String(text);
            assert_eq!(ours(&v), serde_json::to_vec(&v).unwrap());
        }
    }

    #[test]
    fn word_test_is_exact() {
        for c in 0u8..=255 {
            for pos in 0..8 {
                let mut w = [b'a'; 8];
                w[pos] = c;
                assert_eq!(
                    word_needs_escape(u64::from_le_bytes(w)),
                    needs_escape(c),
                    "{c}"
                );
                let mut w = [c; 8];
                w[pos] = b'"';
                assert!(word_needs_escape(u64::from_le_bytes(w)));
            }
        }
    }

    #[test]
    fn numbers_and_structures_like_serde_json() {
        let v = json!({"a": [0, 1, 9, 10, u64::MAX, -1, i64::MIN, 1.5, 1e300, -0.0, 1000.0, 0.1],
            "b": {"c": null, "d": true, "e": false, "": {}}, "z": []});
        assert_eq!(ours(&v), serde_json::to_vec(&v).unwrap());
    }

    proptest! {
        #[test]
        fn first_escape_is_the_first(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(first_escape(&b), b.iter().position(|&c| needs_escape(c)));
        }

        #[test]
        fn first_escape_in_long_text(b in proptest::collection::vec(prop_oneof![8 => Just(b'a'), 1 => Just(b'"'), 1 => Just(0x1f), 1 => Just(0x80)], 0..200)) {
            prop_assert_eq!(first_escape(&b), b.iter().position(|&c| needs_escape(c)));
        }

        #[test]
        fn first_escape_in_text(b in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), Just(0u8), Just(0x1f), Just(b' '), Just(0x80), Just(b'a')], 0..40)) {
            prop_assert_eq!(first_escape(&b), b.iter().position(|&c| needs_escape(c)));
        }

        #[test]
        fn strings_like_serde_json(s in "\\PC*|[\\x00-\\x7f]{0,40}") {
            let v = Value::String(s);
            prop_assert_eq!(ours(&v), serde_json::to_vec(&v).unwrap());
        }

        #[test]
        fn numbers_like_serde_json(u in any::<u64>(), i in any::<i64>(), f in any::<f64>()) {
            let v = json!([u, i, f]);
            prop_assert_eq!(ours(&v), serde_json::to_vec(&v).unwrap());
        }
    }
}
