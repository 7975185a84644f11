//! Ordered maps and sets keyed by the core's ids.
//!
//! The ids have no meaningful order (slots are reused), so they do not implement `Ord`;
//! but the model and the fuzz interpreter need a deterministic iteration order, so that an
//! input replays the same way in every process. These keep entries in the order of the
//! ids' raw values.

use std::collections::BTreeMap;
use std::fmt;

use dialer_core::{CallerId, DialId, RequestId};

/// An id with a raw value to order by.
pub trait RawId: Copy {
    /// The id's raw value.
    fn raw(self) -> u64;
}

macro_rules! raw_id {
    ($($id:ty),*) => {
        $(impl RawId for $id {
            fn raw(self) -> u64 {
                self.into_raw()
            }
        })*
    };
}

raw_id!(CallerId, DialId, RequestId);

/// A map from ids to values, iterated in the order of the ids' raw values.
#[derive(Clone, PartialEq, Eq)]
pub struct IdMap<K, V> {
    inner: BTreeMap<u64, (K, V)>,
}

impl<K, V> Default for IdMap<K, V> {
    fn default() -> Self {
        Self {
            inner: BTreeMap::new(),
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for IdMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.inner.values().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<K: RawId, V> IdMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.inner.get(&key.raw()).map(|(_, v)| v)
    }

    /// The value of `key`, to change.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.inner.get_mut(&key.raw()).map(|(_, v)| v)
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &K) -> bool {
        self.inner.contains_key(&key.raw())
    }

    /// Sets the value of `key`, returning the old one.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.inner.insert(key.raw(), (key, value)).map(|(_, v)| v)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.inner.remove(&key.raw()).map(|(_, v)| v)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The entries, in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&K, &V)> {
        self.inner.values().map(|(k, v)| (k, v))
    }

    /// The entries, in key order, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.inner.values_mut().map(|(k, v)| (&*k, v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &K> {
        self.inner.values().map(|(k, _)| k)
    }

    /// The values, in key order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &V> {
        self.inner.values().map(|(_, v)| v)
    }

    /// The values, in key order, to change.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.inner.values_mut().map(|(_, v)| v)
    }

    /// Keeps only the entries `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.inner.retain(|_, (k, v)| keep(k, v));
    }

    /// The value of `key`, inserted with `make` if missing.
    pub fn entry_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        &mut self
            .inner
            .entry(key.raw())
            .or_insert_with(|| (key, make()))
            .1
    }
}

impl<K: RawId, V> FromIterator<(K, V)> for IdMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = Self::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

impl<K: RawId, V> IntoIterator for IdMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::collections::btree_map::IntoValues<u64, (K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.inner.into_values()
    }
}

impl<'a, K: RawId, V> IntoIterator for &'a IdMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<
        std::collections::btree_map::Values<'a, u64, (K, V)>,
        fn(&'a (K, V)) -> (&'a K, &'a V),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.inner.values().map(|(k, v)| (k, v))
    }
}

/// A set of ids, iterated in the order of their raw values.
#[derive(Clone, PartialEq, Eq)]
pub struct IdSet<K> {
    inner: IdMap<K, ()>,
}

impl<K> Default for IdSet<K> {
    fn default() -> Self {
        Self {
            inner: IdMap::default(),
        }
    }
}

impl<K: fmt::Debug> fmt::Debug for IdSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.inner.inner.values().map(|(k, _)| k))
            .finish()
    }
}

impl<K: RawId> IdSet<K> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key`; whether it was new.
    pub fn insert(&mut self, key: K) -> bool {
        self.inner.insert(key, ()).is_none()
    }

    /// Removes `key`; whether it was there.
    pub fn remove(&mut self, key: &K) -> bool {
        self.inner.remove(key).is_some()
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &K) -> bool {
        self.inner.contains_key(key)
    }

    /// The number of ids.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The ids, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &K> {
        self.inner.keys()
    }
}

impl<K: RawId, const N: usize> From<[K; N]> for IdSet<K> {
    fn from(keys: [K; N]) -> Self {
        let mut set = Self::new();
        for k in keys {
            set.insert(k);
        }
        set
    }
}
