//! Reading a pipeline's error topic.
//!
//! The reader assigns partitions explicitly and never commits. librdkafka wants a `group.id` even
//! for `assign()`, so each reader gets a throwaway one of its own; without `subscribe()` it never
//! joins that group, and without a commit the group never exists on the broker. Reading dead
//! letters can neither move nor rebalance the workers' group. Every call is blocking
//! (librdkafka's poll); callers run it on the blocking pool.

use anyhow::{anyhow, Context};
use pipeline_common::config::Settings;
use pipeline_common::failure::{headers, FailedAt};
use pipeline_common::kafka_headers::raw_headers;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Longest wait for one metadata or watermark answer.
const META_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a new topic may take to have leaders for its partitions.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the broker may hold one of the reader's fetches (librdkafka's default is 500 ms).
const READER_FETCH_WAIT_MS: &str = "10";
/// Longest wait for the records of one range to arrive.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// One record of the error topic, as the worker wrote it (DESIGN §4 step 7).
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Partition of the error topic.
    pub partition: i32,
    /// Offset in that partition.
    pub offset: i64,
    /// Record timestamp, milliseconds since the epoch.
    pub timestamp: Option<i64>,
    /// The original key.
    pub key: Option<Vec<u8>>,
    /// Every header, in record order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// The original value.
    pub value: Option<Vec<u8>>,
}

impl DeadLetter {
    /// The first header called `name`, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// `error.stage`.
    pub fn stage(&self) -> Option<&str> {
        self.header(headers::STAGE)
    }

    /// `error.reason`.
    pub fn reason(&self) -> Option<&str> {
        self.header(headers::REASON)
    }
}

/// A partition's offsets: `low` is the first readable, `high` one past the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    /// Partition.
    pub partition: i32,
    /// First readable offset.
    pub low: i64,
    /// One past the last offset.
    pub high: i64,
}

/// A group-less, never-committing consumer of one topic.
pub struct TopicReader {
    consumer: BaseConsumer,
    topic: String,
}

impl TopicReader {
    /// A reader of `topic` with the configured connection settings.
    pub fn open(settings: &Settings, topic: &str) -> anyhow::Result<TopicReader> {
        let group = format!("{topic}.reader.{}", uuid::Uuid::new_v4().simple());
        let consumer: BaseConsumer = pipeline_common::clients::kafka_base_config(settings)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            // A page re-assigns for every range it reads; the broker holds a fetch that finds
            // nothing new for this long, and the next range waits for it to come back.
            .set("fetch.wait.max.ms", READER_FETCH_WAIT_MS)
            .create()
            .context("building the dead-letter reader")?;
        Ok(TopicReader {
            consumer,
            topic: topic.to_owned(),
        })
    }

    /// Every partition's watermarks, in partition order. A topic created a moment ago may not
    /// have leaders yet, so a failure is retried for a few seconds.
    pub fn watermarks(&self) -> anyhow::Result<Vec<Watermarks>> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            match self.try_watermarks() {
                Ok(marks) => return Ok(marks),
                Err(err) if Instant::now() >= deadline => return Err(err),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn try_watermarks(&self) -> anyhow::Result<Vec<Watermarks>> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(&self.topic), META_TIMEOUT)
            .context("fetching topic metadata")?;
        let topic = metadata
            .topics()
            .iter()
            .find(|t| t.name() == self.topic)
            .ok_or_else(|| anyhow!("topic {} not in metadata", self.topic))?;
        if let Some(err) = topic.error() {
            return Err(anyhow!("topic {}: {err:?}", self.topic));
        }
        let mut partitions: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
        partitions.sort_unstable();
        partitions
            .into_iter()
            .map(|partition| {
                let (low, high) = self
                    .consumer
                    .fetch_watermarks(&self.topic, partition, META_TIMEOUT)
                    .with_context(|| format!("watermarks of partition {partition}"))?;
                Ok(Watermarks {
                    partition,
                    low,
                    high,
                })
            })
            .collect()
    }

    /// The records of `partition` with offsets in `start..end`, in offset order.
    pub fn read_range(
        &self,
        partition: i32,
        start: i64,
        end: i64,
    ) -> anyhow::Result<Vec<DeadLetter>> {
        if start >= end {
            return Ok(Vec::new());
        }
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&self.topic, partition, Offset::Offset(start))
            .context("building the assignment")?;
        self.consumer
            .assign(&assignment)
            .context("assigning the partition")?;
        let deadline = Instant::now() + READ_TIMEOUT;
        let mut out = Vec::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(anyhow!(
                    "reading {}/{partition} {start}..{end} timed out",
                    self.topic
                ));
            }
            let Some(message) = self
                .consumer
                .poll(remaining.min(Duration::from_millis(500)))
            else {
                continue;
            };
            let message = match message {
                Ok(m) => m,
                Err(KafkaError::PartitionEOF(p)) if p == partition => break,
                Err(KafkaError::PartitionEOF(_)) => continue,
                Err(err) => return Err(anyhow!(err).context("polling the error topic")),
            };
            if message.partition() != partition || message.offset() < start {
                continue;
            }
            if message.offset() >= end {
                break;
            }
            let headers = message
                .headers()
                .map(|h| {
                    // A name that is not UTF-8 (another producer's) is shown with U+FFFD.
                    raw_headers(h)
                        .map(|header| {
                            let name = String::from_utf8_lossy(header.name).into_owned();
                            (name, header.value.map(<[u8]>::to_vec))
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(DeadLetter {
                partition,
                offset: message.offset(),
                timestamp: message.timestamp().to_millis(),
                key: message.key().map(<[u8]>::to_vec),
                headers,
                value: message.payload().map(<[u8]>::to_vec),
            });
            if message.offset() + 1 >= end {
                break;
            }
        }
        Ok(out)
    }
}

/// The text form of a [`Cursor`]: `partition:offset` pairs separated by commas.
pub const CURSOR_PATTERN: &str = "^[0-9]{1,9}:[0-9]{1,18}(,[0-9]{1,9}:[0-9]{1,18})*$";

/// What a page of dead letters keeps; every part given must match.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    /// Only records whose `error.stage` is this.
    pub stage: Option<FailedAt>,
    /// Only records whose `error.reason` contains this.
    pub reason: Option<String>,
}

impl Selector {
    /// Whether `letter` is kept.
    pub fn keeps(&self, letter: &DeadLetter) -> bool {
        self.stage
            .is_none_or(|stage| letter.stage() == Some(stage.as_str()))
            && self
                .reason
                .as_deref()
                .is_none_or(|r| letter.reason().is_some_and(|have| have.contains(r)))
    }

    fn keeps_everything(&self) -> bool {
        self.stage.is_none() && self.reason.is_none()
    }
}

/// Where the next page starts: per partition, the offset below which it reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor(pub BTreeMap<i32, i64>);

impl Cursor {
    /// Parses `p:o,p:o` (a partition of at most 9 digits, an offset of at most 18, as
    /// [`CURSOR_PATTERN`] states); `Err` names the problem for a 400.
    pub fn parse(text: &str) -> Result<Cursor, String> {
        let refused = || "after must be a cursor from a previous page".to_owned();
        let digits = |s: &str, most: usize| {
            (1..=most).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
        };
        let mut map = BTreeMap::new();
        for part in text.split(',') {
            let (p, o) = part.split_once(':').ok_or_else(refused)?;
            if !digits(p, 9) || !digits(o, 18) {
                return Err(refused());
            }
            let p: i32 = p.parse().map_err(|_| refused())?;
            let o: i64 = o.parse().map_err(|_| refused())?;
            map.insert(p, o);
        }
        Ok(Cursor(map))
    }

    /// The text form, `p:o,p:o`.
    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(|(p, o)| format!("{p}:{o}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// How much one page may read (config `deadLetters.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanBudget {
    /// Most records, over all partitions.
    pub records: u64,
    /// Longest time.
    pub time: Duration,
}

impl ScanBudget {
    /// The configured budget.
    pub fn from_settings(settings: &Settings) -> ScanBudget {
        ScanBudget {
            records: settings.dead_letters.scan_records.max(1),
            time: Duration::from_millis(settings.dead_letters.scan_ms),
        }
    }
}

/// How far one page's scan went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scanned {
    /// Offsets read, over all partitions.
    pub records: u64,
    /// The budget ended the scan before the page was full or the topic's start was reached.
    pub budget_exhausted: bool,
    /// Timestamp (ms since the epoch) of the oldest record read.
    pub reached_back: Option<i64>,
}

/// A page: records newest first, the cursor of the next page (`None` on the last), and how far
/// the scan went.
#[derive(Debug, Clone)]
pub struct Page {
    /// Newest first.
    pub items: Vec<DeadLetter>,
    /// Where the next page starts.
    pub next: Option<Cursor>,
    /// What this page read.
    pub scanned: Scanned,
}

/// Records read in one go when a filter may skip most of them; without a filter a page reads
/// only what it returns.
const SCAN_CHUNK: u64 = 1000;

/// One partition's part of a page: read downwards from `top`.
struct PartitionScan {
    mark: Watermarks,
    /// Where this page started in the partition.
    top: i64,
    /// Lowest offset read so far.
    lowest: i64,
    /// The kept records, in offset order.
    kept: Vec<DeadLetter>,
}

impl PartitionScan {
    fn new(mark: Watermarks, after: Option<&Cursor>) -> PartitionScan {
        let top = after
            .and_then(|c| c.0.get(&mark.partition).copied())
            .map_or(mark.high, |o| o.min(mark.high));
        PartitionScan {
            mark,
            top,
            lowest: top,
            kept: Vec::new(),
        }
    }

    fn wants_more(&self, limit: usize) -> bool {
        self.lowest > self.mark.low && self.kept.len() < limit
    }

    /// Reads the `count` offsets below `lowest`; updates `scanned`.
    fn read_down(
        &mut self,
        reader: &TopicReader,
        count: u64,
        selector: &Selector,
        scanned: &mut Scanned,
    ) -> anyhow::Result<()> {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let start = self.lowest.saturating_sub(count).max(self.mark.low);
        let mut records = reader.read_range(self.mark.partition, start, self.lowest)?;
        scanned.records += u64::try_from(self.lowest - start).unwrap_or(0);
        let oldest = records.iter().filter_map(|r| r.timestamp).min();
        scanned.reached_back = match (scanned.reached_back, oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        records.retain(|r| selector.keeps(r));
        records.append(&mut self.kept);
        self.kept = records;
        self.lowest = start;
        Ok(())
    }

    /// Where the next page resumes in this partition, given the records this page returns.
    fn resume(&self, items: &[DeadLetter]) -> i64 {
        let returned: Vec<i64> = items
            .iter()
            .filter(|r| r.partition == self.mark.partition)
            .map(|r| r.offset)
            .collect();
        if returned.len() == self.kept.len() {
            // Everything kept is on this page; the rest of what was read was skipped.
            self.lowest
        } else {
            // Kept but older than the page: read again next time.
            returned.into_iter().min().unwrap_or(self.top)
        }
    }
}

/// The newest `limit` dead letters kept by `selector`, below `after`, reading at most `budget`.
/// The partitions are read in turns, a chunk at a time, so that each gets a share of the budget.
pub fn page(
    reader: &TopicReader,
    limit: usize,
    selector: &Selector,
    after: Option<&Cursor>,
    budget: ScanBudget,
) -> anyhow::Result<Page> {
    let started = Instant::now();
    let marks = reader.watermarks()?;
    let mut scans: Vec<PartitionScan> = marks
        .iter()
        .map(|mark| PartitionScan::new(*mark, after))
        .collect();
    let chunk = if selector.keeps_everything() {
        u64::try_from(limit.max(1)).unwrap_or(SCAN_CHUNK)
    } else {
        SCAN_CHUNK
    };
    let mut scanned = Scanned::default();
    'scan: while scans.iter().any(|s| s.wants_more(limit)) {
        for scan in scans.iter_mut().filter(|s| s.wants_more(limit)) {
            let left = budget.records.saturating_sub(scanned.records);
            // The first chunk is always read, so that every page makes progress.
            if scanned.records > 0 && (left == 0 || started.elapsed() >= budget.time) {
                scanned.budget_exhausted = true;
                break 'scan;
            }
            scan.read_down(reader, chunk.min(left.max(1)), selector, &mut scanned)?;
        }
    }
    let mut all: Vec<&DeadLetter> = scans.iter().flat_map(|s| s.kept.iter()).collect();
    all.sort_by(|a, b| {
        b.timestamp
            .cmp(&a.timestamp)
            .then(b.offset.cmp(&a.offset))
            .then(a.partition.cmp(&b.partition))
    });
    all.truncate(limit);
    let items: Vec<DeadLetter> = all.into_iter().cloned().collect();
    let next: BTreeMap<i32, i64> = scans
        .iter()
        .map(|s| (s.mark.partition, s.resume(&items)))
        .collect();
    let more = scans
        .iter()
        .any(|s| next.get(&s.mark.partition).is_some_and(|o| *o > s.mark.low));
    Ok(Page {
        items,
        next: more.then_some(Cursor(next)),
        scanned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(partition: i32, offset: i64) -> DeadLetter {
        DeadLetter {
            partition,
            offset,
            timestamp: None,
            key: None,
            headers: Vec::new(),
            value: None,
        }
    }

    #[test]
    fn the_next_page_resumes_below_what_was_read_unless_a_match_was_left_out() {
        let mark = Watermarks {
            partition: 0,
            low: 0,
            high: 100,
        };
        let mut scan = PartitionScan::new(mark, None);
        scan.lowest = 40;
        scan.kept = vec![letter(0, 50), letter(0, 60)];
        // Both matches on the page: 40..50 and 51..60 were read and skipped, not read again.
        assert_eq!(
            scan.resume(&[letter(0, 50), letter(0, 60), letter(1, 7)]),
            40
        );
        // Offset 50 matched but did not make the page: the next page starts at 60.
        assert_eq!(scan.resume(&[letter(0, 60)]), 60);
        // Nothing of this partition on the page: it is read again from where this page began.
        assert_eq!(scan.resume(&[letter(1, 7)]), 100);
        let after = Cursor(BTreeMap::from([(0, 30)]));
        let resumed = PartitionScan::new(mark, Some(&after));
        assert_eq!((resumed.top, resumed.lowest), (30, 30));
        assert!(resumed.wants_more(1));
    }

    #[test]
    fn cursor_round_trips() {
        let c = Cursor::parse("0:12,3:0").unwrap();
        assert_eq!(c.0.get(&0), Some(&12));
        assert_eq!(c.render(), "0:12,3:0");
        assert!(Cursor::parse("x").is_err());
        assert!(Cursor::parse("0:-1").is_err());
        assert!(Cursor::parse("0:a").is_err());
        for bad in [
            "",
            ",",
            "0:1,",
            "+1:2",
            "1:+2",
            "1234567890:1",
            "0:1234567890123456789",
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
    }
}
