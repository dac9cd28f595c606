//! Port-forward over SPDY/3.1 tunnelled in WebSocket (kubectl ≥ 1.31's protocol)
//! against a real API server and kwok's kubelet, side by side with
//! `kubectl port-forward`; and the fallback to `v4.channel.k8s.io` against a local
//! server that refuses the tunnel.
//!
//! In this process the pod port 8080 reaches a local echo server (which closes the
//! connection after echoing [`END`]) and 9090 reaches a local port nothing listens on.
//! kwok ends a forwarded connection once both directions have ended (it does not
//! half-close the pod's TCP connection), so the tests end their input and the echo
//! server closes after the marker.

mod support;

use k8s_client::api::{Api, PortStream, PortforwardProtocol, SpdyError, StreamError};
use k8s_client::testenv::{
    SHARED_FORWARDED_POD_PORT as ECHO, SHARED_FORWARDED_POD_PORT_2 as CLOSED, TestEnv,
};
use k8s_openapi::api::core::v1::Pod;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A pod port kwok has no forward for.
const UNFORWARDED: u16 = 7777;

/// Echoed last, then the echo server closes the connection.
const END: &[u8] = b"\n--end of the echo--\n";

/// The echo server behind the forwarded 8080 (9090's local port stays closed).
fn serve(env: &TestEnv) {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let echo = std::net::TcpListener::bind(("127.0.0.1", env.forwarded_port(ECHO).unwrap()))
            .expect("bind echo");
        std::thread::spawn(move || {
            for conn in echo.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut conn = conn;
                    let mut buf = [0u8; 65536];
                    let mut tail = Vec::new();
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 || conn.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        tail.extend_from_slice(&buf[..n]);
                        tail.drain(..tail.len().saturating_sub(END.len()));
                        if tail == END {
                            break;
                        }
                    }
                    let _ = conn.shutdown(std::net::Shutdown::Both);
                });
            }
        });
    });
}

async fn setup(prefix: &str) -> Option<(&'static TestEnv, Api<Pod>)> {
    let (env, pods, _) = support::streams::box_pod(prefix, &["main"], &[ECHO, CLOSED]).await?;
    serve(env);
    Some((env, pods))
}

/// Writes `data` and [`END`], ends the input, and reads everything until the pod side
/// closes (which the stream reports as its end); returns what came back before `END`.
async fn echo_all(
    stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite,
    data: &[u8],
) -> Vec<u8> {
    let (mut r, mut w) = tokio::io::split(stream);
    let write = async {
        w.write_all(data).await.expect("write");
        w.write_all(END).await.expect("write");
        w.shutdown().await.expect("end of input");
    };
    let read = async {
        let mut got = Vec::with_capacity(data.len() + END.len());
        r.read_to_end(&mut got).await.expect("read echo");
        got
    };
    let ((), mut got) = tokio::join!(write, read);
    assert!(got.ends_with(END), "the echo ends with the end marker");
    got.truncate(got.len() - END.len());
    got
}

fn sha256(d: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, d)
        .as_ref()
        .to_vec()
}

/// The node's error at the end of a stream's data.
async fn stream_error(mut stream: PortStream) -> StreamError {
    stream.shutdown().await.expect("end of input");
    let mut got = Vec::new();
    let err = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut got))
        .await
        .expect("the stream ends")
        .expect_err("the node reports an error");
    assert!(got.is_empty());
    *err.into_inner()
        .expect("an error inside")
        .downcast::<StreamError>()
        .expect("a StreamError")
}

#[tokio::test]
async fn tunnelled_spdy_is_the_default_and_ends_with_the_pod_side() {
    let Some((_env, pods)) = setup("spdy-default").await else {
        return;
    };
    let mut pf = pods.portforward("box", &[ECHO]).await.expect("portforward");
    assert_eq!(pf.protocol(), PortforwardProtocol::SpdyOverWebSocket);
    let stream = pf.take_stream(ECHO).unwrap();
    // The pod side's close reaches us as the end of the stream.
    let payload = b"through SPDY\n".repeat(1000);
    assert_eq!(echo_all(stream, &payload).await, payload);
    tokio::time::timeout(Duration::from_secs(30), pf.join())
        .await
        .expect("the pair ends")
        .expect("no error");
}

#[tokio::test]
async fn many_ports_in_one_request_end_independently() {
    let Some((_env, pods)) = setup("spdy-ports").await else {
        return;
    };
    let mut pf = pods
        .portforward_with(
            "box",
            &[ECHO, CLOSED, UNFORWARDED],
            PortforwardProtocol::SpdyOverWebSocket,
        )
        .await
        .expect("portforward");
    let echo = pf.take_stream(ECHO).unwrap();
    let closed = pf.take_stream(CLOSED).unwrap();
    let unforwarded = pf.take_stream(UNFORWARDED).unwrap();
    let refused = stream_error(closed).await;
    assert!(
        matches!(&refused, StreamError::PortForward { port: CLOSED, message } if message.contains("9090")),
        "{refused:?}"
    );
    let none = stream_error(unforwarded).await;
    assert!(
        matches!(&none, StreamError::PortForward { port: UNFORWARDED, message } if message.contains("no forward found")),
        "{none:?}"
    );
    // The failures of the other two leave the echo untouched.
    assert_eq!(echo_all(echo, b"still echoing").await, b"still echoing");
    let err = pf.join().await.expect_err("two ports failed");
    assert!(
        matches!(
            err,
            k8s_client::Error::Stream(StreamError::PortForward { port: CLOSED, .. })
        ),
        "{err:?}"
    );
}

/// A client whose request hook counts the port-forward upgrades it made.
fn counting_client(env: &TestEnv) -> (k8s_client::Client, Arc<AtomicUsize>) {
    let mut options = k8s_client::config::KubeconfigOptions::default();
    options.kubeconfig = Some(env.admin_kubeconfig().to_owned());
    let config = k8s_client::Config::from_kubeconfig(&options).unwrap();
    let upgrades = Arc::new(AtomicUsize::new(0));
    let counter = upgrades.clone();
    let client = k8s_client::Client::builder(config)
        .on_request(move |e| {
            if e.path_template.contains("portforward") {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build()
        .unwrap();
    (client, upgrades)
}

#[tokio::test]
async fn sixteen_concurrent_connections_share_one_spdy_connection() {
    let Some((env, pods)) = setup("spdy-16").await else {
        return;
    };
    let (client, upgrades) = counting_client(env);
    let pods: Api<Pod> = Api::namespaced(client, pods.namespace().unwrap());
    let session = pods
        .portforward_session("box", PortforwardProtocol::Auto)
        .await
        .expect("session");
    assert_eq!(session.protocol(), PortforwardProtocol::SpdyOverWebSocket);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let session = session.clone();
            tokio::spawn(async move {
                let stream = session.open(ECHO).await.expect("open");
                let payload = format!("connection {i} ").repeat(20_000).into_bytes();
                assert_eq!(sha256(&echo_all(stream, &payload).await), sha256(&payload));
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("connection task");
    }
    assert!(session.is_open());
    assert_eq!(
        upgrades.load(Ordering::Relaxed),
        1,
        "one upgrade for 16 connections"
    );
}

#[tokio::test]
async fn fifty_megabytes_each_way_intact() {
    let Some((_env, pods)) = setup("spdy-big").await else {
        return;
    };
    let data: Vec<u8> = (0..50u64 * 1024 * 1024)
        .map(|i| (i.wrapping_mul(0x9E37_79B9) >> 11) as u8)
        .collect();
    let session = pods
        .portforward_session("box", PortforwardProtocol::SpdyOverWebSocket)
        .await
        .expect("session");
    let stream = session.open(ECHO).await.expect("open");
    let got = echo_all(stream, &data).await;
    assert_eq!(got.len(), data.len());
    assert_eq!(sha256(&got), sha256(&data));
}

#[tokio::test]
async fn missing_pod_is_an_api_error_with_each_protocol() {
    let Some((_env, pods)) = setup("spdy-missing").await else {
        return;
    };
    for protocol in [
        PortforwardProtocol::Auto,
        PortforwardProtocol::SpdyOverWebSocket,
        PortforwardProtocol::WebSocket,
    ] {
        let err = pods
            .portforward_with("nope", &[ECHO], protocol)
            .await
            .expect_err("no pod");
        assert_eq!(
            err.api().map(|a| a.code),
            Some(404),
            "{protocol:?}: {err:?}"
        );
    }
}

/// `kubectl port-forward pod/box :REMOTE` with its default protocol (tunnelled SPDY):
/// the child, its local port and its stderr lines.
async fn kubectl_forwarding(
    env: &TestEnv,
    ns: &str,
    remote: u16,
) -> (
    tokio::process::Child,
    u16,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new("kubectl")
        .arg(format!("--kubeconfig={}", env.admin_kubeconfig().display()))
        .args(["-n", ns, "port-forward", "--address=127.0.0.1", "pod/box"])
        .arg(format!(":{remote}"))
        .env_remove("KUBECTL_PORT_FORWARD_WEBSOCKETS")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl on PATH");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut errors = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = errors.next_line().await {
            let _ = tx.send(line);
        }
    });
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("kubectl in time")
            .expect("kubectl output")
            .expect("kubectl running");
        if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
            let port = rest.split_once(' ').unwrap().0.parse().unwrap();
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (child, port, rx);
        }
    }
}

/// Our session behind a local listener, as the example runs it: one SPDY connection
/// for every accepted local connection.
async fn our_forwarding(pods: &Api<Pod>, remote: u16) -> u16 {
    let session = pods
        .portforward_session("box", PortforwardProtocol::Auto)
        .await
        .expect("session");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let session = session.clone();
            tokio::spawn(async move {
                let mut stream = session.open(remote).await.expect("open");
                let _ = tokio::io::copy_bidirectional(&mut conn, &mut stream).await;
            });
        }
    });
    port
}

async fn connect(port: u16) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap()
}

#[tokio::test]
async fn kubectl_and_ours_carry_the_same_bytes_and_report_the_same_error() {
    let Some((env, pods)) = setup("spdy-kubectl").await else {
        return;
    };
    let ns = pods.namespace().unwrap().to_owned();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let ours = our_forwarding(&pods, ECHO).await;
    let (_kubectl, theirs, _) = kubectl_forwarding(env, &ns, ECHO).await;
    for _ in 0..3 {
        let a = echo_all(connect(ours).await, &data).await;
        let b = echo_all(connect(theirs).await, &data).await;
        assert_eq!(sha256(&a), sha256(&data));
        assert_eq!(sha256(&b), sha256(&a));
    }

    // A port nothing listens on: the node's message, as kubectl logs it.
    let session = pods
        .portforward_session("box", PortforwardProtocol::Auto)
        .await
        .unwrap();
    let ours = stream_error(session.open(CLOSED).await.unwrap()).await;
    let StreamError::PortForward { message, .. } = &ours else {
        panic!("{ours:?}");
    };
    let (_kubectl, theirs, mut errors) = kubectl_forwarding(env, &ns, CLOSED).await;
    let mut conn = connect(theirs).await;
    let _ = conn.write_all(b"x").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let line = loop {
        let line = tokio::time::timeout_at(deadline, errors.recv())
            .await
            .expect("kubectl reports the error")
            .expect("kubectl's stderr");
        if line.contains("error occurred forwarding") {
            break line;
        }
    };
    // Only the pod's uid differs between two requests: compare up to it.
    let stable = message.split(", uid").next().unwrap();
    assert!(
        line.contains(&format!("-> {CLOSED}: {stable}")),
        "kubectl: {line}\nours: {message}"
    );
}

/// A local API server that refuses the tunnelled SPDY subprotocol (as one without
/// the PortForwardWebsockets gate answers) and speaks `v4.channel.k8s.io`: it opens
/// both channels of the one requested port and echoes the data channel.
async fn refusing_server(upgrades: Arc<AtomicUsize>) -> support::server::Upstream {
    use base64::Engine as _;
    support::server::Upstream::start(move |req| {
        let upgrades = upgrades.clone();
        Box::pin(async move {
            let protocols = req
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            upgrades.fetch_add(1, Ordering::Relaxed);
            if !protocols
                .split(',')
                .any(|p| p.trim() == "v4.channel.k8s.io")
            {
                let status = serde_json::json!({"kind": "Status", "apiVersion": "v1",
                    "status": "Failure", "code": 400, "reason": "BadRequest",
                    "message": "unable to upgrade: no tunneling spdy protocols provided"});
                return http::Response::builder()
                    .status(400)
                    .header("content-type", "application/json")
                    .body(support::server::full(status.to_string()))
                    .unwrap();
            }
            let port: u16 = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("ports="))
                .and_then(|p| p.parse().ok())
                .expect("one port");
            let key = req.headers()["sec-websocket-key"]
                .to_str()
                .unwrap()
                .to_owned();
            let digest = ring::digest::digest(
                &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
                format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
            );
            let accept = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
            tokio::spawn(async move {
                let upgraded = hyper::upgrade::on(req).await.expect("upgrade");
                let mut io = hyper_util::rt::TokioIo::new(upgraded);
                let [lo, hi] = port.to_le_bytes();
                for channel in [0u8, 1] {
                    io.write_all(&[0x82, 3, channel, lo, hi]).await.unwrap();
                }
                // Echo channel 0: read masked client frames, answer unmasked.
                loop {
                    let mut head = [0u8; 2];
                    if io.read_exact(&mut head).await.is_err() {
                        return;
                    }
                    let len = match head[1] & 0x7f {
                        126 => io.read_u16().await.unwrap() as usize,
                        127 => io.read_u64().await.unwrap() as usize,
                        n => n as usize,
                    };
                    let mut mask = [0u8; 4];
                    io.read_exact(&mut mask).await.unwrap();
                    let mut payload = vec![0u8; len];
                    io.read_exact(&mut payload).await.unwrap();
                    payload
                        .iter_mut()
                        .enumerate()
                        .for_each(|(i, b)| *b ^= mask[i % 4]);
                    if head[0] & 0x0f != 2 || payload.first() != Some(&0) {
                        return;
                    }
                    let mut frame = vec![0x82, 126];
                    frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                    frame.extend_from_slice(&payload);
                    io.write_all(&frame).await.unwrap();
                }
            });
            http::Response::builder()
                .status(101)
                .header("connection", "Upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-accept", accept)
                .header("sec-websocket-protocol", "v4.channel.k8s.io")
                .body(support::server::full(""))
                .unwrap()
        })
    })
    .await
}

#[tokio::test]
async fn a_refused_tunnel_falls_back_to_the_websocket_framing() {
    let upgrades = Arc::new(AtomicUsize::new(0));
    let server = refusing_server(upgrades.clone()).await;
    let pods: Api<Pod> = Api::namespaced(server.client("token"), "default");

    let session = pods
        .portforward_session("box", PortforwardProtocol::Auto)
        .await
        .expect("session falls back");
    assert_eq!(session.protocol(), PortforwardProtocol::WebSocket);
    let mut stream = session.open(8080).await.expect("open over v4");
    stream.write_all(b"over v4").await.unwrap();
    let mut got = [0u8; 7];
    stream.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"over v4");

    let mut pf = pods.portforward("box", &[8080]).await.expect("falls back");
    assert_eq!(pf.protocol(), PortforwardProtocol::WebSocket);
    let mut stream = pf.take_stream(8080).unwrap();
    stream.write_all(b"again").await.unwrap();
    let mut got = [0u8; 5];
    stream.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"again");
    // Two tries per connection (tunnel refused, then v4) plus the session's v4 open.
    assert_eq!(upgrades.load(Ordering::Relaxed), 4);

    // Asked for the tunnel only, the refusal is the server's answer.
    let err = pods
        .portforward_with("box", &[8080], PortforwardProtocol::SpdyOverWebSocket)
        .await
        .expect_err("no fallback");
    let api = err.api().expect("the server's refusal");
    assert_eq!(api.code, 400);
    assert!(!matches!(
        err,
        k8s_client::Error::Stream(StreamError::Spdy(SpdyError::GoneAway))
    ));
}

/// Streams that carry nothing for longer than `STREAM_SILENCE_LIMIT` stay up: the API
/// server answers exec's WebSocket pings, and kwok answers the tunnel's SPDY pings
/// and the v4 framing's WebSocket pings, so a quiet connection is never taken for a
/// lost one. (Without answers each of these would fail with `StreamError::Silent`.)
#[tokio::test]
async fn quiet_streams_outlive_the_silence_limit_because_pings_are_answered() {
    let Some((_env, pods)) = setup("spdy-quiet").await else {
        return;
    };
    let quiet = k8s_client::api::STREAM_SILENCE_LIMIT + Duration::from_secs(4);
    let forward = |protocol| {
        let pods = pods.clone();
        async move {
            let mut pf = pods
                .portforward_with("box", &[ECHO], protocol)
                .await
                .expect("portforward");
            let stream = pf.take_stream(ECHO).unwrap();
            tokio::time::sleep(quiet).await;
            let payload = format!("after a quiet {quiet:?} over {protocol:?}\n").into_bytes();
            if protocol == PortforwardProtocol::WebSocket {
                // The v4 framing has no per-port end: read the echo's length.
                let mut stream = stream;
                stream.write_all(&payload).await.expect("write");
                let mut got = vec![0u8; payload.len()];
                stream.read_exact(&mut got).await.expect("read echo");
                assert_eq!(got, payload);
            } else {
                assert_eq!(echo_all(stream, &payload).await, payload);
            }
        }
    };
    let exec = async {
        let script = format!("sleep {}; echo done", quiet.as_secs());
        let mut p = pods
            .exec(
                "box",
                ["sh", "-c", &script],
                &k8s_client::api::AttachParams::default().container("main"),
            )
            .await
            .expect("exec");
        let mut out = Vec::new();
        p.stdout()
            .expect("stdout")
            .read_to_end(&mut out)
            .await
            .expect("stdout of a quiet command");
        assert_eq!(out, b"done\n");
        assert!(p.status().await.expect("status").success());
    };
    tokio::join!(
        forward(PortforwardProtocol::SpdyOverWebSocket),
        forward(PortforwardProtocol::WebSocket),
        exec
    );
}
