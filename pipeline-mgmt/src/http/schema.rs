//! Schemas of the OpenAPI document for bodies that handlers read as JSON values and validate with
//! `PipelineDefinition::parse`. They exist for the document only, and mirror that validation:
//! the bounds come from the same constants, so a request the schema allows is one the server
//! accepts, and one it forbids is answered 4xx (the schemathesis run in the test suite checks
//! both directions). `null` counts as absent wherever a member is optional, as in the validation.
//! Attributes take literals only: a unit test of `http` compares them with the constants.
#![allow(dead_code)] // documentation only

use pipeline_common::failure::FailedAt;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// `^[a-z0-9][a-z0-9-]{0,62}$`: part of topic and index names, so those are always legal.
pub const NAME_PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,62}$";
/// OpenSearch's index rules, as far as a pattern can state them: not starting with `_`, `-` or
/// `+`; not `.` or `..`; none of `\ / * ? " < > | , # :`, space or control characters. Lowercase
/// and a well-formed trailing date pattern (`{yyyy.MM.dd}`) are checked by the server (422).
pub const INDEX_PATTERN: &str =
    "^(?![_+-])(?!\\.\\.?$)[^\\\\/*?\"<>|,#: \\u0000-\\u001f\\u007f-\\u009f]+$";

/// Desired state of a pipeline.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    /// Workers consume and index.
    Running,
    /// No worker runs it.
    Stopped,
}

/// Stored state of a pipeline: the real type, re-exported for the schemas below.
pub use pipeline_common::store::pipelines::PipelineState;

/// Topic settings, shared by the three topics; fixed at creation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Topics {
    /// Partitions per topic: the most workers that can share the pipeline (default 3).
    #[schema(minimum = 1, maximum = 1000)]
    pub partitions: Option<i32>,
    /// Replication factor (default 1); at most the number of brokers (422 otherwise).
    #[schema(minimum = 1, maximum = 32)]
    pub replication_factor: Option<i16>,
    /// `min.insync.replicas` of the three topics: how many replicas must hold a record before
    /// it is acknowledged; at most `replicationFactor`. Absent uses the broker's default.
    #[schema(minimum = 1, maximum = 32)]
    pub min_insync_replicas: Option<i16>,
    /// `retention.ms`: -1 keeps forever, a positive value is milliseconds; absent uses the
    /// broker's default. 0 is refused.
    #[schema(schema_with = retention_ms)]
    pub retention_ms: Option<i64>,
    /// Server-set topic name; ignored on input.
    #[schema(value_type = Value, required = false)]
    pub input: Option<Value>,
    /// Server-set topic name; ignored on input.
    #[schema(value_type = Value, required = false)]
    pub output: Option<Value>,
    /// Server-set topic name; ignored on input.
    #[schema(value_type = Value, required = false)]
    pub error: Option<Value>,
}

/// Bulk flush thresholds; absent ones use the server defaults (`server.flush*`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Flush {
    /// Flush when the bulk body reaches this many bytes.
    #[schema(minimum = 1, maximum = 104857600, format = Int64)]
    pub max_bytes: Option<i64>,
    /// Flush when this many documents are buffered.
    #[schema(minimum = 1, maximum = 100000, format = Int64)]
    pub max_items: Option<i64>,
    /// Flush when the oldest buffered document is this many milliseconds old.
    #[schema(minimum = 1, maximum = 3600000, format = Int64)]
    pub interval_ms: Option<i64>,
}

/// One stage; replaced in the document by [`stage_schema`], which states every stage type.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stage {
    /// The stage type (`decode` and `index` are failure stages only, never a stage's type).
    #[serde(rename = "type")]
    pub kind: FailedAt,
}

/// A pipeline definition (DESIGN §2), as sent to create, replace or dry-run.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineDefinition {
    /// Unique; part of its topic names and the default index.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}$", example = "web-logs")]
    pub name: String,
    /// Free text.
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    /// Target index (default: the name); may end in a date pattern, e.g. `web-logs-{yyyy.MM.dd}`.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^(?![_+-])(?!\\.\\.?$)[^\\\\/*?\"<>|,#: \\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    pub index: Option<String>,
    /// Topic settings.
    pub topics: Option<Topics>,
    /// The stages in order; absent, `null` or empty selects the default chain.
    #[schema(max_items = 64)]
    pub stages: Option<Vec<Stage>>,
    /// Flush thresholds.
    pub flush: Option<Flush>,
    /// The output topic.
    pub output: Option<Output>,
    /// Index settings and mapping overrides of the pipeline's index template; absent ones use
    /// the server defaults (`opensearch.default*`) and the mapping derived from the stages.
    pub indexing: Option<pipeline_common::index_template::IndexingSpec>,
    /// Desired state after creation (default running).
    pub state: Option<DesiredState>,
    /// Server-set; ignored on input, so that a GET body can be sent back.
    #[schema(value_type = Value, required = false)]
    pub id: Option<Value>,
    /// Server-set; ignored on input.
    #[schema(value_type = Value, required = false)]
    pub state_reason: Option<Value>,
    /// Server-set; ignored on input (If-Match carries the version).
    #[schema(value_type = Value, required = false)]
    pub version: Option<Value>,
    /// Server-set; ignored on input.
    #[schema(value_type = Value, required = false)]
    pub created_by: Option<Value>,
    /// Server-set; ignored on input.
    #[schema(value_type = Value, required = false)]
    pub created_at: Option<Value>,
    /// Server-set; ignored on input.
    #[schema(value_type = Value, required = false)]
    pub updated_at: Option<Value>,
}

/// Topics of a stored pipeline.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredTopics {
    /// Partitions per topic.
    #[schema(minimum = 1, maximum = 1000)]
    pub partitions: i32,
    /// Replication factor.
    #[schema(minimum = 1, maximum = 32)]
    pub replication_factor: i16,
    /// `min.insync.replicas`; absent when the broker's default applies.
    #[schema(minimum = 1, maximum = 32)]
    pub min_insync_replicas: Option<i16>,
    /// `retention.ms`, `null` for the broker's default.
    #[schema(minimum = -1)]
    pub retention_ms: Option<i64>,
    /// `<prefix>.<name>.input`.
    pub input: String,
    /// `<prefix>.<name>.output`.
    pub output: String,
    /// `<prefix>.<name>.error`.
    pub error: String,
}

/// Whether processed documents are also produced to the output topic.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// Produce each indexed document to `<prefix>.<name>.output` (default true).
    pub enabled: Option<bool>,
}

/// A stored pipeline: its definition plus what the server adds.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    /// Its id, used in every `{id}` path.
    #[schema(format = Uuid)]
    pub id: String,
    /// Unique name.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub name: String,
    /// Free text.
    pub description: String,
    /// Target index or index pattern.
    pub index: String,
    /// Topic settings and names.
    pub topics: StoredTopics,
    /// Explicit stages; absent when the default chain runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<Stage>>,
    /// Flush overrides; absent when the server defaults apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flush: Option<Flush>,
    /// The output topic.
    pub output: Output,
    /// Index settings and mapping overrides; absent when the server defaults and the derived
    /// mapping apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indexing: Option<pipeline_common::index_template::IndexingSpec>,
    /// Stored state.
    pub state: PipelineState,
    /// Why the pipeline is in its state, when something went wrong.
    pub state_reason: Option<String>,
    /// Incremented by every change; the `ETag`, and what `If-Match` names.
    #[schema(minimum = 1)]
    pub version: i64,
    /// The principal that created it.
    pub created_by: String,
    /// Creation time.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Time of the last change.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A structured-mode CloudEvent (`application/cloudevents+json`): the four required context
/// attributes, `data` and any others.
#[derive(Debug, Serialize, ToSchema)]
pub struct CloudEvent {
    /// CloudEvents version, e.g. `1.0`.
    pub specversion: String,
    /// Event id; kept in the document as `cloudevent.id`.
    pub id: String,
    /// Event source.
    pub source: String,
    /// Event type.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The `oneOf` of a stored dry run's body: `events` or `fromErrors`, exactly one of them not
/// absent or `null`, which utoipa's derive cannot state.
pub fn stored_dry_run_one_of() -> Value {
    json!([
        {
            "title": "events",
            "required": ["events"],
            "properties": {"events": {"type": "array"}, "fromErrors": {"type": "null"}},
        },
        {
            "title": "fromErrors",
            "required": ["fromErrors"],
            "properties": {"fromErrors": {"type": "object"}, "events": {"type": "null"}},
        },
    ])
}

/// `retention.ms`: -1, a positive integer, or `null` (absent); 0 is refused.
fn retention_ms() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, SchemaFormat, Type};
    let forever = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .enum_values(Some([-1]))
        .description(Some("keep forever"));
    let millis = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )))
        .minimum(Some(1))
        .description(Some("milliseconds"));
    let absent = ObjectBuilder::new().schema_type(Type::Null);
    AnyOfBuilder::new()
        .item(forever)
        .item(millis)
        .item(absent)
        .description(Some(
            "`retention.ms`: -1 keeps forever, a positive value is milliseconds; absent or null \
             uses the broker's default",
        ))
        .into()
}

/// A parse pattern's regex: its named groups become `parsed.<group>`, so one without any is
/// refused.
fn parse_regex() -> Value {
    json!({
        "type": "string", "minLength": 5, "maxLength": pipeline_common::model::MAX_REGEX_SOURCE,
        "pattern": "\\(\\?P?<[A-Za-z_][A-Za-z0-9_]*>",
        "description": "a regex with at least one named group, e.g. (?P<message>.*)",
    })
}

/// A custom mask rule's regex: one that matches the empty string would redact between every
/// character, so it is refused.
fn mask_regex() -> Value {
    json!({
        "type": "string", "minLength": 1, "maxLength": pipeline_common::model::MAX_REGEX_SOURCE,
        "description": "a regex that does not match the empty string",
    })
}

/// The `Stage` schema: one object per stage type (DESIGN §5), from the validation's constants.
/// Written as JSON because its shape (a `oneOf` on `type`, rules that are strings or objects,
/// exactly one filter operator) is more than utoipa's derive states. What it cannot state is
/// answered 422: regexes that do not compile, geoip without a database, duplicate names.
pub fn stage_schema() -> Value {
    use pipeline_common::model::{MAX_PATH_SEGMENTS, MAX_REGEX_SOURCE, MAX_STAGE_LIST};
    let path = json!({
        "type": "string", "minLength": 1, "maxLength": 512,
        "pattern": format!("^[^.]+(\\.[^.]+){{0,{}}}$", MAX_PATH_SEGMENTS - 1),
        "description": "a dotted field path, e.g. parsed.client_ip",
    });
    let optional = |schema: &Value| {
        let mut s = schema.clone();
        s["type"] = json!([schema["type"], "null"]);
        s
    };
    let regex = json!({"type": "string", "maxLength": MAX_REGEX_SOURCE});
    let (parse_regex, mask_regex) = (parse_regex(), mask_regex());
    let pattern_name = json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"});
    let path_list = json!({
        "type": ["array", "null"], "minItems": 1, "maxItems": MAX_STAGE_LIST, "items": path,
    });
    let stage = |kind: &str, description: &str, mut properties: Value, required: &[&str]| {
        properties["type"] = json!({"type": "string", "enum": [kind]});
        let mut required: Vec<&str> = required.to_vec();
        required.insert(0, "type");
        json!({
            "type": "object", "title": kind, "description": description,
            "additionalProperties": false, "required": required, "properties": properties,
        })
    };
    let parse = stage(
        FailedAt::Parse.as_str(),
        "parses `field` into `parsed`, trying the formats, then the patterns",
        json!({
            "field": optional(&path),
            "formats": {
                "type": ["array", "null"], "maxItems": MAX_STAGE_LIST, "uniqueItems": true,
                "items": {"type": "string", "enum": ["nginx", "syslog", "json", "simple_split"]},
            },
            "patterns": {
                "type": ["array", "null"], "maxItems": MAX_STAGE_LIST,
                "items": {
                    "type": "object", "additionalProperties": false, "required": ["name", "regex"],
                    "properties": {"name": pattern_name, "regex": parse_regex},
                },
            },
            "onFailure": {"type": ["string", "null"], "enum": ["unknown", "error", null]},
        }),
        &[],
    );
    let geoip = stage(
        FailedAt::Geoip.as_str(),
        "looks `field` up in the GeoIP database into `target`; needs geoip.database",
        json!({"field": optional(&path), "target": optional(&path)}),
        &[],
    );
    let mask = stage(
        FailedAt::Mask.as_str(),
        "redacts PII in every string field, or in `fields`",
        json!({
            "rules": {
                "type": ["array", "null"], "minItems": 1, "maxItems": MAX_STAGE_LIST,
                "uniqueItems": true,
                "items": {"oneOf": [
                    {"type": "string", "enum": ["email", "ipv4", "ipv6", "credit_card"]},
                    {
                        "type": "object", "additionalProperties": false,
                        "required": ["name", "regex"],
                        "properties": {
                            "name": pattern_name, "regex": mask_regex,
                            "replacement": {
                                "type": ["string", "null"], "maxLength": 256,
                                "pattern": "^[^0-9@:]*$",
                            },
                        },
                    },
                ]},
            },
            "ipv4": {"type": ["string", "null"], "enum": ["partial", "redact", "hash", null]},
            "salt": {"type": ["string", "null"], "description": "required, 8 bytes or more, with ipv4: hash"},
            "fields": path_list,
        }),
        &[],
    );
    let rename = stage(
        FailedAt::Rename.as_str(),
        "renames fields: {from: to}",
        json!({
            "fields": {
                "type": ["object", "null"], "maxProperties": MAX_STAGE_LIST * 2,
                "propertyNames": path, "additionalProperties": path,
            },
        }),
        &[],
    );
    let filter = stage(
        FailedAt::Filter.as_str(),
        "drops events whose `field` matches exactly one of eq, in, exists, regex",
        json!({
            "drop_if": {
                "type": "object", "additionalProperties": false, "required": ["field"],
                "properties": {
                    "field": path,
                    "eq": {},
                    "in": {"type": "array", "maxItems": 1024},
                    "exists": {"type": "boolean"},
                    "regex": regex,
                },
                "oneOf": [
                    {"required": ["eq"]}, {"required": ["in"]},
                    {"required": ["exists"]}, {"required": ["regex"]},
                ],
            },
        }),
        &["drop_if"],
    );
    let hash = stage(
        FailedAt::Hash.as_str(),
        "sha256 of the event as received (or of `fields`) into `target`, the document _id",
        json!({"target": optional(&path), "fields": path_list}),
        &[],
    );
    json!({
        "description": "One stage (DESIGN §5), by `type`.",
        "oneOf": [parse, geoip, mask, rename, filter, hash],
    })
}
