//! Where an event failed, and the names of the headers a dead letter carries (DESIGN §4 step 7).
//!
//! The worker writes these names, pipeline-mgmt reads and filters by them, and the console offers
//! them; all three take them from here.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The step at which an event failed: `decode`, the type of the stage that failed it, or `index`
/// (OpenSearch refused the document). It is the `error.stage` header of a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FailedAt {
    /// Not an event: not UTF-8, not JSON, not an object, too deep or too large.
    Decode,
    /// The parse stage.
    Parse,
    /// The geoip stage.
    Geoip,
    /// The mask stage.
    Mask,
    /// The rename stage.
    Rename,
    /// The filter stage.
    Filter,
    /// The hash stage.
    Hash,
    /// OpenSearch refused the document.
    Index,
}

impl FailedAt {
    /// Every value, in the order an event meets them.
    pub const ALL: [FailedAt; 8] = [
        FailedAt::Decode,
        FailedAt::Parse,
        FailedAt::Geoip,
        FailedAt::Mask,
        FailedAt::Rename,
        FailedAt::Filter,
        FailedAt::Hash,
        FailedAt::Index,
    ];

    /// The header value, which is also the stage's `type` in a definition.
    pub fn as_str(self) -> &'static str {
        match self {
            FailedAt::Decode => "decode",
            FailedAt::Parse => "parse",
            FailedAt::Geoip => "geoip",
            FailedAt::Mask => "mask",
            FailedAt::Rename => "rename",
            FailedAt::Filter => "filter",
            FailedAt::Hash => "hash",
            FailedAt::Index => "index",
        }
    }

    /// Whether this names a stage of the chain (not `decode` or `index`).
    pub fn is_stage(self) -> bool {
        !matches!(self, FailedAt::Decode | FailedAt::Index)
    }
}

impl fmt::Display for FailedAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that is none of [`FailedAt::ALL`]; its message lists the accepted values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stage must be one of {}", FailedAt::ALL.map(FailedAt::as_str).join(", "))]
pub struct UnknownStage;

impl FromStr for FailedAt {
    type Err = UnknownStage;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        FailedAt::ALL
            .into_iter()
            .find(|stage| stage.as_str() == text)
            .ok_or(UnknownStage)
    }
}

/// The header names of a dead letter, as the worker writes them.
pub mod headers {
    /// Where the event failed: a [`FailedAt`](super::FailedAt) value.
    pub const STAGE: &str = "error.stage";
    /// Why it failed (for `index`, the OpenSearch error object as JSON).
    pub const REASON: &str = "error.reason";
    /// The OpenSearch item status, empty when OpenSearch was not involved.
    pub const STATUS: &str = "error.status";
    /// The input topic the event was read from.
    pub const SOURCE_TOPIC: &str = "source.topic";
    /// Its partition.
    pub const SOURCE_PARTITION: &str = "source.partition";
    /// Its offset.
    pub const SOURCE_OFFSET: &str = "source.offset";
    /// The pipeline's name.
    pub const PIPELINE_NAME: &str = "pipeline.name";
    /// When the worker dead-lettered it (RFC 3339, UTC, milliseconds).
    pub const FAILED_AT: &str = "failed.at";
    /// On a replayed record in the input topic: `<error topic>/<partition>/<offset>` it came from.
    pub const REPLAY_OF: &str = "replay.of";
    /// On a replayed record in the input topic: the id of the replay job that wrote it.
    pub const REPLAY_JOB: &str = "replay.job";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_matches_serde() {
        for stage in FailedAt::ALL {
            assert_eq!(stage.as_str().parse::<FailedAt>(), Ok(stage));
            assert_eq!(
                serde_json::to_value(stage).unwrap(),
                serde_json::Value::from(stage.as_str())
            );
        }
        let err = "bogus".parse::<FailedAt>().unwrap_err().to_string();
        assert_eq!(
            err,
            "stage must be one of decode, parse, geoip, mask, rename, filter, hash, index"
        );
    }
}
