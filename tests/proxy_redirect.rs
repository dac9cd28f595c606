//! Redirects from the upstream are relayed to the caller unchanged and never followed,
//! for plain requests and for upgrade requests: the other host receives nothing (and
//! so never sees the client's credentials). No control plane needed.

mod support;

use http::Response;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::proxy::OurProxy;
use support::proxy::Target;
use support::proxy::options_on_random_port;
use support::server::UpFuture;
use support::server::Upstream;
use support::server::full;
use support::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The other host: counts what reaches it.
async fn other_host() -> (Upstream, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let upstream = Upstream::start(move |_req| {
        counter.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            Response::builder()
                .status(200)
                .body(full("followed"))
                .unwrap()
        }) as UpFuture
    })
    .await;
    (upstream, hits)
}

/// The API server stand-in: answers every request with `status` to `location`.
async fn redirecting(status: u16, location: String) -> Upstream {
    Upstream::start(move |_req| {
        let location = location.clone();
        Box::pin(async move {
            Response::builder()
                .status(status)
                .header("location", location)
                .header("content-type", "text/html; charset=utf-8")
                .body(full("<a>moved</a>"))
                .unwrap()
        }) as UpFuture
    })
    .await
}

/// Sends one raw request head and reads the whole answer (`Connection: close`).
async fn exchange(addr: SocketAddr, method: &str, path: &str, extra: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    within("the whole answer", stream.read_to_end(&mut answer))
        .await
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn upstream_redirects_are_relayed_not_followed() {
    let (other, hits) = other_host().await;
    let location = format!("http://{}/api/v1/namespaces/elsewhere", other.addr);
    for status in [301, 302, 303, 307, 308] {
        let upstream = redirecting(status, location.clone()).await;
        let proxy =
            OurProxy::start(upstream.client("secret-token"), options_on_random_port()).await;
        let Target::Tcp(addr) = proxy.target() else {
            unreachable!("TCP options")
        };
        let cases = [
            ("GET", "/api/v1/namespaces/default/configmaps", ""),
            (
                "POST",
                "/api/v1/namespaces/default/configmaps",
                "Content-Length: 0\r\n",
            ),
            (
                "GET",
                "/api/v1/namespaces/default/pods/p/portforward",
                "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n",
            ),
            (
                "GET",
                "/api/v1/namespaces/default/pods/p/portforward",
                "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            ),
        ];
        for (method, path, extra) in cases {
            let answer = exchange(addr, method, path, extra).await;
            let what = format!("{status} for {method} {path} {extra:?}");
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status} ")),
                "{what}: {answer}"
            );
            let head = answer.to_ascii_lowercase();
            assert!(
                head.contains(&format!("\r\nlocation: {location}\r\n")),
                "{what}: {answer}"
            );
            assert!(answer.ends_with("<a>moved</a>"), "{what}: {answer}");
        }
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the other host was contacted"
    );
}
