//! The validated pipeline definition of DESIGN §2 and its canonical REST form.

use super::flush::{FlushPolicy, FlushSpec};
use super::reader::Fields;
use super::{IndexName, PipelineName, SourceSpec, ValidationContext, ValidationErrors};
use crate::index_template::IndexingSpec;
use crate::stages::StageSpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest accepted description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Partition count bounds.
pub const PARTITIONS: (i64, i64) = (1, 1000);
/// Replication factor bounds.
pub const REPLICATION_FACTOR: (i64, i64) = (1, 32);
/// Largest `flush.maxBytes`: OpenSearch's default `http.max_content_length` (100 MiB).
pub const MAX_FLUSH_BYTES: i64 = 100 * 1024 * 1024;
/// Largest `flush.maxItems`.
pub const MAX_FLUSH_ITEMS: i64 = 100_000;
/// Largest `flush.intervalMs` (one hour).
pub const MAX_FLUSH_INTERVAL_MS: i64 = 3_600_000;
/// Partitions of a pipeline whose definition names none.
pub const DEFAULT_PARTITIONS: i32 = 3;

/// Whether a pipeline should be processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    /// Workers consume and index.
    Running,
    /// No worker runs a task for it.
    Stopped,
}

impl DesiredState {
    /// `running` or `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredState::Running => "running",
            DesiredState::Stopped => "stopped",
        }
    }

    /// Parses `running` or `stopped`.
    pub fn parse(s: &str) -> Option<DesiredState> {
        match s {
            "running" => Some(DesiredState::Running),
            "stopped" => Some(DesiredState::Stopped),
            _ => None,
        }
    }
}

/// Topic settings of a pipeline, shared by its three topics; fixed at creation.
//
// On input the server-set topic names (`TOPIC_NAME_KEYS`) are accepted and ignored. The schema's
// bounds are `PARTITIONS` and `REPLICATION_FACTOR` as literals (a unit test of pipeline-mgmt
// compares them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Topics))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TopicSpec {
    /// Partitions per topic (default 3): the most workers that can share the pipeline.
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 1, maximum = 1000, required = false, nullable)
    )]
    pub partitions: i32,
    /// Replication factor (default 1); at most the number of brokers.
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 1, maximum = 32, required = false, nullable)
    )]
    pub replication_factor: i16,
    /// `min.insync.replicas` of the three topics (at most `replicationFactor`): how many
    /// replicas must hold a record before a producer with `acks=all` is answered; absent uses
    /// the broker's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 1, maximum = 32, required = false)
    )]
    pub min_insync_replicas: Option<i16>,
    /// `retention.ms`: `-1` keeps forever, `None` (`null`) uses the broker's default.
    #[cfg_attr(feature = "openapi", schema(schema_with = retention_ms_schema))]
    pub retention_ms: Option<i64>,
}

/// The `retentionMs` schema: -1, a positive integer, or `null` (absent); 0 is refused.
#[cfg(feature = "openapi")]
fn retention_ms_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, SchemaFormat, Type};
    use utoipa::openapi::KnownFormat;
    let forever = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .enum_values(Some([-1]))
        .description(Some("keep forever"));
    let millis = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
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

impl Default for TopicSpec {
    fn default() -> Self {
        TopicSpec {
            partitions: DEFAULT_PARTITIONS,
            replication_factor: 1,
            min_insync_replicas: None,
            retention_ms: None,
        }
    }
}

/// Whether a pipeline produces its processed documents to its output topic (`output` in the
/// definition). The topic is created either way, so it can be switched on later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Output))]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Produce each indexed document to `<prefix>.<name>.output` (default true); when false, an
    /// event is done once indexed.
    #[cfg_attr(feature = "openapi", schema(required = false, nullable))]
    pub enabled: bool,
}

impl Default for OutputSpec {
    fn default() -> Self {
        OutputSpec { enabled: true }
    }
}

/// A pipeline definition (DESIGN §2), as sent to create, replace or dry-run: every member but
/// `name` may be absent or `null` (the default), and the members the server adds are accepted
/// and ignored, so that a GET body can be sent back.
//
// Built valid only by `parse`; it serializes to its canonical REST form (`to_json`), and its
// schema is what `parse` accepts. pipeline-mgmt's document lists the server's members
// (`SERVER_KEYS`, `TOPIC_NAME_KEYS`); the bounds repeat this module's constants as literals
// (attributes take no constants) and a unit test of pipeline-mgmt compares them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineDefinition {
    /// Unique; part of its topic names and the default index.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, pattern = "^[a-z0-9][a-z0-9-]{0,62}$", example = "web-logs")
    )]
    name: PipelineName,
    /// Free text (default empty).
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 1024, required = false, nullable)
    )]
    description: String,
    /// Target index (default: the name); may end in a date pattern, e.g.
    /// `web-logs-{yyyy.MM.dd}`. Lowercase and a well-formed date pattern are checked by the
    /// server (422).
    #[cfg_attr(
        feature = "openapi",
        schema(
            value_type = String,
            min_length = 1,
            max_length = 255,
            pattern = "^(?![_+-])(?!\\.\\.?$)[^\\\\/*?\"<>|,#: \\u0000-\\u001f\\u007f-\\u009f]+$",
            required = false,
            nullable
        )
    )]
    index: IndexName,
    /// Topic settings (default: 3 partitions, replication 1, the broker's retention).
    #[cfg_attr(feature = "openapi", schema(required = false, nullable))]
    topics: TopicSpec,
    /// The stages in order; absent, `null` or empty selects the default chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 64))]
    stages: Option<Vec<StageSpec>>,
    /// Flush thresholds; absent ones use the server defaults (`server.flush*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    flush: Option<FlushSpec>,
    /// Index settings and mapping overrides of the pipeline's index template; absent ones use
    /// the server defaults (`opensearch.default*`) and the mapping derived from the stages.
    #[serde(skip_serializing_if = "IndexingSpec::is_default")]
    #[cfg_attr(feature = "openapi", schema(required = false, nullable))]
    indexing: IndexingSpec,
    /// The output topic.
    #[cfg_attr(feature = "openapi", schema(required = false, nullable))]
    output: OutputSpec,
    /// Desired state after creation (default running).
    #[cfg_attr(feature = "openapi", schema(required = false, nullable))]
    state: DesiredState,
    /// Read a broker's topic (with a filter) besides the pipeline's own input topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<SourceSpec>,
}

/// The topic names the server adds to `topics`; accepted and ignored on input.
pub const TOPIC_NAME_KEYS: [&str; 3] = ["input", "output", "error"];

/// Keys the server adds to a definition; accepted and ignored on input so that a GET body can be
/// sent back in a PUT.
pub const SERVER_KEYS: &[&str] = &[
    "id",
    "stateReason",
    "version",
    "createdBy",
    "createdAt",
    "updatedAt",
];

impl PipelineDefinition {
    /// Validates a REST body (DESIGN §2), collecting one error per offending field.
    ///
    /// Defaults: `description` empty, `index` = `name`, `topics` 3 partitions × replication 1 with
    /// the broker's retention, `output.enabled` true, `state` running. `stages` omitted, `null`
    /// or `[]` selects the default chain; `flush` omitted uses the server defaults.
    pub fn parse(
        json: &Value,
        ctx: &ValidationContext,
    ) -> Result<PipelineDefinition, ValidationErrors> {
        Self::parse_at(json, "", ctx)
    }

    /// [`PipelineDefinition::parse`] for a definition found at `path` of a larger body (e.g.
    /// `definition` of a dry run): every error's field starts with it.
    pub fn parse_at(
        json: &Value,
        path: &str,
        ctx: &ValidationContext,
    ) -> Result<PipelineDefinition, ValidationErrors> {
        let mut errs = ValidationErrors::new();
        let Some(f) = Fields::object(json, path.to_owned(), &mut errs) else {
            return Err(errs);
        };
        f.deny_unknown(
            &[
                "name",
                "description",
                "index",
                "topics",
                "stages",
                "flush",
                "indexing",
                "output",
                "state",
                "source",
            ],
            SERVER_KEYS,
            &mut errs,
        );
        let name = f.required_str("name", &mut errs).and_then(|s| {
            PipelineName::parse(s)
                .map_err(|e| errs.push(f.path("name"), e))
                .ok()
        });
        let description = parse_description(&f, &mut errs);
        let index = match f.str("index", &mut errs) {
            Some(s) => IndexName::parse(s)
                .map_err(|e| errs.push(f.path("index"), e))
                .ok(),
            None => name
                .as_ref()
                .and_then(|n| IndexName::parse(n.as_str()).ok()),
        };
        let topics = parse_topics(&f, &TOPIC_NAME_KEYS, &mut errs);
        let stages = parse_stages(&f, ctx, &mut errs);
        let flush = parse_flush(&f, &mut errs);
        let indexing = parse_indexing(&f, stages.as_deref(), index.as_ref(), ctx, &mut errs);
        let output = parse_output(&f, &mut errs);
        let state = match f.str("state", &mut errs) {
            None => DesiredState::Running,
            Some(s) => DesiredState::parse(s).unwrap_or_else(|| {
                errs.push(f.path("state"), "must be \"running\" or \"stopped\"");
                DesiredState::Running
            }),
        };

        let source = f
            .get("source")
            .and_then(|v| SourceSpec::parse(v, &mut errs));

        match (name, index) {
            (Some(name), Some(index)) if errs.is_empty() => Ok(PipelineDefinition {
                name,
                description,
                index,
                topics,
                stages,
                flush,
                indexing,
                output,
                state,
                source,
            }),
            _ => Err(errs),
        }
    }

    /// The canonical REST form (DESIGN §2), as it serializes: camelCase keys; `stages`, `flush`
    /// and `indexing` are left out when they take the defaults, `topics.retentionMs` is `null`
    /// when unset. `parse(&d.to_json()) == d`.
    pub fn to_json(&self) -> Value {
        // Plain structs, strings and maps with string keys: serializing cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The pipeline's name.
    pub fn name(&self) -> &PipelineName {
        &self.name
    }

    /// The free-text description (may be empty).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The target index (or index pattern).
    pub fn index(&self) -> &IndexName {
        &self.index
    }

    /// Topic settings.
    pub fn topics(&self) -> &TopicSpec {
        &self.topics
    }

    /// The explicit stages; `None` means the default chain.
    pub fn stages(&self) -> Option<&[StageSpec]> {
        self.stages.as_deref()
    }

    /// The pipeline's flush overrides; `None` when it uses the server defaults.
    pub fn flush(&self) -> Option<FlushSpec> {
        self.flush
    }

    /// The effective flush thresholds given the server defaults.
    pub fn effective_flush(&self, defaults: &FlushPolicy) -> FlushPolicy {
        self.flush.unwrap_or_default().resolve(defaults)
    }

    /// Index settings and mapping overrides (`indexing`); unset settings take server defaults.
    pub fn indexing(&self) -> &IndexingSpec {
        &self.indexing
    }

    /// Whether processed documents also go to the output topic.
    pub fn output(&self) -> OutputSpec {
        self.output
    }

    /// The desired state.
    pub fn state(&self) -> DesiredState {
        self.state
    }

    /// The broker the pipeline reads, with its filter; `None` when it reads its own input topic
    /// only.
    pub fn source(&self) -> Option<&SourceSpec> {
        self.source.as_ref()
    }

    /// The same definition with another desired state (PATCH …/state).
    pub fn with_state(mut self, state: DesiredState) -> Self {
        self.state = state;
        self
    }
}

/// `description`: free text of at most [`MAX_DESCRIPTION_CHARS`] characters (default empty), a
/// pipeline's or a broker's.
pub(super) fn parse_description(f: &Fields<'_>, errs: &mut ValidationErrors) -> String {
    let description = f.str("description", errs).unwrap_or("").to_owned();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        errs.push(
            f.path("description"),
            format!("at most {MAX_DESCRIPTION_CHARS} characters"),
        );
    }
    description
}

/// `topics`: partitions, replication factor, `minInsyncReplicas` and retention, for a pipeline's
/// topics or a broker's; keys in `ignored` (a pipeline's server-set topic names) pass silently.
pub(super) fn parse_topics(
    f: &Fields<'_>,
    ignored: &[&str],
    errs: &mut ValidationErrors,
) -> TopicSpec {
    let mut topics = TopicSpec::default();
    let Some(t) = f
        .get("topics")
        .and_then(|v| Fields::object(v, f.path("topics"), errs))
    else {
        return topics;
    };
    t.deny_unknown(
        &[
            "partitions",
            "replicationFactor",
            "minInsyncReplicas",
            "retentionMs",
        ],
        ignored,
        errs,
    );
    if let Some(n) = t.int("partitions", PARTITIONS.0, PARTITIONS.1, errs) {
        topics.partitions = n as i32;
    }
    let (lowest, highest) = REPLICATION_FACTOR;
    if let Some(n) = t.int("replicationFactor", lowest, highest, errs) {
        topics.replication_factor = n as i16;
    }
    // A topic where fewer replicas exist than must acknowledge takes no write.
    if let Some(n) = t.int("minInsyncReplicas", lowest, highest, errs) {
        if n > i64::from(topics.replication_factor) {
            let message = format!(
                "must not exceed topics.replicationFactor ({}): no write could be acknowledged",
                topics.replication_factor
            );
            errs.push(t.path("minInsyncReplicas"), message);
        } else {
            topics.min_insync_replicas = Some(n as i16);
        }
    }
    if let Some(n) = t.int("retentionMs", -1, i64::MAX, errs) {
        if n == 0 {
            errs.push(t.path("retentionMs"), "must be -1 (forever) or positive");
        } else {
            topics.retention_ms = Some(n);
        }
    }
    topics
}

/// `stages`: `None` (the default chain) when absent, `null` or empty.
fn parse_stages(
    f: &Fields<'_>,
    ctx: &ValidationContext,
    errs: &mut ValidationErrors,
) -> Option<Vec<StageSpec>> {
    let items = f.array("stages", ctx.max_stages, errs)?;
    if items.is_empty() {
        return None;
    }
    Some(
        items
            .into_iter()
            .filter_map(|(at, v)| StageSpec::parse(v, at, ctx, errs))
            .collect(),
    )
}

/// `flush`: `None` when absent or when it overrides nothing.
fn parse_flush(f: &Fields<'_>, errs: &mut ValidationErrors) -> Option<FlushSpec> {
    let fl = Fields::object(f.get("flush")?, f.path("flush"), errs)?;
    fl.deny_unknown(&["maxBytes", "maxItems", "intervalMs"], &[], errs);
    let mut within = |key, max| fl.int(key, 1, max, errs).map(|n| n as u64);
    let spec = FlushSpec {
        max_bytes: within("maxBytes", MAX_FLUSH_BYTES),
        max_items: within("maxItems", MAX_FLUSH_ITEMS),
        interval_ms: within("intervalMs", MAX_FLUSH_INTERVAL_MS),
    };
    (spec != FlushSpec::default()).then_some(spec)
}

/// `output`: whether indexed documents also go to the output topic (default true).
fn parse_output(f: &Fields<'_>, errs: &mut ValidationErrors) -> OutputSpec {
    let mut output = OutputSpec::default();
    if let Some(o) = f
        .get("output")
        .and_then(|v| Fields::object(v, f.path("output"), errs))
    {
        o.deny_unknown(&["enabled"], &[], errs);
        if let Some(enabled) = o.bool("enabled", errs) {
            output.enabled = enabled;
        }
    }
    output
}

/// Reads `indexing`, checks its field overrides against the fields the chain writes and its
/// retention against the index name (`index` is `None` when the name itself is invalid).
fn parse_indexing(
    f: &Fields<'_>,
    stages: Option<&[StageSpec]>,
    index: Option<&IndexName>,
    ctx: &ValidationContext,
    errs: &mut ValidationErrors,
) -> IndexingSpec {
    let Some(v) = f.get("indexing") else {
        return IndexingSpec::default();
    };
    let Some(ix) = Fields::object(v, f.path("indexing"), errs) else {
        return IndexingSpec::default();
    };
    let spec = IndexingSpec::parse(&ix, errs);
    if let (Some(_), Some(index)) = (&spec.retention, index) {
        if !crate::index_template::supports_retention(index) {
            errs.push(
                ix.path("retention"),
                format!(
                    "applies to dated indices only: index {index} needs a date pattern that \
                     runs from the year down, such as logs-{{yyyy.MM.dd}}"
                ),
            );
        }
    }
    let defaults;
    let stages = match stages {
        Some(s) => s,
        None => {
            defaults = crate::chain::default_stages(ctx.geoip_available);
            &defaults
        }
    };
    for (path, message) in crate::index_template::override_conflicts(stages, &spec.fields) {
        errs.push(format!("{}.{path}", ix.path("fields")), message);
    }
    spec
}
