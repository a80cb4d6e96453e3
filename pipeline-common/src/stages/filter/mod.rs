//! The `filter` stage: drops events whose field meets the condition (`eq`, `in`, `exists`,
//! `regex`), or for which a CEL expression is true. `regex` tests strings, and numbers and
//! booleans by their JSON text.

mod spec;

pub use spec::*;

use super::{EventDoc, Stage, StageResult};
use crate::doc::convert::equals_json;
use crate::doc::Texts;
use crate::doc::Value;
use crate::failure::FailedAt;

/// The runtime `filter` stage.
#[derive(Debug, Clone)]
pub struct FilterStage {
    condition: FilterCondition,
}

impl FilterStage {
    /// Builds the stage.
    pub fn new(spec: &FilterSpec) -> Self {
        FilterStage {
            condition: spec.condition.clone(),
        }
    }

    /// True when the event should be dropped.
    pub fn matches(&self, doc: &EventDoc) -> bool {
        match &self.condition {
            FilterCondition::Cel(e) => e.evaluate(&[], &doc.fields) == Ok(true),
            FilterCondition::Field { field, test } => {
                let texts = &doc.fields.texts;
                field_meets(doc.fields.root.get_path(texts, field), texts, test)
            }
        }
    }
}

fn field_meets(v: Option<&Value>, texts: &Texts, test: &FieldTest) -> bool {
    match (test, v) {
        (FieldTest::Exists(want), v) => v.is_some() == *want,
        (_, None) => false,
        (FieldTest::Eq(want), Some(v)) => equals_json(v, texts, want),
        (FieldTest::In(list), Some(v)) => list.iter().any(|w| equals_json(v, texts, w)),
        (FieldTest::Regex(re), Some(Value::String(t))) => re.regex().is_match(texts.get(*t)),
        (FieldTest::Regex(re), Some(Value::Number(n))) => re.regex().is_match(&n.to_string()),
        (FieldTest::Regex(re), Some(Value::Bool(b))) => {
            re.regex().is_match(if *b { "true" } else { "false" })
        }
        (FieldTest::Regex(_), Some(_)) => false,
    }
}

impl Stage for FilterStage {
    fn name(&self) -> FailedAt {
        FailedAt::Filter
    }

    fn apply(&self, doc: &mut EventDoc) -> StageResult {
        if self.matches(doc) {
            StageResult::Drop
        } else {
            StageResult::Continue
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FieldPath, UserRegex};
    use serde_json::json;

    fn doc() -> EventDoc {
        EventDoc::of(json!({"severity": "DEBUG", "n": 5, "p": {"level": "debug"}}))
    }

    fn drops(field: &str, test: FieldTest) -> bool {
        FilterStage::new(&FilterSpec {
            condition: FilterCondition::Field {
                field: FieldPath::parse(field).unwrap(),
                test,
            },
        })
        .apply(&mut doc())
            == StageResult::Drop
    }

    #[test]
    fn conditions() {
        assert!(drops("severity", FieldTest::Eq(json!("DEBUG"))));
        assert!(!drops("severity", FieldTest::Eq(json!("INFO"))));
        assert!(drops(
            "severity",
            FieldTest::In(vec![json!("TRACE"), json!("DEBUG")])
        ));
        assert!(drops("n", FieldTest::In(vec![json!(5)])));
        assert!(drops("p.level", FieldTest::Exists(true)));
        assert!(drops("missing", FieldTest::Exists(false)));
        assert!(!drops("missing", FieldTest::Eq(json!(null))));
        let re = UserRegex::compile("(?i)^debug$", 1 << 20).unwrap();
        assert!(drops("p.level", FieldTest::Regex(re.clone())));
        assert!(!drops("p", FieldTest::Regex(re)));
        let num = UserRegex::compile("^5$", 1 << 20).unwrap();
        assert!(drops("n", FieldTest::Regex(num)));
    }

    #[test]
    fn cel_conditions_drop_when_true_and_keep_on_errors() {
        let cel = |src: &str| {
            FilterStage::new(&FilterSpec {
                condition: FilterCondition::Cel(crate::cel::CelExpression::compile(src).unwrap()),
            })
            .apply(&mut doc())
                == StageResult::Drop
        };
        assert!(cel("data.severity == 'DEBUG' && data.n < 10"));
        assert!(!cel("data.n > 10"));
        assert!(
            !cel("data.missing > 1"),
            "an evaluation error keeps the event"
        );
    }
}
