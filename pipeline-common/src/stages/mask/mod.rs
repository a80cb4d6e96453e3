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

mod card;
mod email;
mod ipv4;
mod ipv6;
mod spec;

pub use spec::*;

use super::{EventDoc, Stage, StageResult};
use crate::doc::convert::{value_from_json, value_to_json};
use crate::doc::{Fields, Object, Text, Texts, Value};
use crate::failure::FailedAt;
use crate::model::FieldPath;
use crate::swar::{bytes_below, bytes_equal, load_word};
use card::{mask_cards, may_hold_card, number_is_card};
use email::mask_emails;
use ipv4::mask_ipv4;
use ipv6::{mask_ipv6, may_hold_ipv6};
use regex::{NoExpand, Regex};
use std::borrow::Cow;

/// Replacement for email addresses.
pub const EMAIL_REDACTED: &str = "[EMAIL_REDACTED]";
/// Replacement for IPv4 addresses in `redact` mode.
pub const IPV4_REDACTED: &str = "[IPV4_REDACTED]";
/// Replacement for IPv6 addresses.
pub const IPV6_REDACTED: &str = "[IPV6_REDACTED]";
/// Replacement for card numbers.
pub const CC_REDACTED: &str = "[CC_REDACTED]";

/// The runtime `mask` stage.
#[derive(Debug, Clone)]
pub struct MaskStage {
    email: bool,
    ipv4: Option<Ipv4Mode>,
    ipv6: bool,
    credit_card: bool,
    salt: String,
    custom: Vec<(Regex, String)>,
    /// No custom replacement needs JSON escaping, so masking a string that needs none gives one
    /// that needs none (the built-in replacements need none).
    clean_replacements: bool,
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
            clean_replacements: true,
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
        st.clean_replacements = st
            .custom
            .iter()
            .all(|(_, r)| !crate::json::needs_escaping(r.as_bytes()));
        st
    }

    /// Appends `masked`, the masked form of the text `was`, to `texts`: tagged as needing no
    /// escaping when `was` needed none and no replacement does.
    fn push_masked(&self, texts: &mut Texts, was: Text, masked: &str) -> Text {
        if self.clean_replacements && was.is_clean() {
            texts.push_clean(masked)
        } else {
            texts.push(masked)
        }
    }

    /// The masked form of `s`, or `None` when nothing in it is PII.
    ///
    /// One pass can expose a new match (a replacement changes what surrounds a neighbour), so
    /// passes repeat until nothing changes; a string that has not settled after a few passes is
    /// hostile or pathological and is redacted whole (to the empty string, which no rule
    /// matches). That makes masking idempotent.
    pub fn mask_str(&self, s: &str) -> Option<String> {
        if self.custom.is_empty() && !may_hold_pii(s.as_bytes()) {
            return None;
        }
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
        let mut cur = Cow::Borrowed(s);
        if self.ipv6 && may_hold_ipv6(cur.as_bytes()) {
            if let Some(n) = mask_ipv6(&cur) {
                cur = Cow::Owned(n);
            }
        }
        if let Some(mode) = self.ipv4 {
            if memchr::memchr(b'.', cur.as_bytes()).is_some() {
                if let Some(n) = mask_ipv4(&cur, mode, &self.salt) {
                    cur = Cow::Owned(n);
                }
            }
        }
        if self.credit_card && may_hold_card(cur.as_bytes()) {
            if let Some(n) = mask_cards(&cur) {
                cur = Cow::Owned(n);
            }
        }
        if self.email && memchr::memchr(b'@', cur.as_bytes()).is_some() {
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

    /// Masks every string in the JSON value `v`, recursively (tests, tools; the stage works on
    /// documents).
    pub fn mask_value(&self, v: &mut serde_json::Value) {
        let mut texts = Texts::default();
        let mut doc = value_from_json(v, &mut texts);
        self.mask_in(&mut doc, &mut texts);
        *v = value_to_json(&doc, &texts);
    }

    /// Masks every string in `v`, recursively; a changed string is appended to `texts`, an
    /// unchanged one stays where it is.
    fn mask_in(&self, v: &mut Value, texts: &mut Texts) {
        match v {
            Value::String(t) => {
                if let Some(n) = self.mask_str(texts.get(*t)) {
                    *t = self.push_masked(texts, *t, &n);
                }
            }
            Value::Number(n) if self.credit_card && number_is_card(n) => {
                *v = Value::String(texts.push_clean(CC_REDACTED));
            }
            Value::Array(items) => items.iter_mut().for_each(|x| self.mask_in(x, texts)),
            Value::Object(o) => self.mask_object(o, texts),
            _ => {}
        }
    }

    /// Masks every value and key of `o`, recursively.
    fn mask_object(&self, o: &mut Object, texts: &mut Texts) {
        for v in o.values_mut() {
            self.mask_in(v, texts);
        }
        o.rekey(texts, |texts, k| {
            let masked = self.mask_str(texts.get(k))?;
            Some(self.push_masked(texts, k, &masked))
        });
    }
}

impl Stage for MaskStage {
    fn name(&self) -> FailedAt {
        FailedAt::Mask
    }

    fn apply(&self, doc: &mut EventDoc) -> StageResult {
        let Fields { root, texts } = &mut doc.fields;
        match &self.fields {
            None => self.mask_object(root, texts),
            Some(paths) => {
                for p in paths {
                    if let Some(mut v) = root.remove_path(texts, p) {
                        self.mask_in(&mut v, texts);
                        // The parent existed a moment ago, so this cannot fail.
                        let _ = root.set_path(texts, p, v);
                    }
                }
            }
        }
        StageResult::Continue
    }
}

/// True when `b` has a byte that a built-in rule needs (a digit, `.`, `:` or `@`): one pass,
/// which most field values (names, levels, keys) fail quickly.
fn may_hold_pii(b: &[u8]) -> bool {
    let wanted = |c: u8| c.is_ascii_digit() | (c == b'.') | (c == b':') | (c == b'@');
    let mut chunks = b.chunks_exact(32);
    // A whole chunk is folded without an early exit, which the compiler turns into a few vector
    // compares; the tail goes eight bytes at a time.
    if chunks
        .by_ref()
        .any(|chunk| chunk.iter().fold(0u8, |acc, &c| acc | u8::from(wanted(c))) != 0)
    {
        return true;
    }
    chunks.remainder().chunks(8).any(|tail| {
        // `.`, `/`, the digits and `:` are 0x2e..=0x3a; padding is 0, which is none of them.
        let w = load_word(tail, 0);
        let flags = (bytes_below(w, b':' + 1) & !bytes_below(w, b'.') & !bytes_equal(w, b'/'))
            | bytes_equal(w, b'@');
        flags != 0
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        fn the_pii_pre_check_is_exact(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            let want = b.iter().any(|&c| c.is_ascii_digit() || c == b'.' || c == b':' || c == b'@');
            proptest::prop_assert_eq!(may_hold_pii(&b), want);
        }

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
        let mut doc = EventDoc::of(json!({"log_message": "john@example.com from 10.1.1.1",
                   "parsed": {"message": "john@example.com", "list": ["1.2.3.4", 5]},
                   "john@example.com": 1}));
        st.apply(&mut doc);
        assert_eq!(
            doc.to_json(),
            json!({"log_message": "[EMAIL_REDACTED] from 10.x.x.x",
                   "parsed": {"message": "[EMAIL_REDACTED]", "list": ["1.x.x.x", 5]},
                   "[EMAIL_REDACTED]": 1})
        );
    }

    #[test]
    fn a_replacement_that_needs_escaping_is_escaped_in_strings_of_the_record() {
        let def = crate::model::PipelineDefinition::parse(
            &json!({"name": "m", "stages": [{"type": "mask", "rules": [
                "email",
                {"name": "q", "regex": "secret", "replacement": "[\"q\\]"}]}]}),
            &crate::model::ValidationContext::new(false),
        )
        .unwrap();
        let Some([crate::model::StageSpec::Mask(spec)]) = def.stages() else {
            panic!("one mask stage")
        };
        for st in [MaskStage::new(spec), default_stage()] {
            let record = br#"{"a":"x@y.org and secret","secret":1}"#;
            let fields =
                crate::event::parse_object(record, &crate::event::DecodeLimits::default()).unwrap();
            let mut doc = EventDoc::new(fields, None);
            st.apply(&mut doc);
            let mut out = Vec::new();
            crate::doc::write::write_object(&doc.fields.root, &doc.fields.texts, &mut out);
            let written: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(written, doc.to_json(), "{}", String::from_utf8_lossy(&out));
        }
    }

    #[test]
    fn listed_fields_only() {
        let st = MaskStage::new(&MaskSpec {
            fields: Some(vec![FieldPath::parse("a.b").unwrap()]),
            ..MaskSpec::default()
        });
        let mut doc = EventDoc::of(json!({"a": {"b": "x@y.org"}, "c": "x@y.org"}));
        st.apply(&mut doc);
        assert_eq!(doc.to_json()["a"]["b"], "[EMAIL_REDACTED]");
        assert_eq!(doc.to_json()["c"], "x@y.org");
    }
}
