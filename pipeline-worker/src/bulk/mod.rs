//! The bulk indexer, split as Vector's elasticsearch sink is: the [`buffer`] collects documents,
//! the [`request`] builder makes bodies, the [`service`] sends them, [`classify`] reads responses
//! item by item, and [`retry`] drives a batch to completion.

pub mod buffer;
pub mod classify;
pub mod credentials;
pub mod request;
pub mod retry;
pub mod service;
