//! A stage of a pipeline definition, validated: one [`StageSpec`] per stage type, each type's spec
//! living with its runtime under `stages/<type>/`.

use super::filter::FilterSpec;
use super::geoip::GeoipSpec;
use super::hash::HashSpec;
use super::mask::MaskSpec;
use super::parse::ParseSpec;
use super::rename::RenameSpec;
use crate::failure::FailedAt;
use crate::model::reader::Fields;
use crate::model::{FieldPath, ValidationContext, ValidationErrors};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// Most custom patterns, mask rules or listed fields one stage may hold.
pub const MAX_STAGE_LIST: usize = 64;

/// One validated stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageSpec {
    /// Parses a log line into `parsed`.
    Parse(ParseSpec),
    /// Looks an IP up in the MaxMind database.
    Geoip(GeoipSpec),
    /// Redacts PII.
    Mask(MaskSpec),
    /// Renames fields.
    Rename(RenameSpec),
    /// Drops matching events.
    Filter(FilterSpec),
    /// Sets the event hash (the document `_id`).
    Hash(HashSpec),
}

impl StageSpec {
    /// The stage type as written in the definition (`parse`, `geoip`, …); also the stage name in
    /// failures and dead-letter headers.
    pub fn kind(&self) -> &'static str {
        self.stage().as_str()
    }

    /// The stage type as the failure vocabulary names it.
    pub fn stage(&self) -> FailedAt {
        match self {
            StageSpec::Parse(_) => FailedAt::Parse,
            StageSpec::Geoip(_) => FailedAt::Geoip,
            StageSpec::Mask(_) => FailedAt::Mask,
            StageSpec::Rename(_) => FailedAt::Rename,
            StageSpec::Filter(_) => FailedAt::Filter,
            StageSpec::Hash(_) => FailedAt::Hash,
        }
    }

    /// The canonical REST form, every default spelled out.
    pub fn to_json(&self) -> Value {
        match self {
            StageSpec::Parse(s) => s.to_json(),
            StageSpec::Geoip(s) => s.to_json(),
            StageSpec::Mask(s) => s.to_json(),
            StageSpec::Rename(s) => s.to_json(),
            StageSpec::Filter(s) => s.to_json(),
            StageSpec::Hash(s) => s.to_json(),
        }
    }

    /// Validates one stage object found at `prefix` (e.g. `stages[2]`).
    pub(crate) fn parse(
        v: &Value,
        prefix: String,
        ctx: &ValidationContext,
        errs: &mut ValidationErrors,
    ) -> Option<StageSpec> {
        let f = Fields::object(v, prefix, errs)?;
        let kind = f.required_str("type", errs)?;
        let before = errs.errors().len();
        let spec = match kind.parse::<FailedAt>() {
            Ok(FailedAt::Parse) => ParseSpec::parse(&f, ctx, errs).map(StageSpec::Parse),
            Ok(FailedAt::Geoip) => GeoipSpec::parse(&f, ctx, errs).map(StageSpec::Geoip),
            Ok(FailedAt::Mask) => MaskSpec::parse(&f, ctx, errs).map(StageSpec::Mask),
            Ok(FailedAt::Rename) => RenameSpec::parse(&f, ctx, errs).map(StageSpec::Rename),
            Ok(FailedAt::Filter) => FilterSpec::parse(&f, ctx, errs).map(StageSpec::Filter),
            Ok(FailedAt::Hash) => HashSpec::parse(&f, ctx, errs).map(StageSpec::Hash),
            Ok(FailedAt::Decode | FailedAt::Index) | Err(_) => {
                let other = kind;
                errs.push(
                    f.path("type"),
                    format!(
                        "unknown stage type {other:?}; expected parse, geoip, mask, rename, filter or hash"
                    ),
                );
                None
            }
        };
        if errs.errors().len() > before {
            None
        } else {
            spec
        }
    }
}

/// A stage serializes to its canonical REST form ([`StageSpec::to_json`]).
impl Serialize for StageSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// A non-empty list of field paths, or `None` when absent.
pub(crate) fn path_list(
    f: &Fields<'_>,
    key: &str,
    errs: &mut ValidationErrors,
) -> Option<Vec<FieldPath>> {
    let items = f.array(key, MAX_STAGE_LIST, errs)?;
    if items.is_empty() {
        errs.push(f.path(key), "must not be empty when given");
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    for (at, v) in items {
        match v.as_str().map(FieldPath::parse) {
            Some(Ok(p)) => out.push(p),
            Some(Err(e)) => errs.push(at, e),
            None => errs.push(at, "must be a string"),
        }
    }
    Some(out)
}

/// A custom pattern or rule name: 1–64 of `[A-Za-z0-9_-]`.
pub(crate) fn valid_pattern_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}
