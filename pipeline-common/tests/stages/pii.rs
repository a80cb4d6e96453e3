//! No PII leaks: the serialized documents hold none of the emails, addresses and card numbers
//! that the raw events carried, wherever they were.

use crate::common::*;
use serde_json::json;

const EMAILS: &[&str] = &[
    "john@example.com",
    "a.b-c@corp.example.org",
    "x_y@mail.test",
    "Zed+tag@Sub.Example.IO",
];
const IPV4: &[&str] = &[
    "192.168.1.100",
    "10.49.183.217",
    "70.13.101.184",
    "8.8.4.4",
    "172.16.5.4",
];
const IPV6: &[&str] = &[
    "2001:db8::7",
    "fe80::1ff:fe23:4567:890a",
    "2a00:1450:4001:82a::200e",
    "::ffff:10.1.2.3",
];
const CARDS: &[&str] = &[
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "378282246310005",
    "6011111111111117",
];

fn lines() -> Vec<String> {
    let mut out = Vec::new();
    for (i, email) in EMAILS.iter().enumerate() {
        let v4 = IPV4[i % IPV4.len()];
        let v6 = IPV6[i % IPV6.len()];
        let cc = CARDS[i % CARDS.len()];
        out.push(format!("2023-10-01T12:00:00Z - web-server - INFO - User {email} login successful from {v4} card {cc}"));
        out.push(format!(r#"{v4} - - [21/Nov/2026:10:15:00 +0000] "GET /u/{email}?ip={v6} HTTP/1.1" 200 12 "https://x.example/?cc={cc}" "agent {email}""#));
        out.push(format!("Nov 5 10:57:16 host9 sshd[1524]: Accepted password for {email} from {v4} port 22 via {v6}"));
        out.push(format!(
            "<34>1 2026-11-01T00:00:00Z host app 1 ID - pay {cc} by {email} at [{v6}]:443"
        ));
        out.push(json!({"msg": format!("user {email}"), "lvl": "x", "client": v4, "nested": {"ips": [v6, v4], "card": cc}}).to_string());
        out.push(format!("free text {email},{v4};{v6}. {cc}."));
    }
    out
}

#[test]
fn serialized_documents_hold_no_pii() {
    let chain = default_chain();
    let mut checked = 0;
    for (i, line) in lines().iter().enumerate() {
        let email = EMAILS[i % EMAILS.len()];
        let v4 = IPV4[i % IPV4.len()];
        let ev = json!({
            "specversion": "1.0", "id": "x", "source": "s", "type": "t",
            "data": {
                "log_message": line,
                "user": {"email": email, "history": [v4, {"ip": IPV6[i % IPV6.len()]}]},
                "card": CARDS[i % CARDS.len()],
                email: "email as a key",
                "severity": "INFO"
            }
        });
        let doc = document(run_json(&chain, &ev));
        let mut bytes = Vec::new();
        doc.write_bulk("web", &mut bytes);
        let text = String::from_utf8(bytes).unwrap();
        for pii in EMAILS.iter().chain(IPV4).chain(IPV6).chain(CARDS) {
            assert!(
                !text.contains(pii),
                "{pii} leaked from line {line:?}:\n{text}"
            );
            // Also the digits of a card without separators.
            let digits: String = pii.chars().filter(char::is_ascii_digit).collect();
            if CARDS.contains(pii) {
                assert!(!text.contains(&digits), "{digits} leaked:\n{text}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, lines().len());
}

#[test]
fn baseline_events_hold_no_pii_after_the_default_chain() {
    let chain = default_chain();
    let ipv4 = regex::Regex::new(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b").unwrap();
    let email = regex::Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+").unwrap();
    for ev in fixture_events() {
        let doc = document(run_json(&chain, &ev));
        let mut bytes = Vec::new();
        doc.write_bulk("web", &mut bytes);
        let text = String::from_utf8(bytes).unwrap();
        assert!(!email.is_match(&text), "{text}");
        assert!(!ipv4.is_match(&text), "{text}");
    }
}

#[test]
fn card_numbers_held_as_json_numbers_are_masked() {
    let chain = default_chain();
    let ev = json!({
        "specversion": "1.0", "id": "x", "source": "s", "type": "t",
        "data": {
            "log_message": "payment",
            "card": 4111111111111111u64,
            "payment": {"cards": [5500000000000004u64, 378282246310005u64], "amount": 12},
            "order": 4111111111111112u64
        }
    });
    let doc = document(run_json(&chain, &ev));
    let mut bytes = Vec::new();
    doc.write_bulk("web", &mut bytes);
    let text = String::from_utf8(bytes).unwrap();
    for digits in ["4111111111111111", "5500000000000004", "378282246310005"] {
        assert!(!text.contains(digits), "{digits} leaked:\n{text}");
    }
    let v = doc.into_value();
    assert_eq!(v["card"], "[CC_REDACTED]");
    assert_eq!(
        v["payment"],
        json!({"cards": ["[CC_REDACTED]", "[CC_REDACTED]"], "amount": 12})
    );
    // Not Luhn-valid: a number like any other.
    assert_eq!(v["order"], 4111111111111112u64);
}
