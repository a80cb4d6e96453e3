//! Which dead letters a replay takes.

use crate::service::dead_letters::DeadLetter;
use pipeline_common::failure::FailedAt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An inclusive offset range of one partition of the error topic.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OffsetRange {
    /// Partition of the error topic.
    #[schema(minimum = 0, maximum = 2147483647)]
    #[serde(deserialize_with = "crate::strict_json::whole")]
    pub partition: i32,
    /// First offset (default: the first readable).
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    #[serde(default, deserialize_with = "crate::strict_json::optional_whole")]
    pub from: Option<i64>,
    /// Last offset, inclusive, not below `from` (default: the last at the job's start).
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    #[serde(default, deserialize_with = "crate::strict_json::optional_whole")]
    pub to: Option<i64>,
}

/// Which dead letters a replay takes; every part given must match.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReplayFilter {
    /// `error.stage` equals this.
    #[schema(value_type = Option<FailedAt>)]
    pub stage: Option<String>,
    /// `error.reason` contains this.
    pub reason: Option<String>,
    /// Only these partitions and offsets; absent means every partition.
    #[serde(default, deserialize_with = "crate::strict_json::optional_objects")]
    pub offsets: Option<Vec<OffsetRange>>,
}

impl ReplayFilter {
    /// Field problems of a filter that can match nothing sensible.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(Err(err)) = self.stage.as_deref().map(str::parse::<FailedAt>) {
            out.push(("stage".to_owned(), err.to_string()));
        }
        for (i, range) in self.offsets.iter().flatten().enumerate() {
            if range.partition < 0 {
                out.push((format!("offsets[{i}].partition"), "must be >= 0".to_owned()));
            }
            if range.from.is_some_and(|f| f < 0) {
                out.push((format!("offsets[{i}].from"), "must be >= 0".to_owned()));
            }
            if range.to.is_some_and(|t| t < 0) {
                out.push((format!("offsets[{i}].to"), "must be >= 0".to_owned()));
            }
            if let (Some(f), Some(t)) = (range.from, range.to) {
                if t < f {
                    out.push((format!("offsets[{i}].to"), "must be >= from".to_owned()));
                }
            }
        }
        out
    }

    pub(super) fn keeps(&self, letter: &DeadLetter) -> bool {
        self.stage
            .as_deref()
            .is_none_or(|s| letter.stage() == Some(s))
            && self
                .reason
                .as_deref()
                .is_none_or(|r| letter.reason().is_some_and(|have| have.contains(r)))
    }

    /// The offsets of `partition` to read, within `low..high`; `None` when none.
    pub(super) fn bounds(&self, partition: i32, low: i64, high: i64) -> Option<(i64, i64)> {
        let (from, to) = match &self.offsets {
            None => (low, high),
            Some(ranges) => {
                let range = ranges.iter().find(|r| r.partition == partition)?;
                (
                    range.from.unwrap_or(low).max(low),
                    range.to.map_or(high, |t| t.saturating_add(1)).min(high),
                )
            }
        };
        (from < to).then_some((from, to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(stage: &str, reason: &str) -> DeadLetter {
        DeadLetter {
            partition: 0,
            offset: 0,
            timestamp: None,
            key: None,
            headers: vec![
                ("error.stage".into(), Some(stage.as_bytes().to_vec())),
                ("error.reason".into(), Some(reason.as_bytes().to_vec())),
            ],
            value: None,
        }
    }

    #[test]
    fn filter_matches_stage_and_reason_substring() {
        let f = ReplayFilter {
            stage: Some("parse".into()),
            reason: Some("no pattern".into()),
            offsets: None,
        };
        assert!(f.keeps(&letter("parse", "no pattern matched")));
        assert!(!f.keeps(&letter("decode", "no pattern matched")));
        assert!(!f.keeps(&letter("parse", "other")));
        assert!(ReplayFilter::default().keeps(&letter("x", "y")));
    }

    #[test]
    fn bounds_clip_to_the_watermarks() {
        let all = ReplayFilter::default();
        assert_eq!(all.bounds(0, 3, 10), Some((3, 10)));
        assert_eq!(all.bounds(0, 5, 5), None);
        let some = ReplayFilter {
            offsets: Some(vec![OffsetRange {
                partition: 1,
                from: Some(4),
                to: Some(6),
            }]),
            ..ReplayFilter::default()
        };
        assert_eq!(some.bounds(0, 0, 10), None);
        assert_eq!(some.bounds(1, 0, 10), Some((4, 7)));
        assert_eq!(some.bounds(1, 5, 6), Some((5, 6)));
        assert!(some.problems().is_empty());
        let bad = ReplayFilter {
            offsets: Some(vec![OffsetRange {
                partition: -1,
                from: Some(4),
                to: Some(2),
            }]),
            ..ReplayFilter::default()
        };
        assert_eq!(bad.problems().len(), 2);
    }
}
