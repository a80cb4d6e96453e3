//! The `rename` stage: moves fields; dotted paths address nested fields exactly.
//!
//! Without a `fields` map it applies the defaults of the replaced system (timestamp →
//! event_timestamp, time → event_time, msg → message, lvl → level) at the top level and inside
//! `parsed`. A rename onto an existing field replaces it, as the replaced system did.

use super::{EventDoc, Stage, StageResult};
use crate::model::{FieldPath, RenameSpec};

/// The runtime `rename` stage.
#[derive(Debug, Clone)]
pub struct RenameStage {
    fields: Vec<(FieldPath, FieldPath)>,
}

impl RenameStage {
    /// Builds the stage.
    pub fn new(spec: &RenameSpec) -> Self {
        RenameStage {
            fields: spec.fields.clone(),
        }
    }
}

impl Stage for RenameStage {
    fn name(&self) -> &'static str {
        "rename"
    }

    fn apply(&self, doc: &mut EventDoc) -> StageResult {
        for (from, to) in &self.fields {
            if let Some(v) = from.remove(&mut doc.fields) {
                if let Err(v) = to.set(&mut doc.fields, v) {
                    // The target's parent is not an object: keep the field where it was.
                    let _ = from.set(&mut doc.fields, v);
                }
            }
        }
        StageResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn defaults_apply_at_top_level_and_in_parsed() {
        let st = RenameStage::new(&RenameSpec::default());
        let mut doc = EventDoc::new(
            json!({"timestamp": "t", "msg": "m", "other": 1,
                   "parsed": {"msg": "pm", "lvl": "x", "time": "pt", "level": "info"}})
            .as_object()
            .cloned()
            .unwrap(),
            None,
        );
        st.apply(&mut doc);
        assert_eq!(
            Value::Object(doc.fields),
            json!({"event_timestamp": "t", "message": "m", "other": 1,
                   "parsed": {"message": "pm", "level": "x", "event_time": "pt"}})
        );
    }

    #[test]
    fn dotted_and_blocked() {
        let st = RenameStage::new(&RenameSpec {
            fields: vec![
                (
                    FieldPath::parse("a.b").unwrap(),
                    FieldPath::parse("c.d").unwrap(),
                ),
                (
                    FieldPath::parse("x").unwrap(),
                    FieldPath::parse("n.y").unwrap(),
                ),
            ],
        });
        let mut doc = EventDoc::new(
            json!({"a": {"b": 1}, "x": 2, "n": 3})
                .as_object()
                .cloned()
                .unwrap(),
            None,
        );
        st.apply(&mut doc);
        assert_eq!(
            Value::Object(doc.fields),
            json!({"a": {}, "c": {"d": 1}, "x": 2, "n": 3})
        );
    }
}
