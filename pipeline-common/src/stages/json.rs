//! Compact JSON writing for the hot path: byte-for-byte what `serde_json::to_writer` writes for a
//! [`Value`], but with strings scanned 16 bytes at a time for characters that need escaping and
//! copied in runs, instead of byte by byte.

use super::hash::Sink;
use serde_json::{Map, Value};

const HEX: &[u8; 16] = b"0123456789abcdef";

#[inline(always)]
fn needs_escape(c: u8) -> bool {
    (c < 0x20) | (c == b'"') | (c == b'\\')
}

/// Index of the first byte of `b` that JSON needs escaped.
#[inline]
fn first_escape(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    // Branch-free test of whole chunks (vectorizes); the exact position only in the last one.
    for chunk in b.chunks_exact(16) {
        if chunk.iter().fold(false, |acc, &c| acc | needs_escape(c)) {
            break;
        }
        i += 16;
    }
    b[i..].iter().position(|&c| needs_escape(c)).map(|p| i + p)
}

/// Writes `s` as a JSON string, escaped as serde_json does: `"`, `\`, `\b \f \n \r \t`, other
/// control characters as `\u00xx` (lowercase hex), nothing else.
pub(crate) fn write_str<S: Sink>(s: &str, out: &mut S) {
    let b = s.as_bytes();
    out.put(b"\"");
    let mut start = 0;
    while let Some(off) = first_escape(&b[start..]) {
        let i = start + off;
        if i > start {
            out.put(&b[start..i]);
        }
        let c = b[i];
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
        start = i + 1;
    }
    out.put(&b[start..]);
    out.put(b"\"");
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

/// Writes `v` as compact JSON, maps in their own iteration order (as `serde_json::to_writer`).
pub(crate) fn write_value<S: Sink>(v: &Value, out: &mut S) {
    match v {
        Value::Null => out.put(b"null"),
        Value::Bool(true) => out.put(b"true"),
        Value::Bool(false) => out.put(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.put(b"[");
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.put(b",");
                }
                write_value(x, out);
            }
            out.put(b"]");
        }
        Value::Object(m) => write_map(m, out),
    }
}

/// Writes `m` as a compact JSON object, in its own iteration order.
pub(crate) fn write_map<S: Sink>(m: &Map<String, Value>, out: &mut S) {
    out.put(b"{");
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.put(b",");
        }
        write_str(k, out);
        out.put(b":");
        write_value(v, out);
    }
    out.put(b"}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn ours(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        write_value(v, &mut out);
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
    fn numbers_and_structures_like_serde_json() {
        let v = json!({"a": [0, 1, 9, 10, u64::MAX, -1, i64::MIN, 1.5, 1e300, -0.0, 1000.0, 0.1],
            "b": {"c": null, "d": true, "e": false, "": {}}, "z": []});
        assert_eq!(ours(&v), serde_json::to_vec(&v).unwrap());
    }

    proptest! {
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
