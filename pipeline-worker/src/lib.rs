//! pipeline-worker: the data plane of flow-stream (DESIGN §4).
//!
//! One [`task`] per running pipeline consumes its input topic, runs the stages ([`processor`]),
//! bulk-indexes the documents ([`bulk`]), produces them to the output topic and failures to the
//! error topic ([`producer`], [`dead_letter`]), and commits only the contiguous offsets whose
//! messages are done ([`offsets`]). The [`reconcile`] supervisor keeps the tasks in line with
//! MariaDB.

pub mod app;
pub mod bulk;
pub mod cli;
pub mod consumer;
pub mod dead_letter;
pub mod end_of_input;
pub mod http;
pub mod memory;
pub mod metrics;
pub mod offsets;
pub mod processor;
pub mod producer;
pub mod reconcile;
pub mod sources;
pub mod task;
pub mod trigger;

pub use app::WorkerApp;
