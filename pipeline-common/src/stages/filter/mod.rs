//! The `filter` stage: drops events whose field meets the condition (`eq`, `in`, `exists`,
//! `regex`). `regex` tests strings, and numbers and booleans by their JSON text.

mod spec;

pub use spec::*;

use super::{EventDoc, Stage, StageResult};
use crate::doc::convert::equals_json;
use crate::doc::Value;
use crate::failure::FailedAt;
use crate::model::FieldPath;

/// The runtime `filter` stage.
#[derive(Debug, Clone)]
pub struct FilterStage {
    field: FieldPath,
    condition: FilterCondition,
}

impl FilterStage {
    /// Builds the stage.
    pub fn new(spec: &FilterSpec) -> Self {
        FilterStage {
            field: spec.field.clone(),
            condition: spec.condition.clone(),
        }
    }

    /// True when the event should be dropped.
    pub fn matches(&self, doc: &EventDoc) -> bool {
        let texts = &doc.fields.texts;
        let v = doc.fields.root.get_path(texts, &self.field);
        match (&self.condition, v) {
            (FilterCondition::Exists(want), v) => v.is_some() == *want,
            (_, None) => false,
            (FilterCondition::Eq(want), Some(v)) => equals_json(v, texts, want),
            (FilterCondition::In(list), Some(v)) => list.iter().any(|w| equals_json(v, texts, w)),
            (FilterCondition::Regex(re), Some(Value::String(t))) => {
                re.regex().is_match(texts.get(*t))
            }
            (FilterCondition::Regex(re), Some(Value::Number(n))) => {
                re.regex().is_match(&n.to_string())
            }
            (FilterCondition::Regex(re), Some(Value::Bool(b))) => {
                re.regex().is_match(if *b { "true" } else { "false" })
            }
            (FilterCondition::Regex(_), Some(_)) => false,
        }
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
    use crate::model::UserRegex;
    use serde_json::json;

    fn doc() -> EventDoc {
        EventDoc::of(json!({"severity": "DEBUG", "n": 5, "p": {"level": "debug"}}))
    }

    fn drops(field: &str, condition: FilterCondition) -> bool {
        FilterStage::new(&FilterSpec {
            field: FieldPath::parse(field).unwrap(),
            condition,
        })
        .apply(&mut doc())
            == StageResult::Drop
    }

    #[test]
    fn conditions() {
        assert!(drops("severity", FilterCondition::Eq(json!("DEBUG"))));
        assert!(!drops("severity", FilterCondition::Eq(json!("INFO"))));
        assert!(drops(
            "severity",
            FilterCondition::In(vec![json!("TRACE"), json!("DEBUG")])
        ));
        assert!(drops("n", FilterCondition::In(vec![json!(5)])));
        assert!(drops("p.level", FilterCondition::Exists(true)));
        assert!(drops("missing", FilterCondition::Exists(false)));
        assert!(!drops("missing", FilterCondition::Eq(json!(null))));
        let re = UserRegex::compile("(?i)^debug$", 1 << 20).unwrap();
        assert!(drops("p.level", FilterCondition::Regex(re.clone())));
        assert!(!drops("p", FilterCondition::Regex(re)));
        let num = UserRegex::compile("^5$", 1 << 20).unwrap();
        assert!(drops("n", FilterCondition::Regex(num)));
    }
}
