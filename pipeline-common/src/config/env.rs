//! The environment layer: `FLOW__SECTION__KEY=value` variables, typed by the key's default.

use super::ConfigError;
use serde_json::{Map, Value};

/// Environment overrides, resolved to real key names and typed values.
pub(super) struct EnvSource;

impl EnvSource {
    /// Builds a YAML layer from the variables that start with `<prefix>__`.
    ///
    /// Each path segment is matched against the keys of `defaults`, and each value is converted to
    /// the type of the default it replaces.
    #[allow(clippy::new_ret_no_self)]
    pub(super) fn new(
        prefix: &str,
        vars: &[(String, String)],
        defaults: &Value,
    ) -> Result<config::File<config::FileSourceString, config::FileFormat>, ConfigError> {
        let mut overrides = Value::Object(Map::new());
        let head = format!("{prefix}__");
        let mut sorted: Vec<&(String, String)> =
            vars.iter().filter(|(k, _)| k.starts_with(&head)).collect();
        sorted.sort();
        for (var, raw) in sorted {
            let segments: Vec<&str> = var[head.len()..].split("__").collect();
            let (path, default) = resolve(&segments, defaults).ok_or_else(|| ConfigError::Env {
                var: var.clone(),
                message: "names no configuration key (see the config module docs for the naming)"
                    .into(),
            })?;
            let value =
                typed(raw, default).map_err(|message| ConfigError::key(path.join("."), message))?;
            insert(&mut overrides, &path, value);
        }
        let yaml = serde_yaml::to_string(&overrides).map_err(|e| ConfigError::Env {
            var: head.clone(),
            message: e.to_string(),
        })?;
        Ok(config::File::from_str(&yaml, config::FileFormat::Yaml))
    }
}

/// Folds case and drops underscores and dashes, so `HTTP_PORT` matches `httpPort`.
fn normalize(segment: &str) -> String {
    segment
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Finds the real key path and its default for the variable's segments.
fn resolve<'a>(segments: &[&str], defaults: &'a Value) -> Option<(Vec<String>, &'a Value)> {
    let mut node = defaults;
    let mut path = Vec::with_capacity(segments.len());
    for segment in segments {
        let wanted = normalize(segment);
        let (key, child) = node
            .as_object()?
            .iter()
            .find(|(key, _)| normalize(key) == wanted)?;
        path.push(key.clone());
        node = child;
    }
    (!path.is_empty()).then_some((path, node))
}

/// Converts the raw variable to the JSON type of the default it overrides.
fn typed(raw: &str, default: &Value) -> Result<Value, String> {
    match default {
        Value::Bool(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("expected a boolean, found {raw:?}")),
        },
        Value::Number(_) => raw
            .trim()
            .parse::<serde_json::Number>()
            .map(Value::Number)
            .map_err(|_| format!("expected a number, found {raw:?}")),
        Value::Array(items) => {
            let trimmed = raw.trim();
            if trimmed.starts_with('[') {
                serde_json::from_str(trimmed).map_err(|e| format!("expected a JSON list: {e}"))
            } else if items.iter().all(Value::is_string) {
                Ok(Value::Array(
                    trimmed
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| Value::String(s.to_owned()))
                        .collect(),
                ))
            } else {
                Err("expected a JSON list".into())
            }
        }
        Value::Object(_) => {
            serde_json::from_str(raw.trim()).map_err(|e| format!("expected a JSON object: {e}"))
        }
        Value::String(_) | Value::Null => Ok(Value::String(raw.to_owned())),
    }
}

fn insert(tree: &mut Value, path: &[String], value: Value) {
    let mut node = tree;
    for key in &path[..path.len() - 1] {
        let Value::Object(map) = node else { return };
        node = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let (Value::Object(map), Some(last)) = (node, path.last()) {
        map.insert(last.clone(), value);
    }
}
