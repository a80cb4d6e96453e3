//! GeoIP against a small database written by the test with mmdb-writer.

use crate::common::*;
use mmdb_writer::ipnet::IpNet;
use mmdb_writer::Writer;
use pipeline_common::chain::{Chain, EngineContext};
use pipeline_common::model::{PipelineDefinition, ValidationContext};
use pipeline_common::stages::geoip::GeoIpDb;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Serialize)]
struct Names {
    iso_code: Option<&'static str>,
    names: BTreeMap<&'static str, &'static str>,
}

#[derive(Serialize)]
struct Loc {
    latitude: f64,
    longitude: f64,
}

#[derive(Serialize)]
struct Record {
    country: Names,
    city: Option<Names>,
    location: Option<Loc>,
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<&'static str>,
}

fn database() -> Vec<u8> {
    let mut w = Writer::new("Test-City");
    w.insert(
        "81.2.69.0/24".parse::<IpNet>().unwrap(),
        &Record {
            country: Names {
                iso_code: Some("GB"),
                names: BTreeMap::from([("en", "United Kingdom")]),
            },
            city: Some(Names {
                iso_code: None,
                names: BTreeMap::from([("en", "London")]),
            }),
            location: Some(Loc {
                latitude: 51.5142,
                longitude: -0.0931,
            }),
            autonomous_system_number: Some(64_512),
            autonomous_system_organization: Some("Example Net"),
        },
    )
    .unwrap();
    w.insert(
        "2a02:ec0::/29".parse::<IpNet>().unwrap(),
        &Record {
            country: Names {
                iso_code: Some("DE"),
                names: BTreeMap::from([("en", "Germany")]),
            },
            city: None,
            location: None,
            autonomous_system_number: None,
            autonomous_system_organization: None,
        },
    )
    .unwrap();
    w.to_bytes().unwrap()
}

fn ctx() -> EngineContext {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.mmdb");
    std::fs::write(&path, database()).unwrap();
    EngineContext {
        geoip: Some(Arc::new(GeoIpDb::open(&path).unwrap())),
        ..EngineContext::default()
    }
}

#[test]
fn lookups() {
    let db = GeoIpDb::from_bytes(database()).unwrap();
    assert_eq!(
        db.lookup("81.2.69.160".parse().unwrap()).unwrap(),
        Some(
            json!({"country": "United Kingdom", "country_code": "GB", "city": "London",
                    "location": {"lat": 51.5142, "lon": -0.0931}, "asn": 64512,
                    "as_org": "Example Net"})
        )
    );
    assert_eq!(
        db.lookup("2a02:ec0::1".parse().unwrap()).unwrap(),
        Some(json!({"country": "Germany", "country_code": "DE"}))
    );
    assert_eq!(db.lookup("8.8.8.8".parse().unwrap()).unwrap(), None);
    for private in [
        "192.168.1.1",
        "10.0.0.1",
        "127.0.0.1",
        "fe80::1",
        "fd00::1",
        "::1",
    ] {
        assert_eq!(
            db.lookup(private.parse().unwrap()).unwrap(),
            Some(json!({"network": "private"}))
        );
    }
    assert!(GeoIpDb::open("/nonexistent/x.mmdb").is_err());
}

#[test]
fn default_chain_runs_geoip_before_mask() {
    let ctx = ctx();
    let def = PipelineDefinition::parse(&json!({"name": "g"}), &ctx.validation_context()).unwrap();
    let chain = Chain::build(&def, &ctx).unwrap();
    assert_eq!(
        chain.stage_names(),
        ["parse", "geoip", "mask", "rename", "hash"]
    );
    let line = r#"81.2.69.160 - - [21/Nov/2026:10:15:00 +0000] "GET / HTTP/1.1" 200 1"#;
    let v = document(run_json(&chain, &line_event(line))).into_value();
    assert_eq!(v["geo"]["city"], "London");
    assert_eq!(
        v["geo"]["location"],
        json!({"lat": 51.5142, "lon": -0.0931})
    );
    assert_eq!(v["parsed"]["client_ip"], "81.x.x.x");

    let private = r#"192.168.1.5 - - [21/Nov/2026:10:15:00 +0000] "GET / HTTP/1.1" 200 1"#;
    let v = document(run_json(&chain, &line_event(private))).into_value();
    assert_eq!(v["geo"], json!({"network": "private"}));

    let unknown = r#"8.8.8.8 - - [21/Nov/2026:10:15:00 +0000] "GET / HTTP/1.1" 200 1"#;
    let v = document(run_json(&chain, &line_event(unknown))).into_value();
    assert!(v.get("geo").is_none());

    let syslog = "Nov 5 10:57:16 host9 sshd[1524]: from 81.2.69.160";
    let v = document(run_json(&chain, &line_event(syslog))).into_value();
    assert!(v.get("geo").is_none());
}

#[test]
fn default_chain_without_database_has_no_geoip() {
    let def =
        PipelineDefinition::parse(&json!({"name": "g"}), &ValidationContext::new(false)).unwrap();
    let chain = Chain::build(&def, &EngineContext::default()).unwrap();
    assert_eq!(chain.stage_names(), ["parse", "mask", "rename", "hash"]);
}

#[test]
fn explicit_geoip_stage_with_custom_field_and_target() {
    let ctx = ctx();
    let def = PipelineDefinition::parse(
        &json!({"name": "g", "stages": [{"type": "geoip", "field": "client.ip", "target": "client.geo"}]}),
        &ctx.validation_context(),
    )
    .unwrap();
    let chain = Chain::build(&def, &ctx).unwrap();
    let v = document(run_json(&chain, &json!({"client": {"ip": "81.2.69.1"}}))).into_value();
    assert_eq!(v["client"]["geo"]["country_code"], "GB");
    let v = document(run_json(&chain, &json!({"client": {"ip": "not an ip"}}))).into_value();
    assert!(v["client"].get("geo").is_none());
}
