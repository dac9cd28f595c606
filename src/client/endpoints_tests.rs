use super::*;
use crate::config::TlsConfig;
use crate::transport::{ProxyEnv, ProxyRules};

fn settings() -> StackSettings {
    StackSettings {
        tls: TlsConfig::default(),
        proxy: ProxyRules::new(None, &ProxyEnv::none()).unwrap(),
        timeout: None,
        connect_timeout: None,
        read_timeout: None,
        gzip: false,
        sni: None,
        http2_health: Some(crate::client::stack::HEALTH_CHECK),
        http2: true,
        http1_for_large_responses: true,
    }
}

fn set(cluster: &str, extra: &[&str]) -> EndpointSet {
    let cluster: url::Url = cluster.parse().unwrap();
    let s = settings();
    let extra: Vec<url::Url> = extra.iter().map(|u| u.parse().unwrap()).collect();
    EndpointSet::new(
        &cluster,
        Stack::new(s.clone()).unwrap(),
        &s,
        &extra,
        EndpointDiscovery::Off,
        None,
    )
    .unwrap()
}

#[test]
fn extra_endpoints_are_validated() {
    let cluster: url::Url = "https://127.0.0.1:6443/prefix".parse().unwrap();
    let s = settings();
    for bad in [
        "http://127.0.0.2:6443",
        "https://127.0.0.2:6443/other",
        "https://127.0.0.2:6443/?x=1",
        "https://user:pw@127.0.0.2:6443",
    ] {
        let e = EndpointSet::new(
            &cluster,
            Stack::new(s.clone()).unwrap(),
            &s,
            &[bad.parse().unwrap()],
            EndpointDiscovery::Off,
            None,
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(e, TransportError::InvalidEndpoint { .. }),
            "{bad}: {text}"
        );
        assert!(!text.contains("pw"), "{text}");
    }
}

#[test]
fn duplicates_collapse_and_targets_keep_the_cluster_path() {
    let s = set(
        "https://127.0.0.1:6443/prefix",
        &[
            "https://127.0.0.1:6443",
            "https://127.0.0.2:6443",
            "https://127.0.0.2:6443/",
        ],
    );
    assert_eq!(s.len(), 2);
    let url: url::Url = "https://127.0.0.1:6443/prefix/api?x=1".parse().unwrap();
    assert!(s.is_cluster(&url));
    assert!(!s.is_cluster(&"https://127.0.0.9:6443/api".parse().unwrap()));
    let t = s.target(&s.active()[1], &url);
    assert_eq!(t.as_str(), "https://127.0.0.2:6443/prefix/api?x=1");
    assert_eq!(
        readyz_url(&"https://h:1/prefix/".parse().unwrap()).as_str(),
        "https://h:1/prefix/readyz"
    );
}

#[test]
fn extra_endpoints_verify_the_cluster_name_and_send_it_as_sni() {
    let s = set("https://api.example.com:6443", &["https://10.0.0.2:6443"]);
    let t = s.target(
        &s.active()[1],
        &"https://api.example.com:6443/api".parse().unwrap(),
    );
    // Addressed to the name (SNI, verification); the resolver dials 10.0.0.2.
    assert_eq!(t.as_str(), "https://api.example.com:6443/api");
    let settings = settings();
    let name = verified_name(&"https://[::1]:6443".parse().unwrap(), &settings).unwrap();
    assert_eq!(name, "::1");
}

#[test]
fn power_of_two_choices_avoids_the_busier_endpoint_and_ejected_ones() {
    let s = set(
        "https://127.0.0.1:1",
        &["https://127.0.0.2:1", "https://127.0.0.3:1"],
    );
    let active = s.active();
    let busy = active[0].start();
    let _busy2 = active[0].start();
    let mut counts = [0usize; 3];
    for _ in 0..3000 {
        counts[s.pick(&[]).unwrap().id] += 1;
    }
    // Endpoint 0 loses every comparison it takes part in.
    assert_eq!(counts[0], 0, "{counts:?}");
    assert!(counts[1] > 1000 && counts[2] > 1000, "{counts:?}");
    drop(busy);

    let seen = active[1].start().seen();
    s.connection_failed(&active[1], HealthReason::ConnectFailed, seen);
    for _ in 0..200 {
        assert_ne!(s.pick(&[]).unwrap().id, 1);
    }
    assert_eq!(
        s.pick(&[0, 2]).unwrap().id,
        1,
        "ejected but the only one left"
    );
    assert!(s.pick(&[0, 1, 2]).is_none());
    let st = s.statuses();
    assert!(!st[1].healthy && st[0].healthy);
}

#[test]
fn error_bursts_eject_and_a_success_readmits() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let cluster: url::Url = "https://127.0.0.1:1".parse().unwrap();
    let st = settings();
    let s = EndpointSet::new(
        &cluster,
        Stack::new(st.clone()).unwrap(),
        &st,
        &["https://127.0.0.2:1".parse().unwrap()],
        EndpointDiscovery::Off,
        Some(Arc::new(move |e: &EndpointEvent| {
            lock(&seen).push(e.clone())
        })),
    )
    .unwrap();
    let active = s.active();
    let ep = &active[1];
    let before = ep.start().seen();
    for _ in 0..ERROR_BURST - 1 {
        s.answered(ep, http::StatusCode::SERVICE_UNAVAILABLE, before);
    }
    s.answered(ep, http::StatusCode::OK, before);
    assert!(ep.is_healthy(), "a success resets the count");
    for _ in 0..ERROR_BURST {
        s.answered(ep, http::StatusCode::TOO_MANY_REQUESTS, before);
    }
    assert!(!ep.is_healthy());
    // A request sent before the ejection proves nothing; one sent after does.
    s.answered(ep, http::StatusCode::OK, before);
    assert!(!ep.is_healthy());
    let after = ep.start().seen();
    s.answered(ep, http::StatusCode::NOT_FOUND, after);
    assert!(ep.is_healthy());
    // A stale connection failing after the re-admission does not eject again.
    s.connection_failed(ep, HealthReason::ConnectionLost, after);
    assert!(ep.is_healthy());
    let ev = lock(&events).clone();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].reason, HealthReason::ErrorBurst);
    assert!(!ev[0].healthy && ev[1].healthy);
    assert_eq!(ev[0].endpoint, "https://127.0.0.2:1");
}

#[test]
fn probe_backoff_doubles_and_is_capped() {
    let s = set("https://127.0.0.1:1", &["https://127.0.0.2:1"]);
    let active = s.active();
    let ep = &active[1];
    assert!(eject(ep, false));
    assert_eq!(lock(&ep.health).delay, FIRST_PROBE_DELAY);
    for _ in 0..20 {
        assert!(!eject(ep, true));
    }
    assert_eq!(lock(&ep.health).delay, MAX_PROBE_DELAY);
}

#[tokio::test]
async fn a_probe_of_a_dead_endpoint_keeps_it_ejected() {
    // Port 1 on loopback refuses connections.
    let s = set("https://127.0.0.1:1", &["https://127.0.0.2:1"]);
    let ep = s.active()[1].clone();
    let seen = ep.start().seen();
    s.connection_failed(&ep, HealthReason::ConnectFailed, seen);
    lock(&ep.health).next_probe = Instant::now();
    s.start_due_probes(None, None);
    assert!(lock(&ep.health).probing);
    let deadline = Instant::now() + Duration::from_secs(10);
    while lock(&ep.health).probing {
        assert!(Instant::now() < deadline, "the probe never finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let h = lock(&ep.health);
    assert!(!h.healthy);
    assert_eq!(h.delay, FIRST_PROBE_DELAY * 2);
}

fn discovering(cluster: &str) -> EndpointSet {
    let cluster: url::Url = cluster.parse().unwrap();
    let s = settings();
    EndpointSet::new(
        &cluster,
        Stack::new(s.clone()).unwrap(),
        &s,
        &[],
        EndpointDiscovery::EndpointSlices,
        None,
    )
    .unwrap()
}

fn shown(s: &EndpointSet) -> Vec<String> {
    s.statuses().into_iter().map(|e| e.endpoint).collect()
}

#[test]
fn discovered_endpoints_replace_the_cluster_url_and_keep_their_state() {
    let s = discovering("https://kube.example:6443");
    assert_eq!(shown(&s), ["https://kube.example:6443"]);
    let a: url::Url = "https://10.0.0.1:6443".parse().unwrap();
    let b: url::Url = "https://10.0.0.2:6443".parse().unwrap();
    assert!(s.set_discovered(&[a.clone(), b.clone()]));
    assert_eq!(
        shown(&s),
        ["https://10.0.0.1:6443", "https://10.0.0.2:6443"]
    );
    // The same set again changes nothing; a kept endpoint keeps its identity (pool, health).
    let id_b = s.active()[1].id;
    assert!(!s.set_discovered(&[a.clone(), b.clone()]));
    assert!(s.set_discovered(std::slice::from_ref(&b)));
    assert_eq!(s.active()[0].id, id_b);
    // Every discovered endpoint verifies the cluster's name, whatever it dials.
    let t = s.target(
        &s.active()[0],
        &"https://kube.example:6443/api".parse().unwrap(),
    );
    assert_eq!(t.host_str(), Some("kube.example"));
    // None left: the cluster URL serves again.
    assert!(s.set_discovered(&[]));
    assert_eq!(shown(&s), ["https://kube.example:6443"]);
    assert_eq!(s.active()[0].id, 0);
    // A discovered address equal to the cluster URL reuses its endpoint.
    assert!(s.set_discovered(&["https://kube.example:6443".parse().unwrap(), a]));
    assert_eq!(s.active()[0].id, 0);
}

#[test]
fn discovered_endpoints_of_another_scheme_or_with_a_path_are_skipped() {
    let s = discovering("https://10.0.0.1:6443");
    assert!(!s.set_discovered(&[
        "http://10.0.0.2:6443".parse().unwrap(),
        "https://10.0.0.3:6443/x".parse().unwrap(),
    ]));
    assert_eq!(shown(&s), ["https://10.0.0.1:6443"]);
}

#[test]
fn builder_endpoints_stay_beside_discovered_ones_and_discovery_starts_once() {
    let cluster: url::Url = "https://10.0.0.1:6443".parse().unwrap();
    let st = settings();
    let s = EndpointSet::new(
        &cluster,
        Stack::new(st.clone()).unwrap(),
        &st,
        &["https://10.0.0.9:6443".parse().unwrap()],
        EndpointDiscovery::ClientCidr,
        None,
    )
    .unwrap();
    assert!(s.set_discovered(&["https://10.0.0.2:6443".parse().unwrap()]));
    assert_eq!(
        shown(&s),
        ["https://10.0.0.2:6443", "https://10.0.0.9:6443"]
    );
    // Outside a runtime discovery cannot start; inside, exactly once.
    assert_eq!(s.claim_discovery_start(), None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(
            s.claim_discovery_start(),
            Some(EndpointDiscovery::ClientCidr)
        );
        assert_eq!(s.claim_discovery_start(), None);
        assert_eq!(
            set("https://10.0.0.1:6443", &[]).claim_discovery_start(),
            None
        );
    });
}
