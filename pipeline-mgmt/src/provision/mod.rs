//! Provisioning of what a pipeline needs outside MariaDB: its three Kafka topics and its index.

pub mod index;
pub mod search_access;
pub mod topics;
