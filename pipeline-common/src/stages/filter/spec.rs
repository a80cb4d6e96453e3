//! The `filter` stage's configuration: validation and JSON form.

use crate::model::reader::Fields;
use crate::model::{FieldPath, UserRegex, ValidationContext, ValidationErrors};
use serde_json::{json, Value};

/// The condition of a `filter` stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterCondition {
    /// The field equals this JSON value.
    Eq(Value),
    /// The field equals one of these values.
    In(Vec<Value>),
    /// The field is present (`true`) or absent (`false`).
    Exists(bool),
    /// The field is a string (or number) matching this regex.
    Regex(UserRegex),
}

/// `filter` stage configuration: drop the event when `field` meets `condition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSpec {
    /// The field tested.
    pub field: FieldPath,
    /// The test.
    pub condition: FilterCondition,
}

impl FilterSpec {
    pub(crate) fn parse(
        f: &Fields<'_>,
        ctx: &ValidationContext,
        errs: &mut ValidationErrors,
    ) -> Option<Self> {
        f.deny_unknown(&["type", "drop_if"], &[], errs);
        let Some(cond) = f.get("drop_if") else {
            errs.push(f.path("drop_if"), "is required");
            return None;
        };
        let c = Fields::object(cond, f.path("drop_if"), errs)?;
        c.deny_unknown(&["field", "eq", "in", "exists", "regex"], &[], errs);
        let field = if c.get("field").is_none() {
            errs.push(c.path("field"), "is required");
            None
        } else {
            c.field_path("field", errs)
        };
        let ops: Vec<&str> = ["eq", "in", "exists", "regex"]
            .into_iter()
            .filter(|k| c.obj.contains_key(*k))
            .collect();
        if ops.len() != 1 {
            errs.push(
                c.path("eq"),
                "exactly one of eq, in, exists, regex is required",
            );
            return None;
        }
        // `null` is the value of `eq`; for the other operators it names nothing to test.
        if ops[0] != "eq" && c.obj.get(ops[0]).is_some_and(Value::is_null) {
            errs.push(c.path(ops[0]), "must not be null");
            return None;
        }
        let condition = match ops[0] {
            "eq" => Some(FilterCondition::Eq(c.obj.get("eq")?.clone())),
            "in" => c
                .array("in", 1024, errs)
                .map(|vs| FilterCondition::In(vs.into_iter().map(|(_, v)| v.clone()).collect())),
            "exists" => match c.obj.get("exists") {
                Some(Value::Bool(b)) => Some(FilterCondition::Exists(*b)),
                _ => {
                    errs.push(c.path("exists"), "must be a boolean");
                    None
                }
            },
            _ => c.str("regex", errs).and_then(|src| {
                UserRegex::compile(src, ctx.regex_size_limit)
                    .map_err(|e| errs.push(c.path("regex"), e))
                    .ok()
                    .map(FilterCondition::Regex)
            }),
        };
        Some(FilterSpec {
            field: field?,
            condition: condition?,
        })
    }

    /// The canonical REST form.
    pub(crate) fn to_json(&self) -> Value {
        let mut cond = json!({"field": self.field.as_str()});
        match &self.condition {
            FilterCondition::Eq(v) => cond["eq"] = v.clone(),
            FilterCondition::In(vs) => cond["in"] = Value::Array(vs.clone()),
            FilterCondition::Exists(b) => cond["exists"] = Value::Bool(*b),
            FilterCondition::Regex(r) => cond["regex"] = Value::from(r.as_str()),
        }
        json!({"type": crate::failure::FailedAt::Filter.as_str(), "drop_if": cond})
    }
}

#[cfg(feature = "openapi")]
impl FilterSpec {
    /// The schema of a `filter` stage object.
    pub(crate) fn json_schema() -> Value {
        use crate::stages::schema::{path, stage, user_regex};
        stage(
            crate::failure::FailedAt::Filter,
            "drops events whose `field` matches exactly one of eq, in, exists, regex",
            json!({
                "drop_if": {
                    "type": "object", "additionalProperties": false, "required": ["field"],
                    "properties": {
                        "field": path(),
                        "eq": {},
                        "in": {"type": "array", "maxItems": 1024},
                        "exists": {"type": "boolean"},
                        "regex": user_regex(),
                    },
                    "oneOf": [
                        {"required": ["eq"]}, {"required": ["in"]},
                        {"required": ["exists"]}, {"required": ["regex"]},
                    ],
                },
            }),
            &["drop_if"],
        )
    }
}
