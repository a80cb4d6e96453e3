#![allow(clippy::unwrap_used, clippy::expect_used)]
//! pipeline-mgmt against real MariaDB, Apache Kafka and OpenSearch (see test-support).

mod auth;
mod console;
mod contract;
mod create;
mod delete;
mod dry_run;
mod errors;
mod fuzz;
mod helpers;
mod ingest;
mod ops;
mod read;
mod replay;
mod tls;
mod update;
