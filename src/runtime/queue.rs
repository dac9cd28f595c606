//! [`WorkQueue`]: a de-duplicating, rate-limited queue of keys for controller workers —
//! client-go's `workqueue.TypedRateLimitingInterface`.

use super::rate_limit::{RateLimiter, default_controller_rate_limiter};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Receives a queue's metrics (all methods default to nothing). Implement it to export
/// to Prometheus, OpenTelemetry, logs…
pub trait QueueMetrics: Send + Sync {
    /// An item was added (also when it was already queued).
    fn add(&self) {}
    /// The number of queued items changed.
    fn depth(&self, depth: usize) {
        let _ = depth;
    }
    /// An item waited this long between being queued and handed to a worker.
    fn queue_latency(&self, waited: Duration) {
        let _ = waited;
    }
    /// A worker held an item this long (from `get` to `done`).
    fn work_duration(&self, worked: Duration) {
        let _ = worked;
    }
    /// An item was re-queued through the rate limiter.
    fn retry(&self) {}
}

/// No metrics.
impl QueueMetrics for () {}

/// A shared hook (keep a clone to read what you count).
impl<M: QueueMetrics + ?Sized> QueueMetrics for Arc<M> {
    fn add(&self) {
        (**self).add();
    }
    fn depth(&self, depth: usize) {
        (**self).depth(depth);
    }
    fn queue_latency(&self, waited: Duration) {
        (**self).queue_latency(waited);
    }
    fn work_duration(&self, worked: Duration) {
        (**self).work_duration(worked);
    }
    fn retry(&self) {
        (**self).retry();
    }
}

struct State<T> {
    queue: VecDeque<T>,
    /// Items that need processing (queued, or re-added while processing).
    dirty: HashSet<T>,
    processing: HashSet<T>,
    queued_at: HashMap<T, Instant>,
    started_at: HashMap<T, Instant>,
    shutting_down: bool,
}

struct Inner<T> {
    state: Mutex<State<T>>,
    /// Wakes workers waiting in `get`.
    available: Notify,
    /// Wakes `shut_down_with_drain`.
    idle: Notify,
    limiter: Box<dyn RateLimiter<T>>,
    metrics: Box<dyn QueueMetrics>,
    /// Cancels delayed adds on shutdown.
    stop: CancellationToken,
}

/// A work queue of keys (client-go's rate-limiting work queue):
///
/// * **De-duplicating**: an item added several times before a worker takes it is
///   processed once.
/// * **One worker per item**: an item being processed is never handed to a second worker;
///   if it is added again meanwhile, it is queued again when the first worker calls
///   [`done`](Self::done).
/// * **Delays and rate limits**: [`add_after`](Self::add_after);
///   [`add_rate_limited`](Self::add_rate_limited) asks the rate limiter (default: the max
///   of per-item 5 ms → 1000 s exponential backoff and a 10 qps / burst 100 token bucket);
///   [`forget`](Self::forget) after a success; [`num_requeues`](Self::num_requeues).
/// * **Shutdown**: [`shut_down`](Self::shut_down) ignores new items and lets workers
///   drain what is queued — [`get`](Self::get) returns `None` once nothing is queued or
///   in flight;
///   [`shut_down_with_drain`](Self::shut_down_with_drain) also waits for in-flight items.
///
/// Clones share the queue.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use k8s_client::runtime::WorkQueue;
/// let queue = WorkQueue::new();
/// queue.add("default/web");
/// queue.add("default/web");
/// assert_eq!(queue.len(), 1);
/// let item = queue.get().await.unwrap();
/// queue.add(item); // re-added while processing: held back until done
/// assert_eq!(queue.len(), 0);
/// queue.done(&item);
/// assert_eq!(queue.len(), 1);
/// # }
/// ```
pub struct WorkQueue<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for WorkQueue<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for WorkQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.inner.state);
        f.debug_struct("WorkQueue")
            .field("queued", &s.queue.len())
            .field("processing", &s.processing.len())
            .field("shutting_down", &s.shutting_down)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T> Default for WorkQueue<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<T> WorkQueue<T>
where
    T: Eq + Hash + Clone + Send + Sync + 'static,
{
    /// A queue with client-go's default controller rate limiter and no metrics.
    pub fn new() -> Self {
        Self::with(default_controller_rate_limiter(), ())
    }

    /// A queue with the given rate limiter and metrics hook.
    pub fn with(
        limiter: impl RateLimiter<T> + 'static,
        metrics: impl QueueMetrics + 'static,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    dirty: HashSet::new(),
                    processing: HashSet::new(),
                    queued_at: HashMap::new(),
                    started_at: HashMap::new(),
                    shutting_down: false,
                }),
                available: Notify::new(),
                idle: Notify::new(),
                limiter: Box::new(limiter),
                metrics: Box::new(metrics),
                stop: CancellationToken::new(),
            }),
        }
    }

    /// Queues `item` unless it is already waiting (or the queue is shutting down).
    pub fn add(&self, item: T) {
        let mut s = lock(&self.inner.state);
        if s.shutting_down {
            return;
        }
        self.inner.metrics.add();
        if !s.dirty.insert(item.clone()) {
            return;
        }
        if s.processing.contains(&item) {
            return;
        }
        s.queued_at.insert(item.clone(), Instant::now());
        s.queue.push_back(item);
        self.inner.metrics.depth(s.queue.len());
        drop(s);
        self.inner.available.notify_one();
    }

    /// Queues `item` after `delay` (at once for zero). Pending delayed adds are dropped
    /// on shutdown.
    pub fn add_after(&self, item: T, delay: Duration) {
        if delay.is_zero() {
            return self.add(item);
        }
        if self.is_shutting_down() {
            return;
        }
        let queue = self.clone();
        let stop = self.inner.stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => queue.add(item),
                _ = stop.cancelled() => {}
            }
        });
    }

    /// Queues `item` after the rate limiter's delay for it (one more retry).
    pub fn add_rate_limited(&self, item: T) {
        let delay = self.inner.limiter.when(&item);
        self.inner.metrics.retry();
        self.add_after(item, delay);
    }

    /// Forgets `item`'s retries (call after it was processed successfully).
    pub fn forget(&self, item: &T) {
        self.inner.limiter.forget(item);
    }

    /// How many times `item` went through [`add_rate_limited`](Self::add_rate_limited)
    /// since it was last forgotten.
    pub fn num_requeues(&self, item: &T) -> u32 {
        self.inner.limiter.num_requeues(item)
    }

    /// The next item; waits while the queue is empty. `None` once the queue is shutting
    /// down with nothing queued or in flight. Call [`done`](Self::done) when finished
    /// with the item.
    pub async fn get(&self) -> Option<T> {
        loop {
            let available = self.inner.available.notified();
            tokio::pin!(available);
            available.as_mut().enable();
            {
                let mut s = lock(&self.inner.state);
                if let Some(item) = s.queue.pop_front() {
                    s.dirty.remove(&item);
                    s.processing.insert(item.clone());
                    let now = Instant::now();
                    if let Some(t) = s.queued_at.remove(&item) {
                        self.inner.metrics.queue_latency(now.duration_since(t));
                    }
                    s.started_at.insert(item.clone(), now);
                    self.inner.metrics.depth(s.queue.len());
                    let more = !s.queue.is_empty();
                    drop(s);
                    if more {
                        // Pass the wake-up on: one notification may stand for several adds.
                        self.inner.available.notify_one();
                    }
                    return Some(item);
                }
                // After shutdown, stop once nothing is queued or in flight (an in-flight
                // item added again meanwhile is queued again at `done`).
                if s.shutting_down && s.processing.is_empty() {
                    return None;
                }
            }
            available.await;
        }
    }

    /// Marks `item` as finished; if it was added again meanwhile, it is queued now.
    pub fn done(&self, item: &T) {
        let mut s = lock(&self.inner.state);
        if !s.processing.remove(item) {
            return;
        }
        if let Some(t) = s.started_at.remove(item) {
            self.inner.metrics.work_duration(t.elapsed());
        }
        let requeue = s.dirty.contains(item);
        if requeue {
            s.queued_at.insert(item.clone(), Instant::now());
            s.queue.push_back(item.clone());
            self.inner.metrics.depth(s.queue.len());
        }
        let idle = s.queue.is_empty() && s.processing.is_empty();
        drop(s);
        if requeue {
            self.inner.available.notify_one();
        }
        if idle {
            self.inner.idle.notify_waiters();
            // Workers waiting after shutdown for in-flight items can now stop.
            self.inner.available.notify_waiters();
        }
    }

    /// Items waiting for a worker.
    pub fn len(&self) -> usize {
        lock(&self.inner.state).queue.len()
    }

    /// Whether no item is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Items being processed right now.
    pub fn in_flight(&self) -> usize {
        lock(&self.inner.state).processing.len()
    }

    /// Whether [`shut_down`](Self::shut_down) was called.
    pub fn is_shutting_down(&self) -> bool {
        lock(&self.inner.state).shutting_down
    }

    /// Stops accepting items (adds and delayed adds are dropped); workers drain what is
    /// queued (and what in-flight items need again), then [`get`](Self::get) returns
    /// `None`.
    pub fn shut_down(&self) {
        lock(&self.inner.state).shutting_down = true;
        self.inner.stop.cancel();
        self.inner.available.notify_waiters();
        self.inner.idle.notify_waiters();
    }

    /// [`shut_down`](Self::shut_down), then waits until every queued and in-flight item
    /// is done.
    pub async fn shut_down_with_drain(&self) {
        self.shut_down();
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            {
                let s = lock(&self.inner.state);
                if s.queue.is_empty() && s.processing.is_empty() {
                    return;
                }
            }
            idle.await;
        }
    }
}
