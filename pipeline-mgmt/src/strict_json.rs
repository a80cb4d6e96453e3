//! Serde helpers for request members whose schema says "object" or "integer": serde's derive
//! reads a struct from an array of its members too, and refuses `1.0` for an integer that JSON
//! Schema (and so the document) counts as one.

use serde::de::{DeserializeOwned, Error, Unexpected};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(_) => Unexpected::Other("a number"),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

fn object<E: Error, T: DeserializeOwned>(value: Value) -> Result<T, E> {
    match value {
        Value::Object(_) => T::deserialize(value).map_err(E::custom),
        other => Err(E::invalid_type(unexpected(&other), &"an object")),
    }
}

/// An optional member that must be an object; `null` is absent. Use with `#[serde(default)]`.
pub fn optional_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    Option::<Value>::deserialize(d)?.map(object).transpose()
}

/// An optional array of objects; `null` is absent. Use with `#[serde(default)]`.
pub fn optional_objects<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    Option::<Vec<Value>>::deserialize(d)?
        .map(|items| items.into_iter().map(object).collect())
        .transpose()
}

fn whole_number<E: Error, T: TryFrom<i64>>(value: &Value) -> Result<T, E> {
    let n = match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| E::invalid_value(Unexpected::Other("a number"), &"an integer"))?,
        other => return Err(E::invalid_type(unexpected(other), &"an integer")),
    };
    T::try_from(n).map_err(|_| E::invalid_value(Unexpected::Signed(n), &"an integer in range"))
}

/// An integer member; a whole number written with a fraction (`1.0`) counts.
pub fn whole<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    whole_number(&Value::deserialize(d)?)
}

/// An optional integer member, as [`whole`]; `null` is absent. Use with `#[serde(default)]`.
pub fn optional_whole<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    Option::<Value>::deserialize(d)?
        .as_ref()
        .map(whole_number)
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        #[serde(deserialize_with = "whole")]
        n: i32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        #[serde(default, deserialize_with = "optional_object")]
        one: Option<Inner>,
        #[serde(default, deserialize_with = "optional_objects")]
        many: Option<Vec<Inner>>,
        #[serde(default, deserialize_with = "optional_whole")]
        limit: Option<usize>,
    }

    fn parse(text: &str) -> Result<Outer, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn objects_only_and_whole_numbers() {
        let ok = parse(r#"{"one": {"n": 1.0}, "many": [{"n": 2}], "limit": 3.0}"#).unwrap();
        assert_eq!(ok.one, Some(Inner { n: 1 }));
        assert_eq!(ok.many, Some(vec![Inner { n: 2 }]));
        assert_eq!(ok.limit, Some(3));
        let absent = parse(r#"{"one": null, "limit": null}"#).unwrap();
        assert_eq!((absent.one, absent.many, absent.limit), (None, None, None));
        for bad in [
            r#"{"one": [1]}"#,
            r#"{"many": [[1]]}"#,
            r#"{"limit": 1.5}"#,
            r#"{"limit": -1}"#,
            r#"{"limit": "1"}"#,
            r#"{"one": {"n": 3000000000}}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
