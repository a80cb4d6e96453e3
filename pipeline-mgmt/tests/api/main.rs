#![allow(clippy::unwrap_used, clippy::expect_used)]
//! pipeline-mgmt against real MariaDB, Apache Kafka and OpenSearch (see test-support).

mod auth;
mod console;
mod console_dead_letters;
mod contract;
mod create;
mod dead_letter_scan;
mod delete;
mod dry_run;
mod errors;
mod fuzz;
mod helpers;
mod ingest;
mod ops;
mod read;
mod replay;
mod retention;
mod templates;
mod tls;
mod update;
