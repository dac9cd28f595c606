//! API Priority and Fairness rejecting in storms: a priority level with one seat that
//! rejects instead of queueing, on a server with a tiny in-flight budget.

use crate::soak::kit::{Report, cpu_time, pick};
use crate::soak::tries;
use crate::support::env::blocking;
use k8s_client::config::{ClientCertificate, KeySource, PemSource};
use k8s_client::testenv::TestEnv;
use k8s_client::{Client, Config};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const USER: &str = "soak-throttled";
const WORKERS: usize = 32;
const TIMEOUT: Duration = Duration::from_secs(30);

/// A call that failed.
#[derive(Debug, Clone)]
struct Failure {
    code: Option<u16>,
    elapsed: Duration,
    retried: usize,
    error: String,
}

fn flow_control_objects() -> [(&'static str, serde_json::Value); 3] {
    let v1 = "flowcontrol.apiserver.k8s.io/v1";
    [
        (
            "/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations",
            serde_json::json!({
                "apiVersion": v1, "kind": "PriorityLevelConfiguration",
                "metadata": {"name": "soak"},
                "spec": {"type": "Limited", "limited": {
                    "nominalConcurrencyShares": 1, "lendablePercent": 0, "borrowingLimitPercent": 0,
                    "limitResponse": {"type": "Reject"}}},
            }),
        ),
        (
            "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas",
            serde_json::json!({
                "apiVersion": v1, "kind": "FlowSchema",
                "metadata": {"name": "soak"},
                "spec": {
                    "priorityLevelConfiguration": {"name": "soak"},
                    "matchingPrecedence": 100,
                    "distinguisherMethod": {"type": "ByUser"},
                    "rules": [{
                        "subjects": [{"kind": "User", "user": {"name": USER}}],
                        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                                           "clusterScope": true, "namespaces": ["*"]}],
                        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                    }],
                },
            }),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "soak-throttled"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
            }),
        ),
    ]
}

/// The distinct `Retry-After` values of the 429s among 64 concurrent raw GETs.
async fn retry_after_values(raw: &reqwest::Client, server: &str) -> Vec<String> {
    let probes = (0..64).map(|_| {
        raw.get(format!("{server}/api/v1/namespaces/default/configmaps"))
            .send()
    });
    let mut values: Vec<String> = futures_util::future::join_all(probes)
        .await
        .into_iter()
        .filter_map(|r| {
            let r = r.ok()?;
            (r.status() == 429).then(|| {
                r.headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap_or("?").to_owned())
                    .unwrap_or_else(|| "none".to_owned())
            })
        })
        .collect();
    values.sort();
    values.dedup();
    values
}

/// Rejections of the `soak` priority level so far (the server's own count).
async fn rejected(env: &TestEnv) -> u64 {
    let text = crate::support::env::raw_admin(env)
        .get(format!("{}/metrics", env.server_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("apiserver_flowcontrol_rejected_requests_total")
                && l.contains("priority_level=\"soak\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Every GET of a throttled user either succeeds or fails with the 429 after the retry
/// budget; retries wait as told (no hot loop) and the client's CPU stays low.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "soak: run by cargo xtask soak"]
async fn priority_and_fairness_storms_end_in_success_or_a_429_without_a_hot_loop() {
    let Some(binaries) = crate::support::env::binaries() else {
        return;
    };
    let env = blocking(move || {
        TestEnv::builder()
            .binaries(binaries)
            .controller_manager(false)
            .apiserver_arg("--max-requests-inflight=2")
            .apiserver_arg("--max-mutating-requests-inflight=1")
            .start()
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "the control plane did not start: {}",
            crate::support::chain(&e)
        )
    });
    let admin = crate::support::env::raw_admin(&env);
    for (path, body) in flow_control_objects() {
        crate::support::env::send_json(
            admin
                .post(format!("{}{path}", env.server_url()))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await;
    }
    let (cert_pem, key_pem) = env.issue_client_certificate(USER, None).unwrap();
    let (cert, key) = (cert_pem.clone(), key_pem.clone());
    let mut config = Config::new(env.server_url().parse().unwrap());
    config.tls.ca = Some(PemSource::File(env.ca_path().to_owned()));
    config.tls.client_certificate = Some(ClientCertificate {
        cert: PemSource::Data(cert.into_bytes()),
        key: KeySource::Data(key),
    });
    let client = Client::builder(config).timeout(TIMEOUT).build().unwrap();
    let before = rejected(&env).await;
    // What a rejection looks like on the wire: the Retry-After values the server sends.
    let raw = crate::support::env::raw_client(
        env.ca_pem().as_bytes(),
        crate::support::env::Auth::ClientCert {
            cert_pem: cert_pem.as_bytes(),
            key_pem: key_pem.expose_secret(),
        },
    );
    let retry_after = retry_after_values(&raw, env.server_url()).await;

    let duration = pick(Duration::from_secs(15), Duration::from_secs(60));
    let calls = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let retries_before = tries::retries();
    let cpu_before = cpu_time();
    let started = Instant::now();
    let workers = (0..WORKERS).map(|_| {
        let (client, calls, ok, failures) =
            (client.clone(), calls.clone(), ok.clone(), failures.clone());
        tokio::spawn(async move {
            while started.elapsed() < duration {
                calls.fetch_add(1, Ordering::Relaxed);
                let t0 = Instant::now();
                let id = calls.load(Ordering::Relaxed);
                let req = http::Request::get(format!(
                    "/api/v1/namespaces/default/configmaps?labelSelector={}-{id}&x=1",
                    tries::MARK
                ))
                .body(Vec::new())
                .unwrap();
                match client.request::<serde_json::Value>(req).await {
                    Ok(_) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        let retried = tries::retries_of(&format!("{}-{id}&", tries::MARK));
                        failures.lock().unwrap().push(Failure {
                            code: e.code(),
                            elapsed: t0.elapsed(),
                            retried,
                            error: crate::support::chain(&e),
                        });
                    }
                }
            }
        })
    });
    futures_util::future::join_all(workers).await;
    let elapsed = started.elapsed();
    let cpu = cpu_time() - cpu_before;
    let rejected = rejected(&env).await - before;
    let retry_after_at_end = retry_after_values(&raw, env.server_url()).await;
    let calls = calls.load(Ordering::Relaxed);
    let ok = ok.load(Ordering::Relaxed);
    let failures = failures.lock().unwrap().clone();
    let retries = tries::retries() - retries_before;
    let tries: u64 = client.endpoints().iter().map(|e| e.answered).sum();
    let cpu_share = cpu.as_secs_f64() / elapsed.as_secs_f64();

    let mut r = Report::default();
    r.add("duration", format!("{elapsed:.1?}"));
    r.add(
        "calls (succeeded, failed)",
        format!("{calls} ({ok}, {})", failures.len()),
    );
    r.add("requests sent (tries)", tries);
    r.add("retries after a 429", retries);
    r.add("429s counted by the server", rejected);
    r.add(
        "Retry-After: at first, longest waited for",
        format!("{} s, {} s", retry_after.join(" "), tries::longest_wait()),
    );
    r.add("Retry-After at the end", retry_after_at_end.join(" "));
    let cpu_per_try = cpu / u32::try_from(tries.max(1)).unwrap_or(u32::MAX);
    r.add(
        "client CPU",
        format!(
            "{cpu:.2?} ({:.1}% of one core, {cpu_per_try:.2?} per request sent)",
            cpu_share * 100.0
        ),
    );
    if let Some(f) = failures.first() {
        r.add(
            "a failure",
            format!(
                "after {:.1?} and {} retries: {}",
                f.elapsed,
                f.retried,
                f.error.replace('\n', " / ")
            ),
        );
    }
    r.print("priority and fairness 429 storms");

    assert!(rejected > 0, "the priority level never rejected anything");
    assert_eq!(ok + failures.len(), calls);
    // Each failure is the 429, returned after the whole budget, or when the wait asked
    // for would end past the request timeout (priority and fairness doubles its
    // Retry-After while rejections go on: 1 s, …, 16 s, 32 s).
    let longest_wait = retry_after
        .iter()
        .chain(&retry_after_at_end)
        .filter_map(|v| v.parse().ok())
        .chain([tries::longest_wait()])
        .max()
        .map_or(Duration::from_secs(1), Duration::from_secs);
    for f in &failures {
        assert_eq!(f.code, Some(429), "{f:?}");
        assert!(
            f.retried + 1 == k8s_client::transport::MAX_TRIES as usize
                || f.elapsed + longest_wait >= TIMEOUT,
            "{f:?}"
        );
    }
    // Every retry waits at least the second the server asks for: at most one extra try
    // per worker per second, and never more than the retry budget per call.
    assert_eq!(tries, calls as u64 + retries);
    assert!(
        retries <= (WORKERS as u64) * (elapsed.as_secs() + 1),
        "{retries} retries in {elapsed:?} from {WORKERS} workers"
    );
    assert!(tries <= calls as u64 * u64::from(k8s_client::transport::MAX_TRIES));
    // No hot loop: a few milliseconds of CPU per request sent (debug build), and never
    // the whole of a core.
    assert!(
        cpu_per_try < Duration::from_millis(5) && cpu_share < 1.0,
        "the client used {cpu:?} of CPU in {elapsed:?} for {tries} requests"
    );
}
