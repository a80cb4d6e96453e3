//! Reads a JSON object field by field, recording one error per offending field path.

use super::{FieldPath, ValidationErrors};
use serde_json::{Map, Value};

/// A JSON object being validated, and the path of that object in the REST body.
pub(crate) struct Fields<'a> {
    pub obj: &'a Map<String, Value>,
    pub prefix: String,
}

/// Name of a JSON value's type, for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> Fields<'a> {
    /// Wraps `v` when it is an object, else records an error at `prefix`.
    pub fn object(v: &'a Value, prefix: String, errs: &mut ValidationErrors) -> Option<Self> {
        match v {
            Value::Object(obj) => Some(Fields { obj, prefix }),
            other => {
                errs.push(
                    display_path(&prefix),
                    format!("must be an object, not {}", type_name(other)),
                );
                None
            }
        }
    }

    /// The path of `key` inside this object.
    pub fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// Records an error for each key not in `allowed`; keys in `ignored` pass silently.
    pub fn deny_unknown(&self, allowed: &[&str], ignored: &[&str], errs: &mut ValidationErrors) {
        for key in self.obj.keys() {
            if !allowed.contains(&key.as_str()) && !ignored.contains(&key.as_str()) {
                errs.push(
                    self.path(key),
                    format!("unknown field; expected one of: {}", allowed.join(", ")),
                );
            }
        }
    }

    /// The value of `key`; `null` counts as absent.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    /// A string field.
    pub fn str(&self, key: &str, errs: &mut ValidationErrors) -> Option<&'a str> {
        match self.get(key)? {
            Value::String(s) => Some(s),
            other => {
                errs.push(
                    self.path(key),
                    format!("must be a string, not {}", type_name(other)),
                );
                None
            }
        }
    }

    /// A required string field.
    pub fn required_str(&self, key: &str, errs: &mut ValidationErrors) -> Option<&'a str> {
        if self.get(key).is_none() {
            errs.push(self.path(key), "is required");
            return None;
        }
        self.str(key, errs)
    }

    /// A boolean field.
    pub fn bool(&self, key: &str, errs: &mut ValidationErrors) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            other => {
                errs.push(
                    self.path(key),
                    format!("must be a boolean, not {}", type_name(other)),
                );
                None
            }
        }
    }

    /// An integer field within `min..=max`.
    pub fn int(&self, key: &str, min: i64, max: i64, errs: &mut ValidationErrors) -> Option<i64> {
        let v = self.get(key)?;
        match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(_) => {
                errs.push(self.path(key), format!("must be between {min} and {max}"));
                None
            }
            None => {
                errs.push(self.path(key), "must be an integer");
                None
            }
        }
    }

    /// A dotted field path.
    pub fn field_path(&self, key: &str, errs: &mut ValidationErrors) -> Option<FieldPath> {
        let s = self.str(key, errs)?;
        match FieldPath::parse(s) {
            Ok(p) => Some(p),
            Err(e) => {
                errs.push(self.path(key), e);
                None
            }
        }
    }

    /// An array field, with the path of each element.
    pub fn array(
        &self,
        key: &str,
        max_len: usize,
        errs: &mut ValidationErrors,
    ) -> Option<Vec<(String, &'a Value)>> {
        match self.get(key)? {
            Value::Array(items) if items.len() <= max_len => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("{}[{i}]", self.path(key)), v))
                    .collect(),
            ),
            Value::Array(_) => {
                errs.push(self.path(key), format!("at most {max_len} entries"));
                None
            }
            other => {
                errs.push(
                    self.path(key),
                    format!("must be an array, not {}", type_name(other)),
                );
                None
            }
        }
    }
}

/// A prefix as shown in errors: the root object is `$`.
pub(crate) fn display_path(prefix: &str) -> String {
    if prefix.is_empty() {
        "$".to_owned()
    } else {
        prefix.to_owned()
    }
}
