//! Leader election against a real API server: one leader at a time (checked by a fenced
//! counter), hand-over after a crash within the lease duration, immediate hand-over on
//! release, and step-down of a leader cut off from the API server before its lease expires.

mod support;

use k8s_client::Client;
use k8s_client::api::{Api, PostParams};
use k8s_client::runtime::leader::{
    Ended, LeaderElectionConfig, LeaderElector, LeaderEvent, LeaderFence,
};
use k8s_client::testenv::TestEnv;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const LEASE: Duration = Duration::from_secs(3);
const RENEW: Duration = Duration::from_secs(2);
const RETRY: Duration = Duration::from_millis(500);

/// An admin client for `url` (the API server itself, or a relay in front of it).
fn admin_client(env: &TestEnv, url: &str) -> Client {
    let mut config = support::env::admin_config(env);
    config.cluster_url = url.parse().unwrap();
    Client::try_from(config).expect("admin client")
}

fn config(name: &str, identity: &str) -> LeaderElectionConfig {
    LeaderElectionConfig::new(name)
        .identity(identity)
        .timings(LEASE, RENEW, RETRY)
}

/// When `check` was first seen to hold (polled by `eventually`); panics after `limit`.
async fn seen_at(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> Instant {
    support::eventually(what, limit, || check().then(Instant::now)).await
}

/// One successful counter write.
#[derive(Debug, Clone)]
struct Write {
    count: u64,
    identity: String,
}

struct Candidate {
    identity: String,
    fence: LeaderFence,
    cancel: CancellationToken,
    election: JoinHandle<Ended>,
}

/// Increments the ConfigMap counter with resourceVersion compare-and-swap, only while the
/// fence says this candidate leads (checked again right before the write).
fn spawn_worker(
    cms: Api<ConfigMap>,
    identity: String,
    fence: LeaderFence,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Write>>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            if !fence.is_leader() {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            let Ok(mut cm) = cms.get("counter").await else {
                continue;
            };
            let data = cm.data.get_or_insert_with(BTreeMap::new);
            let count: u64 = data["count"].parse().unwrap();
            data.insert("count".into(), (count + 1).to_string());
            data.insert("writer".into(), identity.clone());
            if !fence.is_leader() {
                continue;
            }
            if cms
                .replace("counter", &PostParams::default(), &cm)
                .await
                .is_ok()
            {
                log.lock().unwrap().push(Write {
                    count: count + 1,
                    identity: identity.clone(),
                });
            }
        }
    })
}

fn leaders(candidates: &[Candidate]) -> Vec<usize> {
    (0..candidates.len())
        .filter(|&i| candidates[i].fence.is_leader())
        .collect()
}

fn writes_by(log: &Mutex<Vec<Write>>, identity: &str) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|w| w.identity == identity)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_candidates_one_leader_at_a_time_handover_and_release() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let ns = support::env::unique_namespace(env, "leader-three").await;
    let client = admin_client(env, env.server_url());
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    cms.create(
        &PostParams::default(),
        &ConfigMap {
            metadata: ObjectMeta {
                name: Some("counter".into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([("count".into(), "0".into())])),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut candidates = Vec::new();
    let mut workers = Vec::new();
    for i in 0..3 {
        let identity = format!("candidate-{i}");
        let (elector, _events) =
            LeaderElector::new(client.clone(), &ns, config("three", &identity)).unwrap();
        let fence = elector.fence();
        let cancel = CancellationToken::new();
        let election = tokio::spawn(elector.run(cancel.clone()));
        workers.push(spawn_worker(
            cms.clone(),
            identity.clone(),
            fence.clone(),
            stop.clone(),
            log.clone(),
        ));
        candidates.push(Candidate {
            identity,
            fence,
            cancel,
            election,
        });
    }
    let candidates = Arc::new(candidates);

    // Sample the fences all along: never two leaders at once.
    let most_leaders = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (candidates, stop, most) = (candidates.clone(), stop.clone(), most_leaders.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                most.fetch_max(leaders(&candidates).len(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };

    seen_at("a first leader", Duration::from_secs(30), || {
        leaders(&candidates).len() == 1
    })
    .await;
    let first = leaders(&candidates)[0];
    let first_id = candidates[first].identity.clone();
    seen_at("the first leader's writes", Duration::from_secs(30), || {
        writes_by(&log, &first_id) >= 5
    })
    .await;

    // Crash the first leader: its election task is gone, no release. Its worker keeps
    // running and must stop writing on its own, at the fence's deadline.
    candidates[first].election.abort();
    let crashed = Instant::now();
    let took_over = seen_at("a second leader", Duration::from_secs(30), || {
        leaders(&candidates).iter().any(|&i| i != first)
    })
    .await;
    let handover = took_over - crashed;
    assert!(
        !candidates[first].fence.is_leader(),
        "the crashed leader's fence is still up"
    );
    // Others see the last renewal at their next poll and take over at the first poll after
    // a lease duration: at most two jittered retry periods (2 × 2.2 × retry) late.
    let slack = RETRY.mul_f64(4.4) + Duration::from_millis(500);
    assert!(
        handover <= LEASE + slack,
        "hand-over after a crash took {handover:?}"
    );
    let second = leaders(&candidates)[0];
    let second_id = candidates[second].identity.clone();
    seen_at(
        "the second leader's writes",
        Duration::from_secs(30),
        || writes_by(&log, &second_id) >= 5,
    )
    .await;

    // Cancel the second leader: it releases, and the third takes over well within a lease.
    candidates[second].cancel.cancel();
    let cancelled = Instant::now();
    let third = 3 - first - second;
    let third_took_over = seen_at("the third leader", Duration::from_secs(30), || {
        candidates[third].fence.is_leader()
    })
    .await;
    let release_handover = third_took_over - cancelled;
    assert!(
        release_handover < LEASE,
        "hand-over after release took {release_handover:?}"
    );
    let third_id = candidates[third].identity.clone();
    seen_at("the third leader's writes", Duration::from_secs(30), || {
        writes_by(&log, &third_id) >= 5
    })
    .await;

    let lease = leases.get("three").await.unwrap().spec.unwrap();
    assert_eq!(lease.holder_identity.as_deref(), Some(third_id.as_str()));
    assert_eq!(lease.lease_transitions, Some(2), "{lease:?}");
    assert_eq!(lease.lease_duration_seconds, Some(3));

    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    sampler.await.unwrap();
    for c in candidates.iter() {
        c.cancel.cancel();
    }
    assert_eq!(
        Arc::try_unwrap(candidates)
            .ok()
            .unwrap()
            .remove(second)
            .election
            .await
            .unwrap(),
        Ended::Cancelled
    );

    assert_eq!(most_leaders.load(Ordering::Relaxed), 1);
    let log = log.lock().unwrap().clone();
    // Compare-and-swap: every successful write is the next count.
    for (i, w) in log.iter().enumerate() {
        assert_eq!(w.count, i as u64 + 1, "{log:?}");
    }
    // The writers form exactly three runs, in leadership order: no leader wrote after its
    // successor started.
    let mut runs: Vec<&str> = Vec::new();
    for w in &log {
        if runs.last() != Some(&w.identity.as_str()) {
            runs.push(&w.identity);
        }
    }
    assert_eq!(runs, [&first_id, &second_id, &third_id], "writer runs");
    eprintln!(
        "hand-over after crash {handover:?}, after release {release_handover:?}, {} writes",
        log.len()
    );
}

/// A TCP relay that can be cut: after [`Relay::cut`] its connections are dropped and new
/// ones are accepted but never forwarded (a black hole, like a network partition).
struct Relay {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    task: JoinHandle<()>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let task = {
            let (cut, conns) = (cut.clone(), conns.clone());
            tokio::spawn(async move {
                let mut held: Vec<TcpStream> = Vec::new();
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else {
                        return;
                    };
                    if cut.load(Ordering::SeqCst) {
                        held.push(inbound);
                        continue;
                    }
                    conns.lock().unwrap().push(tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    }));
                }
            })
        };
        Self {
            addr,
            cut,
            conns,
            task,
        }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_that_cannot_renew_steps_down_before_its_lease_expires() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let ns = support::env::unique_namespace(env, "leader-cut").await;
    let admin = admin_client(env, env.server_url());
    let leases: Api<Lease> = Api::namespaced(admin, &ns);
    let port = support::env::apiserver_port(env);
    let relay = Relay::start(SocketAddr::from(([127, 0, 0, 1], port))).await;
    let relayed = admin_client(env, &format!("https://127.0.0.1:{}", relay.addr.port()));

    let (elector, mut events) = LeaderElector::new(relayed, &ns, config("cut", "cut-off")).unwrap();
    let fence = elector.fence();
    let election = tokio::spawn(elector.run(CancellationToken::new()));
    seen_at("leadership", Duration::from_secs(30), || fence.is_leader()).await;

    // What another candidate sees: the local time at which it last saw the leader's record
    // change. Its lease expires, for that observer, a lease duration after that.
    let last_renewal_seen = Arc::new(Mutex::new(Instant::now()));
    let observing = Arc::new(AtomicBool::new(true));
    let observer = {
        let (leases, seen, observing) =
            (leases.clone(), last_renewal_seen.clone(), observing.clone());
        tokio::spawn(async move {
            let mut last = None;
            while observing.load(Ordering::Relaxed) {
                if let Ok(l) = leases.get("cut").await {
                    let spec = l.spec.unwrap_or_default();
                    if spec.holder_identity.as_deref() == Some("cut-off")
                        && last.as_ref() != Some(&spec)
                    {
                        *seen.lock().unwrap() = Instant::now();
                        last = Some(spec);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    // Let a few renewals go through, observed.
    tokio::time::sleep(RETRY * 3).await;
    assert!(fence.is_leader());

    relay.cut();
    let cut_at = Instant::now();
    // Steal the Lease by hand while the leader cannot see it.
    let mut stolen = leases.get("cut").await.unwrap();
    let spec = stolen.spec.get_or_insert_with(Default::default);
    spec.holder_identity = Some("thief".into());
    leases
        .replace("cut", &PostParams::default(), &stolen)
        .await
        .unwrap();

    let stepped_down = seen_at("the step-down", Duration::from_secs(30), || {
        !fence.is_leader()
    })
    .await;
    observing.store(false, Ordering::Relaxed);
    observer.await.unwrap();
    let expiry_for_others = *last_renewal_seen.lock().unwrap() + LEASE;
    assert!(
        stepped_down < expiry_for_others,
        "stepped down {:?} after the lease expired for others",
        stepped_down - expiry_for_others
    );
    assert!(
        stepped_down - cut_at <= RENEW + Duration::from_secs(1),
        "stepped down {:?} after the cut",
        stepped_down - cut_at
    );
    let ended = tokio::time::timeout(Duration::from_secs(10), election)
        .await
        .expect("the election ends after the step-down")
        .unwrap();
    assert_eq!(ended, Ended::LostLeadership);
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(
        matches!(seen.as_slice(), [LeaderEvent::NewLeader(id), LeaderEvent::StartedLeading(g), LeaderEvent::StoppedLeading] if id == "cut-off" && g.token().is_cancelled()),
        "{seen:?}"
    );
    eprintln!(
        "stepped down {:?} after the cut, {:?} before others could take over",
        stepped_down - cut_at,
        expiry_for_others - stepped_down
    );
}

#[tokio::test]
async fn misconfigured_timings_are_refused_before_any_request() {
    let client = k8s_client::Client::try_from(k8s_client::Config::new(
        "https://127.0.0.1:1".parse().unwrap(),
    ))
    .unwrap();
    let err = LeaderElector::new(
        client,
        "default",
        LeaderElectionConfig::new("x").timings(
            Duration::from_secs(2),
            Duration::from_secs(2),
            Duration::from_millis(500),
        ),
    )
    .unwrap_err();
    assert!(err.to_string().contains("\"x\""), "{err}");
    assert!(err.to_string().contains("renew deadline"), "{err}");
}
