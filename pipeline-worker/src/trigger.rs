//! The source filter of a broker-sourced pipeline in the worker: it screens each message of the
//! broker's topic before the chain sees it, and counts what it took and what it turned away.
//! Messages of the pipeline's own input topic are not screened (see `sources`).

use crate::metrics::TaskStats;
use metrics::{counter, Counter};
use pipeline_common::event::{DecodeLimits, Event};
use pipeline_common::model::SourceSpec;
use pipeline_common::trigger::{Admission, Rejection, Trigger};
use std::sync::Arc;

/// What the filter says about one message.
// Taken apart at once, as `Admission` is.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Screened<'a> {
    /// Process it; with the event when the filter decoded it already.
    Take(Option<Event<'a>>),
    /// Not for this pipeline: commit it, counted as filtered.
    Drop,
}

/// A pipeline's filter on its broker's topic.
pub struct BrokerFilter {
    topic: String,
    trigger: Trigger,
    limits: DecodeLimits,
    stats: Arc<TaskStats>,
    matched: Counter,
    cel_errors: Counter,
}

impl BrokerFilter {
    /// The filter of `source` on topic `topic`, counting into `stats` and pipeline `pipeline`'s
    /// series.
    pub fn new(
        source: &SourceSpec,
        topic: String,
        limits: DecodeLimits,
        pipeline: &str,
        stats: Arc<TaskStats>,
    ) -> Self {
        BrokerFilter {
            topic,
            trigger: Trigger::new(source),
            limits,
            stats,
            matched: counter!("flow_worker_events_matched_total", "pipeline" => pipeline.to_owned()),
            cel_errors: counter!("flow_worker_cel_errors_total", "pipeline" => pipeline.to_owned()),
        }
    }

    /// Whether messages of `topic` are screened (they are the broker's).
    pub fn screens(&self, topic: &str) -> bool {
        topic == self.topic
    }

    /// Screens one message of the broker's topic.
    pub fn screen<'a, H>(&self, headers: H, payload: &'a [u8]) -> Screened<'a>
    where
        H: Iterator<Item = (&'a str, &'a [u8])> + Clone,
    {
        match self.trigger.admit(headers, payload, &self.limits) {
            Admission::Admitted(event) => {
                self.matched.increment(1);
                TaskStats::add(&self.stats.matched, 1);
                Screened::Take(event)
            }
            Admission::Rejected(Rejection::NoMatch) => Screened::Drop,
            Admission::Rejected(Rejection::CelError(reason)) => {
                tracing::debug!(topic = %self.topic, %reason, "CEL filter gave no boolean; not taken");
                self.cel_errors.increment(1);
                TaskStats::add(&self.stats.cel_errors, 1);
                Screened::Drop
            }
        }
    }
}
