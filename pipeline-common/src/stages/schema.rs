//! The JSON Schema of a stage: the `Stage` schema of pipeline-mgmt's OpenAPI document.
//!
//! Written as JSON because its shape (a `oneOf` on `type`, rules that are strings or objects,
//! exactly one filter operator) is more than utoipa's derive states. Each stage type states its
//! own members (`json_schema`, beside its `parse` in `stages/<type>/spec.rs`) from the
//! validation's constants; this module holds the pieces they share. What a schema cannot state
//! is answered 422: regexes that do not compile, geoip without a database, duplicate names.

use super::filter::FilterSpec;
use super::geoip::GeoipSpec;
use super::hash::HashSpec;
use super::mask::MaskSpec;
use super::parse::ParseSpec;
use super::rename::RenameSpec;
use super::spec::{StageSpec, MAX_STAGE_LIST};
use crate::failure::FailedAt;
use crate::model::{MAX_PATH_SEGMENTS, MAX_REGEX_SOURCE};
use serde_json::{json, Value};
use std::borrow::Cow;

/// A dotted field path, e.g. `parsed.client_ip` (what `FieldPath::parse` accepts).
pub(crate) fn path() -> Value {
    json!({
        "type": "string", "minLength": 1, "maxLength": 512,
        "pattern": format!("^[^.]+(\\.[^.]+){{0,{}}}$", MAX_PATH_SEGMENTS - 1),
        "description": "a dotted field path, e.g. parsed.client_ip",
    })
}

/// `schema`, also allowing `null` (which counts as absent).
pub(crate) fn optional(schema: Value) -> Value {
    let mut s = schema.clone();
    s["type"] = json!([schema["type"], "null"]);
    s
}

/// A non-empty list of field paths, or `null`.
pub(crate) fn path_list() -> Value {
    json!({"type": ["array", "null"], "minItems": 1, "maxItems": MAX_STAGE_LIST, "items": path()})
}

/// A custom pattern or rule name (`valid_pattern_name`).
pub(crate) fn pattern_name() -> Value {
    json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"})
}

/// A user regex: its source length is bounded; whether it compiles is checked by the server.
pub(crate) fn user_regex() -> Value {
    json!({"type": "string", "maxLength": MAX_REGEX_SOURCE})
}

/// One stage object of type `kind`: `type` plus `properties`, nothing else; `type` and
/// `required` must be present.
pub(crate) fn stage(
    kind: FailedAt,
    description: &str,
    mut properties: Value,
    required: &[&str],
) -> Value {
    properties["type"] = json!({"type": "string", "enum": [kind.as_str()]});
    let mut all = vec!["type"];
    all.extend_from_slice(required);
    json!({
        "type": "object", "title": kind.as_str(), "description": description,
        "additionalProperties": false, "required": all, "properties": properties,
    })
}

impl StageSpec {
    /// The schema of one stage object, by `type` (DESIGN §5).
    pub fn json_schema() -> Value {
        json!({
            "description": "One stage (DESIGN §5), by `type`.",
            "oneOf": [
                ParseSpec::json_schema(),
                GeoipSpec::json_schema(),
                MaskSpec::json_schema(),
                RenameSpec::json_schema(),
                FilterSpec::json_schema(),
                HashSpec::json_schema(),
            ],
        })
    }
}

/// The `Stage` component. utoipa's derive cannot state it, so this is a placeholder that names
/// it; pipeline-mgmt puts [`StageSpec::json_schema`] in its place when it writes the document.
impl utoipa::PartialSchema for StageSpec {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .description(Some("One stage, by `type`."))
            .into()
    }
}

impl utoipa::ToSchema for StageSpec {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Stage")
    }
}
