//! The `email` scanner.

use super::{splice, EMAIL_REDACTED};
use std::borrow::Cow;

fn is_email_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_email_domain(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'-'
}

/// Email addresses, replaced by [`EMAIL_REDACTED`]; `None` when there are none.
///
/// Exactly what `replace_all` of the regex `[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}` does
/// (leftmost-first, greedy, non-overlapping; checked against the regex by a test), found from the
/// `@` signs: the local part is the run of local characters before an `@` (not reaching back
/// into the previous match), the domain ends at the last `.` of the domain run that has two
/// letters after it, then takes every letter that follows.
pub(super) fn mask_emails(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut hits = Vec::new();
    let mut floor = 0;
    for at in memchr::memchr_iter(b'@', b) {
        if at < floor {
            continue;
        }
        let mut start = at;
        while start > floor && is_email_local(b[start - 1]) {
            start -= 1;
        }
        if start == at {
            continue;
        }
        let mut run_end = at + 1;
        while run_end < b.len() && is_email_domain(b[run_end]) {
            run_end += 1;
        }
        // The last dot with at least one domain character before it and two letters after it.
        let mut dot = None;
        let mut d = run_end;
        while d > at + 2 {
            d -= 1;
            if b[d] == b'.'
                && d + 2 < run_end
                && b[d + 1].is_ascii_alphabetic()
                && b[d + 2].is_ascii_alphabetic()
            {
                dot = Some(d);
                break;
            }
        }
        let Some(dot) = dot else {
            continue;
        };
        let mut end = dot + 1;
        while end < run_end && b[end].is_ascii_alphabetic() {
            end += 1;
        }
        hits.push((start, end, Cow::Borrowed(EMAIL_REDACTED)));
        floor = end;
    }
    splice(s, &hits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn email_regex() -> Regex {
        Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}").unwrap()
    }

    fn by_regex(s: &str) -> Option<String> {
        match email_regex().replace_all(s, EMAIL_REDACTED) {
            Cow::Owned(n) => Some(n),
            Cow::Borrowed(_) => None,
        }
    }

    #[test]
    fn email_scanner_matches_the_regex_on_edge_cases() {
        for s in [
            "a@b.co",
            "a@b.c",
            "a@.co",
            "a@b..co",
            "@b.co",
            "a@b.co.",
            "a@b.co.uk",
            "a@b.co1",
            "a@b.c1o.de",
            "a@b.cx@d.ee",
            "a@b@c.de",
            "x a.b+c%d_e-f@g-h.i.jk l",
            "a@b.c.de-x.fg9",
            "é@b.co a@é.co a@b.éco",
            "a@b-.co",
            "a@@b.co",
            "..@..aa",
            "a@.aa.aa",
            "a@b.co@c.de",
            "john@example.com,x_y@mail.test",
        ] {
            assert_eq!(mask_emails(s), by_regex(s), "{s}");
        }
    }

    proptest::proptest! {
        #[test]
        fn email_scanner_matches_the_regex(s in "[a-c0-9.@_%+ é-]{0,24}") {
            proptest::prop_assert_eq!(mask_emails(&s), by_regex(&s));
        }

        #[test]
        fn email_scanner_matches_the_regex_on_dense_input(s in "[a@.b1-]{0,16}") {
            proptest::prop_assert_eq!(mask_emails(&s), by_regex(&s));
        }
    }
}
