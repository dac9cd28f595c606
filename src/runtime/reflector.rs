//! [`Reflector`]: keeps a [`Store`] equal to the server's collection — list (paginated or
//! streaming), watch, resume, relist on 410 — with client-go's semantics.

use super::backoff::Backoff;
use super::listwatch::{EventStream, ListWatch};
use super::object::{Object, ObjectKey};
use super::store::Store;
use crate::api::{ListParams, WatchEvent, WatchParams};
use crate::error::Error;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A change the reflector applied to its store, as informer handlers see it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Change<K> {
    /// An object appeared.
    Added(Arc<K>),
    /// An object changed (or a periodic resync: `old` and `new` are the same `Arc`).
    Updated {
        /// The version the store held.
        old: Arc<K>,
        /// The version it holds now.
        new: Arc<K>,
    },
    /// An object went away.
    Deleted(Deletion<K>),
}

impl<K> Clone for Change<K> {
    fn clone(&self) -> Self {
        match self {
            Change::Added(o) => Change::Added(o.clone()),
            Change::Updated { old, new } => Change::Updated {
                old: old.clone(),
                new: new.clone(),
            },
            Change::Deleted(d) => Change::Deleted(d.clone()),
        }
    }
}

/// How a deletion was learnt.
#[derive(Debug)]
#[non_exhaustive]
pub enum Deletion<K> {
    /// A `DELETED` watch event: the object's final state.
    Observed(Arc<K>),
    /// The object vanished while the watch was disconnected (seen on a relist): only its
    /// last known state is available — client-go's `DeletedFinalStateUnknown`.
    Tombstone(Tombstone<K>),
}

impl<K> Clone for Deletion<K> {
    fn clone(&self) -> Self {
        match self {
            Deletion::Observed(o) => Deletion::Observed(o.clone()),
            Deletion::Tombstone(t) => Deletion::Tombstone(t.clone()),
        }
    }
}

impl<K> Deletion<K> {
    /// The object (final or last known state).
    pub fn object(&self) -> &Arc<K> {
        match self {
            Deletion::Observed(o) => o,
            Deletion::Tombstone(t) => &t.last_known,
        }
    }

    /// Whether the deletion was missed and only inferred from a relist.
    pub fn is_tombstone(&self) -> bool {
        matches!(self, Deletion::Tombstone(_))
    }
}

/// An object deleted while the watch was disconnected.
#[derive(Debug)]
#[non_exhaustive]
pub struct Tombstone<K> {
    /// Its key.
    pub key: ObjectKey,
    /// The last state the store had.
    pub last_known: Arc<K>,
}

impl<K> Clone for Tombstone<K> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            last_known: self.last_known.clone(),
        }
    }
}

/// Receives every change while the store's write lock is held, so the store and what the
/// receiver saw never disagree; `ready` is awaited after each batch (backpressure).
pub(crate) trait Dispatch<K>: Send + Sync {
    fn notify(&self, change: Change<K>);
    fn ready(&self) -> futures_util::future::BoxFuture<'_, ()>;
}

struct NoDispatch;

impl<K> Dispatch<K> for NoDispatch {
    fn notify(&self, _: Change<K>) {}
    fn ready(&self) -> futures_util::future::BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// How a reflector lists and watches.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReflectorConfig {
    /// Selectors, bookmarks (on by default) and the maximum event size of the watches;
    /// `timeout_seconds` unset means client-go's choice, a random 5–10 minutes per watch.
    pub watch: WatchParams,
    /// Page size of the initial list and relists (client-go: 500).
    pub page_size: u32,
    /// Use a streaming list (`sendInitialEvents`, Kubernetes' `WatchList`) instead of a
    /// paginated list. Falls back to a paginated list when the server refuses it.
    pub streaming_list: bool,
    /// Re-deliver every cached object as an update this often (`None`: never).
    pub resync: Option<Duration>,
    /// Backoff between failed attempts (client-go: 800 ms → 30 s with jitter).
    pub backoff: Backoff,
}

impl Default for ReflectorConfig {
    fn default() -> Self {
        Self {
            watch: WatchParams::default(),
            page_size: 500,
            streaming_list: false,
            resync: None,
            backoff: Backoff::reflector(),
        }
    }
}

impl ReflectorConfig {
    /// Restricts to objects matching a label selector.
    #[must_use]
    pub fn labels(mut self, selector: &str) -> Self {
        self.watch.label_selector = Some(selector.to_owned());
        self
    }

    /// Restricts to objects matching a field selector.
    #[must_use]
    pub fn fields(mut self, selector: &str) -> Self {
        self.watch.field_selector = Some(selector.to_owned());
        self
    }

    /// Sets the periodic resync.
    #[must_use]
    pub fn resync(mut self, every: Duration) -> Self {
        self.resync = Some(every);
        self
    }

    /// Uses a streaming list instead of a paginated one.
    #[must_use]
    pub fn streaming_list(mut self) -> Self {
        self.streaming_list = true;
        self
    }

    /// Sets the backoff between failed attempts.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the list page size.
    #[must_use]
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size.max(1);
        self
    }
}

/// Keeps a [`Store`] equal to the server's collection.
///
/// * Initial list: paginated (500 per page) or, with
///   [`ReflectorConfig::streaming_list`], a watch with `sendInitialEvents` that ends its
///   initial state with a bookmark. The store is replaced atomically and marked synced.
/// * Watch from the list's `resourceVersion`, with bookmarks; when the server ends a
///   watch, watch again from the last version seen (bookmarks included).
/// * 410 Gone (the version was compacted): relist; objects that vanished meanwhile are
///   delivered as [`Deletion::Tombstone`].
/// * Failures — and a "very short watch" that ends within a second without any event —
///   wait a jittered exponential backoff (800 ms → 30 s) before the next attempt.
///
/// ```no_run
/// # async fn demo(client: k8s_client::Client) {
/// use k8s_client::api::Api;
/// use k8s_client::runtime::{Reflector, ReflectorConfig, Store};
/// use k8s_openapi::api::core::v1::Pod;
/// let store = Store::<Pod>::new();
/// let reader = store.reader();
/// let reflector = Reflector::new(Api::<Pod>::all(client), store, ReflectorConfig::default());
/// tokio::spawn(reflector.run());
/// reader.wait_until_synced().await;
/// println!("{} pods", reader.len());
/// # }
/// ```
pub struct Reflector<K: Object, L> {
    lw: L,
    store: Store<K>,
    config: ReflectorConfig,
}

impl<K: Object, L> fmt::Debug for Reflector<K, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reflector")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

enum Start<K> {
    Listed(String),
    Streaming(String, EventStream<K>),
}

enum WatchEnd {
    Relist,
}

/// Why a list or watch attempt failed (logged, then retried after the backoff).
enum Failure {
    Request(Error),
    /// An `ERROR` watch event other than 410.
    Status(crate::error::Status),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Request(e)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Request(e) => e.fmt(f),
            Failure::Status(s) => write!(
                f,
                "the server ended the watch with an ERROR event (code {}, reason {})",
                s.code.unwrap_or_default(),
                s.reason.as_deref().unwrap_or("none"),
            ),
        }
    }
}

impl<K: Object, L: ListWatch<K>> Reflector<K, L> {
    /// A reflector filling `store` from `lw`.
    pub fn new(lw: L, store: Store<K>, config: ReflectorConfig) -> Self {
        Self { lw, store, config }
    }

    /// Runs until dropped (the future never completes: abort the task or drop it to stop).
    pub async fn run(self) {
        self.run_with(&NoDispatch).await;
    }

    pub(crate) async fn run_with(mut self, d: &dyn Dispatch<K>) {
        let mut streaming = self.config.streaming_list;
        loop {
            let start = if streaming {
                match self.streaming_list(d).await {
                    Ok(Some(s)) => Ok(s),
                    Ok(None) => {
                        let delay = self.config.backoff.next_delay();
                        tracing::warn!(collection = %self.lw.collection(), ?delay,
                            "reflector: streaming list ended before its initial events; retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    Err(Failure::Request(e)) if refused(&e) => {
                        tracing::info!(collection = %self.lw.collection(), error = %e,
                            "reflector: streaming list refused; using paginated lists");
                        streaming = false;
                        continue;
                    }
                    Err(e) => Err(e),
                }
            } else {
                self.list(d)
                    .await
                    .map(Start::Listed)
                    .map_err(Failure::Request)
            };
            let (rv, stream) = match start {
                Ok(Start::Listed(rv)) => (rv, None),
                Ok(Start::Streaming(rv, s)) => (rv, Some(s)),
                Err(e) => {
                    let delay = self.config.backoff.next_delay();
                    tracing::warn!(collection = %self.lw.collection(), error = %e, ?delay,
                        "reflector: list failed; retrying");
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
            let WatchEnd::Relist = self.watch_loop(rv, stream, d).await;
            let delay = self.config.backoff.next_delay();
            tracing::debug!(collection = %self.lw.collection(), ?delay,
                "reflector: resourceVersion expired; relisting");
            tokio::time::sleep(delay).await;
        }
    }

    /// A paginated list, then an atomic replace; returns the list's version.
    async fn list(&mut self, d: &dyn Dispatch<K>) -> Result<String, Error> {
        let mut lp = ListParams {
            label_selector: self.config.watch.label_selector.clone(),
            field_selector: self.config.watch.field_selector.clone(),
            limit: Some(self.config.page_size),
            ..ListParams::default()
        };
        let mut items = Vec::new();
        let mut rv = None;
        loop {
            let page = self.lw.list(&lp).await?;
            if rv.is_none() {
                rv = page.resource_version().map(str::to_owned);
            }
            let next = page.continue_token().map(str::to_owned);
            items.extend(page.items);
            match next {
                Some(token) => lp.continue_token = Some(token),
                None => break,
            }
        }
        self.replace(items, d).await;
        Ok(rv.unwrap_or_default())
    }

    /// A streaming list: initial `ADDED` events until the initial-events-end bookmark, then
    /// an atomic replace; returns the bookmark's version and the still open watch, or
    /// `None` when the watch ended before the bookmark.
    async fn streaming_list(&mut self, d: &dyn Dispatch<K>) -> Result<Option<Start<K>>, Failure> {
        let wp = self.watch_params().initial_events();
        let mut events = self.lw.watch(&wp, "").await?;
        let mut items: HashMap<ObjectKey, K> = HashMap::new();
        while let Some(ev) = events.next().await {
            match ev? {
                WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                    items.insert(ObjectKey::of(&o), o);
                }
                WatchEvent::Deleted(o) => {
                    items.remove(&ObjectKey::of(&o));
                }
                WatchEvent::Bookmark(b) if b.is_initial_events_end() => {
                    self.replace(items.into_values().collect(), d).await;
                    return Ok(Some(Start::Streaming(
                        b.resource_version().to_owned(),
                        events,
                    )));
                }
                WatchEvent::Bookmark(_) => {}
                WatchEvent::Error(status) => {
                    return Err(Failure::Status(status));
                }
            }
        }
        Ok(None)
    }

    async fn replace(&mut self, items: Vec<K>, d: &dyn Dispatch<K>) {
        let prepared: Vec<Arc<K>> = items.into_iter().map(|o| self.store.prepare(o)).collect();
        self.store.with_write(|w| {
            let mut fresh = std::collections::HashSet::with_capacity(prepared.len());
            for obj in prepared {
                fresh.insert(ObjectKey::of(&*obj));
                match w.put(obj.clone()) {
                    None => d.notify(Change::Added(obj)),
                    Some(old) => {
                        let rv = |o: &Arc<K>| o.object_meta().resource_version.clone();
                        if rv(&old) != rv(&obj) {
                            d.notify(Change::Updated { old, new: obj });
                        }
                    }
                }
            }
            for obj in w.all() {
                let key = ObjectKey::of(&*obj);
                if !fresh.contains(&key) {
                    w.remove(&key);
                    d.notify(Change::Deleted(Deletion::Tombstone(Tombstone {
                        key,
                        last_known: obj,
                    })));
                }
            }
        });
        self.store.mark_synced();
        d.ready().await;
    }

    fn watch_params(&self) -> WatchParams {
        let mut wp = self.config.watch.clone();
        // Initial events only for the streaming list, never on a resumed watch.
        wp.send_initial_events = false;
        if wp.timeout_seconds.is_none() {
            // client-go: minWatchTimeout (5 min) × (1 + rand), spreading reconnects out.
            let secs = 300.0 * (1.0 + super::backoff::random_unit());
            wp.timeout_seconds = Some(secs as u32);
        }
        wp
    }

    async fn watch_loop(
        &mut self,
        mut rv: String,
        mut open: Option<EventStream<K>>,
        d: &dyn Dispatch<K>,
    ) -> WatchEnd {
        let mut resync = self.config.resync.map(|p| {
            let mut i = tokio::time::interval_at(tokio::time::Instant::now() + p, p);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        loop {
            let started = Instant::now();
            let mut events = match open.take() {
                Some(s) => s,
                None => match self.lw.watch(&self.watch_params(), &rv).await {
                    Ok(s) => s,
                    Err(e) if e.is_gone() => return WatchEnd::Relist,
                    Err(e) => {
                        let delay = self.config.backoff.next_delay();
                        tracing::warn!(collection = %self.lw.collection(), error = %e, ?delay,
                            "reflector: watch failed; retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                },
            };
            let mut saw_event = false;
            let failure = loop {
                let next = tokio::select! {
                    ev = events.next() => ev,
                    _ = tick(&mut resync) => {
                        self.store.with_write(|w| {
                            for o in w.all() {
                                d.notify(Change::Updated { old: o.clone(), new: o });
                            }
                        });
                        d.ready().await;
                        continue;
                    }
                };
                match next {
                    None => break None,
                    Some(Ok(ev)) => {
                        saw_event = true;
                        if let Err(e) = self.apply(ev, &mut rv, d).await {
                            break Some(e);
                        }
                    }
                    Some(Err(e)) if e.is_gone() => return WatchEnd::Relist,
                    Some(Err(e)) => break Some(Failure::Request(e)),
                }
            };
            match failure {
                None if !saw_event && started.elapsed() < Duration::from_secs(1) => {
                    let delay = self.config.backoff.next_delay();
                    tracing::warn!(collection = %self.lw.collection(), ?delay,
                        "reflector: very short watch (ended within 1 s without events); retrying");
                    tokio::time::sleep(delay).await;
                }
                None => {
                    tracing::debug!(collection = %self.lw.collection(), resource_version = %rv,
                        "reflector: watch ended; resuming");
                }
                Some(e) => {
                    let delay = self.config.backoff.next_delay();
                    tracing::warn!(collection = %self.lw.collection(), error = %e, ?delay,
                        "reflector: watch failed; resuming");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn apply(
        &mut self,
        ev: WatchEvent<K>,
        rv: &mut String,
        d: &dyn Dispatch<K>,
    ) -> Result<(), Failure> {
        let obj = match ev {
            WatchEvent::Bookmark(b) => {
                b.resource_version().clone_into(rv);
                return Ok(());
            }
            WatchEvent::Error(status) => return Err(Failure::Status(status)),
            WatchEvent::Added(o) | WatchEvent::Modified(o) => Ok(o),
            WatchEvent::Deleted(o) => Err(o),
        };
        match obj {
            Ok(o) => {
                let o = self.store.prepare(o);
                if let Some(v) = &o.object_meta().resource_version {
                    v.clone_into(rv);
                }
                self.store.with_write(|w| match w.put(o.clone()) {
                    None => d.notify(Change::Added(o)),
                    Some(old) => d.notify(Change::Updated { old, new: o }),
                });
            }
            Err(o) => {
                let o = self.store.prepare(o);
                if let Some(v) = &o.object_meta().resource_version {
                    v.clone_into(rv);
                }
                let key = ObjectKey::of(&*o);
                self.store.with_write(|w| {
                    w.remove(&key);
                    d.notify(Change::Deleted(Deletion::Observed(o)));
                });
            }
        }
        d.ready().await;
        Ok(())
    }
}

async fn tick(resync: &mut Option<tokio::time::Interval>) {
    match resync {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The server does not do streaming lists (an old server, or the feature is off).
fn refused(e: &Error) -> bool {
    matches!(e.code(), Some(400 | 403 | 405 | 415 | 422 | 501))
}
