//! The soak suite: load through the public API against real control planes while faults
//! are injected, then invariants. Every test is `#[ignore]`: `cargo xtask soak` runs the
//! CI-sized variant (also part of `cargo xtask test`), `cargo xtask soak --long` the long
//! one (`K8S_CLIENT_SOAK=long`). Each test prints its figures as `SOAK …` lines.

mod support;

use k8s_client::api::Api;
use k8s_client::testenv::TestEnv;
use k8s_openapi::api::core::v1::ConfigMap;
use soak::kit::{Report, pick};
use soak::workload::{self, Progress};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::env::blocking;

/// The suite's machinery and its other scenarios, a file each in `tests/soak/`: only
/// this test binary compiles them.
mod soak {
    pub mod kit;
    pub mod relay;
    pub mod tries;
    pub mod workload;

    mod credentials;
    mod network;
    mod throttling;
}

/// The request timeout of the load clients.
const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy)]
enum Fault {
    KillApiServer(usize),
    StopApiServer(usize),
    KillEtcd,
    StopEtcd,
    PauseEtcd,
}

/// kube-apiserver killed and gracefully stopped, etcd killed, stopped and paused, while
/// ConfigMaps change, `watch_all` and an informer follow them and GETs run: no event is
/// lost, no GET served from the watch cache fails, quorum GETs fail only while etcd is
/// away and then within their deadline, and every write eventually succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "soak: run by cargo xtask soak"]
async fn control_plane_restarts_lose_no_event_and_fail_no_cached_get() {
    let Some(binaries) = support::env::binaries() else {
        return;
    };
    let env = blocking(move || {
        TestEnv::builder()
            .binaries(binaries)
            .controller_manager(false)
            .apiservers(2)
            .start()
    })
    .await
    .unwrap_or_else(|e| panic!("the control plane did not start: {}", support::chain(&e)));
    let env = Arc::new(env);
    let client = support::env::all_apiservers(&env)
        .timeout(TIMEOUT)
        .build()
        .unwrap();
    let ns = support::env::unique_namespace(&env, "soak").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let (log, watch_task) = workload::watch(&api);
    let (informer, handled) = workload::informer(&api).await;

    let changes = pick(600, 10_000);
    let rounds = pick(1, 3);
    let faults: Vec<Fault> = (0..rounds)
        .flat_map(|r| {
            [
                Fault::KillApiServer(r % 2),
                Fault::StopApiServer((r + 1) % 2),
                if r.is_multiple_of(2) {
                    Fault::KillEtcd
                } else {
                    Fault::StopEtcd
                },
                Fault::PauseEtcd,
            ]
        })
        .collect();
    // While etcd is away (and a grace period after), quorum reads may fail.
    let etcd_away: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
    let progress = Arc::new(Progress::default());
    let stop = Arc::new(AtomicBool::new(false));
    let cached = tokio::spawn({
        let (client, stop) = (client.clone(), stop.clone());
        async move {
            workload::get_load(
                &client,
                "/api/v1/namespaces/default?resourceVersion=0",
                6,
                stop,
            )
            .await
        }
    });
    let quorum = tokio::spawn({
        let (client, stop) = (client.clone(), stop.clone());
        async move { workload::get_load(&client, "/api/v1/namespaces/default", 2, stop).await }
    });
    let injector = tokio::spawn({
        let (env, progress, etcd_away, faults) = (
            env.clone(),
            progress.clone(),
            etcd_away.clone(),
            faults.clone(),
        );
        async move {
            let mut downtime = Vec::new();
            for (i, fault) in faults.iter().enumerate() {
                let at = (i + 1) * changes / (faults.len() + 1);
                while progress.done.load(Ordering::SeqCst) < at {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let e = env.clone();
                let fault = *fault;
                let started = Instant::now();
                blocking(move || match fault {
                    Fault::KillApiServer(i) => {
                        e.kill_apiserver(i)?;
                        e.start_apiserver(i)
                    }
                    Fault::StopApiServer(i) => {
                        e.stop_apiserver(i)?;
                        e.start_apiserver(i)
                    }
                    Fault::KillEtcd => {
                        e.kill_etcd()?;
                        e.start_etcd()
                    }
                    Fault::StopEtcd => {
                        e.stop_etcd()?;
                        e.start_etcd()
                    }
                    Fault::PauseEtcd => {
                        e.pause_etcd()?;
                        std::thread::sleep(Duration::from_secs(3));
                        e.resume_etcd()
                    }
                })
                .await
                .unwrap_or_else(|e| panic!("{fault:?}: {}", support::chain(&e)));
                let ended = Instant::now();
                if !matches!(fault, Fault::KillApiServer(_) | Fault::StopApiServer(_)) {
                    etcd_away
                        .lock()
                        .unwrap()
                        .push((started, ended + Duration::from_secs(10)));
                }
                downtime.push(format!("{fault:?} {:.1?}", ended - started));
            }
            downtime
        }
    });

    let started = Instant::now();
    let made = workload::write(
        &api,
        "obj",
        changes,
        pick(40, 200),
        4,
        Duration::from_secs(90),
        progress.clone(),
    )
    .await;
    let downtime = injector.await.unwrap();
    let elapsed = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (cached_sent, cached_failures) = cached.await.unwrap();
    let (quorum_sent, quorum_failures) = quorum.await.unwrap();
    let (truth, matched) =
        workload::converge(&api, &log, &informer, &handled, Duration::from_secs(60)).await;
    watch_task.abort();
    let log = log.lock().unwrap();
    let lost = log.lost(&made);
    let away = etcd_away.lock().unwrap().clone();
    let unexplained: Vec<_> = quorum_failures
        .iter()
        .filter(|f| {
            !away
                .iter()
                .any(|(from, to)| f.started + f.elapsed >= *from && f.started <= *to)
        })
        .collect();
    let slowest_failure = quorum_failures.iter().map(|f| f.elapsed).max();

    let mut r = Report::default();
    r.add("faults (time to restore)", downtime.join(", "));
    r.add("changes", made.len());
    r.add(
        "write tries retried",
        progress.retried.load(Ordering::Relaxed),
    );
    r.add("duration", format!("{elapsed:.1?}"));
    r.add("watch_all events", log.events);
    r.add("watch_all relists", log.list_started.len());
    r.add("events lost", lost.len());
    r.add("stale events", log.regressions.len());
    r.add("objects at the end", truth.len());
    r.add("watch_all + informer equal a fresh list", matched);
    r.add(
        "cached GETs (failed)",
        format!("{cached_sent} ({})", cached_failures.len()),
    );
    r.add(
        "quorum GETs (failed while etcd away, failed otherwise)",
        format!(
            "{quorum_sent} ({}, {})",
            quorum_failures.len() - unexplained.len(),
            unexplained.len()
        ),
    );
    r.add("slowest failed quorum GET", format!("{slowest_failure:?}"));
    r.print("control-plane restarts");

    assert!(matched, "watch_all, informer and a fresh list differ");
    assert!(
        lost.is_empty(),
        "events lost: {:?}",
        &lost[..lost.len().min(5)]
    );
    assert!(log.regressions.is_empty(), "{:?}", log.regressions);
    assert_eq!(made.len(), changes);
    assert!(
        cached_failures.is_empty(),
        "{} cached GETs failed, e.g. {:?}",
        cached_failures.len(),
        cached_failures.first()
    );
    assert!(unexplained.is_empty(), "{:?}", unexplained.first());
    for f in &quorum_failures {
        assert!(
            f.elapsed <= TIMEOUT + Duration::from_secs(2),
            "a failed GET took {:?}: {}",
            f.elapsed,
            f.error
        );
    }
}
