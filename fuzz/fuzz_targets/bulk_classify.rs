//! Reading a `_bulk` response: arbitrary bodies, HTTP statuses and item counts.
//!
//! Input: a first line `<HTTP status> <items sent>`, then the response body. An input whose
//! first line is not of that form is all body, read as a 200 for `len % 8` items.
//! Properties: no panic; the answer is one outcome per item sent, or a whole-request failure;
//! a non-2xx status is always a whole-request failure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline_worker::bulk::classify::{classify_response, RequestFailure};

/// The status, the number of items sent and the body of an input.
fn frame(data: &[u8]) -> (u16, usize, &[u8]) {
    let fallback = (200, data.len() % 8, data);
    let Some(nl) = data.iter().position(|&b| b == b'\n') else {
        return fallback;
    };
    let Ok(head) = std::str::from_utf8(&data[..nl]) else {
        return fallback;
    };
    let mut words = head.split(' ');
    match (
        words.next().map(str::parse::<u16>),
        words.next().map(str::parse::<usize>),
        words.next(),
    ) {
        (Some(Ok(status)), Some(Ok(expected)), None) if expected <= 100_000 => {
            (status, expected, &data[nl + 1..])
        }
        _ => fallback,
    }
}

fuzz_target!(|data: &[u8]| {
    let (status, expected, body) = frame(data);
    match classify_response(status, body, expected) {
        Ok(outcomes) => {
            assert!((200..300).contains(&status), "HTTP {status} read as items");
            assert_eq!(
                outcomes.len(),
                expected,
                "outcomes for {expected} items sent"
            );
        }
        Err(RequestFailure::Status { status: s, .. }) => {
            assert_eq!(s, status);
            assert!(
                !(200..300).contains(&status),
                "a 2xx status failed the request"
            );
        }
        Err(RequestFailure::Malformed(_)) => {
            assert!((200..300).contains(&status));
        }
        Err(RequestFailure::Transport(_)) => panic!("no transport here"),
    }
});
