//! Objects: members sorted by key bytes, looked up by binary search, and addressed by dotted
//! [`FieldPath`]s.

use super::{Text, TextSource, Texts, Value};
use crate::model::FieldPath;
use std::cmp::Ordering;

/// The byte order of two keys, as `a.cmp(b)` gives it, settled by the first bytes when they
/// differ (most comparisons of a search among keys) without the call to `memcmp` that comparing
/// the slices makes.
#[inline]
pub(crate) fn key_order(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    match (a.first(), b.first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => a.cmp(b),
    }
}

/// A JSON object of a document; members sorted by the UTF-8 bytes of their keys, keys unique.
#[derive(Debug, Clone, Default)]
pub struct Object {
    members: Vec<(Text, Value)>,
}

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Object::default()
    }

    /// An empty object with room for `n` members.
    pub fn with_capacity(n: usize) -> Self {
        Object {
            members: Vec::with_capacity(n),
        }
    }

    /// An object of members in any order: sorted by key (stable), and of members with the same
    /// key the last one kept, as a JSON reader keeps a repeated key's last value.
    pub fn from_members(members: Vec<(Text, Value)>, texts: &Texts) -> Self {
        Object::sorted_by(members, |t| texts.get(t))
    }

    /// [`Object::from_members`] with keys read through `key`.
    pub(crate) fn sorted_by<'k>(
        mut members: Vec<(Text, Value)>,
        key: impl Fn(Text) -> &'k str,
    ) -> Self {
        // Most objects are small: their keys are read once into an array and sorted with their
        // members by insertion (stable), instead of being looked up again for each comparison.
        const SMALL: usize = 16;
        let n = members.len();
        if n > SMALL {
            return Object::sorted_large(members, key);
        }
        let mut keys = [""; SMALL];
        for (k, m) in keys.iter_mut().zip(&members) {
            *k = key(m.0);
        }
        let keys = &mut keys[..n];
        if keys.windows(2).all(|w| key_order(w[0], w[1]).is_lt()) {
            return Object { members };
        }
        for i in 1..n {
            let mut j = i;
            while j > 0 && key_order(keys[j - 1], keys[j]).is_gt() {
                keys.swap(j - 1, j);
                members.swap(j - 1, j);
                j -= 1;
            }
        }
        // Of a run of equal keys, the last one read stays.
        let mut i = n;
        while i > 1 {
            i -= 1;
            if keys[i - 1] == keys[i] {
                members.remove(i - 1);
            }
        }
        Object { members }
    }

    /// [`Object::sorted_by`] of a large object.
    fn sorted_large<'k>(mut members: Vec<(Text, Value)>, key: impl Fn(Text) -> &'k str) -> Self {
        members.sort_by(|a, b| key_order(key(a.0), key(b.0)));
        let mut kept: Vec<(Text, Value)> = Vec::with_capacity(members.len());
        for m in members {
            match kept.last_mut() {
                Some(last) if key(last.0) == key(m.0) => *last = m,
                _ => kept.push(m),
            }
        }
        Object { members: kept }
    }

    /// An object of members already sorted by key, keys unique (the caller sorted them).
    pub(crate) fn from_sorted(members: Vec<(Text, Value)>) -> Self {
        Object { members }
    }

    /// The members, in key order.
    pub fn members(&self) -> &[(Text, Value)] {
        &self.members
    }

    /// The members, taken out.
    pub fn into_members(self) -> Vec<(Text, Value)> {
        self.members
    }

    /// The members' values, mutably, in key order.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.members.iter_mut().map(|(_, v)| v)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether it has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Where `key` is, or where it would go.
    fn find<R: TextSource + ?Sized>(&self, texts: &R, key: &str) -> Result<usize, usize> {
        self.members
            .binary_search_by(|(k, _)| key_order(texts.text(*k), key))
    }

    /// The value at `key`.
    pub fn get<R: TextSource + ?Sized>(&self, texts: &R, key: &str) -> Option<&Value> {
        let i = self.find(texts, key).ok()?;
        Some(&self.members[i].1)
    }

    /// The value at `key`, mutably.
    pub fn get_mut(&mut self, texts: &Texts, key: &str) -> Option<&mut Value> {
        let i = self.find(texts, key).ok()?;
        Some(&mut self.members[i].1)
    }

    /// Removes the member `key` and gives its value back.
    pub fn remove(&mut self, texts: &Texts, key: &str) -> Option<Value> {
        let i = self.find(texts, key).ok()?;
        Some(self.members.remove(i).1)
    }

    /// Sets `key` to `value`, replacing the member of that key; a new key is appended to the
    /// texts.
    pub fn insert(&mut self, texts: &mut Texts, key: &str, value: Value) {
        match self.find(texts, key) {
            Ok(i) => self.members[i].1 = value,
            Err(i) => {
                let k = texts.push(key);
                self.members.insert(i, (k, value));
            }
        }
    }

    /// Sets the member whose key is the text `key` (already in `texts`).
    pub fn insert_text<R: TextSource + ?Sized>(&mut self, texts: &R, key: Text, value: Value) {
        match self.find(texts, texts.text(key)) {
            Ok(i) => self.members[i].1 = value,
            Err(i) => self.members.insert(i, (key, value)),
        }
    }

    /// The value at `path`, if every segment but the last names an object.
    pub fn get_path(&self, texts: &Texts, path: &FieldPath) -> Option<&Value> {
        let (last, init) = path.segments().split_last()?;
        let mut obj = self;
        for seg in init {
            obj = obj.get(texts, seg)?.as_object()?;
        }
        obj.get(texts, last)
    }

    /// The object at `segments` under this one, if each names an object.
    pub fn object_at_mut(&mut self, texts: &Texts, segments: &[String]) -> Option<&mut Object> {
        segments
            .iter()
            .try_fold(self, |obj, seg| obj.get_mut(texts, seg)?.as_object_mut())
    }

    /// Removes and returns the value at `path`.
    pub fn remove_path(&mut self, texts: &Texts, path: &FieldPath) -> Option<Value> {
        let (last, init) = path.segments().split_last()?;
        self.object_at_mut(texts, init)?.remove(texts, last)
    }

    /// Sets the value at `path`, creating missing parent objects. Gives the value back when a
    /// parent exists but is not an object.
    pub fn set_path(
        &mut self,
        texts: &mut Texts,
        path: &FieldPath,
        value: Value,
    ) -> Result<(), Value> {
        let Some((last, init)) = path.segments().split_last() else {
            return Err(value);
        };
        let mut obj = self;
        for seg in init {
            let i = match obj.find(texts, seg) {
                Ok(i) => i,
                Err(i) => {
                    let k = texts.push(seg);
                    obj.members.insert(i, (k, Value::Object(Object::new())));
                    i
                }
            };
            obj = match &mut obj.members[i].1 {
                Value::Object(o) => o,
                _ => return Err(value),
            };
        }
        obj.insert(texts, last, value);
        Ok(())
    }

    /// Applies `f` to every key; when one changes, the members are sorted again (a repeated key
    /// keeping the value that came last in the old order).
    pub fn rekey(
        &mut self,
        texts: &mut Texts,
        mut f: impl FnMut(&mut Texts, Text) -> Option<Text>,
    ) {
        let mut changed = false;
        for (k, _) in &mut self.members {
            if let Some(n) = f(texts, *k) {
                *k = n;
                changed = true;
            }
        }
        if changed {
            let members = std::mem::take(&mut self.members);
            *self = Object::from_members(members, texts);
        }
    }
}
