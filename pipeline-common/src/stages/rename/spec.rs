//! The `rename` stage's configuration: validation and JSON form.

use crate::model::reader::{type_name, Fields};
use crate::model::{FieldPath, ValidationContext, ValidationErrors};
use crate::stages::spec::MAX_STAGE_LIST;
use serde_json::{json, Map, Value};

/// `rename` stage configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameSpec {
    /// `(from, to)` pairs, applied in order; dotted paths address nested fields exactly.
    pub fields: Vec<(FieldPath, FieldPath)>,
}

impl Default for RenameSpec {
    /// The defaults of the replaced system (timestamp→event_timestamp, time→event_time,
    /// msg→message, lvl→level), applied both at the top level of the event and inside `parsed`,
    /// where the parse stage puts a log line's own fields.
    fn default() -> Self {
        const PAIRS: [(&str, &str); 8] = [
            ("lvl", "level"),
            ("msg", "message"),
            ("parsed.lvl", "parsed.level"),
            ("parsed.msg", "parsed.message"),
            ("parsed.time", "parsed.event_time"),
            ("parsed.timestamp", "parsed.event_timestamp"),
            ("time", "event_time"),
            ("timestamp", "event_timestamp"),
        ];
        RenameSpec {
            fields: PAIRS
                .iter()
                .map(|(a, b)| (FieldPath::known(a), FieldPath::known(b)))
                .collect(),
        }
    }
}

impl RenameSpec {
    /// Validates a `rename` stage object.
    pub(crate) fn parse(
        f: &Fields<'_>,
        _ctx: &ValidationContext,
        errs: &mut ValidationErrors,
    ) -> Option<Self> {
        f.deny_unknown(&["type", "fields"], &[], errs);
        let fields = match f.get("fields") {
            None => RenameSpec::default().fields,
            Some(Value::Object(map)) if map.len() <= MAX_STAGE_LIST * 2 => {
                let mut out = Vec::with_capacity(map.len());
                for (from, to) in map {
                    let at = format!("{}.{from}", f.path("fields"));
                    let from = FieldPath::parse(from).map_err(|e| errs.push(&at, e));
                    let to = match to {
                        Value::String(s) => FieldPath::parse(s).map_err(|e| errs.push(&at, e)),
                        other => {
                            errs.push(&at, format!("must be a string, not {}", type_name(other)));
                            Err(())
                        }
                    };
                    if let (Ok(from), Ok(to)) = (from, to) {
                        out.push((from, to));
                    }
                }
                out
            }
            Some(Value::Object(_)) => {
                errs.push(f.path("fields"), "too many renames");
                Vec::new()
            }
            Some(other) => {
                errs.push(
                    f.path("fields"),
                    format!("must be an object, not {}", type_name(other)),
                );
                Vec::new()
            }
        };
        Some(RenameSpec { fields })
    }

    /// The canonical REST form.
    pub(crate) fn to_json(&self) -> Value {
        let fields: Map<String, Value> = self
            .fields
            .iter()
            .map(|(from, to)| (from.as_str().to_owned(), Value::from(to.as_str())))
            .collect();
        json!({"type": crate::failure::FailedAt::Rename.as_str(), "fields": fields})
    }
}

#[cfg(feature = "openapi")]
impl RenameSpec {
    /// The schema of a `rename` stage object.
    pub(crate) fn json_schema() -> Value {
        use crate::stages::schema::{path, stage};
        stage(
            crate::failure::FailedAt::Rename,
            "renames fields: {from: to}",
            json!({
                "fields": {
                    "type": ["object", "null"], "maxProperties": MAX_STAGE_LIST * 2,
                    "propertyNames": path(), "additionalProperties": path(),
                },
            }),
            &[],
        )
    }
}
