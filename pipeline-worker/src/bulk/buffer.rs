//! The bulk buffer: NDJSON action + source lines, plus what each item needs after the response.
//!
//! Documents are encoded once, straight into the request body. Each item remembers where its
//! lines are (to resend only the retryable items, and to produce the source line to the output
//! topic) and, in a side arena, its `_id` and the original Kafka key and value (a dead letter
//! must carry the original bytes unchanged). Two flat buffers instead of per-item allocations keep
//! the hot path cheap and the memory easy to bound.

use crate::offsets::Ticket;
use crate::processor::Processed;
use bytes::Bytes;
use pipeline_common::model::FlushPolicy;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Bytes added to the next buffer's capacity beyond the last batch's size.
const CAPACITY_SLACK: usize = 64 * 1024;

/// How long the oldest document may wait once the input has run dry (when the interval is
/// shorter, the interval). Nothing more is coming then, but a short wait keeps a trickle of
/// events from becoming one bulk request per event: at most one request per task per this period.
pub const CAUGHT_UP_LINGER: Duration = Duration::from_millis(200);

/// When a buffer under `policy` whose oldest document came at `oldest` is flushed even if not
/// full:
/// - once that document is `interval` old;
/// - once it is [`CAUGHT_UP_LINGER`] old, if the consumer has read every assigned partition
///   to its end (`caught_up`);
/// - once it is [`CAUGHT_UP_LINGER`] old and no message has come for as long since
///   `last_input`: librdkafka drops an end-of-partition report that was still queued when the
///   partition was paused, so silence has to count as the end too.
pub fn flush_deadline(
    policy: &FlushPolicy,
    oldest: Instant,
    caught_up: bool,
    last_input: Option<Instant>,
) -> Instant {
    let linger = policy.interval.min(CAUGHT_UP_LINGER);
    let early = oldest + linger;
    let interval_end = oldest + policy.interval;
    match last_input {
        _ if caught_up => early,
        Some(last) => interval_end.min(early.max(last + linger)),
        None => interval_end,
    }
}

/// One buffered document.
#[derive(Debug, Clone)]
pub struct BufferedItem {
    /// The Kafka message it came from.
    pub ticket: Ticket,
    /// Action line and source line, with both newlines, in the body.
    pub lines: Range<usize>,
    /// Where the source line starts in the body.
    pub source_start: usize,
    /// `_id`, in the side arena.
    id: Range<usize>,
    /// Original key, in the side arena.
    key: Option<Range<usize>>,
    /// Original value, in the side arena.
    value: Option<Range<usize>>,
}

/// Documents being collected for the next bulk request.
#[derive(Debug, Default)]
pub struct BulkBuffer {
    body: Vec<u8>,
    side: Vec<u8>,
    items: Vec<BufferedItem>,
    oldest: Option<Instant>,
    /// The storage of the last settled batch, emptied, for the next [`BulkBuffer::take`].
    spare: Option<Storage>,
}

/// The three allocations behind a buffer or a batch.
#[derive(Debug, Default)]
struct Storage {
    body: Vec<u8>,
    side: Vec<u8>,
    items: Vec<BufferedItem>,
}

/// The original Kafka record, kept in case the document is rejected.
#[derive(Debug, Clone, Copy)]
pub struct Original<'a> {
    /// Record key.
    pub key: Option<&'a [u8]>,
    /// Record value.
    pub value: Option<&'a [u8]>,
}

impl BulkBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `process` on the body: when it returns [`Processed::Document`] it has appended the
    /// action and source lines (each ending in `\n`) and the item is kept; for any other outcome
    /// whatever it wrote is discarded. The outcome is handed back.
    pub fn push(
        &mut self,
        ticket: Ticket,
        original: Original<'_>,
        process: impl FnOnce(&mut Vec<u8>) -> Processed,
    ) -> Processed {
        let start = self.body.len();
        let processed = process(&mut self.body);
        let Processed::Document { id } = &processed else {
            self.body.truncate(start);
            return processed;
        };
        let source_start = memchr::memchr(b'\n', &self.body[start..])
            .map(|i| start + i + 1)
            .unwrap_or(self.body.len());
        let side_start = self.side.len();
        self.side.extend_from_slice(id.as_bytes());
        let id = side_start..self.side.len();
        let key = original.key.map(|k| self.append_side(k));
        let value = original.value.map(|v| self.append_side(v));
        self.items.push(BufferedItem {
            ticket,
            lines: start..self.body.len(),
            source_start,
            id,
            key,
            value,
        });
        if self.oldest.is_none() {
            self.oldest = Some(Instant::now());
        }
        processed
    }

    fn append_side(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.side.len();
        self.side.extend_from_slice(bytes);
        start..self.side.len()
    }

    /// Number of buffered documents.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Body size in bytes.
    #[cfg(test)]
    fn body_bytes(&self) -> usize {
        self.body.len()
    }

    /// Whether the size or count threshold is reached.
    pub fn is_full(&self, policy: &FlushPolicy) -> bool {
        self.body.len() >= policy.max_bytes || self.items.len() >= policy.max_items
    }

    /// When the oldest buffered document came, if anything is buffered.
    pub fn oldest(&self) -> Option<Instant> {
        self.oldest
    }

    /// Takes the buffered documents as a batch and leaves the buffer empty. The next documents
    /// go into the storage of the last recycled batch; failing that, into new storage sized for
    /// a batch like this one plus some slack (a full buffer overshoots its threshold by up to
    /// one document, and without the slack that one document would double the allocation).
    pub fn take(&mut self) -> Batch {
        let next = self.spare.take().unwrap_or_else(|| Storage {
            body: Vec::with_capacity(self.body.len() + CAPACITY_SLACK),
            side: Vec::with_capacity(self.side.len() + CAPACITY_SLACK),
            items: Vec::with_capacity(self.items.len() + self.items.len() / 8),
        });
        let batch = Batch {
            body: Bytes::from(std::mem::replace(&mut self.body, next.body)),
            side: std::mem::replace(&mut self.side, next.side),
            items: std::mem::replace(&mut self.items, next.items),
        };
        self.oldest = None;
        batch
    }

    /// Keeps a settled batch's storage for the next [`BulkBuffer::take`], so that a task in
    /// steady state alternates between two sets of buffers instead of allocating (and
    /// fragmenting the heap with) megabytes per flush. A body still shared elsewhere is dropped.
    ///
    /// Storage much larger than the batch it held is shrunk to that batch's size (plus slack)
    /// first. Without that, one burst (the backlog read after a broker outage) would set the
    /// size of both sets of buffers for the rest of the process's life, and every later, larger
    /// burst would raise it again: resident memory would climb with each outage. Shrinking
    /// follows the load down within two flushes, and a buffer that is too small for the next
    /// burst grows as any `Vec` does.
    pub fn recycle(&mut self, batch: Batch) {
        if self.spare.is_some() || !batch.body.is_unique() {
            return;
        }
        let mut storage = Storage {
            body: Vec::from(batch.body),
            side: batch.side,
            items: batch.items,
        };
        fit_to_contents(&mut storage.body, CAPACITY_SLACK);
        fit_to_contents(&mut storage.side, CAPACITY_SLACK);
        let item_slack = storage.items.len() / 8;
        fit_to_contents(&mut storage.items, item_slack);
        storage.body.clear();
        storage.side.clear();
        storage.items.clear();
        self.spare = Some(storage);
    }
}

/// Shrinks `v` to its length plus `slack` when it holds more than twice that: enough headroom
/// that a steady load never reallocates, little enough that a past burst is not kept.
fn fit_to_contents<T>(v: &mut Vec<T>, slack: usize) {
    let wanted = v.len() + slack;
    if v.capacity() > wanted.saturating_mul(2) {
        v.shrink_to(wanted);
    }
}

/// A frozen set of documents: one bulk request and what its response needs.
#[derive(Debug, Clone)]
pub struct Batch {
    body: Bytes,
    side: Vec<u8>,
    items: Vec<BufferedItem>,
}

impl Batch {
    /// The items, in request order.
    pub fn items(&self) -> &[BufferedItem] {
        &self.items
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The whole request body, without copying.
    pub fn body(&self) -> Bytes {
        self.body.clone()
    }

    /// The action and source lines of one item.
    pub fn lines(&self, item: &BufferedItem) -> &[u8] {
        &self.body[item.lines.clone()]
    }

    /// The document (source line without its newline) of one item.
    pub fn source(&self, item: &BufferedItem) -> &[u8] {
        let end = if item.lines.end > item.source_start && self.body[item.lines.end - 1] == b'\n' {
            item.lines.end - 1
        } else {
            item.lines.end
        };
        &self.body[item.source_start..end]
    }

    /// The `_id` of one item.
    pub fn id(&self, item: &BufferedItem) -> &[u8] {
        &self.side[item.id.clone()]
    }

    /// The original Kafka key and value of one item.
    pub fn original(&self, item: &BufferedItem) -> Original<'_> {
        Original {
            key: item.key.clone().map(|r| &self.side[r]),
            value: item.value.clone().map(|r| &self.side[r]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offsets::OffsetTracker;

    fn push(buffer: &mut BulkBuffer, tracker: &mut OffsetTracker, offset: i64, id: &str) {
        let ticket = tracker.track(crate::sources::Source::Input, 0, offset);
        let original = Original {
            key: Some(b"k"),
            value: Some(b"raw bytes"),
        };
        let processed = buffer.push(ticket, original, |body| {
            body.extend_from_slice(format!("{{\"index\":{{\"_id\":\"{id}\"}}}}\n").as_bytes());
            body.extend_from_slice(format!("{{\"n\":{offset}}}\n").as_bytes());
            Processed::Document { id: id.to_owned() }
        });
        assert!(matches!(processed, Processed::Document { .. }));
    }

    #[test]
    fn items_remember_their_lines_and_originals() {
        let mut tracker = OffsetTracker::new();
        let mut buffer = BulkBuffer::new();
        push(&mut buffer, &mut tracker, 0, "a");
        push(&mut buffer, &mut tracker, 1, "b");
        let policy = FlushPolicy {
            max_bytes: 1 << 20,
            max_items: 2,
            interval: Duration::from_secs(1),
        };
        assert!(buffer.is_full(&policy));
        assert!(buffer.oldest().is_some());
        let batch = buffer.take();
        assert!(buffer.is_empty());
        assert_eq!(buffer.oldest(), None);
        let items = batch.items();
        assert_eq!(batch.source(&items[1]), b"{\"n\":1}");
        assert_eq!(batch.id(&items[0]), b"a");
        assert_eq!(
            batch.lines(&items[0]),
            b"{\"index\":{\"_id\":\"a\"}}\n{\"n\":0}\n"
        );
        assert_eq!(batch.original(&items[1]).value, Some(&b"raw bytes"[..]));
        assert_eq!(
            &batch.body()[..],
            [batch.lines(&items[0]), batch.lines(&items[1])].concat()
        );
    }

    #[test]
    fn a_dropped_or_failed_event_leaves_nothing_behind() {
        let mut tracker = OffsetTracker::new();
        let mut buffer = BulkBuffer::new();
        push(&mut buffer, &mut tracker, 0, "a");
        let before = buffer.body_bytes();
        let ticket = tracker.track(crate::sources::Source::Input, 0, 1);
        let original = Original {
            key: None,
            value: None,
        };
        let result = buffer.push(ticket, original, |body| {
            body.extend_from_slice(b"half");
            Processed::Failed {
                stage: pipeline_common::failure::FailedAt::Mask,
                reason: "boom".into(),
            }
        });
        assert!(matches!(result, Processed::Failed { .. }));
        assert_eq!(buffer.body_bytes(), before);
        assert_eq!(buffer.len(), 1);
    }

    #[test]
    fn a_settled_batch_storage_backs_the_buffer_after_next() {
        let mut tracker = OffsetTracker::new();
        let mut buffer = BulkBuffer::new();
        push(&mut buffer, &mut tracker, 0, "a");
        let first = buffer.take();
        let first_body = first.body().as_ptr();
        push(&mut buffer, &mut tracker, 1, "b");
        buffer.recycle(first);
        let second = buffer.take();
        push(&mut buffer, &mut tracker, 2, "c");
        let third = buffer.take();
        assert_ne!(second.body().as_ptr(), first_body);
        assert_eq!(third.body().as_ptr(), first_body);
        // Nothing of the first batch shows through.
        assert_eq!(third.len(), 1);
        assert_eq!(third.id(&third.items()[0]), b"c");
        assert_eq!(
            &third.body()[..],
            b"{\"index\":{\"_id\":\"c\"}}\n{\"n\":2}\n"
        );
    }

    #[test]
    fn after_a_burst_the_storage_shrinks_back_with_the_load() {
        let mut tracker = OffsetTracker::new();
        let mut buffer = BulkBuffer::new();
        let burst_items = 4_000;
        for offset in 0..burst_items {
            push(
                &mut buffer,
                &mut tracker,
                offset,
                &format!("burst-{offset:0>200}"),
            );
        }
        let burst = buffer.take();
        let burst_bytes = burst.body().len();
        assert!(burst_bytes > 8 * CAPACITY_SLACK, "{burst_bytes}");
        // While the burst goes on, its storage is kept as it is.
        buffer.recycle(burst);
        assert!(buffer
            .spare
            .as_ref()
            .is_some_and(|s| s.body.capacity() >= burst_bytes));
        // Two small flushes later, neither set of buffers holds the burst's size any more.
        let mut offset = burst_items;
        for _ in 0..2 {
            push(&mut buffer, &mut tracker, offset, "small");
            offset += 1;
            let small = buffer.take();
            buffer.recycle(small);
        }
        let small_limit = 4 * CAPACITY_SLACK;
        let spare = buffer
            .spare
            .as_ref()
            .map(|s| (s.body.capacity(), s.side.capacity()));
        assert!(
            spare.is_some_and(|(b, s)| b <= small_limit && s <= small_limit),
            "{spare:?}"
        );
        assert!(
            buffer.body.capacity() <= small_limit,
            "{}",
            buffer.body.capacity()
        );
        assert!(
            buffer.side.capacity() <= small_limit,
            "{}",
            buffer.side.capacity()
        );
        assert!(buffer.items.capacity() < burst_items as usize / 2);
        // What the shrunk storage holds next is intact.
        push(&mut buffer, &mut tracker, offset, "after");
        let after = buffer.take();
        assert_eq!(after.id(&after.items()[0]), b"after");
    }

    #[test]
    fn a_body_still_shared_is_not_recycled() {
        let mut tracker = OffsetTracker::new();
        let mut buffer = BulkBuffer::new();
        push(&mut buffer, &mut tracker, 0, "a");
        let first = buffer.take();
        let still_sending = first.body();
        buffer.recycle(first);
        push(&mut buffer, &mut tracker, 1, "b");
        let second = buffer.take();
        assert_ne!(second.body().as_ptr(), still_sending.as_ptr());
        assert_eq!(
            &still_sending[..],
            b"{\"index\":{\"_id\":\"a\"}}\n{\"n\":0}\n"
        );
    }

    fn policy(interval_ms: u64) -> FlushPolicy {
        FlushPolicy {
            max_bytes: 1 << 20,
            max_items: 10,
            interval: Duration::from_millis(interval_ms),
        }
    }

    #[test]
    fn caught_up_shortens_the_wait_but_never_lengthens_it() {
        let oldest = Instant::now();
        let ms = Duration::from_millis;
        let busy = Some(oldest + ms(2_500));
        assert_eq!(
            flush_deadline(&policy(3000), oldest, false, busy),
            oldest + ms(2_700)
        );
        assert_eq!(
            flush_deadline(&policy(3000), oldest, true, busy),
            oldest + CAUGHT_UP_LINGER
        );
        assert_eq!(
            flush_deadline(&policy(50), oldest, true, busy),
            oldest + ms(50)
        );
        assert_eq!(
            flush_deadline(&policy(3000), oldest, false, None),
            oldest + ms(3000)
        );
    }

    #[test]
    fn silence_counts_as_the_end_of_input() {
        let oldest = Instant::now();
        let ms = Duration::from_millis;
        // The last message came with the oldest: flush once it is the linger old.
        assert_eq!(
            flush_deadline(&policy(3000), oldest, false, Some(oldest)),
            oldest + CAUGHT_UP_LINGER
        );
        // Messages kept coming for a while: the linger after the last one.
        assert_eq!(
            flush_deadline(&policy(3000), oldest, false, Some(oldest + ms(700))),
            oldest + ms(900)
        );
        // Never later than the interval, however busy the input.
        assert_eq!(
            flush_deadline(&policy(3000), oldest, false, Some(oldest + ms(10_000))),
            oldest + ms(3000)
        );
    }
}
