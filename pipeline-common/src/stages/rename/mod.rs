//! The `rename` stage: moves fields; dotted paths address nested fields exactly.
//!
//! Without a `fields` map it applies the defaults of the replaced system (timestamp →
//! event_timestamp, time → event_time, msg → message, lvl → level) at the top level and inside
//! `parsed`. A rename onto an existing field replaces it, as the replaced system did.

mod spec;

pub use spec::*;

use super::{EventDoc, Stage, StageResult};
use crate::doc::{Fields, Object, Texts};
use crate::failure::FailedAt;
use crate::model::FieldPath;

/// The runtime `rename` stage.
#[derive(Debug, Clone)]
pub struct RenameStage {
    steps: Vec<Step>,
}

/// Renames in the order given, with runs of renames inside one object merged, so that the
/// object is looked up once for the run instead of twice per rename (the defaults are two such
/// runs at the top level and one inside `parsed`).
#[derive(Debug, Clone)]
enum Step {
    /// Moves between keys of the object at `parent` (the top level when empty). Such a move
    /// cannot fail: the object exists whenever there is something to move.
    Within {
        parent: Vec<String>,
        moves: Vec<(String, String)>,
    },
    /// Any other rename.
    Across { from: FieldPath, to: FieldPath },
}

impl RenameStage {
    /// Builds the stage.
    pub fn new(spec: &RenameSpec) -> Self {
        let mut steps: Vec<Step> = Vec::new();
        for (from, to) in &spec.fields {
            let (Some((from_key, parent)), Some((to_key, to_parent))) =
                (from.segments().split_last(), to.segments().split_last())
            else {
                continue;
            };
            if parent != to_parent {
                steps.push(Step::Across {
                    from: from.clone(),
                    to: to.clone(),
                });
                continue;
            }
            let step = (from_key.clone(), to_key.clone());
            match steps.last_mut() {
                Some(Step::Within { parent: p, moves }) if p.as_slice() == parent => {
                    moves.push(step)
                }
                _ => steps.push(Step::Within {
                    parent: parent.to_vec(),
                    moves: vec![step],
                }),
            }
        }
        RenameStage { steps }
    }
}

/// Moves the value at `from` to `to`; when `to`'s parent is not an object, it stays where it was.
fn rename_across(root: &mut Object, texts: &mut Texts, from: &FieldPath, to: &FieldPath) {
    if let Some(v) = root.remove_path(texts, from) {
        if let Err(v) = root.set_path(texts, to, v) {
            let _ = root.set_path(texts, from, v);
        }
    }
}

impl Stage for RenameStage {
    fn name(&self) -> FailedAt {
        FailedAt::Rename
    }

    fn apply(&self, doc: &mut EventDoc) -> StageResult {
        let Fields { root, texts } = &mut doc.fields;
        for step in &self.steps {
            match step {
                Step::Within { parent, moves } => {
                    let Some(obj) = root.object_at_mut(texts, parent) else {
                        continue;
                    };
                    for (from, to) in moves {
                        if let Some(v) = obj.remove(texts, from) {
                            obj.insert(texts, to, v);
                        }
                    }
                }
                Step::Across { from, to } => rename_across(root, texts, from, to),
            }
        }
        StageResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    #[test]
    fn defaults_apply_at_top_level_and_in_parsed() {
        let st = RenameStage::new(&RenameSpec::default());
        let mut doc = EventDoc::of(json!({"timestamp": "t", "msg": "m", "other": 1,
                   "parsed": {"msg": "pm", "lvl": "x", "time": "pt", "level": "info"}}));
        st.apply(&mut doc);
        assert_eq!(
            doc.to_json(),
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
        let mut doc = EventDoc::of(json!({"a": {"b": 1}, "x": 2, "n": 3}));
        st.apply(&mut doc);
        assert_eq!(
            doc.to_json(),
            json!({"a": {}, "c": {"d": 1}, "x": 2, "n": 3})
        );
    }

    /// The rule, one rename at a time: what the merged steps must do.
    fn one_by_one(fields: &[(FieldPath, FieldPath)], doc: &mut Fields) {
        for (from, to) in fields {
            rename_across(&mut doc.root, &mut doc.texts, from, to);
        }
    }

    fn small_path() -> impl Strategy<Value = FieldPath> {
        proptest::collection::vec(proptest::sample::select(vec!["a", "b", "p"]), 1..3)
            .prop_map(|segs| FieldPath::parse(&segs.join(".")).unwrap())
    }

    fn small_object() -> impl Strategy<Value = Map<String, Value>> {
        let key = || proptest::sample::select(vec!["a".to_owned(), "b".to_owned(), "p".to_owned()]);
        let leaf = prop_oneof![Just(json!(1)), Just(json!("s")), Just(json!(null))];
        let value = leaf.prop_recursive(2, 8, 3, move |inner| {
            proptest::collection::btree_map(key(), inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        });
        proptest::collection::btree_map(key(), value, 0..3).prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        #[test]
        fn merged_steps_rename_as_one_by_one(
            fields in proptest::collection::vec((small_path(), small_path()), 0..6),
            want in small_object(),
        ) {
            let mut want = Fields::from_map(&want);
            let mut got = EventDoc::new(want.clone(), None);
            one_by_one(&fields, &mut want);
            RenameStage::new(&RenameSpec { fields }).apply(&mut got);
            prop_assert_eq!(got.to_json(), Value::Object(want.to_map()));
        }
    }
}
