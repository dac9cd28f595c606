//! [`SharedInformer`]: one reflector (one list + watch) per collection, fanned out to any
//! number of event handlers, each with its own bounded buffer and task.

use super::listwatch::ListWatch;
use super::object::Object;
use super::reflector::{Change, Deletion, Dispatch, Reflector, ReflectorConfig};
use super::store::{IndexFn, Reader, Store};
use futures_util::future::BoxFuture;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Default number of events buffered per handler before the informer waits for it.
pub const DEFAULT_HANDLER_BUFFER: usize = 1024;

/// Receives an informer's events. Methods run on the handler's own task, one event at a
/// time, in order; keep them quick (enqueue a key, update a metric) — a slow handler
/// only fills its own buffer, see [`SharedInformer`].
pub trait EventHandler<K>: Send + Sync + 'static {
    /// An object appeared (also: every cached object, for a handler added after sync).
    fn on_add(&self, obj: &Arc<K>) {
        let _ = obj;
    }
    /// An object changed; `old` and `new` are the same `Arc` on a periodic resync.
    fn on_update(&self, old: &Arc<K>, new: &Arc<K>) {
        let _ = (old, new);
    }
    /// An object was deleted ([`Deletion::Tombstone`] when the deletion was missed while
    /// disconnected and only inferred on a relist).
    fn on_delete(&self, deletion: &Deletion<K>) {
        let _ = deletion;
    }
}

type AddFn<K> = Box<dyn Fn(&Arc<K>) + Send + Sync>;
type UpdateFn<K> = Box<dyn Fn(&Arc<K>, &Arc<K>) + Send + Sync>;
type DeleteFn<K> = Box<dyn Fn(&Deletion<K>) + Send + Sync>;

/// An [`EventHandler`] made of closures.
///
/// ```
/// use k8s_client::runtime::HandlerFns;
/// use k8s_openapi::api::core::v1::Pod;
/// let handler = HandlerFns::<Pod>::new()
///     .on_add(|pod| println!("added {:?}", pod.metadata.name))
///     .on_delete(|d| println!("deleted {:?} (missed: {})", d.object().metadata.name, d.is_tombstone()));
/// ```
pub struct HandlerFns<K> {
    add: Option<AddFn<K>>,
    update: Option<UpdateFn<K>>,
    delete: Option<DeleteFn<K>>,
}

impl<K> Default for HandlerFns<K> {
    fn default() -> Self {
        Self {
            add: None,
            update: None,
            delete: None,
        }
    }
}

impl<K> fmt::Debug for HandlerFns<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerFns")
            .field("add", &self.add.is_some())
            .field("update", &self.update.is_some())
            .field("delete", &self.delete.is_some())
            .finish()
    }
}

impl<K> HandlerFns<K> {
    /// A handler that ignores everything (add closures with the methods below).
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the add closure.
    #[must_use]
    pub fn on_add(mut self, f: impl Fn(&Arc<K>) + Send + Sync + 'static) -> Self {
        self.add = Some(Box::new(f));
        self
    }
    /// Sets the update closure.
    #[must_use]
    pub fn on_update(mut self, f: impl Fn(&Arc<K>, &Arc<K>) + Send + Sync + 'static) -> Self {
        self.update = Some(Box::new(f));
        self
    }
    /// Sets the delete closure.
    #[must_use]
    pub fn on_delete(mut self, f: impl Fn(&Deletion<K>) + Send + Sync + 'static) -> Self {
        self.delete = Some(Box::new(f));
        self
    }
}

impl<K: Send + Sync + 'static> EventHandler<K> for HandlerFns<K> {
    fn on_add(&self, obj: &Arc<K>) {
        if let Some(f) = &self.add {
            f(obj);
        }
    }
    fn on_update(&self, old: &Arc<K>, new: &Arc<K>) {
        if let Some(f) = &self.update {
            f(old, new);
        }
    }
    fn on_delete(&self, deletion: &Deletion<K>) {
        if let Some(f) = &self.delete {
            f(deletion);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One handler's buffer.
struct Listener<K> {
    id: u64,
    queue: Mutex<VecDeque<Change<K>>>,
    /// Wakes the handler task.
    pending: Notify,
    /// Wakes a dispatcher waiting for room.
    room: Notify,
    capacity: usize,
    stop: CancellationToken,
}

impl<K> Listener<K> {
    fn push(&self, change: Change<K>) {
        lock(&self.queue).push_back(change);
        self.pending.notify_one();
    }

    async fn wait_for_room(&self) {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if lock(&self.queue).len() < self.capacity || self.stop.is_cancelled() {
                return;
            }
            tokio::select! {
                _ = room => {}
                _ = self.stop.cancelled() => return,
            }
        }
    }
}

async fn run_listener<K: Send + Sync + 'static>(
    listener: Arc<Listener<K>>,
    handler: Arc<dyn EventHandler<K>>,
) {
    loop {
        let next = lock(&listener.queue).pop_front();
        match next {
            Some(change) => {
                listener.room.notify_waiters();
                // A panicking handler must not stop its task: the informer would then
                // wait for room in its buffer forever.
                let delivered =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &change {
                        Change::Added(o) => handler.on_add(o),
                        Change::Updated { old, new } => handler.on_update(old, new),
                        Change::Deleted(d) => handler.on_delete(d),
                    }));
                if delivered.is_err() {
                    tracing::error!("informer: an event handler panicked; event skipped");
                }
            }
            None => {
                listener.room.notify_waiters();
                tokio::select! {
                    _ = listener.pending.notified() => {}
                    _ = listener.stop.cancelled() => return,
                }
            }
        }
    }
}

struct Shared<K> {
    store: Store<K>,
    listeners: Mutex<Vec<Arc<Listener<K>>>>,
    next_id: AtomicU64,
    buffer: std::sync::atomic::AtomicUsize,
    stop: CancellationToken,
    collection: String,
}

impl<K: Object> Dispatch<K> for Shared<K> {
    fn notify(&self, change: Change<K>) {
        for l in lock(&self.listeners).iter() {
            l.push(change.clone());
        }
    }

    fn ready(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let listeners: Vec<_> = lock(&self.listeners).clone();
            for l in listeners {
                l.wait_for_room().await;
            }
        })
    }
}

type Starter<K> = Box<dyn FnOnce(Arc<Shared<K>>) -> BoxFuture<'static, ()> + Send>;

/// Cancels the informer when the last handle is dropped.
struct StopOnDrop(CancellationToken);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Identifies a handler added with [`SharedInformer::add_handler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandlerId(u64);

/// One list + watch of a collection, shared by any number of event handlers.
///
/// * [`add_handler`](Self::add_handler) at any time: a handler added after the cache
///   filled gets a synthetic `on_add` for every cached object first, then live events —
///   never a gap or a duplicate (the snapshot and the switch to live events happen under
///   the store's lock).
/// * Each handler has its own task and a bounded buffer (default
///   [`DEFAULT_HANDLER_BUFFER`] events). A slow handler delays no one until its buffer is
///   full; then the informer waits for it (backpressure on the watch) rather than growing
///   memory without bound — client-go instead grows the buffer without limit.
/// * [`reader`](Self::reader) gives the cache; [`wait_until_synced`](Self::wait_until_synced)
///   waits for the first complete list.
/// * Clones share the informer; dropping the last clone (or [`stop`](Self::stop)) stops
///   the watch and the handler tasks.
///
/// ```no_run
/// # async fn demo(client: k8s_client::Client) {
/// use k8s_client::api::Api;
/// use k8s_client::runtime::{HandlerFns, ReflectorConfig, SharedInformer};
/// use k8s_openapi::api::core::v1::Pod;
/// let informer = SharedInformer::new(Api::<Pod>::all(client), ReflectorConfig::default());
/// informer.add_handler(HandlerFns::new().on_add(|p: &std::sync::Arc<Pod>| {
///     println!("{:?}", p.metadata.name)
/// }));
/// informer.start();
/// informer.wait_until_synced().await;
/// # }
/// ```
pub struct SharedInformer<K: Object> {
    shared: Arc<Shared<K>>,
    starter: Arc<Mutex<Option<Starter<K>>>>,
    _stop_on_drop: Arc<StopOnDrop>,
}

impl<K: Object> Clone for SharedInformer<K> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            starter: self.starter.clone(),
            _stop_on_drop: self._stop_on_drop.clone(),
        }
    }
}

impl<K: Object> fmt::Debug for SharedInformer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedInformer")
            .field("collection", &self.shared.collection)
            .field("store", &self.shared.store)
            .field("handlers", &lock(&self.shared.listeners).len())
            .finish()
    }
}

impl<K: Object> SharedInformer<K> {
    /// An informer over `lw` with a fresh store (not started yet).
    pub fn new<L: ListWatch<K>>(lw: L, config: ReflectorConfig) -> Self {
        Self::with_store(lw, Store::new(), config)
    }

    /// An informer filling `store` (set indexes and a transform on it first).
    pub fn with_store<L: ListWatch<K>>(lw: L, store: Store<K>, config: ReflectorConfig) -> Self {
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            store: store.clone(),
            listeners: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            buffer: std::sync::atomic::AtomicUsize::new(DEFAULT_HANDLER_BUFFER),
            stop: stop.clone(),
            collection: lw.collection().to_owned(),
        });
        let reflector = Reflector::new(lw, store, config);
        let starter: Starter<K> = Box::new(move |shared: Arc<Shared<K>>| {
            Box::pin(async move {
                let stop = shared.stop.clone();
                tokio::select! {
                    _ = reflector.run_with(&*shared) => {}
                    _ = stop.cancelled() => {}
                }
            })
        });
        Self {
            shared,
            starter: Arc::new(Mutex::new(Some(starter))),
            _stop_on_drop: Arc::new(StopOnDrop(stop)),
        }
    }

    /// Sets the per-handler buffer (in events, at least 1) of handlers added from now on.
    #[must_use]
    pub fn handler_buffer(self, events: usize) -> Self {
        self.shared.buffer.store(events.max(1), Ordering::Relaxed);
        self
    }

    /// Starts the list + watch (once; later calls do nothing). Needs a Tokio runtime.
    pub fn start(&self) {
        if let Some(starter) = lock(&self.starter).take() {
            tokio::spawn(starter(self.shared.clone()));
        }
    }

    /// Stops the watch and every handler task, for every clone; a stopped informer does
    /// not start again (create a new one).
    pub fn stop(&self) {
        self.shared.stop.cancel();
    }

    /// The collection this informer watches.
    pub fn collection(&self) -> &str {
        &self.shared.collection
    }

    /// A reader of the cache.
    pub fn reader(&self) -> Reader<K> {
        self.shared.store.reader()
    }

    /// Adds an index to the cache (existing objects are indexed at once).
    pub fn add_indexer(&self, name: &str, f: IndexFn<K>) {
        self.shared.store.add_indexer(name, f);
    }

    /// Whether the first complete list is in the cache.
    pub fn has_synced(&self) -> bool {
        self.reader().has_synced()
    }

    /// Waits for the first complete list (`false` if the informer was dropped first).
    pub async fn wait_until_synced(&self) -> bool {
        self.reader().wait_until_synced().await
    }

    /// Adds a handler; see the type's documentation for what it receives.
    pub fn add_handler(&self, handler: impl EventHandler<K>) -> HandlerId {
        let handler: Arc<dyn EventHandler<K>> = Arc::new(handler);
        let listener = Arc::new(Listener {
            id: self.shared.next_id.fetch_add(1, Ordering::Relaxed),
            queue: Mutex::new(VecDeque::new()),
            pending: Notify::new(),
            room: Notify::new(),
            capacity: self.shared.buffer.load(Ordering::Relaxed),
            stop: self.shared.stop.child_token(),
        });
        self.shared.store.with_write(|w| {
            for obj in w.all() {
                listener.push(Change::Added(obj));
            }
            lock(&self.shared.listeners).push(listener.clone());
        });
        let id = HandlerId(listener.id);
        tokio::spawn(run_listener(listener, handler));
        id
    }

    /// Removes a handler (its task ends; buffered events are dropped).
    pub fn remove_handler(&self, id: HandlerId) -> bool {
        let mut listeners = lock(&self.shared.listeners);
        let before = listeners.len();
        listeners.retain(|l| {
            let keep = l.id != id.0;
            if !keep {
                l.stop.cancel();
            }
            keep
        });
        before != listeners.len()
    }
}
