//! The `parse` stage's configuration: validation and JSON form.

use crate::model::reader::Fields;
use crate::model::{FieldPath, UserRegex, ValidationContext, ValidationErrors};
use crate::stages::spec::{valid_pattern_name, MAX_STAGE_LIST};
use serde_json::{json, Value};

/// A built-in log format of the `parse` stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogFormat {
    /// nginx/Apache combined log, or its common-log subset.
    Nginx,
    /// Syslog, RFC 5424 or RFC 3164.
    Syslog,
    /// A JSON object on one line.
    Json,
    /// `<ts> - <source> - <LEVEL> - <message>`.
    SimpleSplit,
}

impl LogFormat {
    /// Every built-in format, in the default order of attempts.
    pub const ALL: [LogFormat; 4] = [
        LogFormat::Nginx,
        LogFormat::Syslog,
        LogFormat::Json,
        LogFormat::SimpleSplit,
    ];

    /// The name used in definitions and in `parsed.format`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Nginx => "nginx",
            LogFormat::Syslog => "syslog",
            LogFormat::Json => "json",
            LogFormat::SimpleSplit => "simple_split",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        LogFormat::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// What the parse stage does when no format matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Keep the event with `parsed.format = "unknown"`.
    #[default]
    Unknown,
    /// Fail the event at stage `parse` (it goes to the error topic).
    Error,
}

impl OnFailure {
    /// The name used in definitions.
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Unknown => "unknown",
            OnFailure::Error => "error",
        }
    }
}

/// A custom parse pattern: a regex whose named groups become `parsed.<group>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPattern {
    /// Written to `parsed.format` when the pattern matches.
    pub name: String,
    /// The compiled regex.
    pub regex: UserRegex,
}

/// `parse` stage configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSpec {
    /// The field holding the log line (default `log_message`).
    pub field: FieldPath,
    /// Built-in formats to try, in order (default: all).
    pub formats: Vec<LogFormat>,
    /// Custom patterns, tried before the built-in formats.
    pub patterns: Vec<NamedPattern>,
    /// What to do when nothing matches.
    pub on_failure: OnFailure,
}

impl Default for ParseSpec {
    fn default() -> Self {
        ParseSpec {
            field: FieldPath::known("log_message"),
            formats: LogFormat::ALL.to_vec(),
            patterns: Vec::new(),
            on_failure: OnFailure::Unknown,
        }
    }
}

impl ParseSpec {
    pub(crate) fn parse(
        f: &Fields<'_>,
        ctx: &ValidationContext,
        errs: &mut ValidationErrors,
    ) -> Option<Self> {
        f.deny_unknown(
            &["type", "field", "formats", "patterns", "onFailure"],
            &[],
            errs,
        );
        let mut spec = ParseSpec::default();
        if let Some(p) = f.field_path("field", errs) {
            spec.field = p;
        }
        if let Some(items) = f.array("formats", MAX_STAGE_LIST, errs) {
            spec.formats.clear();
            for (at, v) in items {
                match v.as_str().map(|s| (s, LogFormat::from_name(s))) {
                    Some((_, Some(fmt))) if spec.formats.contains(&fmt) => {
                        errs.push(at, "listed twice")
                    }
                    Some((_, Some(fmt))) => spec.formats.push(fmt),
                    Some((s, None)) => errs.push(
                        at,
                        format!(
                            "unknown format {s:?}; expected nginx, syslog, json or simple_split"
                        ),
                    ),
                    None => errs.push(at, "must be a string"),
                }
            }
        }
        if let Some(items) = f.array("patterns", MAX_STAGE_LIST, errs) {
            for (at, v) in items {
                let Some(p) = Fields::object(v, at, errs) else {
                    continue;
                };
                p.deny_unknown(&["name", "regex"], &[], errs);
                let name = p.required_str("name", errs);
                if let Some(name) = name {
                    if !valid_pattern_name(name) || LogFormat::from_name(name).is_some() {
                        errs.push(
                            p.path("name"),
                            "must be 1-64 of [A-Za-z0-9_-] and not a built-in format name",
                        );
                    } else if spec.patterns.iter().any(|q| q.name == name) {
                        errs.push(p.path("name"), "listed twice");
                    }
                }
                let regex = p.required_str("regex", errs).and_then(|src| {
                    UserRegex::compile(src, ctx.regex_size_limit)
                        .and_then(|r| {
                            if r.regex().capture_names().flatten().next().is_none() {
                                Err("regex has no named group, e.g. (?P<message>.*)".to_owned())
                            } else {
                                Ok(r)
                            }
                        })
                        .map_err(|e| errs.push(p.path("regex"), e))
                        .ok()
                });
                if let (Some(name), Some(regex)) = (name, regex) {
                    spec.patterns.push(NamedPattern {
                        name: name.to_owned(),
                        regex,
                    });
                }
            }
        }
        if spec.formats.is_empty() && spec.patterns.is_empty() {
            errs.push(f.path("formats"), "no format and no pattern to try");
        }
        match f.str("onFailure", errs) {
            None => {}
            Some("unknown") => spec.on_failure = OnFailure::Unknown,
            Some("error") => spec.on_failure = OnFailure::Error,
            Some(_) => errs.push(f.path("onFailure"), "must be \"unknown\" or \"error\""),
        }
        Some(spec)
    }

    /// The canonical REST form, every default spelled out.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({
            "type": crate::failure::FailedAt::Parse.as_str(),
            "field": self.field.as_str(),
            "formats": self.formats.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
            "onFailure": self.on_failure.as_str(),
        });
        if !self.patterns.is_empty() {
            v["patterns"] = self
                .patterns
                .iter()
                .map(|p| json!({"name": p.name, "regex": p.regex.as_str()}))
                .collect();
        }
        v
    }
}

#[cfg(feature = "openapi")]
impl ParseSpec {
    /// The schema of a `parse` stage object.
    pub(crate) fn json_schema() -> Value {
        use crate::failure::FailedAt;
        use crate::stages::schema::{optional, path, pattern_name, stage};
        // Its named groups become `parsed.<group>`, so a regex without any is refused.
        let regex = json!({
            "type": "string", "minLength": 5, "maxLength": crate::model::MAX_REGEX_SOURCE,
            "pattern": "\\(\\?P?<[A-Za-z_][A-Za-z0-9_]*>",
            "description": "a regex with at least one named group, e.g. (?P<message>.*)",
        });
        let failure = [OnFailure::Unknown, OnFailure::Error].map(OnFailure::as_str);
        stage(
            FailedAt::Parse,
            "parses `field` into `parsed`, trying the formats, then the patterns",
            json!({
                "field": optional(path()),
                "formats": {
                    "type": ["array", "null"], "maxItems": MAX_STAGE_LIST, "uniqueItems": true,
                    "items": {"type": "string", "enum": LogFormat::ALL.map(LogFormat::as_str)},
                },
                "patterns": {
                    "type": ["array", "null"], "maxItems": MAX_STAGE_LIST,
                    "items": {
                        "type": "object", "additionalProperties": false,
                        "required": ["name", "regex"],
                        "properties": {"name": pattern_name(), "regex": regex},
                    },
                },
                "onFailure": {"type": ["string", "null"], "enum": [failure[0], failure[1], null]},
            }),
            &[],
        )
    }
}
