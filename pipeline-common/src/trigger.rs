//! A broker-sourced pipeline's filter at run time (Knative's trigger): which of the broker's
//! events the pipeline takes.
//!
//! The attribute conditions are checked on the attributes alone ([`MessageAttributes`]), so an
//! event that fails them is turned away before its data is decoded or any stage runs. Only an
//! event that passes them and meets a CEL expression is decoded here, and the decoded event is
//! handed on, so the chain does not decode it again.

use crate::event::{decode_message, DecodeLimits, Event, MessageAttributes, Wanted};
use crate::model::{EventFilter, SourceSpec};

/// Why a broker's event is not for this pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// An attribute condition or the CEL expression does not hold.
    NoMatch,
    /// The CEL expression gave no boolean (a missing field, a type mismatch); counted apart.
    CelError(String),
}

/// What the filter decided about one event.
// Built once per message and taken apart at once; boxing the event would add an allocation per
// event taken.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Admission<'a> {
    /// Take it; the event when the filter had to decode it already.
    Admitted(Option<Event<'a>>),
    /// Not for this pipeline: commit it and count it as filtered.
    Rejected(Rejection),
}

/// The compiled filter of a broker source.
#[derive(Debug, Clone)]
pub struct Trigger {
    filter: EventFilter,
    wanted: Wanted,
}

impl Trigger {
    /// The filter of `source`; the attributes it reads are its conditions' and the CEL
    /// expression's identifiers (a root such as `customer` takes `customer.*`).
    pub fn new(source: &SourceSpec) -> Trigger {
        let filter = source.filter.clone();
        let names = filter
            .attribute_names()
            .map(|n| n.as_str().to_owned())
            .collect();
        let roots = filter
            .cel
            .iter()
            .flat_map(|cel| cel.variables().iter())
            .filter(|v| *v != "data")
            .cloned()
            .collect();
        Trigger {
            wanted: Wanted::new(names, roots),
            filter,
        }
    }

    /// Whether every event passes (no conditions, no expression).
    pub fn takes_everything(&self) -> bool {
        self.filter.is_empty()
    }

    /// Decides about one message of the broker's topic.
    /// `headers` is walked once for the attributes and once more only to decode for a CEL
    /// expression.
    pub fn admit<'a, H>(
        &self,
        headers: H,
        payload: &'a [u8],
        limits: &DecodeLimits,
    ) -> Admission<'a>
    where
        H: Iterator<Item = (&'a str, &'a [u8])> + Clone,
    {
        if self.filter.is_empty() {
            return Admission::Admitted(None);
        }
        let attributes = if self.wanted.is_empty() {
            MessageAttributes::default()
        } else {
            MessageAttributes::read(headers.clone(), payload, &self.wanted)
        };
        if !self.filter.attributes_match(|name| attributes.get(name)) {
            return Admission::Rejected(Rejection::NoMatch);
        }
        let Some(cel) = &self.filter.cel else {
            return Admission::Admitted(None);
        };
        // An event that does not decode is the chain's to dead-letter, as for any pipeline.
        let Ok(event) = decode_message(headers, payload, limits) else {
            return Admission::Admitted(None);
        };
        match cel.evaluate(&attributes.pairs(), &event.data) {
            Ok(true) => Admission::Admitted(Some(event)),
            Ok(false) => Admission::Rejected(Rejection::NoMatch),
            Err(reason) => Admission::Rejected(Rejection::CelError(reason)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PipelineDefinition, ValidationContext};
    use serde_json::json;

    fn trigger(filter: serde_json::Value) -> Trigger {
        let def = PipelineDefinition::parse(
            &json!({"name": "t", "source": {"broker": "b", "filter": filter}}),
            &ValidationContext::default(),
        )
        .unwrap();
        Trigger::new(def.source().unwrap())
    }

    fn structured(ty: &str, tier: &str, amount: serde_json::Value) -> Vec<u8> {
        json!({"specversion": "1.0", "id": "1", "source": "/s", "type": ty,
               "customer.tier": tier, "data": {"amount": amount}})
        .to_string()
        .into_bytes()
    }

    fn verdict(t: &Trigger, payload: &[u8]) -> Result<bool, Rejection> {
        match t.admit(std::iter::empty(), payload, &DecodeLimits::default()) {
            Admission::Admitted(event) => Ok(event.is_some()),
            Admission::Rejected(r) => Err(r),
        }
    }

    #[test]
    fn attributes_then_cel() {
        let t = trigger(
            json!({"attributes": {"type": "order.created", "customer.tier": "premium"},
                               "cel": "data.amount > 1000"}),
        );
        assert_eq!(
            verdict(&t, &structured("order.created", "premium", json!(1500))),
            Ok(true),
            "decoded for CEL, handed on"
        );
        assert_eq!(
            verdict(&t, &structured("order.created", "premium", json!(5))),
            Err(Rejection::NoMatch)
        );
        assert_eq!(
            verdict(&t, &structured("order.created", "basic", json!(5000))),
            Err(Rejection::NoMatch)
        );
        let missing =
            br#"{"specversion":"1.0","type":"order.created","customer.tier":"premium","data":{}}"#;
        assert!(matches!(verdict(&t, missing), Err(Rejection::CelError(_))));
        assert_eq!(verdict(&t, b"garbage"), Err(Rejection::NoMatch));
    }

    #[test]
    fn attribute_only_filters_never_decode() {
        let t = trigger(json!({"attributes": {"type": "order.created"}}));
        let headers: [(&str, &[u8]); 2] =
            [("ce_specversion", b"1.0"), ("ce_type", b"order.created")];
        // The body is not even JSON: only the headers were read.
        assert!(matches!(
            t.admit(headers.iter().copied(), b"\xff", &DecodeLimits::default()),
            Admission::Admitted(None)
        ));
        let everything = trigger(json!({}));
        assert!(everything.takes_everything());
        assert_eq!(verdict(&everything, b"garbage"), Ok(false));
    }
}
