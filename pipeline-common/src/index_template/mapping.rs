//! Definition → OpenSearch mapping: which fields the stage chain writes, with which types.
//!
//! The chain is walked in order, as the worker runs it: `parse` adds its formats' fields under
//! `parsed`, `geoip` its target's fields, `mask` turns every IP field it can rewrite into a
//! `keyword` (a masked `10.x.x.x` is not an address), `rename` moves fields, `hash` adds its target.
//! `indexing.fields` then overrides per path, and the fields the document builder adds
//! (`@timestamp`, `pipeline`, `cloudevent`) come last, as they replace event fields of the same
//! name.

use super::spec::FieldType;
use crate::model::{MaskRule, MaskSpec, ParseSpec, StageSpec};
use crate::stages::parse::{LogFormat, PARSED_FIELD};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Longest string indexed as a `keyword`; longer values stay in `_source`, unindexed.
pub const KEYWORD_IGNORE_ABOVE: u32 = 1024;

/// The type a field gets; what [`FieldType`] names plus the stage-specific shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// A date.
    Date,
    /// An exact value, aggregatable.
    Keyword,
    /// A value only read back, never searched or aggregated (the hash: it is also `_id`).
    StoredOnly,
    /// Free text, searched but never aggregated or sorted.
    Text,
    /// A small integer (HTTP status, syslog priority).
    Short,
    /// A 64-bit integer.
    Long,
    /// An IP address.
    Ip,
    /// `{lat, lon}`.
    GeoPoint,
    /// An `indexing.fields` override.
    Override(FieldType),
}

/// The fields of a chain, by dotted path, before the server's own fields.
pub type FieldMap = BTreeMap<String, Leaf>;

fn nginx_fields() -> Vec<(&'static str, Leaf)> {
    use Leaf::*;
    vec![
        ("client_ip", Ip),
        ("ident", Keyword),
        ("user", Keyword),
        ("timestamp", Date),
        ("method", Keyword),
        ("path", Keyword),
        ("protocol", Keyword),
        ("request", Keyword),
        ("status", Short),
        ("bytes", Long),
        ("referrer", Keyword),
        ("user_agent", Keyword),
    ]
}

fn syslog_fields() -> Vec<(&'static str, Leaf)> {
    use Leaf::*;
    vec![
        ("priority", Short),
        ("facility", Short),
        ("level", Keyword),
        ("timestamp", Date),
        ("hostname", Keyword),
        ("app_name", Keyword),
        ("proc_id", Keyword),
        ("message", Text),
        ("version", Keyword),
        ("msg_id", Keyword),
        ("structured_data", Keyword),
    ]
}

fn simple_split_fields() -> Vec<(&'static str, Leaf)> {
    use Leaf::*;
    vec![
        ("timestamp", Date),
        ("source", Keyword),
        ("level", Keyword),
        ("message", Text),
    ]
}

/// Whether `mask` can rewrite an address held at `path`.
fn masks_addresses_at(mask: &MaskSpec, path: &str) -> bool {
    let rewrites = mask
        .rules
        .iter()
        .any(|r| matches!(r, MaskRule::Ipv4 | MaskRule::Ipv6 | MaskRule::Custom(_)));
    rewrites
        && mask
            .fields
            .as_ref()
            .is_none_or(|fields| fields.iter().any(|f| within(path, f.as_str())))
}

/// `path` is `root` or lies inside it.
fn within(path: &str, root: &str) -> bool {
    path == root || (path.starts_with(root) && path.as_bytes().get(root.len()) == Some(&b'.'))
}

/// Sets `path` to `leaf`, as writing a value there does to a document: what was under `path` and
/// any single value on the way to it are gone.
fn put(fields: &mut FieldMap, path: String, leaf: Leaf) {
    fields.retain(|p, _| !within(p, &path) && !within(&path, p));
    fields.insert(path, leaf);
}

fn add_parse(fields: &mut FieldMap, spec: &ParseSpec, masked_before: &[&MaskSpec]) {
    put(fields, spec.field.as_str().to_owned(), Leaf::Text);
    let input_masked = masked_before
        .iter()
        .any(|m| masks_addresses_at(m, spec.field.as_str()));
    let mut add = |name: &str, leaf: Leaf| {
        let leaf = if leaf == Leaf::Ip && input_masked {
            Leaf::Keyword
        } else {
            leaf
        };
        put(fields, format!("{PARSED_FIELD}.{name}"), leaf);
    };
    add("format", Leaf::Keyword);
    for format in &spec.formats {
        let typed = match format {
            LogFormat::Nginx => nginx_fields(),
            LogFormat::Syslog => syslog_fields(),
            LogFormat::SimpleSplit => simple_split_fields(),
            // A JSON line brings its own fields: dynamic mapping types them.
            LogFormat::Json => Vec::new(),
        };
        for (name, leaf) in typed {
            add(name, leaf);
        }
    }
    // A custom pattern's group is a string: a typed field of the same name would reject it.
    for pattern in &spec.patterns {
        for group in pattern.regex.regex().capture_names().flatten() {
            let key = format!("{PARSED_FIELD}.{group}");
            match fields.get(&key) {
                Some(Leaf::Text | Leaf::Keyword) => {}
                _ => {
                    put(fields, key, Leaf::Keyword);
                }
            }
        }
    }
}

fn rename(fields: &mut FieldMap, from: &str, to: &str) {
    let moved: Vec<(String, Leaf)> = fields
        .iter()
        .filter(|(path, _)| within(path, from))
        .map(|(path, leaf)| (format!("{to}{}", &path[from.len()..]), *leaf))
        .collect();
    if moved.is_empty() {
        return;
    }
    fields.retain(|path, _| !within(path, from));
    for (path, leaf) in moved {
        put(fields, path, leaf);
    }
}

/// The fields `stages` write, typed, with `overrides` applied.
pub fn chain_fields(stages: &[StageSpec], overrides: &BTreeMap<String, FieldType>) -> FieldMap {
    let mut fields = FieldMap::new();
    let mut masks: Vec<&MaskSpec> = Vec::new();
    for stage in stages {
        match stage {
            StageSpec::Parse(p) => add_parse(&mut fields, p, &masks),
            StageSpec::Geoip(g) => {
                let target = g.target.as_str();
                for (name, leaf) in [
                    ("country", Leaf::Keyword),
                    ("country_code", Leaf::Keyword),
                    ("city", Leaf::Keyword),
                    ("location", Leaf::GeoPoint),
                    ("asn", Leaf::Long),
                    ("as_org", Leaf::Keyword),
                    ("network", Leaf::Keyword),
                ] {
                    put(&mut fields, format!("{target}.{name}"), leaf);
                }
            }
            StageSpec::Mask(m) => {
                for (path, leaf) in fields.iter_mut() {
                    if *leaf == Leaf::Ip && masks_addresses_at(m, path) {
                        *leaf = Leaf::Keyword;
                    }
                }
                masks.push(m);
            }
            StageSpec::Rename(r) => {
                for (from, to) in &r.fields {
                    rename(&mut fields, from.as_str(), to.as_str());
                }
            }
            StageSpec::Filter(_) => {}
            StageSpec::Hash(h) => {
                put(&mut fields, h.target.as_str().to_owned(), Leaf::StoredOnly);
            }
        }
    }
    for (path, ty) in overrides {
        put(&mut fields, path.clone(), Leaf::Override(*ty));
    }
    fields
}

/// Why an override does not fit the fields the chain writes; `(path, message)` pairs.
pub fn override_conflicts(
    stages: &[StageSpec],
    overrides: &BTreeMap<String, FieldType>,
) -> Vec<(String, String)> {
    let derived = chain_fields(stages, &BTreeMap::new());
    let mut out = Vec::new();
    for (path, ty) in overrides {
        if let Some(leaf) = derived
            .keys()
            .find(|d| within(path, d) && d.as_str() != path)
        {
            out.push((
                path.clone(),
                format!("{leaf} is a single value written by the stages, not an object"),
            ));
        } else if *ty != FieldType::None {
            if let Some(inner) = derived.keys().find(|d| within(d, path) && *d != path) {
                out.push((
                    path.clone(),
                    format!(
                        "holds fields the stages write (e.g. {inner}); only \"none\" applies to an object"
                    ),
                ));
            }
        }
    }
    out
}

fn keyword() -> Value {
    json!({"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE})
}

/// Text never scored by length, so no norms.
fn text() -> Value {
    json!({"type": "text", "norms": false})
}

fn override_mapping(ty: FieldType) -> Value {
    match ty {
        FieldType::Text => text(),
        FieldType::Keyword => keyword(),
        FieldType::TextKeyword => {
            json!({"type": "text", "norms": false, "fields": {"keyword": keyword()}})
        }
        FieldType::Ip => json!({"type": "ip"}),
        FieldType::Long => json!({"type": "long"}),
        FieldType::Double => json!({"type": "double"}),
        FieldType::Boolean => json!({"type": "boolean"}),
        FieldType::Date => json!({"type": "date"}),
        FieldType::GeoPoint => json!({"type": "geo_point"}),
        // An object mapping that is not parsed accepts any JSON value and keeps it in `_source`.
        FieldType::None => json!({"type": "object", "enabled": false}),
    }
}

/// The OpenSearch field mapping of `leaf`.
pub fn leaf_mapping(leaf: Leaf) -> Value {
    match leaf {
        Leaf::Date => json!({"type": "date"}),
        Leaf::Keyword => keyword(),
        Leaf::StoredOnly => json!({"type": "keyword", "index": false, "doc_values": false}),
        Leaf::Text => text(),
        Leaf::Short => json!({"type": "short"}),
        Leaf::Long => json!({"type": "long"}),
        Leaf::Ip => json!({"type": "ip"}),
        Leaf::GeoPoint => json!({"type": "geo_point"}),
        Leaf::Override(ty) => override_mapping(ty),
    }
}

/// The fields the document builder adds to every document.
fn server_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("@timestamp", json!({"type": "date"})),
        ("pipeline.name", keyword()),
        ("pipeline.ingestedAt", json!({"type": "date"})),
        ("pipeline.partition", json!({"type": "integer"})),
        // Looked up (where did this come from), never aggregated or sorted.
        (
            "pipeline.offset",
            json!({"type": "long", "doc_values": false}),
        ),
        (
            "cloudevent.id",
            json!({"type": "keyword", "doc_values": false}),
        ),
        ("cloudevent.source", keyword()),
        ("cloudevent.type", keyword()),
        ("cloudevent.time", json!({"type": "date"})),
        ("cloudevent.subject", keyword()),
    ]
}

/// Puts `mapping` at dotted `path` in a `properties` tree. A path that runs into a leaf is left
/// out: the leaf, written first, wins.
fn insert(properties: &mut Map<String, Value>, path: &str, mapping: Value) {
    match path.split_once('.') {
        None => {
            properties.insert(path.to_owned(), mapping);
        }
        Some((head, rest)) => {
            let node = properties
                .entry(head.to_owned())
                .or_insert_with(|| json!({"properties": {}}));
            if let Some(Value::Object(children)) = node.get_mut("properties") {
                insert(children, rest, mapping);
            }
        }
    }
}

/// The `mappings` body for `stages` with `overrides`: typed `properties`, every other string a
/// `keyword` through `dynamic_templates`, and no date guessing (a string is a `keyword` until
/// the chain or an override says otherwise, so the first event does not decide).
///
/// A field that arrives with a JSON type its mapping rejects fails that document with
/// `mapper_parsing_exception`, which the worker dead-letters: nothing here drops it silently.
pub fn mappings(
    stages: &[StageSpec],
    overrides: &BTreeMap<String, FieldType>,
    meta: Option<Value>,
) -> Value {
    let mut properties = Map::new();
    for (path, mapping) in server_fields() {
        insert(&mut properties, path, mapping);
    }
    for (path, leaf) in chain_fields(stages, overrides) {
        // OpenSearch's metadata fields (`_id`, `_source`, …) cannot be mapped; a document that
        // holds one fails as it does without a template.
        // Nor a name of only whitespace, which a stage's field path may still be.
        let top = path.split('.').next().unwrap_or_default();
        let blank = path.split('.').any(|s| s.trim().is_empty());
        if !super::spec::SERVER_FIELDS.contains(&top) && !top.starts_with('_') && !blank {
            insert(&mut properties, &path, leaf_mapping(leaf));
        }
    }
    let mut out = json!({
        "date_detection": false,
        "dynamic_templates": [
            {"strings_as_keywords": {"match_mapping_type": "string", "mapping": keyword()}}
        ],
        "properties": properties,
    });
    if let Some(meta) = meta {
        out["_meta"] = meta;
    }
    out
}
