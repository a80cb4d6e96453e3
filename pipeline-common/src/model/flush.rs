//! Bulk flush thresholds: what a pipeline overrides ([`FlushSpec`]) and what a worker applies
//! ([`FlushPolicy`]: the overrides resolved against the server's `server.flush*`).

use serde::Serialize;
use std::time::Duration;

/// The flush thresholds a worker applies to one pipeline: whichever is reached first triggers
/// a flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// Body size in bytes.
    pub max_bytes: usize,
    /// Number of documents.
    pub max_items: usize,
    /// Age of the oldest buffered document.
    pub interval: Duration,
}

/// Bulk flush thresholds a pipeline overrides (`flush` in the definition); absent ones use the
/// server defaults (`server.flush*`).
//
// The schema's bounds are `MAX_FLUSH_BYTES`, `MAX_FLUSH_ITEMS` and `MAX_FLUSH_INTERVAL_MS` as
// literals (attributes take no constants; a unit test of pipeline-mgmt compares them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Flush))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlushSpec {
    /// Flush when the bulk body reaches this many bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 104857600, format = Int64))]
    pub max_bytes: Option<u64>,
    /// Flush when this many documents are buffered.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100000, format = Int64))]
    pub max_items: Option<u64>,
    /// Flush when the oldest buffered document is this many milliseconds old.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3600000, format = Int64))]
    pub interval_ms: Option<u64>,
}

impl FlushSpec {
    /// These thresholds, with `defaults` for the unset ones.
    pub fn resolve(&self, defaults: &FlushPolicy) -> FlushPolicy {
        FlushPolicy {
            max_bytes: self.max_bytes.map_or(defaults.max_bytes, saturating_usize),
            max_items: self.max_items.map_or(defaults.max_items, saturating_usize),
            interval: self
                .interval_ms
                .map_or(defaults.interval, Duration::from_millis),
        }
    }
}

/// `n` as a `usize`, or `usize::MAX` where it does not fit (a 32-bit target).
pub(crate) fn saturating_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
