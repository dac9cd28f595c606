//! port-forward over WebSocket against a real API server and kwok's kubelet (which
//! connects pod ports to local servers).

#[path = "streams_support/mod.rs"]
mod support;

use k8s_client::api::{Api, StreamError};
use k8s_client::testenv::{
    SHARED_FORWARDED_POD_PORT as ECHO, SHARED_FORWARDED_POD_PORT_2 as BANNER,
};
use k8s_openapi::api::core::v1::Pod;
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
    let env = support::nodes_env()?;
    serve(env);
    let client = support::client(env);
    let ns = support::namespace(env, prefix).await;
    support::running_pod(
        &client,
        &ns,
        support::pod("box", &["main"], &[], &[ECHO, BANNER]),
    )
    .await;
    Some((env, Api::namespaced(client, &ns)))
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
    let mut pf = pods.portforward("box", &[ECHO]).await.expect("portforward");
    let mut stream = pf.take_stream(ECHO).unwrap();
    assert_eq!(echo_through(&mut stream, &payload).await, payload);
}

#[tokio::test]
async fn two_ports_on_one_connection() {
    let Some((_env, pods)) = setup("pf-two").await else {
        return;
    };
    let mut pf = pods
        .portforward("box", &[ECHO, BANNER])
        .await
        .expect("portforward");
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
    let mut pf = pods.portforward("box", &[7777]).await.expect("portforward");
    let mut stream = pf.take_stream(7777).unwrap();
    let _ = stream.write_all(b"x").await;
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got).await;
    assert!(got.is_empty());
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

#[tokio::test]
async fn missing_pod_is_an_api_error() {
    let Some((_env, pods)) = setup("pf-missing").await else {
        return;
    };
    let err = pods.portforward("nope", &[ECHO]).await.expect_err("no pod");
    let api = err.api().expect("API error");
    assert_eq!(api.code, 404);
}
