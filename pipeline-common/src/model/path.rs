//! Dotted field paths and user-supplied regexes, both validated when a definition is built.

use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};
use std::fmt;

/// Most segments a field path may have.
pub const MAX_PATH_SEGMENTS: usize = 16;

/// A dotted path into a document, e.g. `parsed.client_ip`. Keys holding a dot cannot be addressed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    raw: String,
    segments: Vec<String>,
}

impl FieldPath {
    /// Validates a dotted path: non-empty segments, at most [`MAX_PATH_SEGMENTS`] of them.
    pub fn parse(s: &str) -> Result<FieldPath, String> {
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        if s.len() > 512 {
            return Err("must be at most 512 bytes".into());
        }
        let segments: Vec<String> = s.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err("dotted path has an empty segment".into());
        }
        if segments.len() > MAX_PATH_SEGMENTS {
            return Err(format!("at most {MAX_PATH_SEGMENTS} segments"));
        }
        Ok(FieldPath {
            raw: s.to_owned(),
            segments,
        })
    }

    /// A path known to be valid at compile time; used for defaults.
    pub(crate) fn known(s: &'static str) -> FieldPath {
        FieldPath {
            raw: s.to_owned(),
            segments: s.split('.').map(str::to_owned).collect(),
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The path's segments.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The value at this path, if every segment but the last names an object.
    pub fn get<'a>(&self, root: &'a Map<String, Value>) -> Option<&'a Value> {
        let (last, init) = self.segments.split_last()?;
        let mut obj = root;
        for seg in init {
            obj = obj.get(seg)?.as_object()?;
        }
        obj.get(last)
    }

    /// The object holding this path's last segment, and that segment.
    fn parent_mut<'a>(
        &'a self,
        root: &'a mut Map<String, Value>,
        create: bool,
    ) -> Option<(&'a mut Map<String, Value>, &'a str)> {
        let (last, init) = self.segments.split_last()?;
        let mut obj = root;
        for seg in init {
            if create && !obj.contains_key(seg.as_str()) {
                obj.insert(seg.clone(), Value::Object(Map::new()));
            }
            obj = obj.get_mut(seg.as_str())?.as_object_mut()?;
        }
        Some((obj, last.as_str()))
    }

    /// Removes and returns the value at this path.
    pub fn remove(&self, root: &mut Map<String, Value>) -> Option<Value> {
        let (obj, last) = self.parent_mut(root, false)?;
        obj.remove(last)
    }

    /// Sets the value at this path, creating missing parent objects. Gives the value back when a
    /// parent exists but is not an object.
    pub fn set(&self, root: &mut Map<String, Value>, value: Value) -> Result<(), Value> {
        match self.parent_mut(root, true) {
            Some((obj, last)) => {
                obj.insert(last.to_owned(), value);
                Ok(())
            }
            None => Err(value),
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Longest accepted regex source, in bytes.
pub const MAX_REGEX_SOURCE: usize = 4096;

/// A user-supplied regex, compiled once with a size limit; compares by its source.
#[derive(Debug, Clone)]
pub struct UserRegex {
    source: String,
    regex: Regex,
}

impl PartialEq for UserRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for UserRegex {}

impl UserRegex {
    /// Compiles `source`, refusing programs larger than `size_limit` bytes.
    pub fn compile(source: &str, size_limit: usize) -> Result<UserRegex, String> {
        if source.is_empty() {
            return Err("regex must not be empty".into());
        }
        if source.len() > MAX_REGEX_SOURCE {
            return Err(format!("regex longer than {MAX_REGEX_SOURCE} bytes"));
        }
        let regex = RegexBuilder::new(source)
            .size_limit(size_limit)
            .dfa_size_limit(size_limit)
            .build()
            .map_err(|e| match e {
                regex::Error::CompiledTooBig(limit) => {
                    format!("regex too large (compiled form exceeds {limit} bytes)")
                }
                regex::Error::Syntax(msg) => format!("invalid regex: {msg}"),
                other => format!("invalid regex: {other}"),
            })?;
        Ok(UserRegex {
            source: source.to_owned(),
            regex,
        })
    }

    /// The source as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The compiled regex.
    pub fn regex(&self) -> &Regex {
        &self.regex
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths() {
        let p = FieldPath::parse("a.b.c").unwrap();
        let mut root = Map::new();
        p.set(&mut root, json!(1)).unwrap();
        assert_eq!(Value::Object(root.clone()), json!({"a": {"b": {"c": 1}}}));
        assert_eq!(p.get(&root), Some(&json!(1)));
        assert_eq!(p.remove(&mut root), Some(json!(1)));
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse("").is_err());
        let mut blocked = json!({"a": 5}).as_object().cloned().unwrap();
        assert!(FieldPath::parse("a.b")
            .unwrap()
            .set(&mut blocked, json!(1))
            .is_err());
    }

    #[test]
    fn regex_limits() {
        assert!(UserRegex::compile("(?P<x>a+)", 1 << 20).is_ok());
        let err = UserRegex::compile(r"\w{1000}\w{1000}", 1 << 16).unwrap_err();
        assert!(err.contains("too large"), "{err}");
        assert!(UserRegex::compile("(", 1 << 20)
            .unwrap_err()
            .contains("invalid"));
    }
}
