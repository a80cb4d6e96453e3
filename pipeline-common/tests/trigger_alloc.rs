//! A broker's event that a pipeline's attribute conditions turn away costs no heap allocation
//! in binary mode, and at most one in structured mode.
//! Every pipeline on a broker screens every event of the broker's topic, so this path runs
//! once per pipeline and event; the decision (taken or not) is asserted too, so a filter that
//! skipped the work would fail here as well.
//!
//! Its own test binary: the counting allocator below is the whole process's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pipeline_common::event::DecodeLimits;
use pipeline_common::model::{PipelineDefinition, ValidationContext};
use pipeline_common::trigger::{Admission, Rejection, Trigger};
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the allocations of the calling thread (tests run on several threads at once).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// A global allocator can only be written with `unsafe`; this one only counts and hands every
// call to the system allocator unchanged.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn trigger(filter: serde_json::Value) -> Trigger {
    let def = PipelineDefinition::parse(
        &json!({"name": "t", "source": {"broker": "b", "filter": filter}}),
        &ValidationContext::default(),
    )
    .unwrap();
    Trigger::new(def.source().unwrap())
}

/// The decision on one message and the allocations it took.
fn admit(t: &Trigger, headers: &[(&str, &[u8])], payload: &[u8]) -> (Option<Rejection>, usize) {
    let limits = DecodeLimits::default();
    let before = ALLOCATIONS.with(Cell::get);
    let admission = t.admit(headers.iter().copied(), payload, &limits);
    let allocations = ALLOCATIONS.with(Cell::get) - before;
    match admission {
        Admission::Admitted(event) => {
            assert!(event.is_none(), "attribute conditions alone decode nothing");
            (None, allocations)
        }
        Admission::Rejected(rejection) => (Some(rejection), allocations),
    }
}

fn binary(bucket: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("ce_specversion", b"1.0".to_vec()),
        ("ce_id", b"7f1c2e".to_vec()),
        ("ce_source", b"/shop/checkout".to_vec()),
        ("ce_type", b"order.created".to_vec()),
        ("ce_time", b"2026-12-07T00:00:00Z".to_vec()),
        // Lowercase, as the Kafka binding writes them: a name in another case is lowercased
        // into a copy.
        ("ce_bucket", bucket.as_bytes().to_vec()),
        (
            "traceparent",
            b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_vec(),
        ),
    ]
}

#[test]
fn a_binary_mode_event_is_screened_without_allocating() {
    let t = trigger(json!({"attributes": {"bucket": "b1"},
                           "prefix": {"type": "order."}, "suffix": {"source": "/checkout"}}));
    let data = br#"{"amount": 1500, "customer": {"tier": "premium"}}"#;
    for (bucket, expected) in [("b3", Some(Rejection::NoMatch)), ("b1", None)] {
        let owned = binary(bucket);
        let headers: Vec<(&str, &[u8])> = owned.iter().map(|(k, v)| (*k, &v[..])).collect();
        let (decision, allocations) = admit(&t, &headers, data);
        assert_eq!(decision, expected, "bucket {bucket}");
        assert_eq!(
            allocations, 0,
            "bucket {bucket}: allocations while screening"
        );
    }
}

#[test]
fn a_structured_event_is_screened_with_at_most_one_allocation() {
    let t = trigger(json!({"attributes": {"bucket": "b1", "type": "order.created"}}));
    for (bucket, expected) in [("b3", Some(Rejection::NoMatch)), ("b1", None)] {
        let payload =
            json!({"specversion": "1.0", "id": "1", "source": "/s", "type": "order.created",
                             "bucket": bucket, "data": {"amount": 1500, "tags": ["a", "b"]}})
            .to_string();
        let (decision, allocations) = admit(&t, &[], payload.as_bytes());
        assert_eq!(decision, expected, "bucket {bucket}");
        // serde_json skips a nested `data` with a stack of the brackets it is in, its one
        // allocation; the members themselves are borrowed, not copied.
        assert!(
            allocations <= 1,
            "bucket {bucket}: {allocations} allocations while screening"
        );
    }
}
