use super::*;
use serde_json::json;
use std::time::Duration;

fn ctx() -> ValidationContext {
    ValidationContext::new(true)
}

fn example() -> serde_json::Value {
    json!({
      "name": "web-logs",
      "description": "nginx + app logs from the edge",
      "index": "web-logs",
      "topics": {"partitions": 3, "replicationFactor": 1, "retentionMs": 604800000},
      "stages": [
        {"type": "parse", "field": "log_message", "formats": ["nginx", "syslog", "json", "simple_split"]},
        {"type": "geoip", "field": "parsed.client_ip", "target": "geo"},
        {"type": "mask", "rules": ["email", "ipv4", "ipv6"], "ipv4": "partial"},
        {"type": "rename", "fields": {"timestamp": "event_timestamp", "msg": "message", "lvl": "level"}},
        {"type": "filter", "drop_if": {"field": "severity", "in": ["DEBUG"]}},
        {"type": "hash", "target": "event_hash"}
      ],
      "flush": {"maxBytes": 5242880, "maxItems": 10000, "intervalMs": 3000},
      "output": {"enabled": true},
      "state": "running"
    })
}

fn fields(e: &ValidationErrors) -> Vec<&str> {
    e.errors().iter().map(|f| f.field.as_str()).collect()
}

#[test]
fn design_example_parses_and_round_trips() {
    let d = PipelineDefinition::parse(&example(), &ctx()).unwrap();
    assert_eq!(d.name().as_str(), "web-logs");
    assert_eq!(d.index().as_str(), "web-logs");
    assert_eq!(d.topics().partitions, 3);
    assert_eq!(d.topics().retention_ms, Some(604_800_000));
    assert_eq!(d.stages().unwrap().len(), 6);
    assert_eq!(d.flush().unwrap().max_items, Some(10_000));
    assert_eq!(d.state(), DesiredState::Running);
    let again = PipelineDefinition::parse(&d.to_json(), &ctx()).unwrap();
    assert_eq!(again, d);
    assert_eq!(again.to_json(), d.to_json());
}

#[test]
fn minimal_definition_takes_defaults() {
    let d = PipelineDefinition::parse(&json!({"name": "a"}), &ctx()).unwrap();
    assert_eq!(d.index().as_str(), "a");
    assert!(d.stages().is_none());
    assert!(d.flush().is_none());
    assert_eq!(d.topics(), &TopicSpec::default());
    let j = d.to_json();
    assert!(j.get("stages").is_none());
    assert!(j.get("flush").is_none());
    assert_eq!(
        j["topics"],
        json!({"partitions": 3, "replicationFactor": 1, "retentionMs": null})
    );
    assert_eq!(PipelineDefinition::parse(&j, &ctx()).unwrap(), d);
    let empty = PipelineDefinition::parse(&json!({"name": "a", "stages": []}), &ctx()).unwrap();
    assert!(empty.stages().is_none());
}

#[test]
fn server_keys_are_ignored_unknown_keys_are_errors() {
    let mut j = example();
    j["id"] = json!("x");
    j["version"] = json!(3);
    j["topics"]["input"] = json!("pipeline.web-logs.input");
    assert!(PipelineDefinition::parse(&j, &ctx()).is_ok());
    j["colour"] = json!("blue");
    j["topics"]["speed"] = json!(1);
    j["stages"][0]["bogus"] = json!(1);
    let e = PipelineDefinition::parse(&j, &ctx()).unwrap_err();
    assert_eq!(fields(&e), ["colour", "topics.speed", "stages[0].bogus"]);
}

#[test]
fn errors_are_collected_per_field() {
    let j = json!({
        "name": "Bad_Name",
        "description": "x".repeat(1025),
        "index": "_bad",
        "topics": {"partitions": 0, "replicationFactor": 99, "retentionMs": 0},
        "stages": [
            {"type": "parse", "patterns": [{"name": "p", "regex": "(?P<x>\\w{1000}){1000}"}]},
            {"type": "nope"},
            {"type": "mask", "rules": ["email", "sms"], "ipv4": "hash"},
            {"type": "filter", "drop_if": {"field": "a", "eq": 1, "in": [1]}},
            {"type": "parse", "patterns": [{"name": "q", "regex": "("}], "onFailure": "explode"},
            {"type": "filter", "drop_if": {"field": "a", "in": null}},
            {"type": "filter", "drop_if": {"field": "a", "regex": null}}
        ],
        "flush": {"maxBytes": 0, "maxItems": -1, "intervalMs": "soon"},
        "state": "paused"
    });
    let e = PipelineDefinition::parse(&j, &ctx()).unwrap_err();
    let got = fields(&e);
    for want in [
        "name",
        "description",
        "index",
        "topics.partitions",
        "topics.replicationFactor",
        "topics.retentionMs",
        "stages[0].patterns[0].regex",
        "stages[1].type",
        "stages[2].rules[1]",
        "stages[3].drop_if.eq",
        "stages[4].patterns[0].regex",
        "stages[4].onFailure",
        "stages[5].drop_if.in",
        "stages[6].drop_if.regex",
        "flush.maxBytes",
        "flush.maxItems",
        "flush.intervalMs",
        "state",
    ] {
        assert!(got.contains(&want), "missing {want} in {got:?}");
    }
    let too_large = e
        .errors()
        .iter()
        .find(|f| f.field == "stages[0].patterns[0].regex")
        .unwrap();
    assert!(
        too_large.message.contains("too large"),
        "{}",
        too_large.message
    );
    assert!(e.to_string().contains("name:"));
    let body = serde_json::to_value(&e).unwrap();
    assert_eq!(body[0]["field"], "name");
}

/// A definition nested in a larger body (a dry run's `definition`) reports the same errors, each
/// under that path: the top-level members, nested objects, stages and mapping overrides alike.
#[test]
fn errors_of_a_nested_definition_carry_its_path() {
    let j = json!({
        "name": "Bad_Name",
        "colour": "blue",
        "topics": {"partitions": 0, "retentionMs": 0},
        "stages": [{"type": "nope"}, {"type": "parse", "onFailure": "explode"}],
        "flush": {"intervalMs": "soon"},
        "output": {"enabled": 1},
        "indexing": {"fields": {"parsed.message": "long"}},
        "state": "paused"
    });
    let top = PipelineDefinition::parse(&j, &ctx()).unwrap_err();
    let nested = PipelineDefinition::parse_at(&j, "definition", &ctx()).unwrap_err();
    let expected: Vec<String> = fields(&top)
        .iter()
        .map(|f| format!("definition.{f}"))
        .collect();
    assert_eq!(fields(&nested), expected);
    assert!(expected.len() >= 9, "{expected:?}");
    let not_an_object = PipelineDefinition::parse_at(&json!([]), "definition", &ctx()).unwrap_err();
    assert_eq!(fields(&not_an_object), ["definition"]);
}

#[test]
fn geoip_without_database_is_a_field_error() {
    let e = PipelineDefinition::parse(&example(), &ValidationContext::new(false)).unwrap_err();
    assert_eq!(fields(&e), ["stages[1].type"]);
    assert_eq!(e.errors()[0].message, "geoip.database is not configured");
}

#[test]
fn stage_limits() {
    let many: Vec<_> = (0..65).map(|_| json!({"type": "hash"})).collect();
    let e = PipelineDefinition::parse(&json!({"name": "a", "stages": many}), &ctx()).unwrap_err();
    assert_eq!(fields(&e), ["stages"]);
    let bad_salt = json!({"name": "a", "stages": [{"type": "mask", "ipv4": "hash", "salt": "s"}]});
    let e = PipelineDefinition::parse(&bad_salt, &ctx()).unwrap_err();
    assert_eq!(fields(&e), ["stages[0].salt"]);
    let loop_rule = json!({"name": "a", "stages": [{"type": "mask", "rules": [
        {"name": "x", "regex": "REDACTED", "replacement": "[REDACTED]"}]}]});
    let e = PipelineDefinition::parse(&loop_rule, &ctx()).unwrap_err();
    assert_eq!(fields(&e), ["stages[0].rules[0].replacement"]);
}

#[test]
fn every_stage_round_trips() {
    let j = json!({"name": "all", "index": "all-{yyyy.MM.dd}", "state": "stopped",
        "flush": {"intervalMs": 500},
        "stages": [
        {"type": "parse", "formats": ["json"], "patterns": [{"name": "kv", "regex": "(?P<k>\\w+)=(?P<v>\\w+)"}], "onFailure": "error"},
        {"type": "geoip"},
        {"type": "mask", "rules": ["credit_card", {"name": "ssn", "regex": "\\d{3}-\\d{2}-\\d{4}", "replacement": "[SSN]"}],
         "ipv4": "hash", "salt": "pepper-pepper", "fields": ["log_message", "parsed"]},
        {"type": "rename"},
        {"type": "filter", "drop_if": {"field": "parsed.level", "regex": "^(?i)debug$"}},
        {"type": "filter", "drop_if": {"field": "x", "exists": true}},
        {"type": "filter", "drop_if": {"field": "x", "eq": {"a": [1, 2]}}},
        {"type": "hash", "fields": ["log_message"], "target": "id"}
    ]});
    let d = PipelineDefinition::parse(&j, &ctx()).unwrap();
    assert!(d.index().is_pattern());
    assert_eq!(d.state(), DesiredState::Stopped);
    assert_eq!(d.flush().unwrap().interval_ms, Some(500));
    let back = PipelineDefinition::parse(&d.to_json(), &ctx()).unwrap();
    assert_eq!(back, d);
    assert_eq!(
        d.to_json()["stages"][3]["fields"]["parsed.msg"],
        "parsed.message"
    );
}

#[test]
fn flush_resolves_against_server_defaults() {
    let d =
        PipelineDefinition::parse(&json!({"name": "a", "flush": {"maxItems": 5}}), &ctx()).unwrap();
    let defaults = FlushPolicy {
        max_bytes: 10,
        max_items: 20,
        interval: Duration::from_millis(30),
    };
    let eff = d.effective_flush(&defaults);
    assert_eq!(
        eff,
        FlushPolicy {
            max_items: 5,
            ..defaults
        }
    );
}

#[test]
fn output_topic_is_on_by_default_and_can_be_switched_off() {
    let d = PipelineDefinition::parse(&json!({"name": "a"}), &ctx()).unwrap();
    assert!(d.output().enabled);
    assert_eq!(d.to_json()["output"], json!({"enabled": true}));

    let off =
        PipelineDefinition::parse(&json!({"name": "a", "output": {"enabled": false}}), &ctx())
            .unwrap();
    assert!(!off.output().enabled);
    assert_eq!(off.to_json()["output"], json!({"enabled": false}));
    assert_eq!(
        PipelineDefinition::parse(&off.to_json(), &ctx()).unwrap(),
        off
    );
    assert_ne!(off, d);

    // An empty object or `null` takes the default.
    for v in [json!({}), json!(null), json!({"enabled": null})] {
        let d = PipelineDefinition::parse(&json!({"name": "a", "output": v}), &ctx()).unwrap();
        assert!(d.output().enabled, "{v}");
    }

    for (v, field) in [
        (json!({"enabled": "no"}), "output.enabled"),
        (json!({"enabled": 0}), "output.enabled"),
        (json!({"enabled": true, "topic": "x"}), "output.topic"),
        (json!(false), "output"),
    ] {
        let e = PipelineDefinition::parse(&json!({"name": "a", "output": v}), &ctx()).unwrap_err();
        assert_eq!(fields(&e), vec![field], "{v}");
    }
}

#[test]
fn retention_needs_a_dated_index() {
    let with = |index: &str, retention: &str| json!({"name": "web", "index": index, "indexing": {"retention": retention}});
    let d = PipelineDefinition::parse(&with("web-{yyyy.MM.dd}", "14d"), &ctx()).unwrap();
    assert_eq!(d.indexing().retention.as_ref().unwrap().as_str(), "14d");
    assert_eq!(d.to_json()["indexing"]["retention"], "14d");
    for index in ["web", "web-{MM.dd}"] {
        let e = PipelineDefinition::parse(&with(index, "14d"), &ctx()).unwrap_err();
        assert_eq!(fields(&e), ["indexing.retention"], "{index}");
    }
    let e = PipelineDefinition::parse(&with("web-{yyyy.MM.dd}", "two weeks"), &ctx()).unwrap_err();
    assert_eq!(fields(&e), ["indexing.retention"]);
}
