//! Golden documents for each format and stage.

use crate::common::*;
use pipeline_common::chain::{Chain, EngineContext, Outcome};
use pipeline_common::dry_run::{dry_run, DryRunResult};
use pipeline_common::event::{decode_message, DecodeLimits};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn sha(canonical: &str) -> String {
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

fn pipeline_meta() -> Value {
    json!({"name": "web", "ingestedAt": "2026-11-21T12:00:00Z", "partition": 2, "offset": 7})
}

/// The context of `line_event`'s CloudEvent, as its documents keep it.
fn cloudevent_meta() -> Value {
    json!({"id": "e1", "source": "test", "type": "log", "time": "2026-11-04T00:47:17Z"})
}

#[test]
fn simple_split_line_from_the_issue() {
    let line = "2023-10-01T12:00:00Z - web-server - INFO - User john@example.com login successful from 192.168.1.100";
    let doc = document(run_json(&default_chain(), &line_event(line)));
    let id = sha(&format!(r#"{{"log_message":"{line}","severity":"INFO"}}"#));
    assert_eq!(doc.id, id);
    assert_eq!(
        doc.into_value(),
        json!({
            "@timestamp": "2023-10-01T12:00:00Z",
            "log_message": "2023-10-01T12:00:00Z - web-server - INFO - User [EMAIL_REDACTED] login successful from 192.x.x.x",
            "severity": "INFO",
            "parsed": {
                "format": "simple_split",
                "event_timestamp": "2023-10-01T12:00:00Z",
                "source": "web-server",
                "level": "INFO",
                "message": "User [EMAIL_REDACTED] login successful from 192.x.x.x"
            },
            "event_hash": id,
            "pipeline": pipeline_meta(),
            "cloudevent": cloudevent_meta()
        })
    );
}

#[test]
fn nginx_line() {
    let line = r#"81.2.69.160 - bob [21/Nov/2026:10:15:00 +0000] "POST /login?user=a@b.co HTTP/1.1" 302 0 "-" "Mozilla/5.0""#;
    let doc = document(run_json(&default_chain(), &line_event(line)));
    let v = doc.into_value();
    assert_eq!(
        v["parsed"],
        json!({
            "format": "nginx", "client_ip": "81.x.x.x", "user": "bob",
            "event_timestamp": "2026-11-21T10:15:00Z", "method": "POST",
            "path": "/login?user=[EMAIL_REDACTED]", "protocol": "HTTP/1.1",
            "status": 302, "bytes": 0, "user_agent": "Mozilla/5.0"
        })
    );
    assert_eq!(v["@timestamp"], "2026-11-21T10:15:00Z");
    assert_eq!(
        v["log_message"],
        r#"81.x.x.x - bob [21/Nov/2026:10:15:00 +0000] "POST /login?user=[EMAIL_REDACTED] HTTP/1.1" 302 0 "-" "Mozilla/5.0""#
    );
}

#[test]
fn syslog_lines() {
    let line = "Nov 5 10:57:16 host9 sshd[1524]: Accepted password for x_y@mail.test from 70.13.101.184 port 46986";
    let v = document(run_json(&default_chain(), &line_event(line))).into_value();
    assert_eq!(
        v["parsed"],
        json!({"format": "syslog", "event_timestamp": "2026-11-05T10:57:16Z", "hostname": "host9",
               "app_name": "sshd", "proc_id": "1524",
               "message": "Accepted password for [EMAIL_REDACTED] from 70.x.x.x port 46986"})
    );
    assert_eq!(v["@timestamp"], "2026-11-05T10:57:16Z");

    let line = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 - login from 2001:db8::7 failed";
    let v = document(run_json(&default_chain(), &line_event(line))).into_value();
    assert_eq!(
        v["parsed"],
        json!({"format": "syslog", "priority": 165, "facility": 20, "level": "notice",
               "version": "1", "event_timestamp": "2003-10-11T22:14:15.003Z",
               "hostname": "mymachine.example.com", "app_name": "evntslog", "msg_id": "ID47",
               "message": "login from [IPV6_REDACTED] failed"})
    );
    assert_eq!(v["@timestamp"], "2003-10-11T22:14:15.003Z");
}

#[test]
fn json_line_gets_default_renames() {
    let line = r#"{"level": "info", "msg": "user john@example.com did thing", "lvl": "x", "time": "2026-11-03T01:02:03Z"}"#;
    let mut ev = line_event(line);
    ev["data"]["timestamp"] = json!("2026-11-04T00:47:17Z");
    let v = document(run_json(&default_chain(), &ev)).into_value();
    assert_eq!(
        v["parsed"],
        json!({"format": "json", "level": "x", "message": "user [EMAIL_REDACTED] did thing",
               "event_time": "2026-11-03T01:02:03Z"})
    );
    assert_eq!(v["event_timestamp"], "2026-11-04T00:47:17Z");
    assert!(v.get("timestamp").is_none());
    assert_eq!(v["@timestamp"], "2026-11-03T01:02:03Z");
}

#[test]
fn unknown_line_uses_event_time_then_ingest_time() {
    let v = document(run_json(&default_chain(), &line_event("hello there"))).into_value();
    assert_eq!(v["parsed"], json!({"format": "unknown"}));
    assert_eq!(v["@timestamp"], "2026-11-04T00:47:17Z");
    let plain = json!({"log_message": "hello"});
    let v = document(run_json(&default_chain(), &plain)).into_value();
    assert_eq!(v["@timestamp"], "2026-11-21T12:00:00Z");
}

#[test]
fn baseline_events_all_become_documents() {
    let chain = default_chain();
    let mut formats = std::collections::BTreeSet::new();
    for (i, ev) in fixture_events().iter().enumerate() {
        let doc = document(run_json(&chain, ev));
        let v = doc.clone().into_value();
        let format = v["parsed"]["format"].as_str().unwrap().to_owned();
        assert_ne!(
            format, "unknown",
            "event {i}: {}",
            ev["data"]["log_message"]
        );
        formats.insert(format);
        // The id is the hash of the data object as received, whatever happened later.
        let want = sha(
            &String::from_utf8(pipeline_common::stages::hash::canonical_json(&ev["data"])).unwrap(),
        );
        assert_eq!(doc.id, want);
        assert_eq!(v["event_hash"], want);
        assert_eq!(v["event_timestamp"], ev["data"]["timestamp"]);
        assert_eq!(v["metadata"], ev["data"]["metadata"]);
    }
    assert_eq!(
        formats.into_iter().collect::<Vec<_>>(),
        ["json", "nginx", "simple_split", "syslog"]
    );
}

#[test]
fn same_event_same_id_across_deliveries_and_configurations() {
    let ev = &fixture_events()[3];
    let a = document(run_json(&default_chain(), ev));
    let b = document(run_json(&default_chain(), ev));
    assert_eq!(a.id, b.id);
    let hash_only = Chain::build(
        &definition(json!({"name": "web", "stages": [{"type": "hash"}]})),
        &EngineContext::default(),
    )
    .unwrap();
    let c = document(run_json(&hash_only, ev));
    assert_eq!(a.id, c.id);
    // Binary mode carries the same data: same id.
    let data = ev["data"].to_string();
    let headers: Vec<(&str, &[u8])> = vec![("ce_specversion", b"1.0"), ("ce_id", b"other")];
    let decoded = decode_message(headers, data.as_bytes(), &DecodeLimits::default()).unwrap();
    let d = document(default_chain().process(decoded, &meta(99)));
    assert_eq!(a.id, d.id);
}

#[test]
fn custom_pattern_filter_hash_fields_and_failures() {
    let def = definition(json!({"name": "kv", "index": "kv-{yyyy.MM}", "stages": [
        {"type": "parse", "formats": [], "onFailure": "error",
         "patterns": [{"name": "kv", "regex": r"^(?P<time>\S+) user=(?P<user>\S+) lvl=(?P<lvl>\w+)"}]},
        {"type": "filter", "drop_if": {"field": "parsed.lvl", "in": ["debug", "trace"]}},
        {"type": "rename", "fields": {"parsed.lvl": "level", "parsed.user": "parsed.who"}},
        {"type": "mask", "rules": ["email", {"name": "user", "regex": "bob", "replacement": "[USER]"}],
         "fields": ["parsed"]},
        {"type": "hash", "fields": ["log_message"], "target": "meta.id"}
    ]}));
    let chain = Chain::build(&def, &EngineContext::default()).unwrap();
    assert_eq!(
        chain.stage_names(),
        ["parse", "filter", "rename", "mask", "hash"]
    );

    let ev = json!({"log_message": "2026-02-03T04:05:06Z user=bob@x.org lvl=info", "n": 1});
    let doc = document(run_json(&chain, &ev));
    let v = doc.clone().into_value();
    assert_eq!(
        v["parsed"],
        json!({"format": "kv", "time": "2026-02-03T04:05:06Z", "who": "[EMAIL_REDACTED]"})
    );
    assert_eq!(v["level"], "info");
    // Only `parsed` was masked.
    assert_eq!(
        v["log_message"],
        "2026-02-03T04:05:06Z user=bob@x.org lvl=info"
    );
    let want = sha(r#"{"log_message":"2026-02-03T04:05:06Z user=bob@x.org lvl=info"}"#);
    assert_eq!(v["meta"]["id"], want);
    assert_eq!(doc.id, want);
    assert_eq!(doc.index_name(def.index()), "kv-2026.02");
    // Other fields do not change the id.
    let mut ev2 = ev.clone();
    ev2["n"] = json!(2);
    assert_eq!(document(run_json(&chain, &ev2)).id, want);

    let dropped = json!({"log_message": "2026-02-03T04:05:06Z user=a lvl=debug"});
    assert_eq!(run_json(&chain, &dropped), Outcome::Dropped);
    match run_json(&chain, &json!({"log_message": "garbage"})) {
        Outcome::Failed { stage, reason } => {
            assert_eq!(stage.as_str(), "parse");
            assert!(reason.contains("matches none"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    match run_bytes(&chain, b"[1]") {
        Outcome::Failed { stage, .. } => assert_eq!(stage.as_str(), "decode"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_hash_stage_id_is_topic_partition_offset() {
    let def = definition(json!({"name": "web", "stages": [{"type": "mask", "ipv4": "redact"}]}));
    let chain = Chain::build(&def, &EngineContext::default()).unwrap();
    let doc = document(run_json(&chain, &json!({"a": "from 1.2.3.4"})));
    assert_eq!(doc.id, "pipeline.web.input-2-7");
    assert_eq!(doc.into_value()["a"], "from [IPV4_REDACTED]");
}

#[test]
fn bulk_lines() {
    let doc = document(run_json(&default_chain(), &json!({"msg": "a\"b"})));
    let mut out = Vec::new();
    doc.write_bulk("web-2026", &mut out);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    assert_eq!(lines.len(), 2);
    assert!(text.ends_with('\n'));
    let action: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(
        action,
        json!({"index": {"_index": "web-2026", "_id": doc.id}})
    );
    let source: Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(source["message"], "a\"b");
    assert_eq!(source, doc.into_value());
}

#[test]
fn dry_run_results_in_order() {
    let def = definition(json!({"name": "web", "stages": [
        {"type": "parse", "onFailure": "error"},
        {"type": "filter", "drop_if": {"field": "severity", "eq": "DEBUG"}},
        {"type": "hash"}
    ]}));
    let events = vec![
        line_event("2023-10-01T12:00:00Z - a - INFO - hi"),
        json!({"log_message": "2023-10-01T12:00:00Z - a - INFO - hi", "severity": "DEBUG"}),
        json!({"log_message": "nothing to see"}),
        json!({"specversion": "1.0", "data": "not an object"}),
    ];
    let results = dry_run(&def, &EngineContext::default(), &events);
    let body = serde_json::to_value(&results).unwrap();
    assert_eq!(body[0]["document"]["parsed"]["level"], "INFO");
    assert_eq!(body[0]["id"].as_str().unwrap().len(), 64);
    assert_eq!(body[1], json!({"dropped": true}));
    assert_eq!(body[2]["error"]["stage"], "parse");
    assert_eq!(body[3]["error"]["stage"], "decode");
    assert!(matches!(results[3], DryRunResult::Error { .. }));
}

#[test]
fn geoip_stage_needs_a_database_at_build_time() {
    let def = definition(json!({"name": "g", "stages": [{"type": "geoip"}]}));
    let err = Chain::build(&def, &EngineContext::default()).unwrap_err();
    assert!(err.to_string().contains("geoip.database is not configured"));
    let results = dry_run(&def, &EngineContext::default(), &[json!({})]);
    assert!(
        matches!(&results[0], DryRunResult::Error { error } if error.stage.as_str() == "geoip")
    );
}
