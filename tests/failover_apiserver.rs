//! Failover across several real kube-apiservers on one etcd: API servers are killed and
//! restarted under load, and the client must not lose requests or watch events, must
//! spread load, and must use a restarted server again.

mod support;

use support::env::blocking;

use futures_util::StreamExt;
use k8s_client::Client;
use k8s_client::api::{Api, DeleteParams, ListParams, PostParams, WatchAllEvent, WatchParams};
use k8s_client::client::EndpointEvent;
use k8s_client::runtime::{HandlerFns, ReflectorConfig, SharedInformer};
use k8s_client::testenv::TestEnv;
use k8s_openapi::api::core::v1::ConfigMap;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// GETs per load run at least (the acceptance run used 10,000; the suite keeps 3,000 to
/// stay fast).
const GETS: usize = 3_000;
/// Requests in flight at once.
const IN_FLIGHT: usize = 16;
const SERVERS: usize = 3;

fn start_env() -> Option<TestEnv> {
    let binaries = support::env::binaries()?;
    let env = TestEnv::builder()
        .binaries(binaries)
        .controller_manager(false)
        .apiservers(SERVERS)
        .start()
        .unwrap_or_else(|e| panic!("the control plane did not start: {}", support::chain(&e)));
    Some(env)
}

fn client(env: &TestEnv) -> Client {
    client_with_events(env, Arc::default())
}

/// A client over every API server of `env`, recording its endpoint health changes.
fn client_with_events(env: &TestEnv, events: Arc<std::sync::Mutex<Vec<EndpointEvent>>>) -> Client {
    support::env::all_apiservers(env)
        .on_endpoint_health(move |e| events.lock().unwrap().push(e.clone()))
        .build()
        .unwrap()
}

fn answered(client: &Client) -> Vec<u64> {
    client.endpoints().iter().map(|e| e.answered).collect()
}

/// Runs GETs of the namespace list `IN_FLIGHT` at a time until `done()` holds and at
/// least `min` were sent; returns (sent, failed).
async fn load(client: &Client, min: usize, done: impl Fn() -> bool) -> (usize, Vec<String>) {
    let sent = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(70);
    let done = Arc::new(done);
    let workers = (0..IN_FLIGHT).map(|_| {
        let (client, sent, failures, done) =
            (client.clone(), sent.clone(), failures.clone(), done.clone());
        async move {
            while (sent.load(Ordering::Relaxed) < min || !done()) && Instant::now() < deadline {
                sent.fetch_add(1, Ordering::Relaxed);
                let req = http::Request::get("/api/v1/namespaces/default")
                    .body(Vec::new())
                    .unwrap();
                if let Err(e) = client.request::<serde_json::Value>(req).await {
                    failures.lock().unwrap().push(support::chain(&e));
                }
            }
        }
    });
    futures_util::future::join_all(workers).await;
    let failures = failures.lock().unwrap().clone();
    (sent.load(Ordering::Relaxed), failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gets_survive_a_killed_and_restarted_apiserver() {
    gets_survive_a_stopped_and_restarted_apiserver(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gets_survive_a_gracefully_stopped_and_restarted_apiserver() {
    gets_survive_a_stopped_and_restarted_apiserver(true).await;
}

/// `GETS` GETs, `IN_FLIGHT` at a time; server 1 is stopped (SIGTERM or SIGKILL) a third
/// of the way through and restarted; none may fail, and the restarted server must serve
/// again.
async fn gets_survive_a_stopped_and_restarted_apiserver(graceful: bool) {
    let Some(env) = start_env() else { return };
    let env = Arc::new(env);
    assert_eq!(env.apiserver_count(), SERVERS);
    for i in 0..SERVERS {
        assert!(env.apiserver_ready(i), "server {i} is ready after start");
    }
    let events = Arc::default();
    let client = client_with_events(&env, Arc::clone(&events));
    assert_eq!(client.endpoints().len(), SERVERS);

    // Kill server 1 once a third of the GETs are done, restart it at once (in the
    // background: it takes seconds), and keep the load going until the restarted server
    // has answered requests again.
    let victim = 1;
    let before_restart = Arc::new(std::sync::Mutex::new(None::<u64>));
    let control = {
        let (env, client, before_restart) = (env.clone(), client.clone(), before_restart.clone());
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            while answered(&client).iter().sum::<u64>() < (GETS / 3) as u64 {
                assert!(Instant::now() < deadline, "the load never got going");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let e = env.clone();
            blocking(move || {
                if graceful {
                    e.stop_apiserver(victim)
                } else {
                    e.kill_apiserver(victim)
                }
            })
            .await
            .unwrap();
            assert!(!env.apiserver_ready(victim));
            let e = env.clone();
            blocking(move || e.start_apiserver(victim)).await.unwrap();
            *before_restart.lock().unwrap() = Some(answered(&client)[victim]);
        })
    };
    let reused = {
        let (client, before_restart) = (client.clone(), before_restart.clone());
        move || {
            before_restart
                .lock()
                .unwrap()
                .is_some_and(|b| answered(&client)[victim] >= b + 20)
        }
    };
    let started = Instant::now();
    let (sent, failures) = load(&client, GETS, reused.clone()).await;
    eprintln!(
        "{sent} GETs ({}) in {:?}; per server {:?}",
        if graceful { "SIGTERM" } else { "SIGKILL" },
        started.elapsed(),
        answered(&client)
    );
    control.await.unwrap();
    assert!(
        failures.is_empty(),
        "{} of {sent} GETs failed, e.g. {:?}",
        failures.len(),
        failures.first()
    );
    assert!(
        reused(),
        "the restarted server was used again: {:?}",
        client.endpoints()
    );
    assert!(sent >= GETS);
    let events = events.lock().unwrap().clone();
    assert!(
        client.endpoints().iter().all(|e| e.healthy),
        "{:?} after {events:?}",
        client.endpoints()
    );
    // The killed server was ejected, then re-admitted; the others never changed.
    let victim_url = &env.apiserver_urls()[victim];
    assert!(
        events.iter().all(|e| &e.endpoint == victim_url),
        "{events:?}"
    );
    assert!(events.first().is_some_and(|e| !e.healthy), "{events:?}");
    assert!(events.last().is_some_and(|e| e.healthy), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_spreads_over_healthy_apiservers() {
    let Some(env) = start_env() else { return };
    let client = client(&env);
    let (sent, failures) = load(&client, 1_000, || true).await;
    assert!(failures.is_empty(), "{failures:?}");
    let counts = answered(&client);
    let total: u64 = counts.iter().sum();
    assert_eq!(total, sent as u64);
    for (i, c) in counts.iter().enumerate() {
        assert!(
            *c * 2 <= total && *c * 10 >= total,
            "server {i} answered {c} of {total}: {counts:?}"
        );
    }
}

fn name_of(o: &ConfigMap) -> String {
    o.metadata.name.clone().unwrap_or_default()
}

fn value_of(o: &ConfigMap) -> String {
    o.data
        .as_ref()
        .and_then(|d| d.get("v").cloned())
        .unwrap_or_default()
}

fn cm(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("v".to_owned(), value.to_owned())])),
        ..Default::default()
    }
}

/// Creates `obj`, retrying after a transport error: the client never replays a POST
/// that may have reached a server, so the caller decides. A create with a fixed name is
/// idempotent: `AlreadyExists` after a failed try means the first try went through.
async fn create(api: &Api<ConfigMap>, obj: &ConfigMap) {
    let mut failed_before = false;
    for _ in 0..5 {
        match api.create(&PostParams::default(), obj).await {
            Ok(_) => return,
            Err(e) if failed_before && e.is_already_exists() => return,
            Err(k8s_client::Error::Transport(_)) => failed_before = true,
            Err(e) => panic!("creating {:?}: {}", obj.metadata.name, support::chain(&e)),
        }
    }
    panic!("creating {:?} failed five times", obj.metadata.name);
}

/// Deletes `name`, retrying after a transport error (`NotFound` then means an earlier
/// try went through).
async fn delete(api: &Api<ConfigMap>, name: &str) {
    let mut failed_before = false;
    for _ in 0..5 {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => return,
            Err(e) if failed_before && e.is_not_found() => return,
            Err(k8s_client::Error::Transport(_)) => failed_before = true,
            Err(e) => panic!("deleting {name}: {}", support::chain(&e)),
        }
    }
    panic!("deleting {name} failed five times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_all_and_an_informer_lose_no_event_across_killed_apiservers() {
    let Some(env) = start_env() else { return };
    let env = Arc::new(env);
    let client = client(&env);
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut stream = api.watch_all(&WatchParams::default());
    // An informer over the same client: its handlers' view must match too.
    let informer = SharedInformer::new(api.clone(), ReflectorConfig::default());
    let handled: Arc<std::sync::Mutex<BTreeMap<String, String>>> = Arc::default();
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
        tokio::time::timeout(Duration::from_secs(30), informer.wait_until_synced())
            .await
            .unwrap()
    );
    // The state the watcher builds from its events.
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let apply = |seen: &mut BTreeMap<String, String>, ev: WatchAllEvent<ConfigMap>| match ev {
        WatchAllEvent::ListStarted => seen.clear(),
        WatchAllEvent::Listed(o) | WatchAllEvent::Added(o) | WatchAllEvent::Modified(o) => {
            let name = o.metadata.name.clone().unwrap();
            let v = o.data.and_then(|d| d.get("v").cloned()).unwrap_or_default();
            seen.insert(name, v);
        }
        WatchAllEvent::Deleted(o) => {
            seen.remove(&o.metadata.name.unwrap());
        }
        WatchAllEvent::ListDone { .. } => {}
        _ => {}
    };
    // Writes go through the same failover client.
    let writer = {
        let (api, env) = (api.clone(), env.clone());
        tokio::spawn(async move {
            for round in 0..3 {
                for i in 0..20 {
                    let name = format!("w-{i}");
                    let _ = api.delete(&name, &DeleteParams::default()).await;
                    create(&api, &cm(&name, &format!("{round}"))).await;
                }
                if round == 0 {
                    // Kill every server the watch might be on, one after the other,
                    // restarting each before the next.
                    for victim in 0..SERVERS {
                        let e = env.clone();
                        blocking(move || e.kill_apiserver(victim)).await.unwrap();
                        let name = format!("during-{victim}");
                        create(&api, &cm(&name, "k")).await;
                        let e = env.clone();
                        blocking(move || e.start_apiserver(victim)).await.unwrap();
                    }
                }
            }
            for i in (0..20).step_by(2) {
                delete(&api, &format!("w-{i}")).await;
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(85);
    let mut writer = Some(writer);
    loop {
        let next = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
        // Errors are retried by watch_all itself; only events change the state.
        if let Ok(Some(Ok(ev))) = next {
            apply(&mut seen, ev);
        }
        if writer.as_ref().is_some_and(|w| w.is_finished()) {
            writer.take().unwrap().await.unwrap();
        }
        if writer.is_none() {
            let list = api.list(&ListParams::default()).await.unwrap();
            let truth: BTreeMap<String, String> = list
                .items
                .into_iter()
                .map(|o| {
                    let v = o.data.and_then(|d| d.get("v").cloned()).unwrap_or_default();
                    (o.metadata.name.unwrap(), v)
                })
                .collect();
            let cached: BTreeMap<String, String> = informer
                .reader()
                .list()
                .iter()
                .map(|o| (name_of(o), value_of(o)))
                .collect();
            if truth == seen && truth == *handled.lock().unwrap() && truth == cached {
                let kept = truth.keys().filter(|k| k.starts_with("w-")).count();
                assert_eq!((kept, truth.len()), (10, 10 + SERVERS), "{truth:?}");
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the watcher's state never matched a list: {seen:?}"
        );
    }
}

/// kube-apiserver's `--goaway-chance` (here its maximum, 2 %) makes servers send HTTP/2
/// GOAWAY on random requests so clients reconnect and spread out: a graceful GOAWAY is not
/// an outage, so no request fails and no endpoint is ejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn goaway_chance_reconnects_fail_nothing_and_eject_nothing() {
    let Some(binaries) = support::env::binaries() else {
        return;
    };
    let env = TestEnv::builder()
        .binaries(binaries)
        .controller_manager(false)
        .apiservers(SERVERS)
        .apiserver_arg("--goaway-chance=0.02")
        .start()
        .unwrap_or_else(|e| panic!("the control plane did not start: {}", support::chain(&e)));
    let events = Arc::default();
    let client = client_with_events(&env, Arc::clone(&events));
    let (sent, failures) = load(&client, 2_000, || true).await;
    assert!(
        failures.is_empty(),
        "{} of {sent} GETs failed, e.g. {:?}",
        failures.len(),
        failures.first()
    );
    let events = events.lock().unwrap().clone();
    assert!(events.is_empty(), "no endpoint changed health: {events:?}");
    assert!(
        answered(&client).iter().all(|&n| n > 0),
        "every server served: {:?}",
        answered(&client)
    );
}
