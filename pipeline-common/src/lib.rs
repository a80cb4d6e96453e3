//! What pipeline-mgmt and pipeline-worker share: configuration, the validated pipeline model, the
//! stage engine with event decoding and document building, telemetry set-up, and the rows and
//! queries of the tables both services touch.
#![warn(missing_docs)]

pub mod build_info;
pub mod cel;
pub mod chain;
pub mod clients;
pub mod config;
pub mod doc;
pub mod document;
pub mod dry_run;
pub mod event;
pub mod failure;
pub mod index_route;
pub mod index_template;
mod json;
pub mod kafka_headers;
pub mod model;
pub mod stages;
pub mod startup;
pub mod store;
mod swar;
pub mod telemetry;
mod time;
pub mod trigger;
