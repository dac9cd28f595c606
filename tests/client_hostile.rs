//! The client against a broken or hostile server, played by a small local upstream (what
//! a real API server cannot be made to do on demand): huge or odd `Retry-After`, endless
//! 5xx, redirects to another host, a 50 MB error body, a 1 MB response header, a body that
//! never ends, a connection that never answers, a TLS handshake that never ends.

mod support;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response, StatusCode};
use k8s_client::client::{Body, MAX_ERROR_BODY_READ};
use k8s_client::transport::{MAX_RETRY_AFTER, TransportError};
use k8s_client::{Client, Error};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::eventually;
use support::server::UpBody;
use support::server::UpFuture;
use support::server::Upstream;
use support::server::channel_body;
use support::server::full;
use support::within;

fn get(path: &str) -> Request<Vec<u8>> {
    Request::get(path).body(Vec::new()).unwrap()
}

/// An upstream that counts requests and answers each with `answer(n)` (n from 1).
async fn counting(
    answer: impl Fn(usize) -> Response<UpBody> + Send + Sync + 'static,
) -> (Upstream, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let answer = Arc::new(answer);
    let upstream = Upstream::start(move |_req| {
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        let response = answer(n);
        Box::pin(async move { response }) as UpFuture
    })
    .await;
    (upstream, count)
}

fn status_with_retry_after(code: u16, value: &[u8]) -> Response<UpBody> {
    Response::builder()
        .status(code)
        .header(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_bytes(value).unwrap(),
        )
        .body(full("slow down"))
        .unwrap()
}

fn client_with_timeout(upstream: &Upstream, timeout: Duration) -> Client {
    let mut config = upstream.client("t").config().clone();
    config.timeout = Some(timeout);
    Client::try_from(config).unwrap()
}

#[tokio::test]
async fn retry_after_beyond_the_bound_or_odd_is_returned_at_once() {
    let beyond = (MAX_RETRY_AFTER.as_secs() + 1).to_string();
    let values: [&[u8]; 8] = [
        beyond.as_bytes(),
        b"18446744073709551615",
        b"99999999999999999999999999999999",
        b"-1",
        b"1.5",
        b"Wed, 21 Oct 2015 07:28:00 GMT",
        b"\xff\xfe",
        b"",
    ];
    for value in values {
        let owned = value.to_vec();
        let (upstream, count) = counting(move |_| status_with_retry_after(429, &owned)).await;
        let client = upstream.client("t");
        let started = Instant::now();
        let err = within("the 429", client.request_bytes(get("/api"))).await;
        let err = err.unwrap_err();
        assert_eq!(err.code(), Some(429), "{value:?}: {err}");
        assert_eq!(count.load(Ordering::SeqCst), 1, "{value:?} was retried");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{value:?} waited"
        );
    }
}

#[tokio::test]
async fn retry_after_within_the_bound_is_waited_for() {
    let (upstream, count) = counting(|n| match n {
        1 => status_with_retry_after(503, b"1"),
        _ => Response::new(full("{}")),
    })
    .await;
    let started = Instant::now();
    let got: serde_json::Value = upstream.client("t").request(get("/api")).await.unwrap();
    assert_eq!(got, serde_json::json!({}));
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_wait_past_the_request_timeout_returns_the_answer_now() {
    let (upstream, count) = counting(|_| status_with_retry_after(429, b"5")).await;
    let client = client_with_timeout(&upstream, Duration::from_secs(3));
    let started = Instant::now();
    let err = client.request_bytes(get("/api")).await.unwrap_err();
    assert_eq!(err.code(), Some(429), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn endless_5xx_without_retry_after_is_not_retried() {
    let (upstream, count) = counting(|_| {
        Response::builder()
            .status(503)
            .body(full("unavailable"))
            .unwrap()
    })
    .await;
    let err = upstream
        .client("t")
        .request_bytes(get("/api"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(503));
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retrying_5xx_stops_after_max_tries() {
    let (upstream, count) = counting(|_| status_with_retry_after(503, b"0")).await;
    let err = upstream
        .client("t")
        .request_bytes(get("/api"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(503));
    assert_eq!(
        count.load(Ordering::SeqCst),
        k8s_client::transport::MAX_TRIES as usize
    );
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let (elsewhere, reached) = counting(|_| Response::new(full("{}"))).await;
    let location = format!("http://{}/api/v1/secrets", elsewhere.addr);
    let (upstream, count) = counting(move |_| {
        Response::builder()
            .status(StatusCode::FOUND)
            .header(http::header::LOCATION, location.as_str())
            .body(full(""))
            .unwrap()
    })
    .await;
    let client = upstream.client("bearer-for-the-real-server");

    // Typed calls: the 3xx is an API error.
    let err = client
        .request::<serde_json::Value>(get("/api"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(302), "{err}");
    // Raw calls: the 3xx itself, Location included.
    let raw = client
        .send(Request::get("/api").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::FOUND);
    assert!(raw.headers().contains_key(http::header::LOCATION));
    // Also for writes and 307/308 (which would resend the body).
    let post = Request::post("/api").body(b"{}".to_vec()).unwrap();
    assert_eq!(
        client.request_bytes(post).await.unwrap_err().code(),
        Some(302)
    );

    // Upgrades (exec, attach, port-forward) go through their own HTTP client: same rule.
    let upgrade = Request::get("/api/v1/namespaces/d/pods/p/exec")
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "websocket")
        .body(Body::empty())
        .unwrap();
    match client.send_upgrade(upgrade).await.unwrap() {
        k8s_client::client::UpgradeOutcome::Response(r) => {
            assert_eq!(r.status(), StatusCode::FOUND)
        }
        other => panic!("unexpected {other:?}"),
    }

    assert_eq!(count.load(Ordering::SeqCst), 4);
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the other server was reached"
    );
}

/// A body of `total` bytes in 64 KiB chunks, counting what the server produced and
/// noting when the server dropped it (the connection ended).
fn huge_body(total: usize, produced: Arc<AtomicUsize>, dropped: Arc<AtomicBool>) -> UpBody {
    use http_body_util::BodyExt;
    struct OnDrop(Arc<AtomicBool>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    const CHUNK: usize = 64 * 1024;
    let guard = OnDrop(dropped);
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let stream = futures_util::stream::unfold(0usize, move |sent| {
        let chunk = chunk.clone();
        let produced = produced.clone();
        let _keep = &guard;
        async move {
            if sent >= total {
                return None;
            }
            produced.fetch_add(CHUNK, Ordering::SeqCst);
            Some((Ok(hyper::body::Frame::data(chunk)), sent + CHUNK))
        }
    });
    http_body_util::StreamBody::new(stream).boxed_unsync()
}

/// The peak resident set of this process (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_50_mb_error_body_is_read_only_up_to_the_limit() {
    const TOTAL: usize = 50 * 1024 * 1024;
    let produced = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let (p, d) = (produced.clone(), dropped.clone());
    let upstream = Upstream::start(move |_req| {
        let body = huge_body(TOTAL, p.clone(), d.clone());
        Box::pin(async move {
            Response::builder()
                .status(500)
                .header("content-type", "application/json")
                .body(body)
                .unwrap()
        }) as UpFuture
    })
    .await;
    let before = peak_rss_kib();
    let err = within("the error", upstream.client("t").request_bytes(get("/api")))
        .await
        .unwrap_err();
    let growth_kib = peak_rss_kib().saturating_sub(before);
    let api = err.api().expect("an API error");
    assert_eq!(api.code, 500);
    assert_eq!(api.status, None);
    let text = api.body.as_deref().unwrap();
    assert!(
        text.ends_with(&format!(
            "(body truncated: longer than {MAX_ERROR_BODY_READ} bytes)"
        )),
        "{text}"
    );
    assert!(text.len() < 2048, "only the start is kept");
    // The connection is closed rather than drained: the server stops producing.
    eventually(
        "the server to see the connection close",
        Duration::from_secs(30),
        || dropped.load(Ordering::SeqCst),
    )
    .await;
    let sent = produced.load(Ordering::SeqCst);
    assert!(
        sent < 16 * 1024 * 1024,
        "{sent} bytes produced: the body was drained"
    );
    // Reading stopped at the limit: far less than the body's 50 MB was ever held.
    assert!(growth_kib < 20 * 1024, "peak RSS grew by {growth_kib} KiB");
    eprintln!("50 MB error body: {sent} bytes produced, peak RSS growth {growth_kib} KiB");
}

#[tokio::test]
async fn a_status_error_body_still_decodes() {
    let status = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods \"p\" not found","reason":"NotFound","code":404}"#;
    let (upstream, _) = counting(move |_| {
        Response::builder()
            .status(404)
            .header("content-type", "application/json")
            .body(full(status))
            .unwrap()
    })
    .await;
    let err = upstream
        .client("t")
        .request_bytes(get("/api/v1/namespaces/d/pods/p"))
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.message(), Some("pods \"p\" not found"));
}

#[tokio::test]
async fn a_1_mb_response_header_is_refused() {
    let (upstream, _) = counting(|_| {
        Response::builder()
            .header("x-huge", "a".repeat(1024 * 1024))
            .body(full("{}"))
            .unwrap()
    })
    .await;
    let err = within("the error", upstream.client("t").request_bytes(get("/api")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Transport(TransportError::Request { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_body_that_never_ends_is_bounded_by_the_request_timeout() {
    let senders = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = senders.clone();
    let upstream = Upstream::start(move |_req| {
        let (tx, body) = channel_body();
        let keep = keep.clone();
        Box::pin(async move {
            // A first chunk, then nothing, forever (the sender is kept alive).
            tx.send(Bytes::from_static(b"{\"items\":[")).await.unwrap();
            keep.lock().unwrap().push(tx);
            Response::new(body)
        }) as UpFuture
    })
    .await;
    let client = client_with_timeout(&upstream, Duration::from_secs(1));
    let started = Instant::now();
    let err = within(
        "the timeout",
        client.request::<serde_json::Value>(get("/api")),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Transport(TransportError::ResponseBody { .. })),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(senders.lock().unwrap().len(), 1);
}

/// A local TCP listener that accepts connections, counts them and never says a word.
async fn silent_listener() -> (
    std::net::SocketAddr,
    Arc<AtomicUsize>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (addr, accepted, server)
}

#[tokio::test]
async fn a_server_that_never_answers_is_bounded_by_the_request_timeout() {
    let (addr, accepted, server) = silent_listener().await;
    let mut config = k8s_client::Config::new(format!("http://{addr}").parse().unwrap());
    config.timeout = Some(Duration::from_secs(1));
    let client = Client::try_from(config).unwrap();
    times_out_once(&client, "the timeout", &accepted).await;
    server.abort();
}

/// A GET from `client` fails with a timeout within 5 s, after one connection.
async fn times_out_once(client: &Client, what: &str, accepted: &AtomicUsize) {
    let started = Instant::now();
    let err = within(what, client.request_bytes(get("/api")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Transport(TransportError::Timeout { .. })),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "timeouts are not retried"
    );
}

#[tokio::test]
async fn a_tls_handshake_that_never_ends_is_bounded_by_the_connect_timeout() {
    // Accepts TCP connections and never says a word: the TCP part connects at once, the
    // TLS handshake waits for ever. No request timeout is set.
    let (addr, accepted, server) = silent_listener().await;
    let mut config = k8s_client::Config::new(format!("https://{addr}").parse().unwrap());
    config.tls.insecure_skip_tls_verify = true;
    let client = Client::builder(config)
        .connect_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    times_out_once(&client, "the connect timeout", &accepted).await;
    server.abort();
}

#[tokio::test]
async fn a_streamed_answer_is_not_cut_by_the_error_body_limit() {
    // The limit is for error bodies only: a 2xx body larger than it streams whole.
    const TOTAL: usize = 3 * 1024 * 1024;
    let produced = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let (p, d) = (produced.clone(), dropped.clone());
    let upstream = Upstream::start(move |_req| {
        let body = huge_body(TOTAL, p.clone(), d.clone());
        Box::pin(async move { Response::new(body) }) as UpFuture
    })
    .await;
    let mut stream = upstream
        .client("t")
        .request_stream(get("/api"))
        .await
        .unwrap();
    let mut read = 0;
    while let Some(chunk) = stream.next().await {
        read += chunk.unwrap().len();
    }
    assert!(read >= TOTAL);
}

#[test]
fn rate_limits_that_could_misbehave_are_rejected_by_the_builder() {
    let config = k8s_client::Config::new("http://127.0.0.1:1".parse().unwrap());
    for (qps, burst) in [
        (0.0, 1),
        (-5.0, 1),
        (f32::NAN, 1),
        (f32::INFINITY, 1),
        (1e-30, 1),
        (5.0, 0),
        (5.0, u32::MAX),
    ] {
        let err = Client::builder(config.clone())
            .rate_limit(qps, burst)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Transport(TransportError::InvalidRateLimit { .. })
            ),
            "{qps} {burst}: {err:?}"
        );
    }
    Client::builder(config)
        .rate_limit(k8s_client::transport::MIN_QPS as f32, 1)
        .build()
        .unwrap();
}
