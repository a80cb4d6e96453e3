//! Retention of dated indices (`indexing.retention`): how long a pipeline keeps each of its
//! date-pattern indices once the period it holds has ended, and the pure decision which indices
//! are due for deletion.
//!
//! An index is due when the **end** of its period plus the retention lies in the past: with
//! `14d`, `web-2026.03.01` (the 1st of March) goes once the 15th of March has begun, so the
//! pipeline keeps at least 14 whole days of data. The current and any future period are never due
//! (their end lies ahead), and a name that does not parse back to the pipeline's own pattern has
//! no period, so it is never due either: a hand-made `web-foo` or another pipeline's index stays.

use crate::model::IndexName;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// The shape of a retention, for the OpenAPI document (the range, 1h to 3650d, is checked by
/// [`Retention::parse`] and named in the description).
pub const RETENTION_PATTERN: &str = "^[1-9][0-9]*[hd]$";

/// Shortest retention: one hour.
const MIN_HOURS: i64 = 1;
/// Longest retention: ten years.
const MAX_HOURS: i64 = 24 * 3650;

/// `indexing.retention`: a whole number of hours (`48h`) or days (`14d`), from one hour to ten
/// years. Kept as written, so a definition reads back the way it was sent.
///
/// Its OpenAPI schema is stated where it is used (`IndexingSpec::retention`): a string with
/// [`RETENTION_PATTERN`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Retention {
    written: String,
    hours: i64,
}

impl Retention {
    /// Validates `s`.
    pub fn parse(s: &str) -> Result<Retention, String> {
        const HINT: &str =
            "must be a whole number of hours or days such as 48h or 14d (1h to 3650d)";
        let Some(unit) = s.chars().last() else {
            return Err(HINT.into());
        };
        let number = &s[..s.len() - unit.len_utf8()];
        if number.is_empty()
            || number.starts_with('0')
            || !number.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(HINT.into());
        }
        let scale = match unit {
            'h' => 1,
            'd' => 24,
            _ => return Err(HINT.into()),
        };
        let hours = number
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .filter(|h| (MIN_HOURS..=MAX_HOURS).contains(h))
            .ok_or_else(|| HINT.to_owned())?;
        Ok(Retention {
            written: s.to_owned(),
            hours,
        })
    }

    /// The value as written (`14d`).
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// The retention as a duration.
    pub fn duration(&self) -> TimeDelta {
        TimeDelta::hours(self.hours)
    }

    /// When retention deletes `index`, an index of the pattern `pattern`: the end of the period it
    /// holds plus the retention. `None` when `index` does not parse back to `pattern` (it is never
    /// deleted).
    pub fn deletes_at(&self, pattern: &IndexName, index: &str) -> Option<DateTime<Utc>> {
        let (_, end) = pattern.period_of(index)?;
        end.checked_add_signed(self.duration())
    }

    /// Whether `index` is due for deletion at `now`.
    pub fn is_due(&self, pattern: &IndexName, index: &str, now: DateTime<Utc>) -> bool {
        self.deletes_at(pattern, index).is_some_and(|at| at <= now)
    }
}

impl TryFrom<String> for Retention {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Retention::parse(&s)
    }
}

impl From<Retention> for String {
    fn from(r: Retention) -> String {
        r.written
    }
}

/// Whether `index` can take a retention at all: it must be a date pattern whose indices each hold
/// one contiguous period (see [`IndexName::period_of`]).
pub fn supports_retention(index: &IndexName) -> bool {
    index.period_of(&index.concrete_for_check()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn retentions_in_hours_and_days() {
        assert_eq!(
            Retention::parse("14d").unwrap().duration(),
            TimeDelta::days(14)
        );
        assert_eq!(
            Retention::parse("48h").unwrap().duration(),
            TimeDelta::hours(48)
        );
        assert_eq!(Retention::parse("3650d").unwrap().as_str(), "3650d");
        for bad in [
            "", "d", "0d", "0h", "014d", "1.5d", "-1d", "14", "14D", "2w", "3651d", "1 d",
        ] {
            assert!(Retention::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_index_is_due_once_its_period_ended_more_than_the_retention_ago() {
        let pattern = IndexName::parse("web-{yyyy.MM.dd}").unwrap();
        let keep = Retention::parse("14d").unwrap();
        let now = at(2026, 3, 20, 12);
        // 2026-03-05 ends at the 6th, 00:00; plus 14 days is the 20th, 00:00: due.
        assert!(keep.is_due(&pattern, "web-2026.03.05", now));
        assert!(keep.is_due(&pattern, "web-2025.12.31", now));
        // 2026-03-06 ends at the 7th: deleted on the 21st.
        assert!(!keep.is_due(&pattern, "web-2026.03.06", now));
        assert_eq!(
            keep.deletes_at(&pattern, "web-2026.03.06"),
            Some(at(2026, 3, 21, 0))
        );
        for kept in [
            "web-2026.03.20",
            "web-2026.03.21",
            "web-2030.01.01",
            "web-foo",
            "web-logs-2020.01.01",
        ] {
            assert!(!keep.is_due(&pattern, kept, now), "{kept}");
        }
    }

    #[test]
    fn the_current_period_is_never_due_whatever_the_retention() {
        let pattern = IndexName::parse("web-{yyyy.MM.dd-HH}").unwrap();
        let shortest = Retention::parse("1h").unwrap();
        let now = at(2026, 3, 20, 12) + TimeDelta::minutes(59);
        assert!(!shortest.is_due(&pattern, "web-2026.03.20-12", now));
        assert!(!shortest.is_due(&pattern, "web-2026.03.20-11", now));
        assert!(shortest.is_due(&pattern, "web-2026.03.20-10", now));
    }

    #[test]
    fn only_contiguous_date_patterns_take_a_retention() {
        for ok in [
            "w-{yyyy.MM.dd}",
            "w-{yyyy.MM}",
            "w-{yyyy-MM-dd_HH}",
            "w-{dd.MM.yyyy}",
        ] {
            assert!(supports_retention(&IndexName::parse(ok).unwrap()), "{ok}");
        }
        for no in ["w", "w-{MM.dd}", "w-{yyyy.dd}"] {
            assert!(!supports_retention(&IndexName::parse(no).unwrap()), "{no}");
        }
    }
}
