//! The mask stage over arbitrary text and JSON, with known PII planted in it.
//!
//! Input: the first bytes build an email address, an IPv4 address and a Luhn-valid card number
//! (and how they are written); the rest is the surrounding text. Each value is planted between
//! delimiters that no rule treats as part of an address or card number, in a string value, a key,
//! nested arrays and the log line the default chain parses. An input that is itself a JSON
//! object is also masked as it is.
//! Properties: no panic; none of the planted values (nor a card's bare digits) appears in any
//! key or string of a masked document; masking a masked document changes nothing.
#![no_main]

use flow_stream_fuzz::{chain, checked_source, expect_document, run_fields};
use libfuzzer_sys::fuzz_target;
use pipeline_common::chain::Chain;
use serde_json::{json, Map, Value};
use std::sync::LazyLock;

struct Chains {
    default: Chain,
    masks: Vec<Chain>,
}

static CHAINS: LazyLock<Chains> = LazyLock::new(|| Chains {
    default: chain(json!({"name": "fuzz"})),
    masks: vec![
        chain(json!({"name": "fuzz", "stages": [{"type": "mask"}]})),
        chain(json!({"name": "fuzz", "stages": [{"type": "mask", "ipv4": "redact"}]})),
        chain(json!({"name": "fuzz", "stages": [
            {"type": "mask", "rules": ["email", "ipv4", "credit_card"], "ipv4": "hash", "salt": "fuzz-salt"}
        ]})),
    ],
});

/// Reads the input front to back; past its end every byte is 0.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[usize::from(self.byte()) % from.len()]
    }
}

const LOCAL: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-";
const DOMAIN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-.";
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Between a planted value and its surroundings: each holds a character that ends an email's
/// local part and domain, an IPv4 address and a card number's run of digits, spaces and dashes.
const DELIMITERS: &[&str] = &[
    " ; ", " (", ") ", "\t|\t", "\", \"", "=", "/", "\n<", ">\n", "#",
];

fn email(b: &mut Bytes) -> String {
    let mut s = String::new();
    for _ in 0..1 + b.byte() % 12 {
        s.push(char::from(b.pick(LOCAL)));
    }
    s.push('@');
    // A domain that starts with an alphanumeric, so that the address is one token.
    s.push(char::from(b.pick(&DOMAIN[..36])));
    for _ in 0..b.byte() % 10 {
        s.push(char::from(b.pick(DOMAIN)));
    }
    s.push('.');
    for _ in 0..2 + b.byte() % 4 {
        s.push(char::from(b.pick(LETTERS)));
    }
    s
}

fn ipv4(b: &mut Bytes) -> String {
    format!("{}.{}.{}.{}", b.byte(), b.byte(), b.byte(), b.byte())
}

/// A Luhn-valid Visa (16 digits) or Amex (15 digits) number, written bare or grouped by spaces or
/// dashes; also returns its bare digits.
fn card(b: &mut Bytes) -> (String, String) {
    let amex = b.byte() & 1 == 1;
    let mut digits: Vec<u8> = if amex { vec![3, 7] } else { vec![4] };
    let len = if amex { 15 } else { 16 };
    while digits.len() < len - 1 {
        digits.push(b.byte() % 10);
    }
    // Luhn: double every second digit from the right, counting the check digit as the first.
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    digits.push(((10 - sum % 10) % 10) as u8);
    let bare: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
    let groups: &[usize] = if amex { &[4, 6, 5] } else { &[4, 4, 4, 4] };
    let sep = b.pick(&["", " ", "-"]);
    let mut written = String::new();
    let mut at = 0;
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            written.push_str(sep);
        }
        written.push_str(&bare[at..at + g]);
        at += g;
    }
    (written, bare)
}

/// Every key and string value of `v`.
fn collect_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => {
            for (k, x) in m {
                out.push(k);
                collect_strings(x, out);
            }
        }
        _ => {}
    }
}

/// Every string in the document must be unchanged by masking it again.
fn assert_idempotent(chain: &Chain, masked: &Map<String, Value>) {
    let again = expect_document(run_fields(chain, masked.clone()), "mask again");
    assert_eq!(
        &again.fields.to_map(),
        masked,
        "masking a masked document changed it"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(data) {
        for chain in &CHAINS.masks {
            let doc = expect_document(run_fields(chain, m.clone()), "mask arbitrary JSON");
            checked_source(&doc);
            assert_idempotent(chain, &doc.fields.to_map());
        }
    }

    let mut b = Bytes(data);
    let email = email(&mut b);
    let ip = ipv4(&mut b);
    let (card, card_digits) = card(&mut b);
    let d: Vec<&str> = (0..4).map(|_| b.pick(DELIMITERS)).collect();
    let rest = String::from_utf8_lossy(b.0);
    let split = rest
        .char_indices()
        .map(|(i, _)| i)
        .nth(rest.chars().count() / 2)
        .unwrap_or(rest.len());
    let (before, after) = rest.split_at(split);
    let text = format!(
        "{before}{}{email}{}{ip}{}{card}{}{after}",
        d[0], d[1], d[2], d[3]
    );
    // Surroundings that already hold a planted value (as text that is no address) say nothing.
    let planted: Vec<&str> = [
        email.as_str(),
        ip.as_str(),
        card.as_str(),
        card_digits.as_str(),
    ]
    .into_iter()
    .filter(|p| !rest.contains(p))
    .collect();

    let mut fields = Map::new();
    fields.insert("log_message".into(), Value::String(text.clone()));
    fields.insert(
        "nested".into(),
        json!({"list": [text.clone(), {"deeper": [email.clone(), ip.clone(), card.clone()]}]}),
    );
    fields.insert(text.clone(), Value::String("the text as a key".into()));
    fields.insert(email.clone(), Value::from(1));
    for chain in std::iter::once(&CHAINS.default).chain(&CHAINS.masks) {
        let doc = expect_document(run_fields(chain, fields.clone()), "mask planted PII");
        let source = checked_source(&doc);
        // The strings themselves, not the JSON text: its escapes (`\u0000`) hold digits of their
        // own that can spell a planted value next to the text around them.
        let mut strings = Vec::new();
        let fields = doc.fields.to_map();
        for (k, v) in &fields {
            strings.push(k.as_str());
            collect_strings(v, &mut strings);
        }
        for p in &planted {
            for s in &strings {
                assert!(!s.contains(p), "{p:?} survived masking in {s:?}: {source}");
            }
        }
        if !std::ptr::eq(chain, &CHAINS.default) {
            assert_idempotent(chain, &fields);
        }
    }
});
