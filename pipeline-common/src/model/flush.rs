//! Bulk flush thresholds: what a pipeline overrides ([`FlushSpec`]) and what a worker applies
//! ([`FlushPolicy`]: the overrides resolved against the server's `server.flush*`).

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

/// Bulk flush thresholds a pipeline overrides; unset ones use the server defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlushSpec {
    /// Flush when the bulk body reaches this many bytes.
    pub max_bytes: Option<u64>,
    /// Flush when this many documents are buffered.
    pub max_items: Option<u64>,
    /// Flush when the oldest buffered document is this many milliseconds old.
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
