//! The `hash` stage's configuration: validation and JSON form.

use crate::model::reader::Fields;
use crate::model::{FieldPath, ValidationContext, ValidationErrors};
use crate::stages::spec::path_list;
use serde_json::{json, Value};

/// `hash` stage configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashSpec {
    /// Where the hex digest goes (default `event_hash`).
    pub target: FieldPath,
    /// Hash only these fields of the event as received; `None` hashes the whole event.
    pub fields: Option<Vec<FieldPath>>,
}

impl Default for HashSpec {
    fn default() -> Self {
        HashSpec {
            target: FieldPath::known("event_hash"),
            fields: None,
        }
    }
}

impl HashSpec {
    /// Validates a `hash` stage object.
    pub(crate) fn parse(
        f: &Fields<'_>,
        _ctx: &ValidationContext,
        errs: &mut ValidationErrors,
    ) -> Option<Self> {
        f.deny_unknown(&["type", "target", "fields"], &[], errs);
        let target = f
            .field_path("target", errs)
            .unwrap_or_else(|| FieldPath::known("event_hash"));
        let fields = path_list(f, "fields", errs);
        Some(HashSpec { target, fields })
    }

    /// The canonical REST form.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({"type": crate::failure::FailedAt::Hash.as_str(), "target": self.target.as_str()});
        if let Some(fields) = &self.fields {
            v["fields"] = fields.iter().map(|f| f.as_str()).collect();
        }
        v
    }
}

#[cfg(feature = "openapi")]
impl HashSpec {
    /// The schema of a `hash` stage object.
    pub(crate) fn json_schema() -> Value {
        use crate::stages::schema::{optional, path, path_list, stage};
        stage(
            crate::failure::FailedAt::Hash,
            "sha256 of the event as received (or of `fields`) into `target`, the document _id",
            json!({"target": optional(path()), "fields": path_list()}),
            &[],
        )
    }
}
