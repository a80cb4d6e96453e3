//! Integration tests of the stage engine: golden documents, properties, PII leaks, GeoIP, dry-run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod geoip;
mod golden;
mod pii;
mod props;
