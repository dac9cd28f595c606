//! [`Recorder`]: the non-blocking front and the single writer task behind it.

use super::cache::{Cache, Key, Outcome, ref_key};
use super::{Event, EventError, MAX_NOTE_LENGTH, RecorderConfig, Reporter, truncate_to};
use crate::api::{Api, Patch, PatchParams, PostParams};
use crate::runtime::leader::random_fraction;
use crate::{Client, Error};
use k8s_openapi::api::events::v1::Event as EventObject;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

enum Job {
    Write(Box<Key>),
    Flush(oneshot::Sender<()>),
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    aggregated: AtomicU64,
    rate_limited: AtomicU64,
    dropped: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
}

/// What a [`Recorder`] did so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecorderStats {
    /// Events accepted by [`Recorder::publish`].
    pub published: u64,
    /// Occurrences counted into an existing series without a write of their own.
    pub aggregated: u64,
    /// Events refused by the per-object spam filter.
    pub rate_limited: u64,
    /// Writes dropped because the queue was full.
    pub dropped: u64,
    /// Writes the API server accepted.
    pub written: u64,
    /// Writes given up (an error answer, or transport errors on every attempt).
    pub failed: u64,
    /// Writes waiting in the queue now.
    pub queued: usize,
    /// Events remembered for aggregation now.
    pub cached: usize,
}

struct Shared {
    client: Client,
    reporter: Reporter,
    config: RecorderConfig,
    cache: Mutex<Cache>,
    counters: Counters,
    stop: CancellationToken,
}

impl Shared {
    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Records `events.k8s.io/v1` Events without ever blocking its caller. Clones share the
/// queue, the series and the spam filter. See the [module documentation](super).
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("reporter", &self.shared.reporter)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder with the default [`RecorderConfig`]. Starts its writer task on the current
    /// Tokio runtime.
    pub fn new(client: Client, reporter: Reporter) -> Result<Self, EventError> {
        Self::with_config(client, reporter, RecorderConfig::default())
    }

    /// A recorder with `config`.
    pub fn with_config(
        client: Client,
        reporter: Reporter,
        config: RecorderConfig,
    ) -> Result<Self, EventError> {
        reporter.validate()?;
        let invalid = |field, reason| Err(EventError::InvalidConfig { field, reason });
        if config.queue_capacity == 0 {
            return invalid("queue_capacity", "must be at least 1");
        }
        if config.max_attempts == 0 {
            return invalid("max_attempts", "must be at least 1");
        }
        if config.series_refresh.is_zero() || config.refill_every.is_zero() {
            return invalid("series_refresh/refill_every", "must be positive");
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| EventError::NoRuntime)?;
        let (jobs, rx) = mpsc::channel(config.queue_capacity);
        let shared = Arc::new(Shared {
            client,
            cache: Mutex::new(Cache::new(
                config.max_cached,
                config.burst,
                config.refill_every,
            )),
            reporter,
            config,
            counters: Counters::default(),
            stop: CancellationToken::new(),
        });
        runtime.spawn(writer(shared.clone(), rx));
        Ok(Self { shared, jobs })
    }

    /// The reporter.
    pub fn reporter(&self) -> &Reporter {
        &self.shared.reporter
    }

    /// Records `event`. Returns at once: the write happens in the background, is
    /// aggregated into a series when isomorphic to a recent one, and is dropped (counted in
    /// [`RecorderStats`]) when the spam filter or the full queue says so. Fails only on an
    /// event the API server would refuse (empty or over-long reason or action, no regarding
    /// name or kind); an over-long note is truncated to 1024 bytes.
    pub fn publish(&self, event: &Event) -> Result<(), EventError> {
        event.validate()?;
        let c = &self.shared.counters;
        c.published.fetch_add(1, Ordering::Relaxed);
        let key = Key {
            action: event.action.clone(),
            reason: event.reason.clone(),
            regarding: ref_key(&event.regarding),
            related: event.related.as_ref().map(ref_key),
        };
        let wall = jiff::Timestamp::now();
        let outcome = self
            .shared
            .cache()
            .record(key.clone(), Instant::now(), wall, || {
                self.event_object(event, wall)
            });
        match outcome {
            Outcome::Counted => {
                c.aggregated.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::RateLimited => {
                c.rate_limited.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Write => {
                if self
                    .jobs
                    .try_send(Job::Write(Box::new(key.clone())))
                    .is_err()
                {
                    c.dropped.fetch_add(1, Ordering::Relaxed);
                    self.shared.cache().mark_dirty(&key);
                }
            }
        }
        Ok(())
    }

    fn event_object(&self, event: &Event, wall: jiff::Timestamp) -> EventObject {
        let regarding = &event.regarding;
        let name = regarding.name.clone().unwrap_or_default();
        let namespace = regarding
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        let nanos = wall.as_nanosecond().max(0) as u128;
        let note = event.note.clone().map(|mut n| {
            truncate_to(&mut n, MAX_NOTE_LENGTH);
            n
        });
        EventObject {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{nanos:x}")),
                namespace: Some(namespace),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(wall)),
            reporting_controller: Some(self.shared.reporter.controller.clone()),
            reporting_instance: Some(self.shared.reporter.instance.clone()),
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            note,
            type_: Some(event.type_.as_str().to_owned()),
            regarding: Some(regarding.clone()),
            related: event.related.clone(),
            ..EventObject::default()
        }
    }

    /// Writes every series that is behind and waits until everything queued before this
    /// call has been written or given up. While the API server is unreachable this waits
    /// for the retries; bound it with a timeout, or use [`Recorder::shutdown`].
    pub async fn flush(&self) {
        let dirty = self.shared.cache().dirty();
        for key in dirty {
            if self.jobs.send(Job::Write(Box::new(key))).await.is_err() {
                return;
            }
        }
        let (tx, rx) = oneshot::channel();
        if self.jobs.send(Job::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Flushes within `grace`, then stops the writer (for every clone); later events are
    /// dropped.
    pub async fn shutdown(&self, grace: Duration) {
        let _ = tokio::time::timeout(grace, self.flush()).await;
        self.shared.stop.cancel();
    }

    /// Counters and current sizes.
    pub fn stats(&self) -> RecorderStats {
        let c = &self.shared.counters;
        RecorderStats {
            published: c.published.load(Ordering::Relaxed),
            aggregated: c.aggregated.load(Ordering::Relaxed),
            rate_limited: c.rate_limited.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            written: c.written.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            queued: self.jobs.max_capacity() - self.jobs.capacity(),
            cached: self.shared.cache().len(),
        }
    }
}

/// The single writer: queued writes in order, series refresh and expiry on a timer.
async fn writer(shared: Arc<Shared>, mut rx: mpsc::Receiver<Job>) {
    let mut refresh = tokio::time::interval(shared.config.series_refresh);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    refresh.tick().await;
    loop {
        let job = tokio::select! {
            _ = shared.stop.cancelled() => return,
            job = rx.recv() => job,
            _ = refresh.tick() => {
                let dirty = shared.cache().dirty();
                for key in dirty {
                    write(&shared, &key).await;
                }
                let finish = shared.config.series_finish;
                shared.cache().expire(Instant::now(), finish);
                continue;
            }
        };
        match job {
            None => return,
            Some(Job::Flush(done)) => {
                let _ = done.send(());
            }
            Some(Job::Write(key)) => write(&shared, &key).await,
        }
    }
}

/// Brings the server up to date with `key`: create the Event, or PATCH its series (and
/// create it when the PATCH finds it gone). Transport errors are retried; an error answer
/// drops the write, as client-go does.
async fn write(shared: &Shared, key: &Key) {
    let c = &shared.counters;
    for attempt in 0..shared.config.max_attempts {
        if attempt > 0 {
            let delay = if attempt == 1 {
                shared.config.retry_delay.mul_f64(random_fraction())
            } else {
                shared.config.retry_delay
            };
            tokio::select! {
                _ = shared.stop.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        // Taken afresh each attempt: it carries the latest series count.
        let Some(pending) = shared.cache().take(key) else {
            return;
        };
        let result = tokio::select! {
            _ = shared.stop.cancelled() => return,
            r = tokio::time::timeout(shared.config.request_timeout, send(shared, &pending.event, pending.create)) => r,
        };
        let failure = match result {
            Ok(Ok(())) => {
                shared.cache().created(key);
                c.written.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(Err(e)) if e.api().is_some() => {
                if e.is_already_exists() {
                    shared.cache().created(key);
                }
                tracing::warn!(error = %e, reason = %key.reason, "the API server refused an event; dropped");
                c.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:?}", shared.config.request_timeout),
        };
        tracing::debug!(error = %failure, attempt = attempt + 1, reason = %key.reason, "writing an event failed");
    }
    tracing::warn!(reason = %key.reason, attempts = shared.config.max_attempts, "writing an event failed on every attempt; dropped");
    c.failed.fetch_add(1, Ordering::Relaxed);
}

async fn send(shared: &Shared, event: &EventObject, create: bool) -> Result<(), Error> {
    let namespace = event.metadata.namespace.as_deref().unwrap_or("default");
    let events: Api<EventObject> = Api::namespaced(shared.client.clone(), namespace);
    let name = event.metadata.name.as_deref().unwrap_or_default();
    if !create {
        let series = serde_json::json!({ "series": event.series });
        match events
            .patch(name, &PatchParams::default(), &Patch::Merge(series))
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    events
        .create(&PostParams::default(), event)
        .await
        .map(|_| ())
}
