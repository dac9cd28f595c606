//! Endpoints discovered from the `default/kubernetes` EndpointSlice of real API servers:
//! three kube-apiservers on routable addresses run the `lease` endpoint reconciler and
//! publish themselves; the client follows them as they are killed and restarted.
//! Needs root (the addresses are added to `lo`).

mod support;

use support::env::blocking;
use support::eventually;

use k8s_client::client::{EndpointDiscovery, EndpointEvent};
use k8s_client::config::KubeconfigOptions;
use k8s_client::testenv::TestEnv;
use k8s_client::{Client, Config};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SERVERS: usize = 3;

fn start_env() -> Option<TestEnv> {
    let binaries = support::env::binaries()?;
    let env = TestEnv::builder()
        .binaries(binaries)
        .controller_manager(false)
        .apiservers(SERVERS)
        .routable_apiservers(true)
        .start()
        .unwrap_or_else(|e| panic!("the control plane did not start: {}", support::chain(&e)));
    Some(env)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn shown(client: &Client) -> Vec<String> {
    sorted(client.endpoints().into_iter().map(|e| e.endpoint).collect())
}

async fn get(client: &Client) -> Result<serde_json::Value, k8s_client::Error> {
    let req = http::Request::get("/api/v1/namespaces/default")
        .body(Vec::new())
        .unwrap();
    client.request(req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_client_follows_api_servers_through_the_endpointslice() {
    let Some(env) = blocking(start_env).await else {
        return;
    };
    let env = Arc::new(env);
    let urls = sorted(env.apiserver_urls());
    assert!(
        env.server_url().starts_with("https://198.51.100."),
        "{}",
        env.server_url()
    );
    let mut options = KubeconfigOptions::default();
    options.kubeconfig = Some(env.admin_kubeconfig().to_owned());
    let config = Config::from_kubeconfig(&options).unwrap();
    let events = Arc::new(Mutex::new(Vec::<EndpointEvent>::new()));
    let recorded = events.clone();
    let client = Client::builder(config)
        .discover_endpoints(EndpointDiscovery::EndpointSlices)
        .on_endpoint_health(move |e| recorded.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();

    // The slice lists every server (each one's lease reconciler adds itself at start).
    get(&client).await.unwrap();
    eventually(
        "three discovered endpoints",
        Duration::from_secs(60),
        || shown(&client) == urls,
    )
    .await;
    for _ in 0..300 {
        get(&client).await.unwrap();
    }
    let answered: Vec<u64> = client.endpoints().iter().map(|e| e.answered).collect();
    assert!(answered.iter().all(|&n| n > 0), "{answered:?}");

    // Kill one under load: no GET fails; once its lease expires the slice drops it
    // and so does the client.
    let victim = env.apiserver_urls()[2].clone();
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (client, stop, failures, sent) =
                (client.clone(), stop.clone(), failures.clone(), sent.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    sent.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = get(&client).await {
                        eprintln!("GET failed: {}", support::chain(&e));
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let killed = env.clone();
    blocking(move || killed.kill_apiserver(2)).await.unwrap();
    let killed_at = Instant::now();
    eventually(
        "the killed server to leave the slice",
        Duration::from_secs(90),
        || !shown(&client).contains(&victim),
    )
    .await;
    let left_after = killed_at.elapsed();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "GETs failed during the kill"
    );
    assert!(sent.load(Ordering::Relaxed) > 100);
    assert_eq!(shown(&client).len(), SERVERS - 1);
    eprintln!("the killed server left the client's set {left_after:?} after the kill");
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.endpoint == victim && !e.healthy),
        "the victim was never ejected"
    );

    // Restarted: it publishes itself again and serves again.
    let restarted = env.clone();
    blocking(move || restarted.start_apiserver(2))
        .await
        .unwrap();
    eventually(
        "the restarted server to rejoin",
        Duration::from_secs(60),
        || shown(&client) == urls,
    )
    .await;
    let served_by_victim = || {
        client
            .endpoints()
            .iter()
            .find(|e| e.endpoint == victim)
            .map_or(0, |e| e.answered)
    };
    for _ in 0..600 {
        get(&client).await.unwrap();
        if served_by_victim() > 0 {
            break;
        }
    }
    assert!(
        served_by_victim() > 0,
        "the restarted server got no request"
    );
    drop(client);
    blocking(move || drop(env)).await;
}

/// `serverAddressByClientCIDRs` from a real API server: the `0.0.0.0/0` entry is its
/// `--advertise-address`, which the client then dials (verifying the cluster URL's
/// name); a client the server sees in the service network (here through
/// `X-Forwarded-For`, which kube-apiserver honours) gets the `kubernetes` service address,
/// the longer CIDR.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_cidr_discovery_takes_the_address_for_the_clients_network() {
    let Some(binaries) = support::env::binaries() else {
        return;
    };
    let env = blocking(move || {
        TestEnv::builder()
            .binaries(binaries)
            .controller_manager(false)
            .start()
            .unwrap_or_else(|e| panic!("the control plane did not start: {}", support::chain(&e)))
    })
    .await;
    let port = env.server_url().rsplit(':').next().unwrap().to_owned();
    let by_name = |forwarded_for: Option<&str>| {
        let mut options = KubeconfigOptions::default();
        options.kubeconfig = Some(env.admin_kubeconfig().to_owned());
        let mut config = Config::from_kubeconfig(&options).unwrap();
        // The cluster by name: the advertised address differs from it.
        config.cluster_url = format!("https://localhost:{port}").parse().unwrap();
        if let Some(ip) = forwarded_for {
            config.headers.push((
                http::HeaderName::from_static("x-forwarded-for"),
                http::HeaderValue::from_str(ip).unwrap(),
            ));
        }
        Client::builder(config)
            .discover_endpoints(EndpointDiscovery::ClientCidr)
            .build()
            .unwrap()
    };

    let client = by_name(None);
    assert_eq!(shown(&client), [format!("https://localhost:{port}")]);
    get(&client).await.unwrap();
    let advertised = format!("https://127.0.0.1:{port}");
    eventually("the advertised address", Duration::from_secs(30), || {
        shown(&client) == [advertised.clone()]
    })
    .await;
    get(&client).await.unwrap();
    assert!(client.endpoints()[0].answered > 0);

    let in_service_network = by_name(Some("10.0.0.7"));
    get(&in_service_network).await.unwrap();
    eventually("the service address", Duration::from_secs(30), || {
        shown(&in_service_network) == ["https://10.0.0.1".to_owned()]
    })
    .await;
    drop((client, in_service_network));
    blocking(move || drop(env)).await;
}
