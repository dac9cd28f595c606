//! The change workload (ConfigMaps created, patched and deleted with ever-growing values),
//! what `watch_all` and a `SharedInformer` make of it, and GET load with every failure
//! recorded with its latency.

use futures_util::StreamExt;
use k8s_client::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchAllEvent, WatchParams,
};
use k8s_client::runtime::{HandlerFns, ReflectorConfig, SharedInformer};
use k8s_client::{Client, Error};
use k8s_openapi::api::core::v1::ConfigMap;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One change the writer made, once the server acknowledged it.
#[derive(Debug, Clone)]
pub struct Change {
    pub name: String,
    /// The value written, or the value the object had when it was deleted.
    pub value: u64,
    pub deleted: bool,
    pub acked: Instant,
}

fn value_of(o: &ConfigMap) -> u64 {
    o.data
        .as_ref()
        .and_then(|d| d.get("v"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_default()
}

fn name_of(o: &ConfigMap) -> String {
    o.metadata.name.clone().unwrap_or_default()
}

fn cm(name: &str, value: u64) -> ConfigMap {
    ConfigMap {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("v".to_owned(), value.to_string())])),
        ..Default::default()
    }
}

/// What one consumer of `watch_all` saw.
#[derive(Debug, Default)]
pub struct WatchLog {
    pub state: BTreeMap<String, u64>,
    /// (name, value) of every Added/Modified event.
    pub written: HashSet<(String, u64)>,
    /// (name, value) of every object a (re)list returned.
    pub listed: HashSet<(String, u64)>,
    /// (name, last value) of every Deleted event.
    pub deleted: HashSet<(String, u64)>,
    /// When each (re)list began.
    pub list_started: Vec<Instant>,
    /// Events whose value went back (a stale or replayed event).
    pub regressions: Vec<String>,
    /// The last value seen per name (also across deletions).
    last: BTreeMap<String, u64>,
    pub events: usize,
    pub errors: usize,
}

impl WatchLog {
    fn see(&mut self, name: String, value: u64, what: &str) {
        if let Some(last) = self.last.get(&name)
            && value < *last
        {
            self.regressions
                .push(format!("{what} {name}={value} after {last}"));
        }
        self.last.insert(name, value);
    }

    fn apply(&mut self, ev: WatchAllEvent<ConfigMap>) {
        self.events += 1;
        match ev {
            WatchAllEvent::ListStarted => {
                self.state.clear();
                self.list_started.push(Instant::now());
            }
            WatchAllEvent::Listed(o) => {
                let (n, v) = (name_of(&o), value_of(&o));
                self.see(n.clone(), v, "listed");
                self.listed.insert((n.clone(), v));
                self.state.insert(n, v);
            }
            WatchAllEvent::Added(o) | WatchAllEvent::Modified(o) => {
                let (n, v) = (name_of(&o), value_of(&o));
                self.see(n.clone(), v, "event");
                self.written.insert((n.clone(), v));
                self.state.insert(n, v);
            }
            WatchAllEvent::Deleted(o) => {
                let (n, v) = (name_of(&o), value_of(&o));
                self.deleted.insert((n.clone(), v));
                self.state.remove(&n);
            }
            _ => {}
        }
    }

    /// Changes neither delivered as an event or a listed object nor covered by a relist
    /// that began after the change was acknowledged (a list then shows its effect). A
    /// write acknowledged while a list was under way reaches the consumer as a listed
    /// object when the list's snapshot was taken after it.
    pub fn lost(&self, changes: &[Change]) -> Vec<Change> {
        changes
            .iter()
            .filter(|c| {
                let key = (c.name.clone(), c.value);
                let delivered = if c.deleted {
                    self.deleted.contains(&key)
                } else {
                    self.written.contains(&key) || self.listed.contains(&key)
                };
                !delivered && !self.list_started.iter().any(|t| *t > c.acked)
            })
            .cloned()
            .collect()
    }
}

/// Consumes `api.watch_all` into a shared log until the task is aborted.
pub fn watch(api: &Api<ConfigMap>) -> (Arc<Mutex<WatchLog>>, tokio::task::JoinHandle<()>) {
    let log = Arc::new(Mutex::new(WatchLog::default()));
    let mut stream = api.watch_all(&WatchParams::default());
    let l = log.clone();
    let task = tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            let mut log = l.lock().unwrap();
            match item {
                Ok(ev) => log.apply(ev),
                Err(_) => log.errors += 1,
            }
        }
    });
    (log, task)
}

/// An informer over `api` and the state its handlers build.
pub async fn informer(
    api: &Api<ConfigMap>,
) -> (SharedInformer<ConfigMap>, Arc<Mutex<BTreeMap<String, u64>>>) {
    let informer = SharedInformer::new(api.clone(), ReflectorConfig::default());
    let handled: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let (h1, h2, h3) = (handled.clone(), handled.clone(), handled.clone());
    informer.add_handler(
        HandlerFns::<ConfigMap>::new()
            .on_add(move |o| {
                h1.lock().unwrap().insert(name_of(o), value_of(o));
            })
            .on_update(move |_, o| {
                h2.lock().unwrap().insert(name_of(o), value_of(o));
            })
            .on_delete(move |d| {
                h3.lock().unwrap().remove(&name_of(d.object()));
            }),
    );
    informer.start();
    assert!(
        tokio::time::timeout(Duration::from_secs(60), informer.wait_until_synced())
            .await
            .expect("the informer synced in time")
    );
    (informer, handled)
}

/// The truth: a fresh list.
pub async fn truth(api: &Api<ConfigMap>) -> Result<BTreeMap<String, u64>, Error> {
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|o| (name_of(o), value_of(o)))
        .collect())
}

/// Counts shared by the writers.
#[derive(Debug, Default)]
pub struct Progress {
    pub done: AtomicUsize,
    /// Tries that failed and were tried again (server or connection errors).
    pub retried: AtomicUsize,
}

/// Makes `changes` changes over `names` objects (`prefix-<i>`) with `writers` writers on
/// disjoint names. Writes are not idempotent, so the writer decides: a failed create is
/// tried again and `AlreadyExists` then means it went through; likewise `NotFound` for a
/// delete; a merge patch to a fixed value may be sent any number of times. Each change
/// has `deadline` to succeed.
pub async fn write(
    api: &Api<ConfigMap>,
    prefix: &str,
    changes: usize,
    names: usize,
    writers: usize,
    deadline: Duration,
    progress: Arc<Progress>,
) -> Vec<Change> {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks = (0..writers).map(|w| {
        let (api, next, progress) = (api.clone(), next.clone(), progress.clone());
        let prefix = prefix.to_owned();
        tokio::spawn(async move {
            let mut log = Vec::new();
            let mut alive: BTreeMap<String, u64> = BTreeMap::new();
            let mine: Vec<usize> = (0..names).filter(|i| i % writers == w).collect();
            loop {
                let value = next.fetch_add(1, Ordering::SeqCst);
                if value >= changes {
                    break;
                }
                let name = format!("{prefix}-{}", mine[value % mine.len()]);
                let value = value as u64 + 1;
                let deleted = match alive.get(&name) {
                    None => {
                        change(&progress, deadline, &name, || {
                            let (api, obj) = (api.clone(), cm(&name, value));
                            async move { api.create(&PostParams::default(), &obj).await.map(drop) }
                        }, |e| e.is_already_exists())
                        .await;
                        alive.insert(name.clone(), value);
                        false
                    }
                    Some(_) if value.is_multiple_of(5) => {
                        change(
                            &progress,
                            deadline,
                            &name,
                            || {
                                let (api, name) = (api.clone(), name.clone());
                                async move {
                                    api.delete(&name, &DeleteParams::default()).await.map(drop)
                                }
                            },
                            |e| e.is_not_found(),
                        )
                        .await;
                        true
                    }
                    Some(_) => {
                        change(
                            &progress,
                            deadline,
                            &name,
                            || {
                                let (api, name) = (api.clone(), name.clone());
                                let patch =
                                    serde_json::json!({ "data": { "v": value.to_string() } });
                                async move {
                                    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                                        .await
                                        .map(drop)
                                }
                            },
                            |_| false,
                        )
                        .await;
                        alive.insert(name.clone(), value);
                        false
                    }
                };
                let value = if deleted {
                    alive.remove(&name).expect("deleting a live object")
                } else {
                    value
                };
                log.push(Change {
                    name,
                    value,
                    deleted,
                    acked: Instant::now(),
                });
                progress.done.fetch_add(1, Ordering::SeqCst);
            }
            log
        })
    });
    let mut all = Vec::new();
    for t in futures_util::future::join_all(tasks).await {
        all.extend(t.unwrap());
    }
    all
}

/// Runs `attempt` until it succeeds, or fails in a way `done_after_failure` accepts
/// after an earlier try failed; panics after `deadline`.
async fn change<F, Fut>(
    progress: &Progress,
    deadline: Duration,
    name: &str,
    attempt: F,
    done_after_failure: impl Fn(&Error) -> bool,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    let until = Instant::now() + deadline;
    let mut failed_before = false;
    loop {
        match attempt().await {
            Ok(()) => return,
            Err(e) if failed_before && done_after_failure(&e) => return,
            Err(e) => {
                assert!(
                    Instant::now() < until,
                    "changing {name} kept failing for {deadline:?}: {}",
                    e.report()
                );
                let transient =
                    matches!(e.code(), None | Some(429) | Some(500..=599)) || e.is_conflict();
                assert!(transient, "changing {name}: {}", e.report());
                failed_before = true;
                progress.retried.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// One failed GET.
#[derive(Debug, Clone)]
pub struct Failure {
    pub started: Instant,
    pub elapsed: Duration,
    pub error: String,
}

/// GETs of `path` from `workers` workers until `stop` is set; returns (sent, failures).
pub async fn get_load(
    client: &Client,
    path: &'static str,
    workers: usize,
    stop: Arc<AtomicBool>,
) -> (usize, Vec<Failure>) {
    let sent = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let tasks = (0..workers).map(|_| {
        let (client, sent, failures, stop) =
            (client.clone(), sent.clone(), failures.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                sent.fetch_add(1, Ordering::Relaxed);
                let req = http::Request::get(path).body(Vec::new()).unwrap();
                let started = Instant::now();
                if let Err(e) = client.request::<serde_json::Value>(req).await {
                    failures.lock().unwrap().push(Failure {
                        started,
                        elapsed: started.elapsed(),
                        error: k8s_client::error::Report::new(&e).to_string(),
                    });
                    // A failed request comes back at once when nothing listens: do not spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        })
    });
    futures_util::future::join_all(tasks).await;
    let failures = failures.lock().unwrap().clone();
    (sent.load(Ordering::Relaxed), failures)
}

/// Polls until the watch log, the informer's handlers and its cache all equal a fresh
/// list, or `deadline` passes; returns the last truth and whether they matched.
pub async fn converge(
    api: &Api<ConfigMap>,
    log: &Mutex<WatchLog>,
    informer: &SharedInformer<ConfigMap>,
    handled: &Mutex<BTreeMap<String, u64>>,
    deadline: Duration,
) -> (BTreeMap<String, u64>, bool) {
    let until = Instant::now() + deadline;
    loop {
        if let Ok(truth) = truth(api).await {
            let cached: BTreeMap<String, u64> = informer
                .reader()
                .list()
                .iter()
                .map(|o| (name_of(o), value_of(o)))
                .collect();
            let matched = truth == log.lock().unwrap().state
                && truth == *handled.lock().unwrap()
                && truth == cached;
            if matched || Instant::now() >= until {
                return (truth, matched);
            }
        } else if Instant::now() >= until {
            return (BTreeMap::new(), false);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_a_list_returned_is_not_lost() {
        let mut log = WatchLog::default();
        log.apply(WatchAllEvent::ListStarted);
        let acked = Instant::now();
        log.apply(WatchAllEvent::Listed(cm("obj-7", 2)));
        log.apply(WatchAllEvent::Added(cm("obj-8", 3)));
        let change = |name: &str, value| Change {
            name: name.to_owned(),
            value,
            deleted: false,
            acked,
        };
        let lost = log.lost(&[change("obj-7", 2), change("obj-8", 3), change("obj-9", 4)]);
        assert_eq!(
            lost.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["obj-9"],
            "listed and written changes are delivered; the third is lost"
        );
    }
}
