//! port-forward over WebSocket against a real API server and kwok's kubelet (which
//! connects pod ports to local servers).

mod support;

use k8s_client::api::{Api, ForwardTarget, PortMapping, PortforwardProtocol, StreamError};
use k8s_client::testenv::{
    SHARED_FORWARDED_POD_PORT as ECHO, SHARED_FORWARDED_POD_PORT_2 as BANNER,
};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::core::v1::Service;
use std::io::{Read, Write};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BANNER_TEXT: &[u8] = b"nine-oh-nine\n";

/// The local servers behind the forwarded pod ports: an echo server behind 8080 and
/// one that sends a banner and closes behind 9090.
fn serve(env: &k8s_client::testenv::TestEnv) {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let echo = std::net::TcpListener::bind(("127.0.0.1", env.forwarded_port(ECHO).unwrap()))
            .expect("bind echo");
        std::thread::spawn(move || {
            for conn in echo.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut conn = conn;
                    let mut buf = [0u8; 65536];
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 || conn.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let banner =
            std::net::TcpListener::bind(("127.0.0.1", env.forwarded_port(BANNER).unwrap()))
                .expect("bind banner");
        std::thread::spawn(move || {
            for mut conn in banner.incoming().flatten() {
                let _ = conn.write_all(BANNER_TEXT);
            }
        });
    });
}

async fn setup(prefix: &str) -> Option<(&'static k8s_client::testenv::TestEnv, Api<Pod>)> {
    let (env, pods, _) = support::streams::box_pod(prefix, &["main"], &[ECHO, BANNER]).await?;
    serve(env);
    Some((env, pods))
}

/// Writes `data` and reads back as many bytes.
async fn echo_through(
    stream: &mut (impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin),
    data: &[u8],
) -> Vec<u8> {
    let (mut r, mut w) = tokio::io::split(stream);
    let write = async {
        w.write_all(data).await.expect("write");
        w.flush().await.expect("flush");
    };
    let read = async {
        let mut got = vec![0u8; data.len()];
        r.read_exact(&mut got).await.expect("read echo");
        got
    };
    let ((), got) = tokio::join!(write, read);
    got
}

#[tokio::test]
async fn forwarded_bytes_come_back_unchanged() {
    let Some((_env, pods)) = setup("pf-echo").await else {
        return;
    };
    let payload = b"ping through the pod\n".repeat(100);
    for protocol in [PortforwardProtocol::Auto, PortforwardProtocol::WebSocket] {
        let mut pf = pods
            .portforward_with("box", &[ECHO], protocol)
            .await
            .expect("portforward");
        let mut stream = pf.take_stream(ECHO).unwrap();
        assert_eq!(
            echo_through(&mut stream, &payload).await,
            payload,
            "{protocol:?}"
        );
    }
}

#[tokio::test]
async fn two_ports_on_one_connection() {
    let Some((_env, pods)) = setup("pf-two").await else {
        return;
    };
    let mut pf = pods
        .portforward_with("box", &[ECHO, BANNER], PortforwardProtocol::WebSocket)
        .await
        .expect("portforward");
    assert_eq!(pf.protocol(), PortforwardProtocol::WebSocket);
    let mut banner = pf.take_stream(BANNER).unwrap();
    let mut echo = pf.take_stream(ECHO).unwrap();
    assert_eq!(echo_through(&mut echo, b"both").await, b"both");
    // The v4 framing has no per-port end: read the banner's length.
    let mut got = vec![0u8; BANNER_TEXT.len()];
    banner.read_exact(&mut got).await.unwrap();
    assert_eq!(got, BANNER_TEXT);
}

#[tokio::test]
async fn fifty_megabytes_round_trip_intact() {
    let Some((_env, pods)) = setup("pf-big").await else {
        return;
    };
    let data: Vec<u8> = (0..50u64 * 1024 * 1024)
        .map(|i| (i.wrapping_mul(0x9E37_79B9) >> 11) as u8)
        .collect();
    let mut pf = pods.portforward("box", &[ECHO]).await.expect("portforward");
    let mut stream = pf.take_stream(ECHO).unwrap();
    let got = echo_through(&mut stream, &data).await;
    let hash = |d: &[u8]| {
        ring::digest::digest(&ring::digest::SHA256, d)
            .as_ref()
            .to_vec()
    };
    assert_eq!(hash(&got), hash(&data));
}

#[tokio::test]
async fn sixteen_concurrent_connections() {
    let Some((_env, pods)) = setup("pf-16").await else {
        return;
    };
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let pods = pods.clone();
            tokio::spawn(async move {
                let mut pf = pods.portforward("box", &[ECHO]).await.expect("portforward");
                let mut stream = pf.take_stream(ECHO).unwrap();
                let payload = format!("connection {i} ").repeat(5000).into_bytes();
                assert_eq!(echo_through(&mut stream, &payload).await, payload);
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("connection task");
    }
}

#[tokio::test]
async fn unforwardable_port_reports_the_nodes_error() {
    let Some((_env, pods)) = setup("pf-err").await else {
        return;
    };
    for protocol in [PortforwardProtocol::Auto, PortforwardProtocol::WebSocket] {
        let mut pf = pods
            .portforward_with("box", &[7777], protocol)
            .await
            .expect("portforward");
        let mut stream = pf.take_stream(7777).unwrap();
        let _ = stream.write_all(b"x").await;
        let _ = stream.shutdown().await;
        let mut got = Vec::new();
        // The stream's end carries the node's error too.
        let read = stream.read_to_end(&mut got).await;
        assert!(got.is_empty());
        assert!(read.is_err(), "{protocol:?}");
        let err = tokio::time::timeout(Duration::from_secs(30), pf.join())
            .await
            .expect("connection ends")
            .expect_err("no forward for 7777");
        let k8s_client::Error::Stream(StreamError::PortForward {
            port: 7777,
            message,
        }) = &err
        else {
            panic!("{err:?}");
        };
        assert!(message.contains("7777"), "{message}");
        assert!(message.contains("no forward found"), "{message}");
    }
}

#[tokio::test]
async fn missing_pod_is_an_api_error() {
    let Some((_env, pods)) = setup("pf-missing").await else {
        return;
    };
    let err = pods.portforward("nope", &[ECHO]).await.expect_err("no pod");
    let api = err.api().expect("API error");
    assert_eq!(api.code, 404);
}

/// Creates `object` (any namespaced kind, as JSON) in `ns`.
async fn create<K>(client: &k8s_client::Client, ns: &str, object: serde_json::Value)
where
    K: k8s_client::Resource<DynamicType = (), Scope = k8s_client::api::NamespaceResourceScope>
        + serde::Serialize
        + serde::de::DeserializeOwned
        + Clone
        + std::fmt::Debug
        + Send
        + 'static,
{
    let object: K = serde_json::from_value(object).expect("object");
    Api::<K>::namespaced(client.clone(), ns)
        .create(&k8s_client::api::PostParams::default(), &object)
        .await
        .expect("create");
}

/// Resolves `target`, retrying while its pod is still being created and started.
async fn resolve_when_running(
    pods: &Api<Pod>,
    target: &str,
    mappings: &[&str],
) -> k8s_client::api::ResolvedForward {
    let target = ForwardTarget::parse(target).unwrap();
    let mappings: Vec<PortMapping> = mappings
        .iter()
        .map(|m| PortMapping::parse(m).unwrap())
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        match pods.resolve_forward(&target, &mappings).await {
            Ok(r) => return r,
            Err(k8s_client::Error::Stream(
                StreamError::NoPods { .. } | StreamError::PodNotRunning { .. },
            )) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{target}: {}", support::chain(&e)),
        }
    }
}

/// The container ports `kubectl port-forward TARGET MAPPINGS` announces
/// ("Forwarding from 127.0.0.1:L -> R"), in order, or its error output.
async fn kubectl_forward(
    env: &k8s_client::testenv::TestEnv,
    ns: &str,
    target: &str,
    mappings: &[&str],
) -> Result<Vec<(u16, u16)>, String> {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new("kubectl")
        .arg(format!("--kubeconfig={}", env.admin_kubeconfig().display()))
        .args(["-n", ns, "port-forward", "--address=127.0.0.1", target])
        .args(mappings)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl on PATH");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ports = Vec::new();
    while ports.len() < mappings.len() {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("kubectl in time")
            .expect("kubectl output");
        let Some(line) = line else {
            let out = child.wait_with_output().await.unwrap();
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        };
        if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
            let (local, remote) = rest.split_once(" -> ").unwrap();
            ports.push((local.parse().unwrap(), remote.parse().unwrap()));
        }
    }
    child.kill().await.ok();
    Ok(ports)
}

#[tokio::test]
async fn services_and_workloads_resolve_to_a_running_pod_like_kubectl() {
    let Some((env, pods)) = setup("pf-resolve").await else {
        return;
    };
    let ns = pods.namespace().unwrap().to_owned();
    let client = pods.client().clone();
    support::streams::running_pod(
        &client,
        &ns,
        support::streams::pod("echo-a", &["main"], &[("app", "echo")], &[ECHO, BANNER]),
    )
    .await;
    create::<Service>(
        &client,
        &ns,
        serde_json::json!({
            "metadata": {"name": "echo"},
            "spec": {"selector": {"app": "echo"}, "ports": [
                {"name": "http", "port": 80, "targetPort": format!("p{ECHO}")},
                {"name": "banner", "port": 81, "targetPort": BANNER},
            ]}
        }),
    )
    .await;
    create::<Service>(
        &client,
        &ns,
        serde_json::json!({"metadata": {"name": "bare"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .await;

    // Service ports become the pod's container ports (named and numbered targetPorts).
    let resolved = resolve_when_running(&pods, "svc/echo", &["80", ":banner", "5000:81"]).await;
    assert_eq!(resolved.pod, "echo-a");
    assert_eq!(
        resolved.ports,
        [(Some(80), ECHO), (None, BANNER), (Some(5000), BANNER)]
    );
    let theirs = kubectl_forward(env, &ns, "svc/echo", &[":80", ":banner"])
        .await
        .unwrap();
    let theirs: Vec<u16> = theirs.iter().map(|(_, remote)| *remote).collect();
    assert_eq!(theirs, [ECHO, BANNER]);
    let mut pf = pods.portforward(&resolved.pod, &[ECHO]).await.unwrap();
    let mut stream = pf.take_stream(ECHO).unwrap();
    assert_eq!(
        echo_through(&mut stream, b"through the service").await,
        b"through the service"
    );

    // kubectl's messages for what cannot be resolved.
    for (target, mapping) in [("svc/bare", "80"), ("svc/echo", "nada"), ("svc/echo", "99")] {
        let err = pods
            .resolve_forward(
                &ForwardTarget::parse(target).unwrap(),
                &[PortMapping::parse(mapping).unwrap()],
            )
            .await
            .expect_err("unresolvable");
        let k8s_client::Error::Stream(ours) = &err else {
            panic!("{err:?}");
        };
        let theirs = kubectl_forward(env, &ns, target, &[mapping])
            .await
            .expect_err("kubectl fails");
        assert!(
            theirs.contains(&ours.to_string()),
            "kubectl: {theirs}, ours: {ours}"
        );
    }

    // Workloads: the controllers' pods, found through the selectors.
    let template = |app: &str| {
        serde_json::json!({
            "metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "main", "image": "example.invalid/app:1",
                "ports": [{"name": "web", "containerPort": ECHO}]}]},
        })
    };
    create::<Deployment>(
        &client,
        &ns,
        serde_json::json!({"metadata": {"name": "web"}, "spec": {"replicas": 1,
            "selector": {"matchLabels": {"app": "web"}}, "template": template("web")}}),
    )
    .await;
    create::<StatefulSet>(
        &client,
        &ns,
        serde_json::json!({"metadata": {"name": "db"}, "spec": {"replicas": 1, "serviceName": "db",
            "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]},
            "template": template("db")}}),
    )
    .await;
    let deploy = resolve_when_running(&pods, "deploy/web", &["web", "7000:web"]).await;
    assert!(deploy.pod.starts_with("web-"), "{deploy:?}");
    assert_eq!(deploy.ports, [(Some(ECHO), ECHO), (Some(7000), ECHO)]);
    let pod = pods.get(&deploy.pod).await.unwrap();
    let rs = pod.metadata.owner_references.unwrap()[0].name.clone();
    let by_rs = resolve_when_running(&pods, &format!("rs/{rs}"), &["8080"]).await;
    assert_eq!(by_rs.pod, deploy.pod);
    let sts = resolve_when_running(&pods, "sts/db", &[":web"]).await;
    assert_eq!(
        (sts.pod.as_str(), sts.ports.as_slice()),
        ("db-0", &[(None, ECHO)][..])
    );
    let theirs = kubectl_forward(env, &ns, "deploy/web", &[":web"])
        .await
        .unwrap();
    assert_eq!(theirs[0].1, ECHO);
}

/// `kubectl port-forward pod/NAME :REMOTE` running (`spdy`: the legacy SPDY upgrade
/// instead of kubectl's default tunnelled SPDY over WebSocket) and its local port.
async fn kubectl_forwarding(
    env: &k8s_client::testenv::TestEnv,
    ns: &str,
    pod: &str,
    remote: u16,
    spdy: bool,
) -> (tokio::process::Child, u16) {
    use tokio::io::AsyncBufReadExt;
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.arg(format!("--kubeconfig={}", env.admin_kubeconfig().display()))
        .args([
            "-n",
            ns,
            "port-forward",
            "--address=127.0.0.1",
            &format!("pod/{pod}"),
            &format!(":{remote}"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    if spdy {
        cmd.env("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false");
    }
    let mut child = cmd.spawn().expect("kubectl on PATH");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("kubectl in time")
            .expect("kubectl output")
            .expect("kubectl running");
        if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
            let port = rest.split_once(' ').unwrap().0.parse().unwrap();
            // Keep draining kubectl's "Handling connection" lines.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (child, port);
        }
    }
}

/// Our forwarder behind a local listener, like kubectl's: one port-forward connection
/// per accepted connection. Returns the local port.
async fn our_forwarding(pods: &Api<Pod>, pod: &str, remote: u16) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (pods, pod) = (pods.clone(), pod.to_owned());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (pods, pod) = (pods.clone(), pod.clone());
            tokio::spawn(async move {
                let mut pf = pods
                    .portforward(&pod, &[remote])
                    .await
                    .expect("portforward");
                let mut stream = pf.take_stream(remote).unwrap();
                let _ = tokio::io::copy_bidirectional(&mut conn, &mut stream).await;
            });
        }
    });
    port
}

async fn connect(port: u16) -> tokio::net::TcpStream {
    let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.set_nodelay(true).unwrap();
    s
}

#[tokio::test]
async fn kubectl_port_forward_and_ours_carry_the_same_bytes() {
    let Some((env, pods)) = setup("pf-kubectl").await else {
        return;
    };
    let ns = pods.namespace().unwrap().to_owned();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let ours = our_forwarding(&pods, "box", ECHO).await;
    let mut got = Vec::new();
    got.push(echo_through(&mut connect(ours).await, &data).await);
    for spdy in [false, true] {
        let (_kubectl, port) = kubectl_forwarding(env, &ns, "box", ECHO, spdy).await;
        got.push(echo_through(&mut connect(port).await, &data).await);
        // kubectl keeps its local connection open after the pod side ended: read
        // exactly the banner.
        let mut banner = vec![0u8; BANNER_TEXT.len()];
        let (_k2, bport) = kubectl_forwarding(env, &ns, "box", BANNER, spdy).await;
        connect(bport).await.read_exact(&mut banner).await.unwrap();
        assert_eq!(banner, BANNER_TEXT, "spdy={spdy}");
    }
    assert!(got.iter().all(|g| *g == data));
}

/// Ours against `kubectl port-forward` (both of its protocols) on the same pod: 50 MB
/// echoed through one connection, then 500 small round trips. Prints the numbers and
/// the ratios; run with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run it on purpose"]
async fn throughput_and_latency_against_kubectl_port_forward() {
    let Some((env, pods)) = setup("pf-bench").await else {
        return;
    };
    let ns = pods.namespace().unwrap().to_owned();
    let big: Vec<u8> = (0..50_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut results = Vec::new();
    for who in ["ours", "kubectl (websocket)", "kubectl (spdy)"] {
        let (_child, port) = match who {
            "ours" => (None, our_forwarding(&pods, "box", ECHO).await),
            w => {
                let (c, p) = kubectl_forwarding(env, &ns, "box", ECHO, w.contains("spdy")).await;
                (Some(c), p)
            }
        };
        let mut conn = connect(port).await;
        let started = std::time::Instant::now();
        assert!(echo_through(&mut conn, &big).await == big);
        let bulk = started.elapsed();
        let mut conn = connect(port).await;
        echo_through(&mut conn, b"warm").await;
        let started = std::time::Instant::now();
        for _ in 0..500 {
            assert_eq!(echo_through(&mut conn, &[7u8; 64]).await, [7u8; 64]);
        }
        let rtt = started.elapsed() / 500;
        let mbps = 2.0 * big.len() as f64 / 1e6 / bulk.as_secs_f64();
        println!(
            "{who:22} 50 MB echo {bulk:>8.2?} ({mbps:6.1} MB/s both ways), 64-byte round trip {rtt:>8.2?}"
        );
        results.push((bulk, rtt));
    }
    for (i, who) in ["kubectl (websocket)", "kubectl (spdy)"].iter().enumerate() {
        let (kb, kr) = results[i + 1];
        println!(
            "ours vs {who}: bulk time ×{:.2}, round trip ×{:.2} (below 1: ours faster)",
            results[0].0.as_secs_f64() / kb.as_secs_f64(),
            results[0].1.as_secs_f64() / kr.as_secs_f64()
        );
    }
}
