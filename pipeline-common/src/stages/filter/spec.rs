//! The `filter` stage's configuration: validation and JSON form.

use crate::cel::CelExpression;
use crate::model::reader::Fields;
use crate::model::{FieldPath, UserRegex, ValidationContext, ValidationErrors};
use serde_json::{json, Value};

/// The condition of a `filter` stage: a test of one field, or a CEL expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterCondition {
    /// `field` meets `test`.
    Field {
        /// The field tested.
        field: FieldPath,
        /// The test.
        test: FieldTest,
    },
    /// The CEL expression is true, with the document (as the stages before left it) as `data`;
    /// an evaluation error (a missing field) is false, so the event is kept.
    Cel(CelExpression),
}

/// The test of a field condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldTest {
    /// The field equals this JSON value.
    Eq(Value),
    /// The field equals one of these values.
    In(Vec<Value>),
    /// The field is present (`true`) or absent (`false`).
    Exists(bool),
    /// The field is a string (or number) matching this regex.
    Regex(UserRegex),
}

/// `filter` stage configuration: drop the event when `condition` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSpec {
    /// When to drop.
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
        c.deny_unknown(&["field", "eq", "in", "exists", "regex", "cel"], &[], errs);
        if c.obj.contains_key("cel") {
            if c.obj.len() > 1 {
                errs.push(
                    c.path("cel"),
                    "cel stands alone: no field, eq, in, exists or regex",
                );
                return None;
            }
            let source = c.str("cel", errs)?;
            return match CelExpression::compile(source) {
                Ok(e) => Some(FilterSpec {
                    condition: FilterCondition::Cel(e),
                }),
                Err(e) => {
                    errs.push(c.path("cel"), e.to_string());
                    None
                }
            };
        }
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
                "exactly one of eq, in, exists, regex (with field), or cel is required",
            );
            return None;
        }
        // `null` is the value of `eq`; for the other operators it names nothing to test.
        if ops[0] != "eq" && c.obj.get(ops[0]).is_some_and(Value::is_null) {
            errs.push(c.path(ops[0]), "must not be null");
            return None;
        }
        let test = match ops[0] {
            "eq" => Some(FieldTest::Eq(c.obj.get("eq")?.clone())),
            "in" => c
                .array("in", 1024, errs)
                .map(|vs| FieldTest::In(vs.into_iter().map(|(_, v)| v.clone()).collect())),
            "exists" => match c.obj.get("exists") {
                Some(Value::Bool(b)) => Some(FieldTest::Exists(*b)),
                _ => {
                    errs.push(c.path("exists"), "must be a boolean");
                    None
                }
            },
            _ => c.str("regex", errs).and_then(|src| {
                UserRegex::compile(src, ctx.regex_size_limit)
                    .map_err(|e| errs.push(c.path("regex"), e))
                    .ok()
                    .map(FieldTest::Regex)
            }),
        };
        Some(FilterSpec {
            condition: FilterCondition::Field {
                field: field?,
                test: test?,
            },
        })
    }

    /// The canonical REST form.
    pub(crate) fn to_json(&self) -> Value {
        let cond = match &self.condition {
            FilterCondition::Cel(e) => json!({"cel": e.as_str()}),
            FilterCondition::Field { field, test } => {
                let mut cond = json!({"field": field.as_str()});
                match test {
                    FieldTest::Eq(v) => cond["eq"] = v.clone(),
                    FieldTest::In(vs) => cond["in"] = Value::Array(vs.clone()),
                    FieldTest::Exists(b) => cond["exists"] = Value::Bool(*b),
                    FieldTest::Regex(r) => cond["regex"] = Value::from(r.as_str()),
                }
                cond
            }
        };
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
