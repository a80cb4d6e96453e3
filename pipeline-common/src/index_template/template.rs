//! The composable index template of one pipeline: its name, the index patterns it claims, and
//! its body (settings, mappings, `_meta`).

use super::mapping::mappings;
use super::spec::Codec;
use crate::chain::default_stages;
use crate::model::{IndexName, PipelineDefinition, PipelineName};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

/// Priority of every pipeline template: above what an operator's generic templates use
/// (`logs-*` at 100 or less), so the pipeline's mapping wins where both match.
pub const TEMPLATE_PRIORITY: u32 = 500;

/// The name of pipeline `name`'s template under `kafka.topicPrefix` `prefix`, lowercase as
/// OpenSearch requires: `flow.<prefix>.<name>`.
pub fn template_name(prefix: &str, name: &PipelineName) -> String {
    format!("flow.{}.{name}", prefix.to_lowercase())
}

/// The indices a pipeline writes, as a template claims them.
///
/// `index_patterns` only knows `*`, so a dated index is claimed as its prefix followed by a digit
/// (`web-logs-0*` … `web-logs-9*`): `web-*` would also catch the indices of a pipeline writing
/// `web-logs-{yyyy.MM.dd}`. A concrete index is claimed by its exact name. A name with field
/// references (`orders-{cloudevent.type}-{yyyy.MM.dd}`) is claimed with a `*` for each
/// reference (`orders-*-0*` … `orders-*-9*`); two pipelines' claims may not overlap, so such a
/// pipeline refuses another whose indices its patterns would catch, and the other way round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexClaim {
    /// Exactly this index.
    Exact(String),
    /// Every index whose name is this prefix followed by a digit.
    Dated(String),
    /// Every name this field-templated index name gives (see [`IndexName::matches`]).
    Templated(IndexName),
}

impl IndexClaim {
    /// The claim of `index`.
    pub fn of(index: &IndexName) -> IndexClaim {
        if index.is_templated() {
            return IndexClaim::Templated(index.clone());
        }
        match index.date_prefix() {
            None => IndexClaim::Exact(index.as_str().to_owned()),
            Some(prefix) => {
                // Leading separators of the pattern (`x{.yyyy}`) belong to the fixed part.
                let sample = index.resolve(DateTime::<Utc>::UNIX_EPOCH);
                let fixed = sample[prefix.len()..]
                    .find(|c: char| c.is_ascii_digit())
                    .map_or(sample.len(), |at| prefix.len() + at);
                IndexClaim::Dated(sample[..fixed].to_owned())
            }
        }
    }

    /// The template's `index_patterns`.
    pub fn patterns(&self) -> Vec<String> {
        match self {
            IndexClaim::Exact(name) => vec![name.clone()],
            IndexClaim::Dated(prefix) => (0..10).map(|d| format!("{prefix}{d}*")).collect(),
            IndexClaim::Templated(index) => index.claim_patterns(),
        }
    }

    /// Whether `name` is an index this claim covers.
    pub fn covers(&self, name: &str) -> bool {
        match self {
            IndexClaim::Exact(exact) => exact == name,
            IndexClaim::Dated(prefix) => name
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit())),
            IndexClaim::Templated(index) => index.matches(name),
        }
    }

    /// Whether some index name is matched by both claims' patterns: what OpenSearch refuses
    /// between two templates of one priority, and a superset of the names both cover.
    pub fn overlaps(&self, other: &IndexClaim) -> bool {
        let theirs = other.patterns();
        self.patterns()
            .iter()
            .any(|a| theirs.iter().any(|b| globs_intersect(a, b)))
    }
}

/// Whether some string matches both `a` and `b`, patterns in which only `*` is special (any
/// run of characters), as in `index_patterns`. A walk over the pairs of positions: a literal
/// must meet the same literal or a `*`; a `*` may also match nothing.
fn globs_intersect(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut seen = vec![false; (a.len() + 1) * (b.len() + 1)];
    let mut todo = vec![(0usize, 0usize)];
    while let Some((i, j)) = todo.pop() {
        let at = i * (b.len() + 1) + j;
        if seen[at] {
            continue;
        }
        seen[at] = true;
        if i == a.len() && j == b.len() {
            return true;
        }
        let (x, y) = (a.get(i).copied(), b.get(j).copied());
        if x == Some('*') {
            todo.push((i + 1, j));
        }
        if y == Some('*') {
            todo.push((i, j + 1));
        }
        match (x, y) {
            // One character read by both: a `*` stays, a literal moves on.
            (Some('*'), Some(c)) if c != '*' => todo.push((i, j + 1)),
            (Some(c), Some('*')) if c != '*' => todo.push((i + 1, j)),
            (Some(c), Some(d)) if c == d && c != '*' => todo.push((i + 1, j + 1)),
            _ => {}
        }
    }
    false
}

/// Index settings with the server defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexSettings {
    /// `index.number_of_shards`.
    pub number_of_shards: u32,
    /// `index.number_of_replicas`.
    pub number_of_replicas: u32,
    /// `index.refresh_interval`.
    pub refresh_interval: String,
    /// `index.codec`.
    pub codec: &'static str,
}

/// What the template needs from the server: configuration defaults and whether the default
/// chain has a geoip stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateDefaults {
    /// `opensearch.defaultShards`.
    pub shards: u32,
    /// `opensearch.defaultReplicas`.
    pub replicas: u32,
    /// `opensearch.defaultRefreshInterval`.
    pub refresh_interval: String,
    /// `opensearch.defaultCodec`.
    pub codec: Codec,
    /// Whether `geoip.database` is configured (the default chain then has a geoip stage).
    pub geoip_available: bool,
}

impl TemplateDefaults {
    /// From the loaded configuration.
    pub fn from_settings(settings: &crate::config::Settings) -> TemplateDefaults {
        let os = &settings.opensearch;
        TemplateDefaults {
            shards: os.default_shards,
            replicas: os.default_replicas,
            refresh_interval: os.default_refresh_interval.clone(),
            codec: os.default_codec,
            geoip_available: !settings.geoip.database.trim().is_empty(),
        }
    }
}

/// The effective settings of `definition`'s indices.
pub fn index_settings(
    definition: &PipelineDefinition,
    defaults: &TemplateDefaults,
) -> IndexSettings {
    let ix = definition.indexing();
    IndexSettings {
        number_of_shards: ix.shards.unwrap_or(defaults.shards),
        number_of_replicas: ix.replicas.unwrap_or(defaults.replicas),
        refresh_interval: ix.refresh_interval.as_ref().map_or_else(
            || defaults.refresh_interval.clone(),
            |r| r.as_str().to_owned(),
        ),
        codec: ix.codec.unwrap_or(defaults.codec).as_str(),
    }
}

/// The `mappings` of `definition`'s indices (its stages, or the default chain).
pub fn definition_mappings(
    definition: &PipelineDefinition,
    defaults: &TemplateDefaults,
    meta: Option<Value>,
) -> Value {
    let owned;
    let stages = match definition.stages() {
        Some(s) => s,
        None => {
            owned = default_stages(defaults.geoip_available);
            &owned
        }
    };
    mappings(stages, &definition.indexing().fields, meta)
}

/// Who a template belongs to: recorded in its `_meta` and in each index's mapping `_meta`, so
/// an index says which definition version it was created under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateMeta {
    /// Always `flow-stream`.
    pub managed_by: &'static str,
    /// The pipeline's id.
    pub pipeline_id: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// The definition version the template was derived from.
    pub version: i64,
}

impl TemplateMeta {
    /// The `_meta` of pipeline `id` at definition `version`.
    pub fn new(id: &str, name: &PipelineName, version: i64) -> TemplateMeta {
        TemplateMeta {
            managed_by: "flow-stream",
            pipeline_id: id.to_owned(),
            pipeline: name.as_str().to_owned(),
            version,
        }
    }
}

/// The `PUT _index_template/<name>` body for `definition` at `meta`'s version.
pub fn template_body(
    definition: &PipelineDefinition,
    defaults: &TemplateDefaults,
    meta: &TemplateMeta,
) -> Value {
    let meta = json!(meta);
    json!({
        "index_patterns": IndexClaim::of(definition.index()).patterns(),
        "priority": TEMPLATE_PRIORITY,
        "version": meta["version"],
        "_meta": meta,
        "template": {
            "settings": {"index": index_settings(definition, defaults)},
            "mappings": definition_mappings(definition, defaults, Some(meta.clone())),
        },
    })
}
