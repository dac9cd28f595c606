//! The request target the filter decides on is exactly the one forwarded: raw request
//! lines (backslashes, encoded separators and dots, double encodings, control bytes)
//! sent to our proxy in front of a recording local upstream. No control plane needed.

mod support;

use http::Response;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use support::proxy::OurProxy;
use support::proxy::Target;
use support::proxy::options_on_random_port;
use support::server::UpFuture;
use support::server::Upstream;
use support::server::full;
use support::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An upstream recording each request target byte for byte (as its request line had
/// it) and whether it was an upgrade; it answers 200 `ok`.
async fn recording_upstream() -> (Upstream, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let upstream = Upstream::start(move |req| {
        log.lock().unwrap().push(req.uri().to_string());
        Box::pin(async move {
            Response::builder()
                .status(200)
                .header("content-type", "text/plain")
                .body(full("ok"))
                .unwrap()
        }) as UpFuture
    })
    .await;
    (upstream, seen)
}

/// Sends one raw HTTP/1.1 request head (the target written as given, byte for byte)
/// and reads the whole answer; returns the status and the text after the head.
async fn raw_exchange(addr: SocketAddr, target: &[u8], extra_headers: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = b"GET ".to_vec();
    head.extend_from_slice(target);
    head.extend_from_slice(
        format!(" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra_headers}\r\n")
            .as_bytes(),
    );
    stream.write_all(&head).await.unwrap();
    let mut answer = Vec::new();
    within("the whole answer", stream.read_to_end(&mut answer))
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (status, body)
}

fn addr(proxy: &OurProxy) -> SocketAddr {
    match proxy.target() {
        Target::Tcp(a) => a,
        Target::Unix(_) => unreachable!("TCP options"),
    }
}

const UPGRADE: &str = "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n";

#[tokio::test]
async fn backslashes_and_bad_bytes_are_refused_with_400_and_never_forwarded() {
    let (upstream, seen) = recording_upstream().await;
    let mut options = options_on_random_port();
    // Nothing is rejected by path: only the target checks stand between the request
    // and the upstream.
    options.reject_paths = String::new();
    let proxy = OurProxy::start(upstream.client("t"), options).await;
    let cases: [(&[u8], &str); 12] = [
        (
            br"/api\v1/namespaces/default/pods/p/exec?command=sh",
            "backslash",
        ),
        (
            br"/api/v1/namespaces/default/pods\p\exec?command=sh",
            "backslash",
        ),
        (
            br"/api/v1/namespaces/default/pods/p\exec?command=sh",
            "backslash",
        ),
        (br"/api/v1/namespaces?x=\", "backslash"),
        (
            b"/api/v1/namespaces/default/pods/p%5Cexec",
            "encoded backslash",
        ),
        (
            b"/api%5cv1/namespaces/default/pods/p/attach",
            "encoded backslash",
        ),
        (
            b"/api/v1/namespaces/default/pods/p/exec%00",
            "encoded control",
        ),
        (b"/api/v1/namespaces/a%0Ab", "encoded control"),
        (b"/api/v1/namespaces/%zz", "percent-escape"),
        (b"/api/v1/namespaces/%", "percent-escape"),
        (b"/api/v1/namespaces/%ff", "not UTF-8"),
        (b"/api/v1/namespaces/\xc3\xa9", "non-ASCII"),
    ];
    for (target, why) in cases {
        for extra in ["", UPGRADE] {
            let (status, body) = raw_exchange(addr(&proxy), target, extra).await;
            let shown = String::from_utf8_lossy(target);
            assert_eq!(status, 400, "{shown} {extra:?}: {body}");
            assert!(body.starts_with("400 Bad Request: "), "{shown}: {body}");
            assert!(body.contains(why), "{shown}: {body}");
        }
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
}

#[tokio::test]
async fn exec_and_attach_in_disguise_never_reach_the_upstream() {
    let (upstream, seen) = recording_upstream().await;
    let proxy = OurProxy::start(upstream.client("t"), options_on_random_port()).await;
    let pod = "/api/v1/namespaces/default/pods/p";
    let cases = [
        (r"/api\v1/namespaces/default/pods/p/exec".to_owned(), 400),
        (format!("{pod}/%65xec"), 403),
        (format!("{pod}/%65%78%65%63?command=sh"), 403),
        (format!("{pod}%2Fexec"), 403),
        (
            "/api%2Fv1%2Fnamespaces%2Fdefault%2Fpods%2Fp%2Fattach".to_owned(),
            403,
        ),
        (format!("{pod}/exec;x=1"), 403),
        (format!("{pod};x=1/attach"), 403),
        (format!("{pod}/exec%3Fx"), 403),
        (format!("{pod}/x/%2e%2e/exec"), 301),
        (format!("{pod}/./exec"), 301),
        ("/api//v1/namespaces/default/pods/p//exec".to_owned(), 301),
        (format!("/apis/%2E%2E/{}/attach", &pod[1..]), 301),
        (format!("{pod}/%252e%252e/exec"), 403),
    ];
    for (target, want) in &cases {
        for extra in ["", UPGRADE] {
            let (status, body) = raw_exchange(addr(&proxy), target.as_bytes(), extra).await;
            assert_eq!(status, *want, "{target} {extra:?}: {body}");
        }
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
}

#[tokio::test]
async fn the_upstream_receives_the_canonical_path_byte_for_byte() {
    let (upstream, seen) = recording_upstream().await;
    let proxy = OurProxy::start(upstream.client("t"), options_on_random_port()).await;
    let cases = [
        (
            "/api/v1/namespaces/default/configmaps?limit=1",
            "/api/v1/namespaces/default/configmaps?limit=1",
        ),
        // Decoded once, then written the one canonical way.
        ("/api/v1/namespaces/a%2Fb", "/api/v1/namespaces/a/b"),
        ("/api/v1/%6eamespaces", "/api/v1/namespaces"),
        ("/api/v1/namespaces/%7e~", "/api/v1/namespaces/~~"),
        ("/api/v1/namespaces/a%20b", "/api/v1/namespaces/a%20b"),
        ("/api/v1/namespaces/a!b*c", "/api/v1/namespaces/a%21b%2Ac"),
        (
            "/api/v1/namespaces/%252e%252e/x",
            "/api/v1/namespaces/%252e%252e/x",
        ),
        ("/api/v1/namespaces/%C3%a9", "/api/v1/namespaces/%C3%A9"),
        (
            "/api/v1/namespaces/a;b=c,d$e&f+g:h@i",
            "/api/v1/namespaces/a;b=c,d$e&f+g:h@i",
        ),
        (
            "/api/v1/namespaces/{x}|\"y\"",
            "/api/v1/namespaces/%7Bx%7D%7C%22y%22",
        ),
        // The query is passed on as it came.
        (
            "/api/v1/pods?fieldSelector=a%3Db&x=%5C",
            "/api/v1/pods?fieldSelector=a%3Db&x=%5C",
        ),
    ];
    for (sent, want) in cases {
        for extra in ["", UPGRADE] {
            seen.lock().unwrap().clear();
            let (status, body) = raw_exchange(addr(&proxy), sent.as_bytes(), extra).await;
            let got = seen.lock().unwrap().clone();
            assert_eq!(got, [want], "{sent} {extra:?} answered {status}: {body}");
        }
    }
}

#[tokio::test]
async fn the_host_of_an_absolute_form_target_is_the_one_checked() {
    let (upstream, seen) = recording_upstream().await;
    let proxy = OurProxy::start(upstream.client("t"), options_on_random_port()).await;
    // `Host: localhost` is ignored for an absolute-form target, as Go's server does.
    let (status, body) =
        raw_exchange(addr(&proxy), b"http://evil.example/api/v1/namespaces", "").await;
    assert_eq!(status, 403, "{body}");
    assert!(seen.lock().unwrap().is_empty());
    let (status, body) =
        raw_exchange(addr(&proxy), b"http://localhost:8001/api/v1/namespaces", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(*seen.lock().unwrap(), ["/api/v1/namespaces"]);
}
