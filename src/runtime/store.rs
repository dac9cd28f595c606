//! [`Store`]: the thread-safe cache an informer fills, with indexes; [`Reader`]: the
//! cheap, read-only handle handed to everyone else.

use super::object::{Object, ObjectKey};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::watch;

/// An index function: the index values of an object (none, one or many).
pub type IndexFn<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// A hook applied to every object before it is stored (e.g. drop `managedFields`).
pub type TransformFn<K> = Arc<dyn Fn(&mut K) + Send + Sync>;

/// Ready-made index functions.
pub mod indexers {
    use super::{IndexFn, Object};
    use std::sync::Arc;

    /// The name of the [`namespace`] index in [`Store::with_default_indexes`](super::Store::with_default_indexes).
    pub const NAMESPACE: &str = "namespace";
    /// The name of the [`owner`] index in [`Store::with_default_indexes`](super::Store::with_default_indexes).
    pub const OWNER: &str = "owner";

    /// Indexes by namespace (cluster-scoped objects are not indexed).
    pub fn namespace<K: Object>() -> IndexFn<K> {
        Arc::new(|o: &K| o.object_meta().namespace.iter().cloned().collect())
    }

    /// Indexes by the value of label `key` (objects without it are not indexed).
    pub fn label<K: Object>(key: &str) -> IndexFn<K> {
        let key = key.to_owned();
        Arc::new(move |o: &K| {
            o.object_meta()
                .labels
                .as_ref()
                .and_then(|l| l.get(&key))
                .cloned()
                .into_iter()
                .collect()
        })
    }

    /// Indexes by the `uid` of every owner reference.
    pub fn owner<K: Object>() -> IndexFn<K> {
        Arc::new(|o: &K| {
            o.object_meta()
                .owner_references
                .iter()
                .flatten()
                .map(|r| r.uid.clone())
                .collect()
        })
    }
}

struct Inner<K> {
    items: HashMap<ObjectKey, Arc<K>>,
    indexers: HashMap<String, IndexFn<K>>,
    /// index name → value → keys.
    indices: HashMap<String, HashMap<String, BTreeSet<ObjectKey>>>,
}

impl<K> Inner<K> {
    fn unindex(&mut self, key: &ObjectKey, obj: &K) {
        for (name, f) in &self.indexers {
            let index = self.indices.entry(name.clone()).or_default();
            for value in f(obj) {
                if let Some(keys) = index.get_mut(&value) {
                    keys.remove(key);
                    if keys.is_empty() {
                        index.remove(&value);
                    }
                }
            }
        }
    }

    fn index(&mut self, key: &ObjectKey, obj: &K) {
        for (name, f) in &self.indexers {
            let index = self.indices.entry(name.clone()).or_default();
            for value in f(obj) {
                index.entry(value).or_default().insert(key.clone());
            }
        }
    }

    fn put(&mut self, key: ObjectKey, obj: Arc<K>) -> Option<Arc<K>> {
        let old = self.items.insert(key.clone(), obj.clone());
        if let Some(old) = &old {
            self.unindex(&key, old);
        }
        self.index(&key, &obj);
        old
    }

    fn remove(&mut self, key: &ObjectKey) -> Option<Arc<K>> {
        let old = self.items.remove(key)?;
        self.unindex(key, &old);
        Some(old)
    }
}

/// What [`Store::replace`] changed, in terms of events.
#[derive(Debug)]
#[non_exhaustive]
pub struct ReplaceDiff<K> {
    /// Objects that were not in the store.
    pub added: Vec<Arc<K>>,
    /// Objects that were in the store: `(old, new)`.
    pub updated: Vec<(Arc<K>, Arc<K>)>,
    /// Objects in the store but not in the new set: their last known state.
    pub removed: Vec<Arc<K>>,
}

/// A thread-safe cache of objects keyed by [`ObjectKey`], holding `Arc<K>` so readers
/// never copy objects, with any number of named indexes.
///
/// The `Store` is the writer (a reflector or an informer owns it); give readers a
/// [`Reader`] ([`Store::reader`]). Clones share the same cache.
///
/// ```
/// use k8s_client::runtime::{ObjectKey, Store, indexers};
/// use k8s_openapi::api::core::v1::ConfigMap;
/// let store: Store<ConfigMap> = Store::new()
///     .with_indexer("app", indexers::label("app"))
///     .with_transform(|cm: &mut ConfigMap| cm.metadata.managed_fields = None);
/// let mut cm = ConfigMap::default();
/// cm.metadata.namespace = Some("default".into());
/// cm.metadata.name = Some("settings".into());
/// cm.metadata.labels = Some([("app".to_owned(), "web".to_owned())].into());
/// store.insert(cm);
/// let reader = store.reader();
/// assert!(reader.get(&ObjectKey::namespaced("default", "settings")).is_some());
/// assert_eq!(reader.by_index("app", "web").unwrap().len(), 1);
/// ```
pub struct Store<K> {
    inner: Arc<RwLock<Inner<K>>>,
    transform: Option<TransformFn<K>>,
    synced: Arc<watch::Sender<bool>>,
}

impl<K> Clone for Store<K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            transform: self.transform.clone(),
            synced: self.synced.clone(),
        }
    }
}

impl<K> fmt::Debug for Store<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = read(&self.inner);
        f.debug_struct("Store")
            .field("len", &inner.items.len())
            .field("indexes", &inner.indexers.keys().collect::<Vec<_>>())
            .field("synced", &*self.synced.borrow())
            .finish()
    }
}

impl<K> Default for Store<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// The lock is never held across user code that can panic halfway through an update, so a
/// poisoned lock still guards consistent data: recover it rather than propagate.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

impl<K> Store<K> {
    /// An empty store without indexes.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(RwLock::new(Inner {
                items: HashMap::new(),
                indexers: HashMap::new(),
                indices: HashMap::new(),
            })),
            transform: None,
            synced: Arc::new(watch::channel(false).0),
        }
    }

    /// A read-only handle to the same cache.
    pub fn reader(&self) -> Reader<K> {
        Reader {
            inner: self.inner.clone(),
            synced: self.synced.subscribe(),
        }
    }

    /// Marks the store as holding a complete list (the first list or streaming list is in).
    pub fn mark_synced(&self) {
        self.synced.send_replace(true);
    }
}

impl<K: Object> Store<K> {
    /// Adds an index named `name` (existing objects are indexed at once).
    #[must_use]
    pub fn with_indexer(self, name: &str, f: IndexFn<K>) -> Self {
        self.add_indexer(name, f);
        self
    }

    /// Adds the [`indexers::NAMESPACE`] and [`indexers::OWNER`] indexes.
    #[must_use]
    pub fn with_default_indexes(self) -> Self {
        self.with_indexer(indexers::NAMESPACE, indexers::namespace())
            .with_indexer(indexers::OWNER, indexers::owner())
    }

    /// Sets the hook applied to every object before it is stored.
    #[must_use]
    pub fn with_transform(mut self, f: impl Fn(&mut K) + Send + Sync + 'static) -> Self {
        self.transform = Some(Arc::new(f));
        self
    }

    /// Adds (or replaces) an index; existing objects are indexed at once.
    pub fn add_indexer(&self, name: &str, f: IndexFn<K>) {
        let mut inner = write(&self.inner);
        inner.indexers.insert(name.to_owned(), f.clone());
        let mut index: HashMap<String, BTreeSet<ObjectKey>> = HashMap::new();
        for (key, obj) in &inner.items {
            for value in f(obj) {
                index.entry(value).or_default().insert(key.clone());
            }
        }
        inner.indices.insert(name.to_owned(), index);
    }

    /// Applies the transform hook and wraps the object. The metadata's lists give back
    /// the spare room a decoder left in them (a cached object lives long; JSON decoding
    /// grows a one-entry `managedFields` to room for four).
    pub fn prepare(&self, mut obj: K) -> Arc<K> {
        if let Some(t) = &self.transform {
            t(&mut obj);
        }
        let meta = obj.object_meta_mut();
        if let Some(v) = &mut meta.managed_fields {
            v.shrink_to_fit();
        }
        if let Some(v) = &mut meta.finalizers {
            v.shrink_to_fit();
        }
        if let Some(v) = &mut meta.owner_references {
            v.shrink_to_fit();
        }
        Arc::new(obj)
    }

    /// Adds or replaces an object; returns the previous version.
    pub fn insert(&self, obj: K) -> Option<Arc<K>> {
        let obj = self.prepare(obj);
        self.insert_arc(obj)
    }

    /// Adds or replaces an already prepared object; returns the previous version.
    pub fn insert_arc(&self, obj: Arc<K>) -> Option<Arc<K>> {
        let key = ObjectKey::of(&*obj);
        write(&self.inner).put(key, obj)
    }

    /// Removes an object; returns its last version.
    pub fn remove(&self, key: &ObjectKey) -> Option<Arc<K>> {
        write(&self.inner).remove(key)
    }

    /// Replaces the whole content atomically with `objects` (a relist): readers see either
    /// the old or the new content, never a mix. Returns what changed.
    pub fn replace(&self, objects: Vec<K>) -> ReplaceDiff<K> {
        let prepared: Vec<Arc<K>> = objects.into_iter().map(|o| self.prepare(o)).collect();
        let mut inner = write(&self.inner);
        let mut diff = ReplaceDiff {
            added: Vec::new(),
            updated: Vec::new(),
            removed: Vec::new(),
        };
        let mut seen = std::collections::HashSet::with_capacity(prepared.len());
        for obj in prepared {
            let key = ObjectKey::of(&*obj);
            seen.insert(key.clone());
            match inner.put(key, obj.clone()) {
                Some(old) => diff.updated.push((old, obj)),
                None => diff.added.push(obj),
            }
        }
        let gone: Vec<ObjectKey> = inner
            .items
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(old) = inner.remove(&key) {
                diff.removed.push(old);
            }
        }
        diff
    }

    /// Runs `f` while holding the write lock, so no reader sees a partial change and no
    /// other writer interleaves (used to apply an event and notify atomically).
    pub(crate) fn with_write<R>(&self, f: impl FnOnce(&mut StoreWriter<'_, K>) -> R) -> R {
        let mut guard = write(&self.inner);
        f(&mut StoreWriter { inner: &mut guard })
    }
}

/// Mutable access to a store under its write lock.
pub(crate) struct StoreWriter<'a, K> {
    inner: &'a mut Inner<K>,
}

impl<K: Object> StoreWriter<'_, K> {
    pub(crate) fn put(&mut self, obj: Arc<K>) -> Option<Arc<K>> {
        let key = ObjectKey::of(&*obj);
        self.inner.put(key, obj)
    }

    pub(crate) fn remove(&mut self, key: &ObjectKey) -> Option<Arc<K>> {
        self.inner.remove(key)
    }

    pub(crate) fn all(&self) -> Vec<Arc<K>> {
        self.inner.items.values().cloned().collect()
    }
}

/// A cheap, cloneable, read-only handle to a [`Store`] (client-go's lister).
pub struct Reader<K> {
    inner: Arc<RwLock<Inner<K>>>,
    synced: watch::Receiver<bool>,
}

impl<K> Clone for Reader<K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            synced: self.synced.clone(),
        }
    }
}

impl<K> fmt::Debug for Reader<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("len", &read(&self.inner).items.len())
            .field("synced", &*self.synced.borrow())
            .finish()
    }
}

/// No index of that name is registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no index named {name:?} in this store")]
#[non_exhaustive]
pub struct UnknownIndex {
    /// The index name asked for.
    pub name: String,
}

impl<K> Reader<K> {
    /// The object stored under `key`.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        read(&self.inner).items.get(key).cloned()
    }

    /// Every object (in no particular order).
    pub fn list(&self) -> Vec<Arc<K>> {
        read(&self.inner).items.values().cloned().collect()
    }

    /// Every key, sorted.
    pub fn keys(&self) -> Vec<ObjectKey> {
        let mut keys: Vec<_> = read(&self.inner).items.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// The number of objects.
    pub fn len(&self) -> usize {
        read(&self.inner).items.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The objects whose index `index` contains `value`.
    pub fn by_index(&self, index: &str, value: &str) -> Result<Vec<Arc<K>>, UnknownIndex> {
        let inner = read(&self.inner);
        let idx = inner.indices.get(index).ok_or_else(|| UnknownIndex {
            name: index.to_owned(),
        })?;
        Ok(idx
            .get(value)
            .into_iter()
            .flatten()
            .filter_map(|k| inner.items.get(k).cloned())
            .collect())
    }

    /// The keys whose index `index` contains `value`, sorted.
    pub fn index_keys(&self, index: &str, value: &str) -> Result<Vec<ObjectKey>, UnknownIndex> {
        let inner = read(&self.inner);
        let idx = inner.indices.get(index).ok_or_else(|| UnknownIndex {
            name: index.to_owned(),
        })?;
        Ok(idx.get(value).into_iter().flatten().cloned().collect())
    }

    /// The values present in index `index`, sorted.
    pub fn index_values(&self, index: &str) -> Result<Vec<String>, UnknownIndex> {
        let inner = read(&self.inner);
        let idx = inner.indices.get(index).ok_or_else(|| UnknownIndex {
            name: index.to_owned(),
        })?;
        let mut values: Vec<_> = idx.keys().cloned().collect();
        values.sort();
        Ok(values)
    }

    /// Whether the first complete list has been stored.
    pub fn has_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits until the first complete list has been stored: `true`; `false` when every
    /// writer ([`Store`]) was dropped before that happened (nothing will ever sync).
    pub async fn wait_until_synced(&self) -> bool {
        let mut rx = self.synced.clone();
        rx.wait_for(|s| *s).await.is_ok()
    }
}
