use super::*;
use proptest::prelude::*;
use serde_json::json;

fn slice(value: serde_json::Value) -> Slice {
    serde_json::from_value(value).unwrap()
}

fn kubernetes(address_type: &str, endpoints: serde_json::Value, ports: serde_json::Value) -> Slice {
    slice(json!({
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": ports,
    }))
}

fn https(port: serde_json::Value) -> serde_json::Value {
    json!([{"name": "https", "port": port, "protocol": "TCP"}])
}

fn urls(s: &Slice) -> Vec<String> {
    s.endpoints("https").iter().map(|u| u.to_string()).collect()
}

#[test]
fn ready_addresses_with_the_https_port_become_endpoints() {
    let s = kubernetes(
        "IPv4",
        json!([
            {"addresses": ["10.0.0.1"], "conditions": {"ready": true}},
            {"addresses": ["10.0.0.2"]},
            {"addresses": ["10.0.0.3"], "conditions": {"ready": false}},
            {"addresses": ["10.0.0.4", "10.0.0.5"], "conditions": {}},
        ]),
        json!([{"name": "metrics", "port": 1}, {"name": "https", "port": 6443}]),
    );
    assert_eq!(
        urls(&s),
        [
            "https://10.0.0.1:6443/",
            "https://10.0.0.2:6443/",
            "https://10.0.0.4:6443/"
        ]
    );
    let v6 = kubernetes(
        "IPv6",
        json!([{"addresses": ["fd00::1"]}]),
        https(json!(443)),
    );
    assert_eq!(urls(&v6), ["https://[fd00::1]/"]);
}

#[test]
fn hostile_addresses_and_ports_are_refused() {
    let bad_addresses = json!([
        {"addresses": ["not-an-ip"]},
        {"addresses": ["10.0.0.1:443"]},
        {"addresses": ["0.0.0.0"]},
        {"addresses": ["255.255.255.255"]},
        {"addresses": ["224.0.0.1"]},
        {"addresses": ["169.254.169.254"]},
        {"addresses": ["fd00::1"]},
        {"addresses": []},
        {"addresses": ["10.0.0.1/32"]},
        {"addresses": ["10.0.0.1\n"]},
    ]);
    assert!(urls(&kubernetes("IPv4", bad_addresses, https(json!(443)))).is_empty());
    let bad_v6 = json!([
        {"addresses": ["::"]}, {"addresses": ["fe80::1"]}, {"addresses": ["ff02::1"]},
        {"addresses": ["::ffff:169.254.169.254"]}, {"addresses": ["10.0.0.1"]},
    ]);
    assert!(urls(&kubernetes("IPv6", bad_v6, https(json!(443)))).is_empty());
    let one = json!([{"addresses": ["10.0.0.1"]}]);
    for port in [json!(0), json!(-1), json!(65536), json!(1_i64 << 40)] {
        assert!(urls(&kubernetes("IPv4", one.clone(), https(port))).is_empty());
    }
    // No port named https, a UDP one, or an FQDN slice.
    assert!(urls(&kubernetes("IPv4", one.clone(), json!([{"port": 443}]))).is_empty());
    let udp = json!([{"name": "https", "port": 443, "protocol": "UDP"}]);
    assert!(urls(&kubernetes("IPv4", one.clone(), udp)).is_empty());
    assert!(
        urls(&kubernetes(
            "FQDN",
            json!([{"addresses": ["evil.example"]}]),
            https(json!(443))
        ))
        .is_empty()
    );
    // Another service's or namespace's slice.
    let other = slice(json!({
        "metadata": {"name": "x", "labels": {"kubernetes.io/service-name": "other"}},
        "addressType": "IPv4", "endpoints": one, "ports": https(json!(443)),
    }));
    assert!(urls(&other).is_empty());
    let elsewhere = slice(json!({
        "metadata": {"name": "kubernetes", "namespace": "kube-system",
                     "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": https(json!(443)),
    }));
    assert!(urls(&elsewhere).is_empty());
}

#[test]
fn thousands_of_endpoints_are_bounded() {
    let many: Vec<_> = (0..5000u32)
        .map(|i| json!({"addresses": [format!("10.{}.{}.1", i >> 8, i & 255)]}))
        .collect();
    let s = kubernetes("IPv4", json!(many), https(json!(6443)));
    assert_eq!(s.endpoints("https").len(), MAX_DISCOVERED_ENDPOINTS);
    let mut all = BTreeMap::new();
    for n in 0..100 {
        all.insert(format!("s{n:03}"), s.endpoints("https"));
    }
    // Duplicates across slices collapse; the total is bounded too.
    assert_eq!(merge(&all).len(), MAX_DISCOVERED_ENDPOINTS);
    let mut distinct = BTreeMap::new();
    for n in 0..100u32 {
        distinct.insert(
            format!("s{n:03}"),
            vec![format!("https://10.1.{n}.1:8443").parse().unwrap()],
        );
    }
    let merged = merge(&distinct);
    assert_eq!(merged.len(), MAX_DISCOVERED_ENDPOINTS);
    assert_eq!(merged[0].as_str(), "https://10.1.0.1:8443/");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever a slice holds, every endpoint taken from it is a plain `https://ip:port`
    /// with a dialable address of the slice's type and a port in range.
    #[test]
    fn any_slice_gives_only_valid_endpoints(
        addresses in proptest::collection::vec(".{0,40}|[0-9.:a-f]{1,40}", 0..20),
        port in any::<i64>(),
        v6 in any::<bool>(),
    ) {
        let endpoints: Vec<_> = addresses.iter().map(|a| json!({"addresses": [a]})).collect();
        let s = kubernetes(if v6 { "IPv6" } else { "IPv4" }, json!(endpoints), https(json!(port)));
        for url in s.endpoints("https") {
            prop_assert_eq!(url.scheme(), "https");
            prop_assert_eq!(url.path(), "/");
            prop_assert!(url.query().is_none() && url.username().is_empty());
            prop_assert_eq!(i64::from(url.port_or_known_default().unwrap()), port);
            let ip: IpAddr = match url.host().unwrap() {
                url::Host::Ipv4(v4) => IpAddr::V4(v4),
                url::Host::Ipv6(v6) => IpAddr::V6(v6),
                url::Host::Domain(d) => panic!("a name {d}"),
            };
            prop_assert_eq!(ip.is_ipv6(), v6);
            prop_assert!(dialable(ip));
        }
    }
}
