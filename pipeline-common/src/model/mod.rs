//! The pipeline model: domain types for a pipeline definition that can only exist valid.
//!
//! Build a [`PipelineDefinition`] from the REST JSON of DESIGN §2 with
//! [`PipelineDefinition::parse`]; it reports every invalid field as a [`FieldError`] whose `field`
//! is the path in the body (`stages[2].patterns[0].regex`), ready for a 422.

mod counters;
mod definition;
mod errors;
pub(crate) mod flush;
mod names;
mod path;
pub(crate) mod reader;

pub use crate::stages::filter::{FilterCondition, FilterSpec};
pub use crate::stages::geoip::{GeoipSpec, DEFAULT_GEOIP_FIELD};
pub use crate::stages::hash::HashSpec;
pub use crate::stages::mask::{CustomMaskRule, Ipv4Mode, MaskRule, MaskSpec};
pub use crate::stages::parse::{LogFormat, NamedPattern, OnFailure, ParseSpec};
pub use crate::stages::rename::RenameSpec;
pub use crate::stages::{StageSpec, MAX_STAGE_LIST};
pub use counters::Counters;
pub use definition::*;
pub use errors::{FieldError, ValidationErrors};
pub use flush::{FlushPolicy, FlushSpec};
pub use names::{IndexName, PipelineName, PipelineTopics};
pub use path::{FieldPath, UserRegex, MAX_PATH_SEGMENTS, MAX_REGEX_SOURCE};

/// What validation needs to know about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationContext {
    /// Whether `geoip.database` is configured; without it an explicit `geoip` stage is an error
    /// and the default chain has no geoip stage.
    pub geoip_available: bool,
    /// Most stages a pipeline may have.
    pub max_stages: usize,
    /// Size limit, in bytes, of each compiled user regex.
    pub regex_size_limit: usize,
}

impl Default for ValidationContext {
    fn default() -> Self {
        ValidationContext {
            geoip_available: false,
            max_stages: 64,
            regex_size_limit: 1 << 20,
        }
    }
}

impl ValidationContext {
    /// The default limits, with geoip available or not.
    pub fn new(geoip_available: bool) -> Self {
        ValidationContext {
            geoip_available,
            ..Self::default()
        }
    }

    /// From the loaded configuration: geoip is available when `geoip.database` is set.
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        Self::new(!settings.geoip.database.trim().is_empty())
    }
}

#[cfg(test)]
mod tests;
