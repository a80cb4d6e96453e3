//! The `geoip` stage: looks an IP address up in a MaxMind `.mmdb` database.
//!
//! Writes to `target` (default `geo`) whichever of these the database has: `country` (English
//! name), `country_code` (ISO), `city`, `location {lat, lon}` (an OpenSearch `geo_point`), `asn`,
//! `as_org`. Works with City, Country and ASN databases alike. Private, loopback, link-local,
//! shared (100.64/10) and unspecified addresses give `{"network": "private"}`. An address the
//! database does not hold, or a field that is missing or not an address, adds nothing.

mod spec;

pub use spec::*;

use super::{EventDoc, Stage, StageResult};
use crate::doc::convert::value_from_json;
use crate::doc::Fields;
use crate::failure::FailedAt;
use crate::model::FieldPath;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

/// An opened MaxMind database, shared by the chains built from one `EngineContext` (one per
/// process, so every pipeline of a process shares it).
pub struct GeoIpDb {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoIpDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIpDb")
            .field("database_type", &self.reader.metadata.database_type)
            .finish()
    }
}

/// The database could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("geoip.database {path}: {message}")]
pub struct GeoIpError {
    /// The configured path.
    pub path: String,
    /// Why it failed.
    pub message: String,
}

impl GeoIpDb {
    /// Opens and reads the database at `path` once.
    pub fn open(path: impl AsRef<Path>) -> Result<GeoIpDb, GeoIpError> {
        let p = path.as_ref();
        maxminddb::Reader::open_readfile(p)
            .map(|reader| GeoIpDb { reader })
            .map_err(|e| GeoIpError {
                path: p.display().to_string(),
                message: e.to_string(),
            })
    }

    /// Opens a database held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GeoIpDb, GeoIpError> {
        maxminddb::Reader::from_source(bytes)
            .map(|reader| GeoIpDb { reader })
            .map_err(|e| GeoIpError {
                path: "<memory>".into(),
                message: e.to_string(),
            })
    }

    /// The `geo` object for `ip`: `{"network": "private"}` for non-public ranges, `Ok(None)` when
    /// the database does not hold the address, `Err` when the database is unreadable.
    pub fn lookup(&self, ip: IpAddr) -> Result<Option<Value>, String> {
        if is_private(ip) {
            return Ok(Some(json!({"network": "private"})));
        }
        let rec: GeoRecord<'_> = match self.reader.lookup(ip) {
            Ok(r) => r,
            Err(maxminddb::MaxMindDBError::AddressNotFoundError(_)) => return Ok(None),
            Err(e) => return Err(format!("geoip lookup failed: {e}")),
        };
        let mut m = Map::new();
        if let Some(c) = &rec.country {
            if let Some(name) = c.names.as_ref().and_then(|n| n.get("en")) {
                m.insert("country".into(), Value::from(*name));
            }
            if let Some(code) = c.iso_code {
                m.insert("country_code".into(), Value::from(code));
            }
        }
        if let Some(name) = rec
            .city
            .as_ref()
            .and_then(|c| c.names.as_ref())
            .and_then(|n| n.get("en"))
        {
            m.insert("city".into(), Value::from(*name));
        }
        if let Some(Location {
            latitude: Some(lat),
            longitude: Some(lon),
        }) = rec.location
        {
            m.insert("location".into(), json!({"lat": lat, "lon": lon}));
        }
        if let Some(asn) = rec.autonomous_system_number {
            m.insert("asn".into(), Value::from(asn));
        }
        if let Some(org) = rec.autonomous_system_organization {
            m.insert("as_org".into(), Value::from(org));
        }
        Ok((!m.is_empty()).then_some(Value::Object(m)))
    }
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow)]
    iso_code: Option<&'a str>,
    #[serde(borrow)]
    names: Option<BTreeMap<&'a str, &'a str>>,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Deserialize)]
struct GeoRecord<'a> {
    #[serde(borrow)]
    country: Option<Named<'a>>,
    #[serde(borrow)]
    city: Option<Named<'a>>,
    location: Option<Location>,
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<&'a str>,
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || (a == 100 && (64..128).contains(&b))
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || (first & 0xffc0) == 0xfe80
        || (first & 0xfe00) == 0xfc00
}

/// True for private, loopback, link-local, shared and unspecified addresses, v4 or v6
/// (IPv4-mapped IPv6 addresses count as their IPv4 address).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private_v4(v4),
            None => is_private_v6(v6),
        },
    }
}

/// The runtime `geoip` stage.
#[derive(Debug, Clone)]
pub struct GeoipStage {
    field: FieldPath,
    target: FieldPath,
    db: Arc<GeoIpDb>,
}

impl GeoipStage {
    /// Builds the stage around an opened database.
    pub fn new(spec: &GeoipSpec, db: Arc<GeoIpDb>) -> Self {
        GeoipStage {
            field: spec.field.clone(),
            target: spec.target.clone(),
            db,
        }
    }
}

impl Stage for GeoipStage {
    fn name(&self) -> FailedAt {
        FailedAt::Geoip
    }

    fn apply(&self, doc: &mut EventDoc) -> StageResult {
        let Fields { root, texts } = &mut doc.fields;
        let text = root.get_path(texts, &self.field).and_then(|v| v.as_text());
        let Some(Ok(ip)) = text.map(|t| texts.get(t).trim().parse::<IpAddr>()) else {
            return StageResult::Continue;
        };
        match self.db.lookup(ip) {
            Ok(Some(geo)) => {
                let geo = value_from_json(&geo, texts);
                // A target under a non-object leaves the event as it is.
                let _ = root.set_path(texts, &self.target, geo);
                StageResult::Continue
            }
            Ok(None) => StageResult::Continue,
            Err(e) => StageResult::Fail(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        for p in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "::ffff:192.168.1.1",
            "::",
        ] {
            assert!(is_private(p.parse().unwrap()), "{p}");
        }
        for p in [
            "8.8.8.8",
            "172.32.0.1",
            "2001:db8::1",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_private(p.parse().unwrap()), "{p}");
        }
    }
}
