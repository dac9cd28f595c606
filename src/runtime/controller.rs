//! [`Controller`]: the reconcile loop — informers feed a work queue of keys, workers run
//! your `reconcile` for one key at a time, failures back off through the queue's rate
//! limiter.

use super::factory::InformerFactory;
use super::informer::{HandlerFns, SharedInformer};
use super::object::{Object, ObjectKey};
use super::queue::WorkQueue;
use super::reflector::ReflectorConfig;
use super::store::Reader;
use crate::api::{Api, Resource};
use futures_util::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What to do after a successful reconcile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Action {
    requeue_after: Option<Duration>,
}

impl Action {
    /// Nothing more: the next change of a watched object triggers the next reconcile.
    pub fn done() -> Self {
        Self::default()
    }

    /// Reconcile this key again after `delay` (e.g. to poll an external system).
    pub fn requeue_after(delay: Duration) -> Self {
        Self {
            requeue_after: Some(delay),
        }
    }

    /// The requested delay, if any.
    pub fn requeue_delay(&self) -> Option<Duration> {
        self.requeue_after
    }
}

/// What one reconcile is about: a key, and the object cached under it (`None` when the
/// object is gone — deleted, or filtered out).
#[derive(Debug)]
#[non_exhaustive]
pub struct Request<K> {
    /// The key taken from the queue.
    pub key: ObjectKey,
    /// The cached object at the time the reconcile starts.
    pub object: Option<Arc<K>>,
}

type Trigger = Box<dyn Fn(&WorkQueue<ObjectKey>) + Send>;

/// A controller for objects of type `K`.
///
/// * Triggers: every add, update and delete of a `K` queues its key;
///   [`owns`](Self::owns) maps events of owned objects to their owner (by
///   `ownerReferences` of `K`'s kind); [`watches`](Self::watches) maps events of related
///   objects through your function. Keys are de-duplicated while queued.
/// * Workers ([`workers`](Self::workers), default 1) start once every informer has
///   synced. One key is never reconciled by two workers at once.
/// * `Ok(action)` forgets the key's failures ([`Action::requeue_after`] queues it again
///   later); `Err` (or a panic) logs and re-queues the key through the rate limiter
///   (client-go's default: per-key 5 ms doubling to 1000 s, overall 10 qps / burst 100).
/// * Shutdown: when the `shutdown` future of [`run`](Self::run) completes, in-flight
///   reconciles finish, queued keys are dropped (a restart lists everything again), and
///   the informers stop.
///
/// ```no_run
/// # async fn demo(client: k8s_client::Client) {
/// use k8s_client::api::Api;
/// use k8s_client::runtime::{Action, Controller, ReflectorConfig};
/// use k8s_openapi::api::core::v1::ConfigMap;
/// let controller = Controller::new(Api::<ConfigMap>::all(client), ReflectorConfig::default());
/// controller
///     .workers(4)
///     .run(
///         |req| async move {
///             println!("reconciling {}", req.key);
///             Ok::<_, std::convert::Infallible>(Action::done())
///         },
///         tokio::signal::ctrl_c(),
///     )
///     .await;
/// # }
/// ```
pub struct Controller<K: Object> {
    informer: SharedInformer<K>,
    owner_kind: String,
    owner_api_version: String,
    owner_namespaced: bool,
    queue: WorkQueue<ObjectKey>,
    workers: usize,
    triggers: Vec<Trigger>,
    waits: Vec<futures_util::future::BoxFuture<'static, bool>>,
    stops: Vec<Box<dyn Fn() + Send>>,
}

impl<K: Object> fmt::Debug for Controller<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controller")
            .field("informer", &self.informer)
            .field("workers", &self.workers)
            .field("related", &self.triggers.len())
            .finish_non_exhaustive()
    }
}

fn key_handler<C: Object>(
    queue: &WorkQueue<ObjectKey>,
    map: impl Fn(&C) -> Vec<ObjectKey> + Send + Sync + 'static,
) -> HandlerFns<C> {
    let map = Arc::new(map);
    let (q1, q2, q3) = (queue.clone(), queue.clone(), queue.clone());
    let (m1, m2, m3) = (map.clone(), map.clone(), map);
    HandlerFns::new()
        .on_add(move |o: &Arc<C>| m1(o).into_iter().for_each(|k| q1.add(k)))
        .on_update(move |old: &Arc<C>, new: &Arc<C>| {
            let mut keys = m2(old);
            keys.extend(m2(new));
            keys.into_iter().for_each(|k| q2.add(k));
        })
        .on_delete(move |d| m3(d.object()).into_iter().for_each(|k| q3.add(k)))
}

impl<K> Controller<K>
where
    K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// A controller of the objects of `api` (its own informer).
    pub fn new(api: Api<K>, config: ReflectorConfig) -> Self {
        let dt = api.dyntype().clone();
        Self::with_informer(
            SharedInformer::new(api, config),
            &K::kind(&dt),
            &K::api_version(&dt),
            K::namespaced(&dt),
        )
    }

    /// A controller of the objects of `api`, with the informer from `factory` (shared
    /// with whoever else asks the factory for it; [`run`](Self::run) stops it when it
    /// returns).
    pub fn with_factory(factory: &InformerFactory, api: Api<K>, config: ReflectorConfig) -> Self {
        let dt = api.dyntype().clone();
        Self::with_informer(
            factory.informer(api, config),
            &K::kind(&dt),
            &K::api_version(&dt),
            K::namespaced(&dt),
        )
    }
}

impl<K: Object> Controller<K> {
    /// A controller over an existing informer of objects of kind `kind` in `api_version`,
    /// namespaced or cluster-scoped (used to match `ownerReferences`).
    pub fn with_informer(
        informer: SharedInformer<K>,
        kind: &str,
        api_version: &str,
        namespaced: bool,
    ) -> Self {
        let queue = WorkQueue::new();
        Self {
            owner_kind: kind.to_owned(),
            owner_api_version: api_version.to_owned(),
            owner_namespaced: namespaced,
            queue,
            workers: 1,
            triggers: Vec::new(),
            waits: Vec::new(),
            stops: Vec::new(),
            informer,
        }
    }

    /// Uses this queue (e.g. with another rate limiter or a metrics hook).
    #[must_use]
    pub fn with_queue(mut self, queue: WorkQueue<ObjectKey>) -> Self {
        self.queue = queue;
        self
    }

    /// Runs `n` workers (at least 1).
    #[must_use]
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// The work queue: add keys from your own triggers.
    pub fn queue(&self) -> &WorkQueue<ObjectKey> {
        &self.queue
    }

    /// The cache of primary objects.
    pub fn reader(&self) -> Reader<K> {
        self.informer.reader()
    }

    /// Reconciles the owner when an object of `informer` changes: every
    /// `ownerReference` of this controller's kind and API version names an owner (in the
    /// owned object's namespace when the owner kind is namespaced — owner references
    /// never cross namespaces — else cluster-scoped).
    #[must_use]
    pub fn owns<C: Object>(self, informer: SharedInformer<C>) -> Self {
        let (kind, api_version) = (self.owner_kind.clone(), self.owner_api_version.clone());
        let namespaced = self.owner_namespaced;
        self.watches(informer, move |c: &C| {
            let meta = c.object_meta();
            meta.owner_references
                .iter()
                .flatten()
                .filter(|r| r.kind == kind && r.api_version == api_version)
                .map(|r| ObjectKey {
                    namespace: meta
                        .namespace
                        .clone()
                        .filter(|n| namespaced && !n.is_empty()),
                    name: r.name.clone(),
                })
                .collect()
        })
    }

    /// Reconciles the keys `map` returns when an object of `informer` changes (on an
    /// update, the keys of both the old and the new version).
    #[must_use]
    pub fn watches<C: Object>(
        mut self,
        informer: SharedInformer<C>,
        map: impl Fn(&C) -> Vec<ObjectKey> + Send + Sync + 'static,
    ) -> Self {
        let map = Arc::new(map);
        let inf = informer.clone();
        self.triggers.push(Box::new(move |queue| {
            let map = map.clone();
            inf.add_handler(key_handler(queue, move |c: &C| map(c)));
            inf.start();
        }));
        let reader = informer.reader();
        self.waits
            .push(Box::pin(async move { reader.wait_until_synced().await }));
        self.stops.push(Box::new(move || informer.stop()));
        self
    }

    /// Starts the informers, waits for their caches, runs the workers until `shutdown`
    /// completes, then finishes in-flight reconciles and stops.
    ///
    /// `reconcile` errors are logged (with the key and the retry count) and retried with
    /// backoff.
    pub async fn run<F, Fut, E>(self, reconcile: F, shutdown: impl Future)
    where
        F: Fn(Request<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        let Controller {
            informer,
            queue,
            workers,
            triggers,
            waits,
            stops,
            ..
        } = self;
        informer.add_handler(key_handler(&queue, |o: &K| vec![ObjectKey::of(o)]));
        informer.start();
        for t in &triggers {
            t(&queue);
        }
        let stop = CancellationToken::new();
        let reader = informer.reader();
        let synced = async {
            let primary = reader.wait_until_synced().await;
            let related = futures_util::future::join_all(waits).await;
            primary && related.into_iter().all(|ok| ok)
        };
        tokio::pin!(shutdown);
        let ready = tokio::select! {
            ok = synced => ok,
            _ = &mut shutdown => false,
        };
        let reconcile = Arc::new(reconcile);
        let mut tasks = Vec::new();
        if ready {
            for _ in 0..workers {
                tasks.push(tokio::spawn(worker(
                    queue.clone(),
                    reader.clone(),
                    reconcile.clone(),
                    stop.clone(),
                )));
            }
            shutdown.await;
        }
        stop.cancel();
        queue.shut_down();
        for t in tasks {
            let _ = t.await;
        }
        informer.stop();
        for s in stops {
            s();
        }
    }
}

async fn worker<K, F, Fut, E>(
    queue: WorkQueue<ObjectKey>,
    reader: Reader<K>,
    reconcile: Arc<F>,
    stop: CancellationToken,
) where
    K: Object,
    F: Fn(Request<K>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    loop {
        let key = tokio::select! {
            k = queue.get() => match k {
                Some(k) => k,
                None => return,
            },
            _ = stop.cancelled() => return,
        };
        let object = reader.get(&key);
        let attempt = reconcile(Request {
            key: key.clone(),
            object,
        });
        // A panicking reconcile is a failure of this key, not the end of the worker (the
        // key would otherwise stay "in flight" for ever).
        let result = std::panic::AssertUnwindSafe(attempt).catch_unwind().await;
        match result {
            Err(_) => {
                tracing::error!(key = %key, retries = queue.num_requeues(&key),
                    "controller: reconcile panicked; retrying with backoff");
                queue.add_rate_limited(key.clone());
            }
            Ok(Ok(action)) => {
                queue.forget(&key);
                if let Some(delay) = action.requeue_after {
                    queue.add_after(key.clone(), delay);
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(key = %key, retries = queue.num_requeues(&key), error = %e,
                    "controller: reconcile failed; retrying with backoff");
                queue.add_rate_limited(key.clone());
            }
        }
        queue.done(&key);
    }
}
