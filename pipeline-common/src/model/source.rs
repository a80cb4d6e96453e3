//! Where a pipeline takes its events from: its own input topic (the default), or a **broker**, a
//! named shared input topic that many pipelines read, each with its own consumer group and a
//! filter on the events' CloudEvents attributes and a CEL expression (Knative Eventing's
//! trigger, on Kafka). DESIGN §2 has the JSON:
//!
//! ```json
//! "source": {"broker": "default",
//!            "filter": {"attributes": {"type": "order.created", "customer.tier": "premium"},
//!                       "prefix": {"source": "/shop/"}, "suffix": {"subject": ".png"},
//!                       "cel": "data.amount > 1000"}}
//! ```

use super::definition::{parse_description, parse_topics};
use super::reader::{type_name, Fields};
use super::{PipelineName, TopicSpec, ValidationErrors};
use crate::cel::CelExpression;
use serde::{Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Most attribute conditions (`attributes`, `prefix` and `suffix` together) of one filter.
pub const MAX_ATTRIBUTE_CONDITIONS: usize = 32;
/// Longest value an attribute condition compares with, in bytes.
pub const MAX_ATTRIBUTE_VALUE_BYTES: usize = 1024;
/// Longest attribute name.
pub const MAX_ATTRIBUTE_NAME: usize = 63;

/// Broker names that would make a broker's topic `<prefix>.broker.<name>` one of the topics of a
/// pipeline named `broker` (`<prefix>.broker.input` …).
const RESERVED_BROKER_NAMES: [&str; 3] = ["input", "output", "error"];

/// A broker's name: a pipeline name's rules (`^[a-z0-9][a-z0-9-]{0,62}$`), except `input`,
/// `output` and `error`. Its topic is `<prefix>.broker.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, pattern = "^[a-z0-9][a-z0-9-]{0,62}$"))]
#[serde(into = "String")]
pub struct BrokerName(String);

impl BrokerName {
    /// Validates `s` as a broker name.
    pub fn parse(s: &str) -> Result<BrokerName, String> {
        let name = PipelineName::parse(s)?;
        if RESERVED_BROKER_NAMES.contains(&s) {
            return Err(format!(
                "must not be {}: the topic would be a pipeline's",
                RESERVED_BROKER_NAMES.join(", ")
            ));
        }
        Ok(BrokerName(name.into()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The broker's topic under `kafka.topicPrefix` `prefix`: `<prefix>.broker.<name>`.
    pub fn topic(&self, prefix: &str) -> String {
        format!("{prefix}.broker.{}", self.0)
    }
}

impl fmt::Display for BrokerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<BrokerName> for String {
    fn from(n: BrokerName) -> String {
        n.0
    }
}

/// A CloudEvents attribute name as a filter names it: lowercase letters and digits (the
/// CloudEvents rule), and also dots between them (`customer.tier`), as Knative users write
/// extensions; at most [`MAX_ATTRIBUTE_NAME`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AttributeName(String);

impl AttributeName {
    /// Validates `s`.
    pub fn parse(s: &str) -> Result<AttributeName, String> {
        let ok = !s.is_empty()
            && s.len() <= MAX_ATTRIBUTE_NAME
            && s.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if ok {
            Ok(AttributeName(s.to_owned()))
        } else {
            Err(format!(
                "an attribute name is 1–{MAX_ATTRIBUTE_NAME} lowercase letters and digits, \
                 with dots between them (type, source, customer.tier)"
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which events of its broker a pipeline takes. Every condition must hold; an empty filter
/// takes every event.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventFilter {
    /// Attributes that must equal these values exactly.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BTreeMap<String, String>>))]
    pub attributes: BTreeMap<AttributeName, String>,
    /// Attributes that must start with these values.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BTreeMap<String, String>>))]
    pub prefix: BTreeMap<AttributeName, String>,
    /// Attributes that must end with these values.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BTreeMap<String, String>>))]
    pub suffix: BTreeMap<AttributeName, String>,
    /// A CEL expression over the attributes (as variables) and `data` that must be true; an
    /// evaluation error (a missing field) is no match.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "cel_source")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, max_length = 2048, example = "data.amount > 1000"))]
    pub cel: Option<CelExpression>,
}

fn cel_source<S: Serializer>(cel: &Option<CelExpression>, s: S) -> Result<S::Ok, S::Error> {
    match cel {
        Some(e) => s.serialize_str(e.as_str()),
        None => s.serialize_none(),
    }
}

impl EventFilter {
    /// Whether the filter takes every event.
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
            && self.prefix.is_empty()
            && self.suffix.is_empty()
            && self.cel.is_none()
    }

    /// The attributes the conditions read (the CEL expression's identifiers not included).
    pub fn attribute_names(&self) -> impl Iterator<Item = &AttributeName> {
        self.attributes
            .keys()
            .chain(self.prefix.keys())
            .chain(self.suffix.keys())
    }

    /// Whether the attributes `get` returns meet every attribute condition (exact, prefix and
    /// suffix); the CEL expression is not evaluated here.
    pub fn attributes_match<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.attributes
            .iter()
            .all(|(name, want)| get(name.as_str()) == Some(want.as_str()))
            && self.prefix.iter().all(|(name, want)| {
                get(name.as_str()).is_some_and(|v| v.starts_with(want.as_str()))
            })
            && self
                .suffix
                .iter()
                .all(|(name, want)| get(name.as_str()).is_some_and(|v| v.ends_with(want.as_str())))
    }

    fn parse(f: &Fields<'_>, errs: &mut ValidationErrors) -> EventFilter {
        f.deny_unknown(&["attributes", "prefix", "suffix", "cel"], &[], errs);
        let mut filter = EventFilter {
            attributes: conditions(f, "attributes", errs),
            prefix: conditions(f, "prefix", errs),
            suffix: conditions(f, "suffix", errs),
            cel: None,
        };
        if filter.attribute_names().count() > MAX_ATTRIBUTE_CONDITIONS {
            errs.push(
                f.path("attributes"),
                format!("at most {MAX_ATTRIBUTE_CONDITIONS} attribute conditions in all"),
            );
        }
        if let Some(source) = f.str("cel", errs) {
            match CelExpression::compile(source) {
                Ok(e) => filter.cel = Some(e),
                Err(e) => errs.push(f.path("cel"), e.to_string()),
            }
        }
        filter
    }
}

/// One map of attribute conditions (`attributes`, `prefix` or `suffix`).
fn conditions(
    f: &Fields<'_>,
    key: &str,
    errs: &mut ValidationErrors,
) -> BTreeMap<AttributeName, String> {
    let mut out = BTreeMap::new();
    let Some(v) = f.get(key) else {
        return out;
    };
    let Some(map) = v.as_object() else {
        errs.push(
            f.path(key),
            format!("must be an object, not {}", type_name(v)),
        );
        return out;
    };
    for (name, value) in map {
        let at = format!("{}.{name}", f.path(key));
        let name = match AttributeName::parse(name) {
            Ok(n) => n,
            Err(e) => {
                errs.push(at, e);
                continue;
            }
        };
        match value {
            Value::String(s) if s.is_empty() => errs.push(
                at,
                "must not be empty; leave the attribute out to take any value",
            ),
            Value::String(s) if s.len() > MAX_ATTRIBUTE_VALUE_BYTES => {
                errs.push(at, format!("at most {MAX_ATTRIBUTE_VALUE_BYTES} bytes"))
            }
            Value::String(s) => {
                out.insert(name, s.clone());
            }
            other => errs.push(at, format!("must be a string, not {}", type_name(other))),
        }
    }
    out
}

/// A pipeline's `source`: the broker it reads and which of its events it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SourceSpec {
    /// The broker (it must exist when the pipeline is created or changed).
    pub broker: BrokerName,
    /// Which of its events the pipeline takes; absent takes every one.
    #[serde(skip_serializing_if = "EventFilter::is_empty")]
    #[cfg_attr(feature = "openapi", schema(required = false, value_type = Option<EventFilter>))]
    pub filter: EventFilter,
}

impl SourceSpec {
    /// Validates the `source` object of a definition.
    pub(crate) fn parse(v: &Value, errs: &mut ValidationErrors) -> Option<SourceSpec> {
        let f = Fields::object(v, "source".into(), errs)?;
        f.deny_unknown(&["broker", "filter"], &[], errs);
        let broker = f.required_str("broker", errs).and_then(|s| {
            BrokerName::parse(s)
                .map_err(|e| errs.push(f.path("broker"), e))
                .ok()
        });
        let filter = match f.get("filter") {
            None => EventFilter::default(),
            Some(v) => match Fields::object(v, f.path("filter"), errs) {
                Some(ff) => EventFilter::parse(&ff, errs),
                None => EventFilter::default(),
            },
        };
        Some(SourceSpec {
            broker: broker?,
            filter,
        })
    }

    /// The canonical JSON form.
    pub fn to_json(&self) -> Value {
        // Plain maps and strings: serializing cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A broker as `POST /api/v1/brokers` creates it: `{"name", "description", "topics":
/// {"partitions", "replicationFactor", "retentionMs"}}`, the topic settings with a pipeline's
/// bounds and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSpec {
    /// Its name.
    pub name: BrokerName,
    /// Free text (may be empty).
    pub description: String,
    /// Its topic's settings.
    pub topics: TopicSpec,
}

impl BrokerSpec {
    /// Validates a broker body, one error per offending field.
    pub fn parse(json: &Value) -> Result<BrokerSpec, ValidationErrors> {
        let mut errs = ValidationErrors::new();
        let Some(f) = Fields::object(json, String::new(), &mut errs) else {
            return Err(errs);
        };
        f.deny_unknown(&["name", "description", "topics"], &[], &mut errs);
        let name = f
            .required_str("name", &mut errs)
            .and_then(|s| BrokerName::parse(s).map_err(|e| errs.push("name", e)).ok());
        let description = parse_description(&f, &mut errs);
        // The same settings, bounds and defaults as a pipeline's topics.
        let topics = parse_topics(&f, &[], &mut errs);
        match name {
            Some(name) if errs.is_empty() => Ok(BrokerSpec {
                name,
                description,
                topics,
            }),
            _ => Err(errs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<SourceSpec, Vec<String>> {
        let mut errs = ValidationErrors::new();
        let spec = SourceSpec::parse(&v, &mut errs);
        if errs.is_empty() {
            Ok(spec.unwrap())
        } else {
            Err(errs.errors().iter().map(|e| e.field.clone()).collect())
        }
    }

    #[test]
    fn round_trips_and_matches() {
        let v = json!({"broker": "default", "filter": {
            "attributes": {"type": "order.created", "customer.tier": "premium"},
            "prefix": {"source": "/shop/"}, "suffix": {"subject": ".png"},
            "cel": "data.amount > 1000"}});
        let spec = parse(v.clone()).unwrap();
        assert_eq!(spec.to_json(), v);
        assert_eq!(spec.broker.topic("p"), "p.broker.default");
        let event = [
            ("type", "order.created"),
            ("customer.tier", "premium"),
            ("source", "/shop/eu"),
            ("subject", "a.png"),
        ];
        let get = |n: &str| event.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        assert!(spec.filter.attributes_match(get));
        let other = |n: &str| {
            if n == "type" {
                Some("order.cancelled")
            } else {
                get(n)
            }
        };
        assert!(!spec.filter.attributes_match(other));
        let missing = |n: &str| if n == "subject" { None } else { get(n) };
        assert!(!spec.filter.attributes_match(missing));
        let bare = parse(json!({"broker": "b"})).unwrap();
        assert!(bare.filter.is_empty() && bare.filter.attributes_match(|_| None));
        assert_eq!(bare.to_json(), json!({"broker": "b"}));
    }

    #[test]
    fn names_each_bad_field() {
        let errs = parse(json!({"broker": "input", "filter": {
            "attributes": {"Type": "x", "source": "", "id": 3},
            "prefix": "s", "cel": "data.amount >", "other": 1}}))
        .unwrap_err();
        assert_eq!(
            errs,
            [
                "source.broker",
                "source.filter.other",
                "source.filter.attributes.Type",
                "source.filter.attributes.id",
                "source.filter.attributes.source",
                "source.filter.prefix",
                "source.filter.cel",
            ]
        );
        assert_eq!(parse(json!({})).unwrap_err(), ["source.broker"]);
    }

    #[test]
    fn broker_bodies() {
        let b =
            BrokerSpec::parse(&json!({"name": "default", "topics": {"partitions": 6}})).unwrap();
        assert_eq!(
            (
                b.name.as_str(),
                b.topics.partitions,
                b.topics.replication_factor
            ),
            ("default", 6, 1)
        );
        let errs = BrokerSpec::parse(
            &json!({"name": "error", "topics": {"partitions": 0, "retentionMs": 0}, "x": 1}),
        )
        .unwrap_err();
        let fields: Vec<&str> = errs.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["x", "name", "topics.partitions", "topics.retentionMs"]
        );
        let b = BrokerSpec::parse(&json!({"name": "shared",
            "topics": {"replicationFactor": 3, "minInsyncReplicas": 2}}))
        .unwrap();
        assert_eq!(b.topics.min_insync_replicas, Some(2));
        let errs = BrokerSpec::parse(&json!({"name": "shared",
            "topics": {"replicationFactor": 1, "minInsyncReplicas": 2, "input": "x"}}))
        .unwrap_err();
        let fields: Vec<&str> = errs.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["topics.input", "topics.minInsyncReplicas"]);
    }
}
