//! The one form every time of the API takes: RFC 3339 in UTC with milliseconds
//! (`2026-11-04T00:47:17.123Z`), as serde `serialize_with` helpers.

use chrono::{DateTime, SecondsFormat, Utc};

/// `t` as RFC 3339 in UTC with milliseconds.
pub fn text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Serializes an instant as [`text`].
pub fn millis<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&text(t))
}

/// Serializes an optional instant as [`text`] or `null`.
pub fn optional_millis<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => millis(t, s),
        None => s.serialize_none(),
    }
}
