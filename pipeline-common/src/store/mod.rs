//! Rows and queries of the MariaDB tables that both services touch.
//!
//! The schema itself (the migrations) belongs to pipeline-mgmt; these modules only read and write
//! rows with runtime-checked `sqlx` queries, so no database is needed at build time.

pub mod pipelines;
pub mod worker_tasks;
