//! The validated pipeline definition of DESIGN §2 and its canonical REST form.

use super::flush::{FlushPolicy, FlushSpec};
use super::reader::Fields;
use super::{IndexName, PipelineName, ValidationContext, ValidationErrors};
use crate::index_template::IndexingSpec;
use crate::stages::StageSpec;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

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

/// Topic settings of a pipeline (all three topics share them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSpec {
    /// Partitions per topic (1..=1000, default 3); the most workers that can share the pipeline.
    pub partitions: i32,
    /// Replication factor (1..=32, default 1).
    pub replication_factor: i16,
    /// `retention.ms`: `-1` keeps forever, `None` uses the broker's default.
    pub retention_ms: Option<i64>,
}

impl Default for TopicSpec {
    fn default() -> Self {
        TopicSpec {
            partitions: DEFAULT_PARTITIONS,
            replication_factor: 1,
            retention_ms: None,
        }
    }
}

/// Whether a pipeline produces its processed documents to its output topic (`output` in the
/// definition). The topic is created either way, so it can be switched on later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSpec {
    /// `output.enabled` (default true): when false, an event is done once indexed.
    pub enabled: bool,
}

impl Default for OutputSpec {
    fn default() -> Self {
        OutputSpec { enabled: true }
    }
}

/// A pipeline definition that passed validation (DESIGN §2). Build it with
/// [`PipelineDefinition::parse`]; store and return it with [`PipelineDefinition::to_json`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineDefinition {
    name: PipelineName,
    description: String,
    index: IndexName,
    topics: TopicSpec,
    stages: Option<Vec<StageSpec>>,
    flush: Option<FlushSpec>,
    indexing: IndexingSpec,
    output: OutputSpec,
    state: DesiredState,
}

/// Keys the server adds to a definition; accepted and ignored on input so that a GET body can be
/// sent back in a PUT.
const SERVER_KEYS: &[&str] = &[
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
    /// the broker's retention, `output.enabled` true, `state` running. `stages` omitted, `null` or `[]` selects the default
    /// chain; `flush` omitted uses the server defaults.
    pub fn parse(
        json: &Value,
        ctx: &ValidationContext,
    ) -> Result<PipelineDefinition, ValidationErrors> {
        let mut errs = ValidationErrors::new();
        let Some(f) = Fields::object(json, String::new(), &mut errs) else {
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
            ],
            SERVER_KEYS,
            &mut errs,
        );

        let name = f.required_str("name", &mut errs).and_then(|s| {
            PipelineName::parse(s)
                .map_err(|e| errs.push("name", e))
                .ok()
        });

        let description = f.str("description", &mut errs).unwrap_or("").to_owned();
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            errs.push(
                "description",
                format!("at most {MAX_DESCRIPTION_CHARS} characters"),
            );
        }

        let index = match f.str("index", &mut errs) {
            Some(s) => IndexName::parse(s).map_err(|e| errs.push("index", e)).ok(),
            None => name
                .as_ref()
                .and_then(|n| IndexName::parse(n.as_str()).ok()),
        };

        let mut topics = TopicSpec::default();
        if let Some(v) = f.get("topics") {
            if let Some(t) = Fields::object(v, "topics".into(), &mut errs) {
                t.deny_unknown(
                    &["partitions", "replicationFactor", "retentionMs"],
                    &["input", "output", "error"],
                    &mut errs,
                );
                if let Some(n) = t.int("partitions", PARTITIONS.0, PARTITIONS.1, &mut errs) {
                    topics.partitions = n as i32;
                }
                if let Some(n) = t.int(
                    "replicationFactor",
                    REPLICATION_FACTOR.0,
                    REPLICATION_FACTOR.1,
                    &mut errs,
                ) {
                    topics.replication_factor = n as i16;
                }
                if let Some(n) = t.int("retentionMs", -1, i64::MAX, &mut errs) {
                    if n == 0 {
                        errs.push("topics.retentionMs", "must be -1 (forever) or positive");
                    } else {
                        topics.retention_ms = Some(n);
                    }
                }
            }
        }

        let stages = match f.array("stages", ctx.max_stages, &mut errs) {
            None => None,
            Some(items) if items.is_empty() => None,
            Some(items) => {
                let specs: Vec<StageSpec> = items
                    .into_iter()
                    .filter_map(|(at, v)| StageSpec::parse(v, at, ctx, &mut errs))
                    .collect();
                Some(specs)
            }
        };

        let flush = f.get("flush").and_then(|v| {
            let fl = Fields::object(v, "flush".into(), &mut errs)?;
            fl.deny_unknown(&["maxBytes", "maxItems", "intervalMs"], &[], &mut errs);
            let spec = FlushSpec {
                max_bytes: fl
                    .int("maxBytes", 1, MAX_FLUSH_BYTES, &mut errs)
                    .map(|n| n as u64),
                max_items: fl
                    .int("maxItems", 1, MAX_FLUSH_ITEMS, &mut errs)
                    .map(|n| n as u64),
                interval_ms: fl
                    .int("intervalMs", 1, MAX_FLUSH_INTERVAL_MS, &mut errs)
                    .map(|n| n as u64),
            };
            (spec != FlushSpec::default()).then_some(spec)
        });

        let indexing = parse_indexing(&f, stages.as_deref(), index.as_ref(), ctx, &mut errs);

        let mut output = OutputSpec::default();
        if let Some(v) = f.get("output") {
            if let Some(o) = Fields::object(v, "output".into(), &mut errs) {
                o.deny_unknown(&["enabled"], &[], &mut errs);
                if let Some(enabled) = o.bool("enabled", &mut errs) {
                    output.enabled = enabled;
                }
            }
        }

        let state = match f.str("state", &mut errs) {
            None => DesiredState::Running,
            Some(s) => DesiredState::parse(s).unwrap_or_else(|| {
                errs.push("state", "must be \"running\" or \"stopped\"");
                DesiredState::Running
            }),
        };

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
            }),
            _ => Err(errs),
        }
    }

    /// The canonical REST form (DESIGN §2): camelCase keys; `stages` and `flush` are left out when
    /// they take the defaults, `output` is always written. `parse(&d.to_json()) == d`.
    pub fn to_json(&self) -> Value {
        let mut topics = json!({
            "partitions": self.topics.partitions,
            "replicationFactor": self.topics.replication_factor,
        });
        if let Some(r) = self.topics.retention_ms {
            topics["retentionMs"] = Value::from(r);
        }
        let mut out = Map::new();
        out.insert("name".into(), Value::from(self.name.as_str()));
        out.insert("description".into(), Value::from(self.description.as_str()));
        out.insert("index".into(), Value::from(self.index.as_str()));
        out.insert("topics".into(), topics);
        if let Some(stages) = &self.stages {
            out.insert(
                "stages".into(),
                stages.iter().map(StageSpec::to_json).collect(),
            );
        }
        if let Some(fl) = &self.flush {
            let mut m = Map::new();
            for (k, v) in [
                ("maxBytes", fl.max_bytes),
                ("maxItems", fl.max_items),
                ("intervalMs", fl.interval_ms),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), Value::from(v));
                }
            }
            out.insert("flush".into(), Value::Object(m));
        }
        if !self.indexing.is_default() {
            // A plain struct of options, maps and strings: serializing it cannot fail.
            if let Ok(v) = serde_json::to_value(&self.indexing) {
                out.insert("indexing".into(), v);
            }
        }
        out.insert("output".into(), json!({"enabled": self.output.enabled}));
        out.insert("state".into(), Value::from(self.state.as_str()));
        Value::Object(out)
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

    /// The same definition with another desired state (PATCH …/state).
    pub fn with_state(mut self, state: DesiredState) -> Self {
        self.state = state;
        self
    }
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
    let Some(ix) = Fields::object(v, "indexing".into(), errs) else {
        return IndexingSpec::default();
    };
    let spec = IndexingSpec::parse(&ix, errs);
    if let (Some(_), Some(index)) = (&spec.retention, index) {
        if !crate::index_template::supports_retention(index) {
            errs.push(
                "indexing.retention",
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
        errs.push(format!("indexing.fields.{path}"), message);
    }
    spec
}
