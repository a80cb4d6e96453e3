//! Provisioning of what a pipeline needs outside MariaDB: its three Kafka topics, its index template and its index.

pub mod index;
pub mod index_stats;
pub mod index_template;
pub mod search_access;
pub mod topics;
