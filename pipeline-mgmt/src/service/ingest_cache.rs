//! The pipelines HTTP ingest may write to, remembered for a short time so that an ingest request
//! does not read MariaDB.
//!
//! Correctness rests on two rules:
//! - every change a replica makes to a pipeline's row (create, replace, state, delete) calls
//!   [`IngestCache::forget`] after the write, so this replica never serves a stale entry of its
//!   own changes;
//! - a lookup that raced with such a change must not put back what it read before the change.
//!   Each `forget` bumps a generation; an entry read under an older generation is not stored.
//!
//! Changes made through another replica are seen once the entry expires (`server.ingestCacheTtlMs`).
//! Only pipelines that accept events are stored; a miss, or a pipeline that is provisioning or
//! being deleted, is looked up again on the next request.

use pipeline_common::model::PipelineName;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Past this many entries, an insert first drops the expired ones.
const PRUNE_ABOVE: usize = 4096;

/// How a request names the pipeline it ingests into.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PipelineRef {
    /// `/api/v1/pipelines/{id}/events`.
    Id(Uuid),
    /// `/api/v1/pipelines/by-name/{name}/events`.
    Name(PipelineName),
}

/// A pipeline that accepts events, as ingest needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestTarget {
    /// The pipeline's id.
    pub id: Uuid,
    /// The pipeline's name.
    pub name: PipelineName,
    /// Its input topic.
    pub topic: String,
}

/// The generation a lookup started under; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

struct Entry {
    target: Arc<IngestTarget>,
    expires: Instant,
}

#[derive(Default)]
struct Entries {
    generation: u64,
    by_ref: HashMap<PipelineRef, Entry>,
}

/// Shared by every ingest request of a process.
pub struct IngestCache {
    ttl: Duration,
    entries: RwLock<Entries>,
}

impl IngestCache {
    /// A cache whose entries live `ttl`; a zero `ttl` stores nothing.
    pub fn new(ttl: Duration) -> IngestCache {
        IngestCache {
            ttl,
            entries: RwLock::default(),
        }
    }

    /// The target `key` names, if it was stored less than the TTL ago and not forgotten since.
    pub fn get(&self, key: &PipelineRef) -> Option<Arc<IngestTarget>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .by_ref
            .get(key)
            .filter(|entry| entry.expires > Instant::now())
            .map(|entry| Arc::clone(&entry.target))
    }

    /// Taken before reading the row that [`IngestCache::insert`] will store.
    pub fn generation(&self) -> Generation {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        Generation(entries.generation)
    }

    /// Stores `target` under `key`, unless a pipeline was forgotten since `read_under` (the row
    /// may predate that change).
    pub fn insert(
        &self,
        read_under: Generation,
        key: PipelineRef,
        target: Arc<IngestTarget>,
    ) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.generation != read_under.0 {
            return false;
        }
        let now = Instant::now();
        if entries.by_ref.len() >= PRUNE_ABOVE {
            entries.by_ref.retain(|_, entry| entry.expires > now);
        }
        let expires = now + self.ttl;
        entries.by_ref.insert(key, Entry { target, expires });
        true
    }

    /// Drops every entry of the pipeline `id` or `name` (both keys, and an entry of the same name
    /// that still points at a pipeline deleted earlier); called after each change to its row.
    pub fn forget(&self, id: Uuid, name: &PipelineName) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.generation = entries.generation.wrapping_add(1);
        entries
            .by_ref
            .retain(|_, entry| entry.target.id != id && entry.target.name != *name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> Arc<IngestTarget> {
        Arc::new(IngestTarget {
            id: Uuid::new_v4(),
            name: PipelineName::parse(name).unwrap(),
            topic: format!("p.{name}.input"),
        })
    }

    fn by_name(name: &str) -> PipelineRef {
        PipelineRef::Name(PipelineName::parse(name).unwrap())
    }

    #[test]
    fn a_stored_target_is_found_by_its_key_until_forgotten() {
        let cache = IngestCache::new(Duration::from_secs(60));
        let web = target("web");
        let g = cache.generation();
        assert!(cache.insert(g, PipelineRef::Id(web.id), web.clone()));
        assert!(cache.insert(g, by_name("web"), web.clone()));
        assert_eq!(cache.get(&PipelineRef::Id(web.id)), Some(web.clone()));
        assert_eq!(cache.get(&by_name("web")), Some(web.clone()));
        assert_eq!(cache.get(&by_name("other")), None);

        cache.forget(web.id, &web.name);
        assert_eq!(cache.get(&PipelineRef::Id(web.id)), None);
        assert_eq!(cache.get(&by_name("web")), None);
    }

    #[test]
    fn forgetting_one_pipeline_keeps_the_others() {
        let cache = IngestCache::new(Duration::from_secs(60));
        let (a, b) = (target("a"), target("b"));
        let g = cache.generation();
        cache.insert(g, by_name("a"), a.clone());
        cache.insert(g, by_name("b"), b.clone());
        cache.forget(a.id, &a.name);
        assert_eq!(cache.get(&by_name("a")), None);
        assert_eq!(cache.get(&by_name("b")), Some(b));
    }

    /// A re-created pipeline has a new id under the old name: forgetting the new one also drops
    /// the name's entry of the old one.
    #[test]
    fn forgetting_by_name_drops_an_entry_of_an_earlier_pipeline_of_that_name() {
        let cache = IngestCache::new(Duration::from_secs(60));
        let old = target("web");
        cache.insert(cache.generation(), by_name("web"), old.clone());
        cache.forget(Uuid::new_v4(), &old.name);
        assert_eq!(cache.get(&by_name("web")), None);
    }

    /// The race the generation closes: a lookup reads the row, a change is made and forgotten,
    /// then the lookup stores what it read.
    #[test]
    fn a_row_read_before_a_change_is_not_stored_after_it() {
        let cache = IngestCache::new(Duration::from_secs(60));
        let web = target("web");
        let read_under = cache.generation();
        cache.forget(web.id, &web.name);
        assert!(!cache.insert(read_under, by_name("web"), web.clone()));
        assert_eq!(cache.get(&by_name("web")), None);
        assert!(cache.insert(cache.generation(), by_name("web"), web.clone()));
        assert_eq!(cache.get(&by_name("web")), Some(web));
    }

    #[test]
    fn entries_expire_and_a_zero_ttl_stores_nothing() {
        let cache = IngestCache::new(Duration::from_millis(1));
        let web = target("web");
        cache.insert(cache.generation(), by_name("web"), web);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(cache.get(&by_name("web")), None);

        let off = IngestCache::new(Duration::ZERO);
        assert!(!off.insert(off.generation(), by_name("web"), target("web")));
        assert_eq!(off.get(&by_name("web")), None);
    }
}
