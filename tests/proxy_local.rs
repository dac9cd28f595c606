//! Proxy behaviour that a real API server cannot show on demand, against a small local
//! upstream: exact forwarded headers, chunk-by-chunk streaming both ways, a 101 tunnel,
//! held responses during shutdown, an unreachable server. No control plane needed.

mod support;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use k8s_client::proxy::{ProxyOptions, ServeAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::eventually;
use support::proxy::OurProxy;
use support::proxy::Target;
use support::proxy::fetch;
use support::proxy::options_on_random_port;
use support::proxy::request;
use support::proxy::request_with_host;
use support::proxy::send;
use support::server::UpFuture;
use support::server::Upstream;
use support::server::channel_body;
use support::server::full;
use support::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the upstream saw of one request.
#[derive(Clone, Debug, Default)]
struct Seen {
    method: String,
    uri: String,
    headers: http::HeaderMap,
    body: Bytes,
}

/// An upstream that records each request and answers 201 with a marker header.
async fn recording_upstream() -> (Upstream, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let upstream = Upstream::start(move |req| {
        let log = log.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            log.lock().unwrap().push(Seen {
                method: parts.method.to_string(),
                uri: parts.uri.to_string(),
                headers: parts.headers,
                body,
            });
            Response::builder()
                .status(201)
                .header("x-reply", "yes")
                .header("content-type", "application/json")
                .body(full(r#"{"kind":"Thing"}"#))
                .unwrap()
        }) as UpFuture
    })
    .await;
    (upstream, seen)
}

#[tokio::test]
async fn forwards_method_path_query_body_and_end_to_end_headers() {
    let (upstream, seen) = recording_upstream().await;
    let proxy = OurProxy::start(upstream.client("proxy-token"), options_on_random_port()).await;
    let target = proxy.target();
    let body = serde_json::json!({"spec": {"x": 1}});
    let mut req = request(
        &target,
        "POST",
        "/apis/example.com/v1/things?dryRun=All&fieldManager=a%20b",
        Some(&body),
    );
    let h = req.headers_mut();
    h.insert("x-custom", "1".parse().unwrap());
    h.insert("connection", "keep-alive, x-private".parse().unwrap());
    h.insert("x-private", "hop".parse().unwrap());
    h.insert("x-forwarded-for", "10.1.1.1".parse().unwrap());
    let answer = fetch(&target, req).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(answer.headers["x-reply"], "yes");
    assert_eq!(answer.text(), r#"{"kind":"Thing"}"#);

    let seen = seen.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "POST");
    assert_eq!(
        seen.uri,
        "/apis/example.com/v1/things?dryRun=All&fieldManager=a%20b"
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&seen.body).unwrap(),
        body
    );
    assert_eq!(seen.headers["x-custom"], "1");
    assert_eq!(seen.headers["user-agent"], "proxy-test/1.0");
    assert_eq!(seen.headers["x-forwarded-for"], "10.1.1.1, 127.0.0.1");
    assert_eq!(seen.headers["authorization"], "Bearer proxy-token");
    assert_eq!(seen.headers["host"], upstream.addr.to_string().as_str());
    assert!(
        seen.headers.get("x-private").is_none(),
        "Connection-listed header forwarded"
    );
}

#[tokio::test]
async fn response_chunks_are_relayed_as_they_arrive() {
    let (feed_tx, feed_rx) = tokio::sync::mpsc::channel(1);
    let feed_rx = Arc::new(tokio::sync::Mutex::new(Some(feed_rx)));
    let upstream = Upstream::start(move |_req| {
        let feed_rx = feed_rx.clone();
        Box::pin(async move {
            let (tx, body) = channel_body();
            let mut rx: tokio::sync::mpsc::Receiver<Bytes> =
                feed_rx.lock().await.take().expect("one request");
            tokio::spawn(async move {
                while let Some(chunk) = rx.recv().await {
                    if tx.send(chunk).await.is_err() {
                        return;
                    }
                }
            });
            Response::new(body)
        }) as UpFuture
    })
    .await;
    let proxy = OurProxy::start(upstream.client("t"), options_on_random_port()).await;
    let target = proxy.target();
    let response = send(
        &target,
        request(&target, "GET", "/api/v1/pods?watch=1", None),
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    for i in 0..5 {
        let chunk = Bytes::from(format!("{{\"type\":\"ADDED\",\"n\":{i}}}\n"));
        feed_tx.send(chunk.clone()).await.unwrap();
        // The next chunk is only produced after this one came through the proxy.
        let frame = within("a relayed chunk", body.frame())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(frame.into_data().unwrap(), chunk);
    }
    drop(feed_tx);
    assert!(within("end of body", body.frame()).await.is_none());
}

#[tokio::test]
async fn request_chunks_are_forwarded_as_they_arrive() {
    let (got_tx, mut got_rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let upstream = Upstream::start(move |req| {
        let got_tx = got_tx.clone();
        Box::pin(async move {
            let mut body = req.into_body();
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.unwrap().into_data() {
                    got_tx.send(data).await.unwrap();
                }
            }
            Response::new(full("done"))
        }) as UpFuture
    })
    .await;
    let proxy = OurProxy::start(upstream.client("t"), options_on_random_port()).await;
    let target = proxy.target();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| {
            (
                Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(c)),
                rx,
            )
        })
    });
    let req = http::Request::post("/api/v1/namespaces/a/configmaps")
        .header("host", target.host_header())
        .body(http_body_util::StreamBody::new(stream))
        .unwrap();
    let Target::Tcp(addr) = target else { panic!() };
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let response = tokio::spawn(sender.send_request(req));
    for i in 0..3 {
        let chunk = Bytes::from(format!("part-{i};"));
        tx.send(chunk.clone()).await.unwrap();
        // The upstream has this chunk before the next one is written.
        let got = within("a forwarded chunk", got_rx.recv()).await.unwrap();
        assert_eq!(got, chunk);
    }
    drop(tx);
    let response = within("the response", response).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
}

fn upgrade_request(path: &str, host: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n"
    )
}

/// Reads a response head (up to the blank line) from a raw stream.
async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        within("a response head", stream.read_exact(&mut byte))
            .await
            .unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn upgrade_switches_protocols_and_copies_bytes_both_ways() {
    let seen = Arc::new(Mutex::new(None::<http::HeaderMap>));
    let log = seen.clone();
    let upstream = Upstream::start(move |mut req| {
        let log = log.clone();
        Box::pin(async move {
            *log.lock().unwrap() = Some(req.headers().clone());
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let upgraded = on_upgrade.await.unwrap();
                let mut io = hyper_util::rt::TokioIo::new(upgraded);
                let mut buf = [0u8; 64];
                loop {
                    let n = io.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    io.write_all(&buf[..n]).await.unwrap();
                }
            });
            Response::builder()
                .status(101)
                .header("connection", "Upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                .header("sec-websocket-protocol", "v4.channel.k8s.io")
                .body(full(""))
                .unwrap()
        }) as UpFuture
    })
    .await;
    let proxy = OurProxy::start(upstream.client("tunnel-token"), options_on_random_port()).await;
    let Target::Tcp(addr) = proxy.target() else {
        panic!()
    };
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let path = "/api/v1/namespaces/a/pods/p/portforward?ports=80";
    stream
        .write_all(upgrade_request(path, &addr.to_string()).as_bytes())
        .await
        .unwrap();
    let head = read_head(&mut stream).await.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    assert!(
        head.contains("sec-websocket-protocol: v4.channel.k8s.io"),
        "{head}"
    );
    for message in ["ping", "a longer message through the tunnel"] {
        stream.write_all(message.as_bytes()).await.unwrap();
        let mut echoed = vec![0u8; message.len()];
        within("the echo", stream.read_exact(&mut echoed))
            .await
            .unwrap();
        assert_eq!(echoed, message.as_bytes());
    }
    let headers = seen.lock().unwrap().clone().unwrap();
    assert_eq!(headers["authorization"], "Bearer tunnel-token");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["upgrade"], "websocket");
    assert_eq!(headers["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
}

#[tokio::test]
async fn upgrade_error_answers_are_relayed_and_success_answers_are_refused() {
    let upstream = Upstream::start(|req| {
        Box::pin(async move {
            let status = if req.uri().path().ends_with("/bad") {
                400
            } else {
                200
            };
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(full(r#"{"kind":"Status","code":400,"message":"no host"}"#))
                .unwrap()
        }) as UpFuture
    })
    .await;
    let proxy = OurProxy::start(upstream.client("t"), options_on_random_port()).await;
    let Target::Tcp(addr) = proxy.target() else {
        panic!()
    };
    for (path, want) in [("/api/v1/x/bad", "400"), ("/api/v1/x/ok", "500")] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(upgrade_request(path, "localhost").as_bytes())
            .await
            .unwrap();
        let head = read_head(&mut stream).await;
        assert!(
            head.starts_with(&format!("HTTP/1.1 {want}")),
            "{path}: {head}"
        );
        let mut rest = vec![0u8; 1024];
        let n = within("the body", stream.read(&mut rest)).await.unwrap();
        let body = String::from_utf8_lossy(&rest[..n]).into_owned();
        if want == "400" {
            assert!(body.contains(r#""message":"no host""#), "{body}");
        } else {
            assert!(
                body.contains("invalid upgrade response: status code 200"),
                "{body}"
            );
        }
    }
}

#[tokio::test]
async fn filter_routing_and_static_files() {
    let (upstream, seen) = recording_upstream().await;
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(www.path().join("app.js"), "console.log(1)").unwrap();
    let mut options = options_on_random_port();
    options.www = Some(www.path().to_owned());
    options.api_prefix = "/k8s".to_owned();
    let proxy = OurProxy::start(upstream.client("t"), options).await;
    let t = proxy.target();

    let get = |path: &str| request(&t, "GET", path, None);
    let a = fetch(&t, get("/k8s/api/v1/namespaces")).await;
    assert_eq!(a.status, 201);
    assert_eq!(
        seen.lock().unwrap().last().unwrap().uri,
        "/api/v1/namespaces"
    );
    let a = fetch(&t, get("/k8s/api/v1/namespaces/a/pods/b/exec")).await;
    assert_eq!((a.status.as_u16(), a.text().as_str()), (403, "Forbidden\n"));
    // Percent-encoding does not get around the filter.
    let a = fetch(&t, get("/k8s/api/v1/namespaces/a/pods/b/%65xec")).await;
    assert_eq!(a.status, 403);
    let a = fetch(
        &t,
        request_with_host("attacker.example", "GET", "/k8s/api", None),
    )
    .await;
    assert_eq!(a.status, 403);
    let a = fetch(&t, get("/api/v1/namespaces")).await;
    assert_eq!(
        (a.status.as_u16(), a.text().as_str()),
        (404, "404 page not found\n")
    );
    let a = fetch(&t, get("/k8s")).await;
    assert_eq!(a.status, 301);
    assert_eq!(a.headers["location"], "/k8s/");

    let a = fetch(&t, get("/static/app.js")).await;
    assert_eq!(
        (a.status.as_u16(), a.text().as_str()),
        (200, "console.log(1)")
    );
    assert!(
        a.headers["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    let a = fetch(&t, get("/static/")).await;
    assert_eq!(a.text(), "<h1>home</h1>");
    std::fs::create_dir(www.path().join("docs")).unwrap();
    std::fs::write(www.path().join("docs/index.html"), "docs").unwrap();
    let a = fetch(&t, get("/static/docs")).await;
    assert_eq!(a.status, 301);
    assert_eq!(a.headers["location"], "/static/docs/");
    let a = fetch(&t, get("/static/docs/")).await;
    assert_eq!(a.text(), "docs");
    let a = fetch(&t, get("/static/missing.txt")).await;
    assert_eq!(
        (a.status.as_u16(), a.text().as_str()),
        (404, "404 page not found\n")
    );
    let a = fetch(&t, get("/static/../../etc/passwd")).await;
    assert_eq!(a.status, 301, "cleaned before anything is read");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "only one request reached the server"
    );
}

#[tokio::test]
async fn default_address_serves_ipv4_and_ipv6_loopback() {
    let (upstream, seen) = recording_upstream().await;
    let mut options = ProxyOptions::default();
    options.port = 0;
    let proxy = OurProxy::start(upstream.client("t"), options).await;
    let mut served = 0;
    for addr in &proxy.addrs {
        let ServeAddr::Tcp(a) = addr else { panic!() };
        let target = Target::Tcp(*a);
        // `Host: 127.0.0.1:port` and `Host: [::1]:port`, as curl sends them.
        let answer = fetch(&target, request(&target, "GET", "/api/", None)).await;
        assert_eq!(answer.status, 201, "{addr}: {}", answer.text());
        served += 1;
    }
    assert!(served >= 1);
    assert_eq!(seen.lock().unwrap().len(), served);
    if served == 2 {
        assert_eq!(
            proxy.addrs[1].to_string(),
            format!(
                "[::1]:{}",
                match proxy.addrs[0] {
                    ServeAddr::Tcp(a) => a.port(),
                    _ => unreachable!(),
                }
            )
        );
    }
}

#[tokio::test]
async fn shutdown_stops_accepting_and_drains_in_flight_requests() {
    let (arrived_tx, mut arrived_rx) = tokio::sync::mpsc::channel::<()>(1);
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let release_rx = Arc::new(tokio::sync::Mutex::new(Some(release_rx)));
    let upstream = Upstream::start(move |_req| {
        let arrived_tx = arrived_tx.clone();
        let release_rx = release_rx.clone();
        Box::pin(async move {
            arrived_tx.send(()).await.unwrap();
            let rx = release_rx.lock().await.take().unwrap();
            let _ = rx.await;
            Response::new(full("finished"))
        }) as UpFuture
    })
    .await;
    let mut proxy = OurProxy::start(upstream.client("t"), options_on_random_port()).await;
    let target = proxy.target();
    let in_flight = tokio::spawn({
        let target = target.clone();
        async move { fetch(&target, request(&target, "GET", "/api/slow", None)).await }
    });
    within("the request to reach the server", arrived_rx.recv()).await;
    let served = proxy.stop();
    let Target::Tcp(addr) = target else { panic!() };
    // No new connections once shutdown started…
    let mut refused = false;
    eventually("the listener to close", Duration::from_secs(30), || {
        refused = std::net::TcpStream::connect(addr).is_err();
        refused
    })
    .await;
    // …but the request in flight completes.
    release_tx.send(()).unwrap();
    let answer = within("the drained request", in_flight).await.unwrap();
    assert_eq!(
        (answer.status.as_u16(), answer.text().as_str()),
        (200, "finished")
    );
    within("serve to return", served).await.unwrap().unwrap();
}

#[tokio::test]
async fn unix_socket_serves_and_is_removed_on_shutdown() {
    let (upstream, seen) = recording_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy.sock");
    let mut options = ProxyOptions::default();
    options.unix_socket = Some(path.clone());
    let mut proxy = OurProxy::start(upstream.client("t"), options).await;
    assert_eq!(proxy.addrs, [ServeAddr::Unix(path.clone())]);
    assert_eq!(proxy.addrs[0].to_string(), path.display().to_string());
    let target = proxy.target();
    let answer = fetch(&target, request(&target, "GET", "/api/", None)).await;
    assert_eq!(answer.status, 201);
    // No client IP on a unix socket: nothing is added to X-Forwarded-For.
    assert!(
        seen.lock().unwrap()[0]
            .headers
            .get("x-forwarded-for")
            .is_none()
    );
    within("serve to return", proxy.stop())
        .await
        .unwrap()
        .unwrap();
    assert!(!path.exists(), "the socket file is removed on shutdown");
}

#[tokio::test]
async fn debug_output_has_no_secret() {
    let upstream =
        Upstream::start(|_req| Box::pin(async { Response::new(full("")) }) as UpFuture).await;
    let proxy = k8s_client::proxy::Proxy::builder(upstream.client("debug-s3cr3t"))
        .port(0)
        .build()
        .unwrap();
    let text = format!("{proxy:?}");
    assert!(text.contains("Proxy"), "{text}");
    assert!(!text.contains("debug-s3cr3t"), "{text}");
    let bound = proxy.bind().await.unwrap();
    assert!(!format!("{bound:?}").contains("debug-s3cr3t"));
}

#[tokio::test]
async fn retry_after_answers_are_relayed_at_once_like_kubectl_proxy() {
    // The client alone would wait a second and retry a 429 with Retry-After; through the
    // proxy the caller gets the server's answer unchanged, after exactly one request.
    let hits = Arc::new(Mutex::new(0u32));
    let count = hits.clone();
    let upstream = Upstream::start(move |_req| {
        let count = count.clone();
        Box::pin(async move {
            *count.lock().unwrap() += 1;
            Response::builder()
                .status(429)
                .header("retry-after", "1")
                .header("content-type", "application/json")
                .body(full(
                    r#"{"kind":"Status","code":429,"reason":"TooManyRequests"}"#,
                ))
                .unwrap()
        }) as UpFuture
    })
    .await;
    let proxy = OurProxy::start(upstream.client("proxy-token"), options_on_random_port()).await;
    let target = proxy.target();
    let answer = fetch(&target, request(&target, "GET", "/api/v1/namespaces", None)).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.headers["retry-after"], "1");
    assert!(answer.text().contains("TooManyRequests"));
    assert_eq!(*hits.lock().unwrap(), 1, "the proxy retried the 429 itself");
}
