//! pipeline-mgmt: the REST control plane of flow-stream (DESIGN §3).
//!
//! [`Application::build`] wires configuration to MariaDB, Kafka and OpenSearch clients and binds
//! the HTTP port; [`Application::run_until_stopped`] serves until SIGTERM or SIGINT.

pub mod app;
pub mod auth;
pub mod cli;
pub mod error;
pub mod fleet_metrics;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod provision;
pub mod rfc3339;
pub mod service;
pub mod state;
pub mod store;
pub mod strict_json;

pub use app::Application;
