use super::read::Reader;
use super::*;
use crate::model::FieldPath;
use proptest::prelude::*;
use serde_json::json;

/// Reads `text` as a document would be read from a record.
fn read(text: &str) -> (Value, Texts) {
    let mut extra = String::new();
    let v = Reader::of_source(text, &mut extra).read().unwrap();
    (v, Texts::with_extra(text.into(), extra))
}

fn written(v: &Value, texts: &Texts) -> String {
    let mut out = Vec::new();
    write::write_value(v, texts, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn unescaped_strings_and_keys_span_the_source() {
    let text = r#"{"b":"plain","a":{"k\"ey":"esc\u0041ped","n":[1,-2,2.5,null,true]},"b":"last"}"#;
    let (v, texts) = read(text);
    let o = v.as_object().unwrap();
    // Sorted, the repeated key keeping its last value.
    let keys: Vec<&str> = o.members().iter().map(|(k, _)| texts.get(*k)).collect();
    assert_eq!(keys, ["a", "b"]);
    let b = o.get(&texts, "b").unwrap().as_text().unwrap();
    assert!(b.in_source());
    assert_eq!(texts.get(b), "last");
    let inner = o.get(&texts, "a").unwrap().as_object().unwrap();
    let (k, escaped) = &inner.members()[0];
    assert!(!k.in_source());
    assert_eq!(texts.get(*k), "k\"ey");
    assert!(!escaped.as_text().unwrap().in_source());
    assert_eq!(
        written(&v, &texts),
        r#"{"a":{"k\"ey":"escAped","n":[1,-2,2.5,null,true]},"b":"last"}"#
    );
    // Only what had escapes is in the extra buffer.
    assert_eq!(texts.extra, "k\"eyescAped");
}

#[test]
fn paths_get_set_and_remove() {
    let mut f = Fields::from_map(json!({"a": {"b": 1}, "x": 5}).as_object().unwrap());
    let p = FieldPath::parse("a.c.d").unwrap();
    let v = Value::String(f.texts.push("new"));
    f.root.set_path(&mut f.texts, &p, v).unwrap();
    assert_eq!(
        serde_json::Value::Object(f.to_map()),
        json!({"a": {"b": 1, "c": {"d": "new"}}, "x": 5})
    );
    let blocked = FieldPath::parse("x.y").unwrap();
    assert!(f
        .root
        .set_path(&mut f.texts, &blocked, Value::Null)
        .is_err());
    let b = FieldPath::parse("a.b").unwrap();
    assert!(f.root.remove_path(&f.texts, &b).is_some());
    assert!(f.root.get_path(&f.texts, &b).is_none());
    assert!(f.root.remove_path(&f.texts, &blocked).is_none());
}

#[test]
fn rekeying_sorts_again_and_keeps_the_later_member() {
    let mut f = Fields::from_map(json!({"a": 1, "b": 2, "c": 3}).as_object().unwrap());
    f.root.rekey(&mut f.texts, |texts, k| match texts.get(k) {
        "a" => Some(texts.push("z")),
        "c" => Some(texts.push("b")),
        _ => None,
    });
    assert_eq!(
        serde_json::Value::Object(f.to_map()),
        json!({"b": 3, "z": 1})
    );
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[a-z \"\\\\\u{1}\u{7f}é😀/]{0,12}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-zA-Z_@é\"]{0,6}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn reads_and_writes_as_serde_json_does(v in arb_json(), pretty in any::<bool>()) {
        let text = if pretty {
            serde_json::to_string_pretty(&v).unwrap()
        } else {
            serde_json::to_string(&v).unwrap()
        };
        let (doc, texts) = read(&text);
        let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(convert::value_to_json(&doc, &texts), reference.clone());
        prop_assert_eq!(written(&doc, &texts), serde_json::to_string(&reference).unwrap());
    }

    #[test]
    fn repeated_keys_keep_the_last_value(keys in prop::collection::vec("[a-e]{1,2}", 0..40)) {
        let text = format!(
            "{{{}}}",
            keys.iter().enumerate().map(|(i, k)| format!("\"{k}\":{i}")).collect::<Vec<_>>().join(",")
        );
        let (doc, texts) = read(&text);
        let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(convert::value_to_json(&doc, &texts), reference);
    }
}

#[test]
fn extra_strings_are_escaped_unless_known_clean() {
    let mut texts = Texts::default();
    let quoted_short = texts.push("a\"b");
    let clean_short = texts.push("key");
    let quoted_long = texts.push("a long string with a \" quote");
    let plain_long = texts.push("a long string that needs no escaping");
    let known_clean = texts.push_clean("a long string pushed as clean");
    // A span inside a clean one is clean too.
    let inner = known_clean.slice(2, 6);
    assert!(!quoted_short.is_clean() && clean_short.is_clean());
    assert!(!quoted_long.is_clean() && !plain_long.is_clean());
    assert!(known_clean.is_clean() && inner.is_clean());
    assert_eq!(texts.get(inner), "long");
    let o = Object::from_members(
        vec![
            (clean_short, Value::String(quoted_short)),
            (texts.push("q\"k"), Value::String(quoted_long)),
            (texts.push("z"), Value::String(known_clean)),
        ],
        &texts,
    );
    assert_eq!(
        written(&Value::Object(o), &texts),
        r#"{"key":"a\"b","q\"k":"a long string with a \" quote","z":"a long string pushed as clean"}"#
    );
}

#[test]
fn a_reader_of_an_extra_span_finds_strings_of_either_tag() {
    let mut texts = Texts::default();
    texts.push_clean("padding");
    let line = texts.push_clean(r#"{"k":"v","e":"\u0041"}"#);
    let (text, extra) = texts.read_while_appending(line);
    let text = text.into_owned();
    let mut reader = Reader::new(&text, line, extra);
    let v = reader.read().unwrap();
    let o = v.as_object().unwrap();
    let k = o.get(&reader, "k").unwrap().as_text().unwrap();
    let e = o.get(&reader, "e").unwrap().as_text().unwrap();
    let clean = reader.owned_clean("added");
    assert_eq!(reader.text_of(k), "v");
    assert_eq!(reader.text_of(e), "A");
    assert_eq!(reader.text_of(clean), "added");
    assert_eq!(texts.get(k), "v");
    assert_eq!(texts.get(e), "A");
    assert_eq!(texts.get(clean), "added");
    // Over the source, an unescaped string's offset in the extra buffer is no offset of the
    // source.
    let mut extra = String::new();
    let text = r#"{"e":"\u0041","k":"v"}"#;
    let mut reader = Reader::of_source(text, &mut extra);
    let v = reader.read().unwrap();
    let e = v
        .as_object()
        .unwrap()
        .get(&reader, "e")
        .unwrap()
        .as_text()
        .unwrap();
    assert_eq!(reader.text_of(e), "A");
}

proptest! {
    #[test]
    fn key_order_is_byte_order(a in "[a-c\u{0}é]{0,12}", b in "[a-c\u{0}é]{0,12}") {
        prop_assert_eq!(key_order(&a, &b), a.as_bytes().cmp(b.as_bytes()));
    }
}
