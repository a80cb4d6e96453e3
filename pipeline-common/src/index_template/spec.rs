//! The `indexing` object of a pipeline definition: index settings and per-field mapping
//! overrides, validated when the definition is built.

use super::retention::Retention;
use crate::model::reader::{type_name, Fields};
use crate::model::{FieldPath, ValidationErrors};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most primary shards a pipeline may ask for.
pub const MAX_SHARDS: i64 = 64;
/// Most replicas a pipeline may ask for.
pub const MAX_REPLICAS: i64 = 16;
/// Most entries of `indexing.fields`.
pub const MAX_FIELD_OVERRIDES: usize = 256;
/// Longest `refreshInterval`: one hour, in milliseconds.
const MAX_REFRESH_MS: u64 = 3_600_000;

/// Top-level fields the document builder sets itself; their mapping is not the pipeline's to
/// change.
pub const SERVER_FIELDS: [&str; 3] = ["@timestamp", "pipeline", "cloudevent"];

/// How a field is indexed, as `indexing.fields` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FieldType {
    /// Full-text search only (`text`, no `keyword` sub-field).
    #[serde(rename = "text")]
    Text,
    /// Exact values: filters, terms aggregations, sorting.
    #[serde(rename = "keyword")]
    Keyword,
    /// `text` with a `keyword` sub-field (`<field>.keyword`), as dynamic mapping does.
    #[serde(rename = "text+keyword")]
    TextKeyword,
    /// An IPv4 or IPv6 address (CIDR queries).
    #[serde(rename = "ip")]
    Ip,
    /// A 64-bit integer.
    #[serde(rename = "long")]
    Long,
    /// A 64-bit float.
    #[serde(rename = "double")]
    Double,
    /// `true` or `false`.
    #[serde(rename = "boolean")]
    Boolean,
    /// A date (RFC 3339, or epoch milliseconds).
    #[serde(rename = "date")]
    Date,
    /// `{lat, lon}` (maps, distance queries).
    #[serde(rename = "geo_point")]
    GeoPoint,
    /// Kept in `_source`, not indexed (any JSON type).
    #[serde(rename = "none")]
    None,
}

impl FieldType {
    /// Every type, in the order the documentation lists them.
    pub const ALL: [FieldType; 10] = [
        FieldType::Text,
        FieldType::Keyword,
        FieldType::TextKeyword,
        FieldType::Ip,
        FieldType::Long,
        FieldType::Double,
        FieldType::Boolean,
        FieldType::Date,
        FieldType::GeoPoint,
        FieldType::None,
    ];

    /// The name used in definitions.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Keyword => "keyword",
            FieldType::TextKeyword => "text+keyword",
            FieldType::Ip => "ip",
            FieldType::Long => "long",
            FieldType::Double => "double",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::GeoPoint => "geo_point",
            FieldType::None => "none",
        }
    }

    fn from_name(s: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// `indexing.codec`: how stored fields are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// LZ4: faster indexing, larger store.
    Default,
    /// DEFLATE: smaller store, more CPU per merge.
    BestCompression,
}

impl Codec {
    /// The OpenSearch `index.codec` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::Default => "default",
            Codec::BestCompression => "best_compression",
        }
    }
}

/// `indexing.refreshInterval`: `-1` (never refresh on a timer) or a positive duration such as
/// `500ms`, `1s`, `30s` or `1m`, at most one hour. Kept as written: OpenSearch reads the same
/// syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, example = "1s"))]
#[serde(try_from = "String", into = "String")]
pub struct RefreshInterval(String);

impl RefreshInterval {
    /// Validates `s`.
    pub fn parse(s: &str) -> Result<RefreshInterval, String> {
        const HINT: &str = "must be -1 or a duration such as 500ms, 1s, 30s or 1m (at most 1h)";
        if s == "-1" {
            return Ok(RefreshInterval(s.to_owned()));
        }
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = s.split_at(digits);
        let scale = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(HINT.into()),
        };
        match number.parse::<u64>() {
            Ok(n) if n > 0 && n.saturating_mul(scale) <= MAX_REFRESH_MS => {
                Ok(RefreshInterval(s.to_owned()))
            }
            _ => Err(HINT.into()),
        }
    }

    /// The value as written (and as OpenSearch takes it).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RefreshInterval {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        RefreshInterval::parse(&s)
    }
}

impl From<RefreshInterval> for String {
    fn from(r: RefreshInterval) -> String {
        r.0
    }
}

/// The `indexing` object of a definition (DESIGN §2). Unset settings take the server defaults
/// (`opensearch.defaultShards`, `defaultReplicas`, `defaultRefreshInterval`, `defaultCodec`);
/// `fields` overrides the mapping derived from the stages, per dotted field path.
///
/// The schema attributes state the same bounds as [`MAX_SHARDS`] and [`MAX_REPLICAS`] (literals:
/// attributes take no constants).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IndexingSpec {
    /// Primary shards of each new index (1..=64).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 64))]
    pub shards: Option<u32>,
    /// Replicas of each new index (0..=16).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 16))]
    pub replicas: Option<u32>,
    /// How often new documents become searchable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<RefreshInterval>,
    /// Stored-field compression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec: Option<Codec>,
    /// How long a dated index is kept after the period it holds has ended: whole hours or days
    /// (`48h`, `14d`), from 1h to 3650d; only for an index name with a date pattern that runs
    /// from the year down. Absent: kept forever.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "14d",
        pattern = "^[1-9][0-9]*[hd]$"))]
    pub retention: Option<Retention>,
    /// Mapping overrides: dotted field path → type (`null` counts as absent, as everywhere in a
    /// definition).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BTreeMap<String, FieldType>>))]
    pub fields: BTreeMap<String, FieldType>,
}

impl IndexingSpec {
    /// Validates the `indexing` object at `prefix`, one error per offending entry.
    pub(crate) fn parse(f: &Fields<'_>, errs: &mut ValidationErrors) -> IndexingSpec {
        f.deny_unknown(
            &[
                "shards",
                "replicas",
                "refreshInterval",
                "codec",
                "retention",
                "fields",
            ],
            &[],
            errs,
        );
        let mut spec = IndexingSpec {
            shards: f.int("shards", 1, MAX_SHARDS, errs).map(|n| n as u32),
            replicas: f.int("replicas", 0, MAX_REPLICAS, errs).map(|n| n as u32),
            ..IndexingSpec::default()
        };
        if let Some(s) = f.str("refreshInterval", errs) {
            match RefreshInterval::parse(s) {
                Ok(r) => spec.refresh_interval = Some(r),
                Err(e) => errs.push(f.path("refreshInterval"), e),
            }
        }
        match f.str("codec", errs) {
            None => {}
            Some("default") => spec.codec = Some(Codec::Default),
            Some("best_compression") => spec.codec = Some(Codec::BestCompression),
            Some(_) => errs.push(
                f.path("codec"),
                "must be \"default\" or \"best_compression\"",
            ),
        }
        if let Some(s) = f.str("retention", errs) {
            match Retention::parse(s) {
                Ok(r) => spec.retention = Some(r),
                Err(e) => errs.push(f.path("retention"), e),
            }
        }
        if let Some(v) = f.get("fields") {
            spec.fields = parse_overrides(v, &f.path("fields"), errs);
        }
        spec
    }

    /// True when every setting takes the server default and nothing is overridden.
    pub fn is_default(&self) -> bool {
        *self == IndexingSpec::default()
    }
}

fn parse_overrides(
    v: &serde_json::Value,
    at: &str,
    errs: &mut ValidationErrors,
) -> BTreeMap<String, FieldType> {
    let mut out = BTreeMap::new();
    let Some(map) = v.as_object() else {
        errs.push(at, format!("must be an object, not {}", type_name(v)));
        return out;
    };
    if map.len() > MAX_FIELD_OVERRIDES {
        errs.push(at, format!("at most {MAX_FIELD_OVERRIDES} entries"));
        return out;
    }
    for (path, ty) in map {
        let here = format!("{at}.{path}");
        let path = match FieldPath::parse(path) {
            Ok(p) => p,
            Err(e) => {
                errs.push(&here, e);
                continue;
            }
        };
        if SERVER_FIELDS.contains(&path.segments()[0].as_str()) {
            errs.push(&here, "set by the server; its mapping cannot be overridden");
            continue;
        }
        if path.segments()[0].starts_with('_') {
            errs.push(&here, "names an OpenSearch metadata field (a leading '_')");
            continue;
        }
        if path.segments().iter().any(|s| s.trim().is_empty()) {
            errs.push(&here, "a segment is only whitespace");
            continue;
        }
        match ty.as_str().map(|s| (s, FieldType::from_name(s))) {
            Some((_, Some(t))) => {
                out.insert(path.as_str().to_owned(), t);
            }
            Some((s, None)) => errs.push(
                &here,
                format!(
                    "unknown type {s:?}; expected one of: {}",
                    FieldType::ALL.map(FieldType::as_str).join(", ")
                ),
            ),
            None => errs.push(&here, format!("must be a string, not {}", type_name(ty))),
        }
    }
    // A leaf cannot also hold fields: `a` and `a.b` cannot both be overridden.
    let keys: Vec<&String> = out.keys().collect();
    for (i, outer) in keys.iter().enumerate() {
        for inner in &keys[i + 1..] {
            if inner.starts_with(outer.as_str()) && inner.as_bytes().get(outer.len()) == Some(&b'.')
            {
                errs.push(
                    format!("{at}.{inner}"),
                    format!("lies inside {outer}, which is overridden too"),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<IndexingSpec, Vec<(String, String)>> {
        let mut errs = ValidationErrors::new();
        let f = Fields::object(&v, "indexing".into(), &mut errs).unwrap();
        let spec = IndexingSpec::parse(&f, &mut errs);
        if errs.is_empty() {
            Ok(spec)
        } else {
            Err(errs.into_iter().map(|e| (e.field, e.message)).collect())
        }
    }

    #[test]
    fn a_full_object_round_trips_through_its_json_form() {
        let v = json!({"shards": 2, "replicas": 0, "refreshInterval": "30s",
                       "codec": "best_compression", "retention": "14d",
                       "fields": {"parsed.path": "text+keyword", "geo": "none"}});
        let spec = parse(v.clone()).unwrap();
        assert_eq!(spec.shards, Some(2));
        assert_eq!(spec.fields["parsed.path"], FieldType::TextKeyword);
        assert_eq!(serde_json::to_value(&spec).unwrap(), v);
        assert!(parse(json!({})).unwrap().is_default());
    }

    #[test]
    fn every_bad_entry_is_its_own_error() {
        let errs = parse(json!({"shards": 0, "replicas": 17, "refreshInterval": "1d",
                                "codec": "zstd", "retention": "14 days",
                                "fields": {"a": "txt", "b..c": "text", "@timestamp": "keyword",
                                           "pipeline.name": "text", "d": 1, "_id": "keyword",
                                           "e": "keyword", "e.f": "long"}}))
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        for expected in [
            "indexing.shards",
            "indexing.replicas",
            "indexing.refreshInterval",
            "indexing.codec",
            "indexing.retention",
            "indexing.fields.a",
            "indexing.fields.b..c",
            "indexing.fields.@timestamp",
            "indexing.fields.pipeline.name",
            "indexing.fields.d",
            "indexing.fields._id",
            "indexing.fields.e.f",
        ] {
            assert!(fields.contains(&expected), "{expected} in {errs:?}");
        }
        assert_eq!(fields.len(), 12, "{errs:?}");
    }

    #[test]
    fn refresh_intervals() {
        for ok in ["-1", "500ms", "1s", "30s", "1m", "1h"] {
            assert!(RefreshInterval::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "0s", "1", "s", "2h", "1.5s", "-2", "1 s", "1S"] {
            assert!(RefreshInterval::parse(bad).is_err(), "{bad}");
        }
    }
}
