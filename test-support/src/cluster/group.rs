//! Who owns which partition: a consumer group's members and their assignments as the group
//! coordinator describes them (the classic protocol's DescribeGroups), not as the members say.

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A group's state and, per member (by client id), the partitions of `topic` it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupAssignment {
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty`, `Dead`.
    pub state: String,
    /// Partitions of the topic, per member's client id.
    pub members: BTreeMap<String, BTreeSet<i32>>,
}

impl GroupAssignment {
    /// Every partition some member holds.
    pub fn owned(&self) -> BTreeSet<i32> {
        self.members.values().flatten().copied().collect()
    }

    /// Whether the group is stable and its members hold every partition of `0..partitions`.
    pub fn covers(&self, partitions: i32) -> bool {
        self.state == "Stable" && self.owned() == (0..partitions).collect()
    }

    /// Members holding at least one partition.
    pub fn busy_members(&self) -> usize {
        self.members.values().filter(|p| !p.is_empty()).count()
    }
}

/// The assignment of `group`'s members on `topic`; `None` when the coordinator cannot be asked.
pub fn group_assignment(bootstrap: &str, group: &str, topic: &str) -> Option<GroupAssignment> {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .ok()?;
    let list = client
        .fetch_group_list(Some(group), Duration::from_secs(10))
        .ok()?;
    let info = list.groups().iter().find(|g| g.name() == group)?;
    let members = info
        .members()
        .iter()
        .map(|m| {
            let partitions = m
                .assignment()
                .and_then(|bytes| decode_assignment(bytes, topic))
                .unwrap_or_default();
            (m.client_id().to_owned(), partitions)
        })
        .collect();
    Some(GroupAssignment {
        state: info.state().to_owned(),
        members,
    })
}

/// Reads the classic consumer protocol's assignment (version, then `[topic, [partition]]`, then
/// user data) and keeps `topic`'s partitions.
fn decode_assignment(bytes: &[u8], topic: &str) -> Option<BTreeSet<i32>> {
    let mut at = Reader { bytes, at: 0 };
    if bytes.is_empty() {
        return Some(BTreeSet::new());
    }
    at.i16()?;
    let mut out = BTreeSet::new();
    for _ in 0..at.i32()? {
        let length = usize::try_from(at.i16()?).ok()?;
        let name = at.take(length)?;
        for _ in 0..at.i32()? {
            let partition = at.i32()?;
            if name == topic.as_bytes() {
                out.insert(partition);
            }
        }
    }
    Some(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_is_read_per_topic() {
        let mut bytes = vec![0, 1, 0, 0, 0, 2];
        for (name, partitions) in [("a", vec![0_i32, 3]), ("bb", vec![1])] {
            bytes.extend_from_slice(&(name.len() as i16).to_be_bytes());
            bytes.extend_from_slice(name.as_bytes());
            bytes.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
            for p in partitions {
                bytes.extend_from_slice(&p.to_be_bytes());
            }
        }
        bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // no user data
        assert_eq!(decode_assignment(&bytes, "a"), Some([0, 3].into()));
        assert_eq!(decode_assignment(&bytes, "bb"), Some([1].into()));
        assert_eq!(decode_assignment(&bytes, "c"), Some(BTreeSet::new()));
        assert_eq!(decode_assignment(&bytes[..9], "a"), None, "truncated");
    }
}
