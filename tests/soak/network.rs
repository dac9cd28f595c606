//! Network faults between the client and the API server, through a relay the test
//! controls: resets, a black hole and slow reads. The HTTP/2 health check and the
//! request timeout must detect a dead connection and the client must recover.

use crate::soak::kit::{Report, pick};
use crate::soak::relay::{Mode, Relay};
use k8s_client::Client;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HEALTH_INTERVAL: Duration = Duration::from_secs(2);
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// (start, end, succeeded) of every probe GET.
type Outcomes = Arc<Mutex<Vec<(Instant, Instant, Result<(), String>)>>>;

fn probe(client: Client, stop: Arc<AtomicBool>, out: Outcomes) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let req = http::Request::get("/api/v1/namespaces/default")
                .body(Vec::new())
                .unwrap();
            let start = Instant::now();
            let result = client
                .request::<serde_json::Value>(req)
                .await
                .map(drop)
                .map_err(|e| crate::support::chain(&e));
            let failed = result.is_err();
            out.lock().unwrap().push((start, Instant::now(), result));
            let pause = if failed { 100 } else { 20 };
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    })
}

/// The first success that started at or after `t`, as time after `t`.
fn recovery(out: &Outcomes, t: Instant) -> Option<Duration> {
    out.lock()
        .unwrap()
        .iter()
        .filter(|(s, _, r)| *s >= t && r.is_ok())
        .map(|(_, e, _)| *e - t)
        .min()
}

fn failures_between(out: &Outcomes, from: Instant, to: Instant) -> Vec<(Duration, String)> {
    out.lock()
        .unwrap()
        .iter()
        .filter(|(s, _, _)| *s >= from && *s < to)
        .filter_map(|(s, e, r)| r.as_ref().err().map(|m| (*e - *s, m.clone())))
        .collect()
}

async fn wait_until_done(out: &Outcomes, t: Instant) {
    let until = Instant::now() + Duration::from_secs(60);
    while recovery(out, t).is_none() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Connection resets lose no GET; a black hole is detected by the health check and the
/// client serves again within the health-check interval + its timeout + one request
/// timeout of the path coming back; slow reads only slow requests down.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "soak: run by cargo xtask soak"]
async fn network_faults_are_detected_and_the_client_recovers() {
    let Some(env) = crate::support::env::control_plane() else {
        return;
    };
    let upstream: SocketAddr = format!("127.0.0.1:{}", crate::support::env::apiserver_port(env))
        .parse()
        .unwrap();
    let relay = Relay::start(upstream).await;
    let mut config = crate::support::env::admin_config(env);
    config.cluster_url = format!("https://{}", relay.addr()).parse().unwrap();
    let client = Client::builder(config)
        .timeout(REQUEST_TIMEOUT)
        .http2_health_check(HEALTH_INTERVAL, HEALTH_TIMEOUT)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let out: Outcomes = Arc::default();
    let probes: Vec<_> = (0..4)
        .map(|_| probe(client.clone(), stop.clone(), out.clone()))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut r = Report::default();
    let rounds = pick(2, 10);

    // Resets: GETs are retried on a new connection.
    let resets_from = Instant::now();
    let mut worst_reset = Duration::ZERO;
    for _ in 0..rounds {
        let t = Instant::now();
        relay.reset_all();
        wait_until_done(&out, t).await;
        worst_reset = worst_reset.max(recovery(&out, t).expect("served after a reset"));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let reset_failures = failures_between(&out, resets_from, Instant::now());
    r.add("resets", rounds);
    r.add("GETs failed across resets", reset_failures.len());
    r.add(
        "worst time to the next success after a reset",
        format!("{worst_reset:.2?}"),
    );

    // Black holes: the open connection dies silently; the path comes back after 2 s
    // but the old connection stays dead until the health check gives up on it.
    let holes_from = Instant::now();
    let bound = HEALTH_INTERVAL + HEALTH_TIMEOUT + REQUEST_TIMEOUT;
    let mut worst_hole = Duration::ZERO;
    for _ in 0..rounds {
        relay.set_mode(Mode::BlackHole);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let back = Instant::now();
        relay.set_mode(Mode::Pass);
        wait_until_done(&out, back).await;
        let took = recovery(&out, back).expect("served after the black hole");
        worst_hole = worst_hole.max(took);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let hole_failures = failures_between(&out, holes_from, Instant::now());
    r.add("black holes (2 s each)", rounds);
    r.add(
        "GETs failed (timeouts) across black holes",
        hole_failures.len(),
    );
    r.add(
        "worst recovery after the path came back",
        format!("{worst_hole:.2?} (bound: interval {HEALTH_INTERVAL:?} + ping timeout {HEALTH_TIMEOUT:?} + request timeout {REQUEST_TIMEOUT:?} = {bound:?})"),
    );

    // Slow reads.
    let slow_from = Instant::now();
    relay.set_mode(Mode::Slow);
    tokio::time::sleep(pick(Duration::from_secs(3), Duration::from_secs(15))).await;
    relay.set_mode(Mode::Pass);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let slow_failures = failures_between(&out, slow_from, Instant::now());
    stop.store(true, Ordering::SeqCst);
    futures_util::future::join_all(probes).await;
    let total = out.lock().unwrap().len();
    r.add("GETs failed during slow reads", slow_failures.len());
    r.add("GETs in all", total);
    r.add("connections opened", relay.accepted());
    r.print("network faults");

    assert!(reset_failures.is_empty(), "{:?}", reset_failures.first());
    assert!(slow_failures.is_empty(), "{:?}", slow_failures.first());
    assert!(
        worst_hole <= bound + Duration::from_secs(1),
        "{worst_hole:?} > {bound:?}"
    );
    for (took, e) in &hole_failures {
        assert!(
            *took <= REQUEST_TIMEOUT + Duration::from_secs(1),
            "a GET failed after {took:?}: {e}"
        );
    }
}
