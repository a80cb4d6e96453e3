//! Time parsing and RFC 3339 formatting for the hot path.

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Timelike, Utc,
};

/// Parses an RFC 3339 timestamp (`T` or space separator) into UTC.
pub(crate) fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    // Cheap shape check first: most strings handed here are not timestamps.
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || !b[0].is_ascii_digit() {
        return None;
    }
    rfc3339_utc_seconds(b).or_else(|| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// The value of a run of ASCII digits; `None` if any byte is not one.
fn decimal(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// The shape most events carry, `YYYY-MM-DDTHH:MM:SSZ`, read without chrono's general parser;
/// anything else (fractions, offsets, a leap second, lowercase letters), `None`, is left to it.
fn rfc3339_utc_seconds(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let digits = |from: usize, to: usize| decimal(b.get(from..to)?);
    let year = i32::try_from(digits(0, 4)?).ok()?;
    let (month, day) = (digits(5, 7)?, digits(8, 10)?);
    let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
    if second > 59 {
        return None;
    }
    let t = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
    Some(Utc.from_utc_datetime(&t))
}

/// Parses the timestamps found in log lines: RFC 3339, then `YYYY-MM-DD HH:MM:SS[.,fff]` taken as
/// UTC.
pub(crate) fn parse_log_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Some(t) = parse_rfc3339(s) {
        return Some(t);
    }
    if s.len() < 19 {
        return None;
    }
    let normalized;
    let s = if s.contains(',') {
        normalized = s.replacen(',', ".", 1);
        normalized.as_str()
    } else {
        s
    };
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    None
}

/// Parses nginx's `$time_local`, e.g. `21/Nov/2026:10:15:00 +0000`.
pub(crate) fn parse_nginx_time(s: &str) -> Option<DateTime<Utc>> {
    nginx_time_as_written(s).or_else(|| {
        DateTime::parse_from_str(s, "%d/%b/%Y:%H:%M:%S %z")
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// The exact shape nginx writes, read without interpreting a format string (chrono re-reads it
/// on every call). Anything else, `None`, is left to chrono.
fn nginx_time_as_written(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[14] != b':' {
        return None;
    }
    if b[17] != b':' || b[20] != b' ' {
        return None;
    }
    let digits = |from: usize, to: usize| decimal(b.get(from..to)?);
    let day = digits(0, 2)?;
    let month = month_number(s.get(3..6)?)?;
    let year = i32::try_from(digits(7, 11)?).ok()?;
    let (hour, minute, second) = (digits(12, 14)?, digits(15, 17)?, digits(18, 20)?);
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (offset_hours, offset_minutes) = (digits(22, 24)?, digits(24, 26)?);
    if offset_hours >= 24 || offset_minutes >= 60 {
        return None;
    }
    let offset = chrono::FixedOffset::east_opt(
        sign * i32::try_from(offset_hours * 3600 + offset_minutes * 60).ok()?,
    )?;
    let local = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
    offset
        .from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// 1–12 for `Jan`–`Dec`.
fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS
        .iter()
        .position(|m| *m == name)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// Parses an RFC 3164 timestamp (`Nov  5 10:57:16`), which has no year: takes the year of
/// `reference`, or the year before when that would put the time more than a week after it.
pub(crate) fn parse_bsd_time(s: &str, reference: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut parts = s.split_ascii_whitespace();
    parse_bsd_parts(parts.next()?, parts.next()?, parts.next()?, reference)
}

/// [`parse_bsd_time`] of the text `"{month} {day} {hms}"`, from its three words, which hold no
/// whitespace.
pub(crate) fn parse_bsd_parts(
    month: &str,
    day: &str,
    hms: &str,
    reference: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let month = month_number(month)?;
    let day: u32 = day.parse().ok()?;
    let mut hms = hms.split(':');
    let h: u32 = hms.next()?.parse().ok()?;
    let m: u32 = hms.next()?.parse().ok()?;
    let sec: u32 = hms.next()?.parse().ok()?;
    let at = |year: i32| {
        NaiveDate::from_ymd_opt(year, month, day)
            .and_then(|d| d.and_hms_opt(h, m, sec))
            .map(|t| Utc.from_utc_datetime(&t))
    };
    let year = reference.year();
    match at(year) {
        Some(t) if t > reference + chrono::Duration::days(7) => at(year - 1),
        Some(t) => Some(t),
        None => at(year - 1),
    }
}

/// Longest RFC 3339 text [`fill_rfc3339`] writes: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const RFC3339_MAX: usize = 30;

/// Writes `t` into `buf` as RFC 3339 in UTC with `Z`, and a fraction only when there is one (as
/// `SecondsFormat::AutoSi`), without going through `fmt`; returns the length. `None` for a year
/// outside 0..=9999, which needs more room.
fn fill_rfc3339(t: &DateTime<Utc>, buf: &mut [u8; RFC3339_MAX]) -> Option<usize> {
    // The fields read from the UTC date and time once; through `DateTime`, each would convert
    // to local time (UTC here) again.
    let t = t.naive_utc();
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return None;
    }
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        buf[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    let two = |n: u32| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    put(&two((year / 100) as u32));
    put(&two((year % 100) as u32));
    put(b"-");
    put(&two(t.month()));
    put(b"-");
    put(&two(t.day()));
    put(b"T");
    put(&two(t.hour()));
    put(b":");
    put(&two(t.minute()));
    put(b":");
    put(&two(t.second().min(59) + t.nanosecond() / 1_000_000_000));
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        let (value, digits) = if nanos % 1_000_000 == 0 {
            (nanos / 1_000_000, 3)
        } else if nanos % 1_000 == 0 {
            (nanos / 1_000, 6)
        } else {
            (nanos, 9)
        };
        // `.` and `digits` decimal digits of `value`, zero-padded.
        let mut fraction = [b'0'; 10];
        fraction[0] = b'.';
        let mut v = value;
        for d in fraction[1..=digits].iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        put(&fraction[..=digits]);
    }
    put(b"Z");
    Some(len)
}

/// Formats as RFC 3339 in UTC with `Z`, and a fraction only when there is one (as
/// `SecondsFormat::AutoSi`).
pub(crate) fn format_rfc3339(t: &DateTime<Utc>) -> String {
    let mut buf = [0u8; RFC3339_MAX];
    match fill_rfc3339(t, &mut buf).map(|len| std::str::from_utf8(&buf[..len])) {
        // Always ASCII.
        Some(Ok(text)) => text.to_owned(),
        _ => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    }
}

/// Appends what [`format_rfc3339`] returns, as a JSON string, without allocating.
pub(crate) fn write_rfc3339_json(t: &DateTime<Utc>, out: &mut Vec<u8>) {
    let mut buf = [0u8; RFC3339_MAX];
    match fill_rfc3339(t, &mut buf) {
        Some(len) => {
            out.push(b'"');
            out.extend_from_slice(&buf[..len]);
            out.push(b'"');
        }
        None => crate::json::write_str(&format_rfc3339(t), out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_chrono() {
        for s in [
            "2026-11-04T00:47:17Z",
            "2026-11-04T00:47:17.120Z",
            "1999-01-31T23:59:59.000001Z",
            "0001-01-01T00:00:00.000000009Z",
            "2026-11-04T00:47:17.123456789Z",
            "2026-11-04T00:47:17.5Z",
            "2026-11-04T00:47:17.0001Z",
            "2026-11-04T00:47:17.987654Z",
            "2016-12-31T23:59:60.5Z",
        ] {
            let t = parse_rfc3339(s).unwrap();
            let want = t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            assert_eq!(format_rfc3339(&t), want);
            let mut json = Vec::new();
            write_rfc3339_json(&t, &mut json);
            assert_eq!(json, serde_json::to_vec(&want).unwrap());
        }
        // Five-digit years take chrono's own formatting.
        let far = Utc.with_ymd_and_hms(12345, 6, 7, 8, 9, 10).unwrap();
        let want = far.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        assert_eq!(format_rfc3339(&far), want);
        let mut json = Vec::new();
        write_rfc3339_json(&far, &mut json);
        assert_eq!(json, serde_json::to_vec(&want).unwrap());
    }

    fn nginx_by_chrono(s: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_str(s, "%d/%b/%Y:%H:%M:%S %z")
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    proptest::proptest! {
        #[test]
        fn nginx_times_read_as_chrono_reads_them(
            day in 0u32..35, month in proptest::sample::select(vec!["Jan", "Feb", "Nov", "Dec", "nov", "Foo"]),
            year in 0u32..10000, hour in 0u32..26, minute in 0u32..62, second in 0u32..62,
            sign in proptest::sample::select(vec!['+', '-', ' ']), offset in 0u32..10000,
        ) {
            let s = format!("{day:02}/{month}/{year:04}:{hour:02}:{minute:02}:{second:02} {sign}{offset:04}");
            let fast = nginx_time_as_written(&s);
            proptest::prop_assert!(fast.is_none() || fast == nginx_by_chrono(&s), "{}", s);
            proptest::prop_assert_eq!(parse_nginx_time(&s), nginx_by_chrono(&s), "{}", s);
        }
    }

    fn rfc3339_by_chrono(s: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    proptest::proptest! {
        #[test]
        fn rfc3339_times_read_as_chrono_reads_them(
            year in 0u32..10000, month in 0u32..14, day in 0u32..33, hour in 0u32..26,
            minute in 0u32..62, second in 0u32..62,
            t in proptest::sample::select(vec!['T', 't', ' ', 'x']),
            z in proptest::sample::select(vec!["Z", "z", "+00:00", "-01:30", ".5Z", ""]),
        ) {
            let s = format!("{year:04}-{month:02}-{day:02}{t}{hour:02}:{minute:02}:{second:02}{z}");
            proptest::prop_assert_eq!(parse_rfc3339(&s), rfc3339_by_chrono(&s), "{}", s);
        }
    }

    #[test]
    fn rfc3339_fast_shape() {
        for s in [
            "2026-11-04T00:47:17Z",
            "2024-02-29T23:59:59Z",
            "0000-01-01T00:00:00Z",
        ] {
            assert!(rfc3339_utc_seconds(s.as_bytes()).is_some(), "{s}");
            assert_eq!(parse_rfc3339(s), rfc3339_by_chrono(s), "{s}");
        }
        for s in [
            "2023-02-29T00:00:00Z",
            "2026-11-04T24:00:00Z",
            "2016-12-31T23:59:60Z",
        ] {
            assert!(rfc3339_utc_seconds(s.as_bytes()).is_none(), "{s}");
            assert_eq!(parse_rfc3339(s), rfc3339_by_chrono(s), "{s}");
        }
    }

    #[test]
    fn nginx_time_as_written_takes_the_usual_shape() {
        for s in [
            "21/Nov/2026:10:15:00 +0000",
            "01/Jan/2000:00:00:00 -0130",
            "29/Feb/2024:23:59:59 +2359",
        ] {
            assert!(nginx_time_as_written(s).is_some(), "{s}");
            assert_eq!(nginx_time_as_written(s), nginx_by_chrono(s), "{s}");
        }
    }

    #[test]
    fn log_times() {
        let want = "2023-10-01T12:00:00Z";
        for s in [
            "2023-10-01T12:00:00Z",
            "2023-10-01 12:00:00",
            "2023-10-01T12:00:00+00:00",
        ] {
            assert_eq!(format_rfc3339(&parse_log_time(s).unwrap()), want, "{s}");
        }
        assert_eq!(
            format_rfc3339(&parse_log_time("2023-10-01 12:00:00,250").unwrap()),
            "2023-10-01T12:00:00.250Z"
        );
        assert!(parse_log_time("yesterday").is_none());
        assert_eq!(
            format_rfc3339(&parse_nginx_time("21/Nov/2026:10:15:00 +0100").unwrap()),
            "2026-11-21T09:15:00Z"
        );
        let reference = parse_rfc3339("2026-01-02T00:00:00Z").unwrap();
        assert_eq!(
            format_rfc3339(&parse_bsd_time("Dec 31 23:00:00", reference).unwrap()),
            "2025-12-31T23:00:00Z"
        );
        assert_eq!(
            format_rfc3339(&parse_bsd_time("Jan  1 10:00:00", reference).unwrap()),
            "2026-01-01T10:00:00Z"
        );
    }
}
