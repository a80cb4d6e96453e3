//! Request building: the body of a bulk request for all of a batch or for the items to retry.

use super::buffer::Batch;
use bytes::Bytes;

/// The body for the items at `indexes` (in request order). The whole batch is sent without
/// copying; a retry of some items copies only their lines.
pub fn body_for(batch: &Batch, indexes: &[usize]) -> Bytes {
    if indexes.len() == batch.len() {
        return batch.body();
    }
    let items = batch.items();
    let size = indexes.iter().map(|&i| items[i].lines.len()).sum();
    let mut body = Vec::with_capacity(size);
    for &i in indexes {
        body.extend_from_slice(batch.lines(&items[i]));
    }
    Bytes::from(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulk::buffer::{BulkBuffer, Original};
    use crate::offsets::OffsetTracker;
    use crate::processor::Processed;

    #[test]
    fn subsets_hold_only_their_items() {
        let mut tracker = OffsetTracker::new();
        let mut buffer = BulkBuffer::new();
        for offset in 0..3 {
            let ticket = tracker.track(crate::sources::Source::Input, 0, offset);
            let original = Original {
                key: None,
                value: None,
            };
            buffer.push(ticket, original, |body| {
                body.extend_from_slice(
                    format!("{{\"index\":{{}}}}\n{{\"n\":{offset}}}\n").as_bytes(),
                );
                Processed::Document { id: "id".into() }
            });
        }
        let batch = buffer.take();
        assert_eq!(body_for(&batch, &[0, 1, 2]), batch.body());
        assert_eq!(
            &body_for(&batch, &[0, 2])[..],
            b"{\"index\":{}}\n{\"n\":0}\n{\"index\":{}}\n{\"n\":2}\n"
        );
    }
}
