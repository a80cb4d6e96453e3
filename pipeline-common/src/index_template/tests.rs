use super::*;
use crate::model::{IndexName, PipelineDefinition, ValidationContext};
use serde_json::{json, Value};

fn definition(v: Value, geoip: bool) -> PipelineDefinition {
    PipelineDefinition::parse(&v, &ValidationContext::new(geoip)).unwrap()
}

fn defaults(geoip: bool) -> TemplateDefaults {
    TemplateDefaults {
        shards: 1,
        replicas: 1,
        refresh_interval: "1s".into(),
        codec: Codec::Default,
        geoip_available: geoip,
    }
}

/// The mapping at dotted `path` of a `mappings` body.
fn at<'a>(mappings: &'a Value, path: &str) -> &'a Value {
    let mut node = mappings;
    for segment in path.split('.') {
        node = &node["properties"][segment];
    }
    node
}

fn mappings_of(v: Value, geoip: bool) -> Value {
    definition_mappings(&definition(v, geoip), &defaults(geoip), None)
}

#[test]
fn the_default_chain_gets_the_designed_types() {
    let m = mappings_of(json!({"name": "web"}), false);
    assert_eq!(at(&m, "@timestamp"), &json!({"type": "date"}));
    assert_eq!(
        at(&m, "event_hash"),
        &json!({"type": "keyword", "index": false, "doc_values": false})
    );
    assert_eq!(
        at(&m, "log_message"),
        &json!({"type": "text", "norms": false})
    );
    // The default mask rewrites every string, so the parsed address is no longer an address.
    assert_eq!(at(&m, "parsed.client_ip")["type"], "keyword");
    assert_eq!(at(&m, "parsed.status")["type"], "short");
    assert_eq!(at(&m, "parsed.bytes")["type"], "long");
    assert_eq!(at(&m, "parsed.method")["type"], "keyword");
    assert_eq!(at(&m, "parsed.priority")["type"], "short");
    assert_eq!(at(&m, "parsed.message")["type"], "text");
    // The default rename moves the parsed time.
    assert_eq!(at(&m, "parsed.event_timestamp")["type"], "date");
    assert!(at(&m, "parsed.timestamp").is_null());
    assert_eq!(at(&m, "pipeline.ingestedAt")["type"], "date");
    assert_eq!(at(&m, "pipeline.offset")["type"], "long");
    assert_eq!(at(&m, "cloudevent.time")["type"], "date");
    assert_eq!(at(&m, "cloudevent.type")["type"], "keyword");
    assert_eq!(m["date_detection"], false);
    assert_eq!(
        m["dynamic_templates"][0]["strings_as_keywords"],
        json!({"match_mapping_type": "string",
               "mapping": {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}})
    );
    // Nothing turns a type conflict into a silent drop.
    assert!(m.get("dynamic").is_none(), "{m}");
    assert!(!m.to_string().contains("ignore_malformed"), "{m}");
}

#[test]
fn an_address_is_ip_only_when_no_mask_can_rewrite_it() {
    let parse = json!({"type": "parse", "formats": ["nginx"]});
    let unmasked = mappings_of(json!({"name": "a", "stages": [parse]}), false);
    assert_eq!(at(&unmasked, "parsed.client_ip")["type"], "ip");

    let elsewhere = json!({"type": "mask", "rules": ["ipv4"], "fields": ["parsed.user"]});
    let m = mappings_of(json!({"name": "a", "stages": [parse, elsewhere]}), false);
    assert_eq!(at(&m, "parsed.client_ip")["type"], "ip");

    let emails_only = json!({"type": "mask", "rules": ["email"]});
    let m = mappings_of(json!({"name": "a", "stages": [parse, emails_only]}), false);
    assert_eq!(at(&m, "parsed.client_ip")["type"], "ip");

    // A mask before the parse rewrites the line the address is read from.
    let on_line = json!({"type": "mask", "rules": ["ipv4"], "fields": ["log_message"]});
    let m = mappings_of(json!({"name": "a", "stages": [on_line, parse]}), false);
    assert_eq!(at(&m, "parsed.client_ip")["type"], "keyword");

    let on_parsed = json!({"type": "mask", "rules": ["ipv6"], "fields": ["parsed"]});
    let m = mappings_of(json!({"name": "a", "stages": [parse, on_parsed]}), false);
    assert_eq!(at(&m, "parsed.client_ip")["type"], "keyword");
}

#[test]
fn geoip_writes_a_geo_point_and_renames_move_fields() {
    let m = mappings_of(json!({"name": "g"}), true);
    assert_eq!(at(&m, "geo.location"), &json!({"type": "geo_point"}));
    assert_eq!(at(&m, "geo.country_code")["type"], "keyword");
    assert_eq!(at(&m, "geo.asn")["type"], "long");

    let m = mappings_of(
        json!({"name": "r", "stages": [
            {"type": "parse", "formats": ["nginx"]},
            {"type": "rename", "fields": {"parsed.status": "http.status", "parsed.method": "method"}},
        ]}),
        false,
    );
    assert_eq!(at(&m, "http.status")["type"], "short");
    assert_eq!(at(&m, "method")["type"], "keyword");
    assert!(at(&m, "parsed.status").is_null());
    assert_eq!(at(&m, "parsed.bytes")["type"], "long");
}

#[test]
fn a_custom_pattern_group_is_a_string() {
    let m = mappings_of(
        json!({"name": "c", "stages": [{"type": "parse", "formats": ["nginx"],
            "patterns": [{"name": "x", "regex": "(?P<status>\\w+) (?P<rest>.*)"}]}]}),
        false,
    );
    assert_eq!(at(&m, "parsed.status")["type"], "keyword");
}

#[test]
fn overrides_replace_the_derived_types() {
    let m = mappings_of(
        json!({"name": "o", "indexing": {"fields": {
            "geo": "none", "parsed.bytes": "double", "service": "text"}}}),
        false,
    );
    assert_eq!(at(&m, "parsed.bytes"), &json!({"type": "double"}));
    assert_eq!(at(&m, "service"), &json!({"type": "text", "norms": false}));
    assert_eq!(at(&m, "geo"), &json!({"type": "object", "enabled": false}));

    let m = mappings_of(
        json!({"name": "o", "indexing": {"fields": {"parsed": "none"}}}),
        false,
    );
    assert_eq!(
        at(&m, "parsed"),
        &json!({"type": "object", "enabled": false})
    );

    let m = mappings_of(
        json!({"name": "o", "indexing": {"fields": {"parsed.path": "text+keyword"}}}),
        false,
    );
    assert_eq!(at(&m, "parsed.path")["type"], "text");
    assert_eq!(
        at(&m, "parsed.path")["fields"]["keyword"]["type"],
        "keyword"
    );
}

#[test]
fn an_override_that_does_not_fit_the_chain_is_422() {
    let fields_in_error = |fields: Value| {
        let errs = PipelineDefinition::parse(
            &json!({"name": "o", "indexing": {"fields": fields}}),
            &ValidationContext::new(false),
        )
        .unwrap_err();
        errs.errors()
            .iter()
            .map(|e| e.field.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        fields_in_error(json!({"parsed.status.code": "long", "parsed.user": "ip", "x": 1})),
        ["indexing.fields.x", "indexing.fields.parsed.status.code"]
    );
    assert_eq!(
        fields_in_error(json!({"parsed": "keyword"})),
        ["indexing.fields.parsed"]
    );
}

#[test]
fn claims_never_cover_another_pipelines_indices() {
    let claim = |s: &str| IndexClaim::of(&IndexName::parse(s).unwrap());
    let web = claim("web");
    let web_dated = claim("web-{yyyy.MM.dd}");
    let web_logs = claim("web-logs-{yyyy.MM.dd}");
    assert_eq!(web.patterns(), ["web"]);
    assert_eq!(web_dated, IndexClaim::Dated("web-".into()));
    assert_eq!(web_dated.patterns()[0], "web-0*");
    assert_eq!(web_dated.patterns().len(), 10);
    assert!(web_dated.covers("web-2026.12.04"));
    assert!(!web_dated.covers("web-logs-2026.12.04"));
    assert!(!web.covers("web-logs"));
    assert!(!web.overlaps(&claim("web-logs")));
    assert!(!web_dated.overlaps(&web_logs));
    assert!(!web_dated.overlaps(&web));
    assert!(web.overlaps(&claim("web")));
    assert!(web_dated.overlaps(&claim("web-{yyyy.MM}")));
    assert!(web_dated.overlaps(&claim("web-2fast")));
    assert!(web_dated.overlaps(&claim("web-2fast-{yyyy}")));
    assert!(claim("web-2fast-{yyyy}").overlaps(&web_dated));
    assert_eq!(claim("x{.yyyy}"), IndexClaim::Dated("x.".into()));
}

#[test]
fn field_templated_claims_cover_their_names_and_refuse_overlaps() {
    let claim = |s: &str| IndexClaim::of(&IndexName::parse(s).unwrap());
    let orders = claim("orders-{cloudevent.type}-{yyyy.MM.dd}");
    assert_eq!(orders.patterns()[0], "orders-*-0*");
    assert!(orders.covers("orders-order.created-2026.12.04"));
    assert!(orders.covers("orders-_overflow-2026.12.04"));
    assert!(!orders.covers("orders-eu-x-2026.12"));
    assert!(!orders.covers("orders-2026.12.04"), "no value");
    // Its patterns would catch these pipelines' indices (and OpenSearch refuses two templates
    // of one priority whose patterns overlap), so they cannot coexist.
    assert!(orders.overlaps(&claim("orders-eu-{yyyy.MM.dd}")));
    assert!(claim("orders-eu-{yyyy.MM.dd}").overlaps(&orders));
    assert!(orders.overlaps(&claim("orders-a-2026")));
    assert!(orders.overlaps(&claim("orders-{region}-{yyyy}")));
    // These it can never catch.
    assert!(!orders.overlaps(&claim("orders")));
    assert!(!orders.overlaps(&claim("web-{cloudevent.type}-{yyyy.MM.dd}")));
    assert!(!orders.overlaps(&claim("order-{yyyy.MM.dd}")));
    assert!(!claim("orders-{type}").overlaps(&claim("order-{yyyy}")));
    assert!(claim("orders-{type}").overlaps(&claim("orders-x")));
}

#[test]
fn the_template_carries_patterns_priority_meta_and_settings() {
    let def = definition(
        json!({"name": "web", "index": "web-{yyyy.MM.dd}",
               "indexing": {"replicas": 0, "codec": "best_compression"}}),
        false,
    );
    let meta = TemplateMeta::new("id-1", def.name(), 3);
    let body = template_body(&def, &defaults(false), &meta);
    assert_eq!(body["priority"], TEMPLATE_PRIORITY);
    assert_eq!(body["index_patterns"][0], "web-0*");
    assert_eq!(body["version"], 3);
    assert_eq!(
        body["_meta"],
        json!({"managed_by": "flow-stream", "pipeline_id": "id-1", "pipeline": "web", "version": 3})
    );
    assert_eq!(body["template"]["mappings"]["_meta"], body["_meta"]);
    assert_eq!(
        body["template"]["settings"]["index"],
        json!({"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s",
               "codec": "best_compression"})
    );
    assert_eq!(
        template_name("Pipe", def.name()),
        "flow.pipe.web",
        "lowercase, as OpenSearch requires"
    );
}

#[test]
fn a_value_written_over_another_replaces_it_and_metadata_fields_are_left_out() {
    let m = mappings_of(
        json!({"name": "w", "stages": [
            {"type": "parse", "formats": ["nginx"]},
            {"type": "geoip", "field": "parsed.client_ip", "target": "parsed.client_ip"},
            {"type": "hash", "target": "_source"},
        ]}),
        true,
    );
    assert_eq!(at(&m, "parsed.client_ip.location")["type"], "geo_point");
    assert!(at(&m, "parsed.client_ip").get("type").is_none(), "{m}");
    assert!(m["properties"].get("_source").is_none(), "{m}");
}
