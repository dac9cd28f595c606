//! Client behaviour that a real API server cannot produce on demand, against small
//! local servers: `429` with `Retry-After`, and a connection dropped mid-request.

use k8s_client::{Client, Config, Error};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads one request (head and `content-length` body) from `conn`.
async fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

#[derive(Default)]
struct Seen {
    requests: Vec<(Instant, String, Vec<u8>)>,
    connections: usize,
}

/// An HTTP/1.1 server whose answer to the n-th request (0-based) is `answer(n)`;
/// `None` closes the connection without answering.
async fn serve(
    answer: impl Fn(usize) -> Option<String> + Send + Sync + 'static,
) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let answer = Arc::new(answer);
    let state = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            state.lock().unwrap().connections += 1;
            let state = state.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                while let Some((head, body)) = read_request(&mut conn).await {
                    let n = {
                        let mut s = state.lock().unwrap();
                        s.requests.push((Instant::now(), head, body));
                        s.requests.len() - 1
                    };
                    match answer(n) {
                        Some(resp) => {
                            if conn.write_all(resp.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        None => return,
                    }
                }
            });
        }
    });
    (url, seen)
}

fn ok_json(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn too_many_requests() -> String {
    let body = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","code":429}"#;
    format!(
        "HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn client(url: &str) -> Client {
    Client::builder(Config::new(url.parse().unwrap()))
        .proxy_env(k8s_client::transport::ProxyEnv::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn retry_after_429_twice_then_success() {
    let (url, seen) = serve(|n| {
        Some(if n < 2 {
            too_many_requests()
        } else {
            ok_json(r#"{"ok":true}"#)
        })
    })
    .await;
    let c = client(&url);
    let req = http::Request::post("/api/v1/namespaces/default/configmaps")
        .header("content-type", "application/json")
        .body(br#"{"kind":"ConfigMap"}"#.to_vec())
        .unwrap();
    let v: serde_json::Value = c.request(req).await.unwrap();
    assert_eq!(v["ok"], true);
    let s = seen.lock().unwrap();
    assert_eq!(s.requests.len(), 3, "two 429s, then the 200");
    for pair in s.requests.windows(2) {
        // The client waited the server's Retry-After (1 s) between tries.
        assert!(pair[1].0 - pair[0].0 >= Duration::from_secs(1));
    }
    // The body was sent again, whole, each time.
    assert!(s.requests.iter().all(|r| r.2 == br#"{"kind":"ConfigMap"}"#));
}

#[tokio::test]
async fn retry_after_gives_up_after_ten_tries() {
    let (url, seen) = serve(|_| Some(too_many_requests())).await;
    let c = Client::builder(Config::new(url.parse().unwrap()))
        .proxy_env(k8s_client::transport::ProxyEnv::none())
        // The per-request timeout stops the retries before ten seconds of waiting.
        .timeout(Duration::from_millis(3500))
        .build()
        .unwrap();
    let err = c
        .request::<serde_json::Value>(http::Request::get("/api").body(Vec::new()).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(429));
    assert_eq!(err.reason(), Some("TooManyRequests"));
    let tries = seen.lock().unwrap().requests.len();
    assert!(
        (2..=4).contains(&tries),
        "retries stop at the deadline: {tries}"
    );
    assert_eq!(k8s_client::transport::MAX_TRIES, 10);
}

#[tokio::test]
async fn timeout_is_sent_as_query_parameter() {
    let (url, seen) = serve(|_| Some(ok_json("{}"))).await;
    let c = Client::builder(Config::new(url.parse().unwrap()))
        .proxy_env(k8s_client::transport::ProxyEnv::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let _: serde_json::Value = c
        .request(
            http::Request::get("/api/v1/pods?limit=1")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let s = seen.lock().unwrap();
    let head = &s.requests[0].1;
    assert!(
        head.starts_with("GET /api/v1/pods?limit=1&timeout=30s HTTP/1.1"),
        "{head}"
    );
    let agent = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("user-agent:"))
        .unwrap();
    assert!(
        agent.contains(&format!("k8s-client/v{}", env!("CARGO_PKG_VERSION"))),
        "{agent}"
    );
}

#[tokio::test]
async fn a_request_header_replaces_the_default_of_that_name_and_keeps_the_others() {
    let (url, seen) = serve(|_| Some(ok_json("{}"))).await;
    let mut config = Config::new(url.parse().unwrap());
    config.headers = vec![
        (
            http::HeaderName::from_static("x-a"),
            http::HeaderValue::from_static("default-a"),
        ),
        (
            http::HeaderName::from_static("x-b"),
            http::HeaderValue::from_static("default-b"),
        ),
    ];
    let c = Client::builder(config)
        .proxy_env(k8s_client::transport::ProxyEnv::none())
        .build()
        .unwrap();
    for _ in 0..2 {
        let _: serde_json::Value = c
            .request(
                http::Request::get("/api")
                    .header("user-agent", "mine/1")
                    .header("accept", "application/json")
                    .header("x-a", "one")
                    .header("x-a", "two")
                    .body(Vec::new())
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    let s = seen.lock().unwrap();
    assert_eq!(s.requests.len(), 2);
    for (_, head, _) in &s.requests {
        let mut lines: Vec<String> = head
            .lines()
            .skip(1)
            .map(str::to_ascii_lowercase)
            .filter(|l| {
                ["user-agent:", "accept:", "x-a:", "x-b:"]
                    .iter()
                    .any(|n| l.starts_with(n))
            })
            .collect();
        lines.sort();
        assert_eq!(
            lines,
            [
                "accept: application/json",
                "user-agent: mine/1",
                "x-a: one",
                "x-a: two",
                "x-b: default-b"
            ],
            "{head}"
        );
    }
}

#[tokio::test]
async fn get_is_retried_after_a_dropped_connection() {
    let (url, seen) = serve(|n| (n > 0).then(|| ok_json(r#"{"n":1}"#))).await;
    let v: serde_json::Value = client(&url)
        .request(http::Request::get("/api").body(Vec::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(v["n"], 1);
    let s = seen.lock().unwrap();
    assert_eq!(s.requests.len(), 2);
    assert_eq!(s.connections, 2);
}

#[tokio::test]
async fn post_is_not_retried_after_a_dropped_connection() {
    let (url, seen) = serve(|n| (n > 0).then(|| ok_json("{}"))).await;
    let err = client(&url)
        .request::<serde_json::Value>(
            http::Request::post("/api/v1/namespaces/default/pods")
                .body(b"{}".to_vec())
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.starts_with("POST http://127.0.0.1:"), "{cause}");
    // The call has returned: no later retry can come.
    assert_eq!(seen.lock().unwrap().requests.len(), 1);
}

#[tokio::test]
async fn non_status_error_bodies_are_kept_truncated() {
    let (url, _) = serve(|_| {
        Some("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 11\r\n\r\nupstream ko".to_owned())
    })
    .await;
    let err = client(&url)
        .request_text(http::Request::get("/healthz").body(Vec::new()).unwrap())
        .await
        .unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(api.code, 502);
    assert_eq!(api.body.as_deref(), Some("upstream ko"));
    assert!(api.url.ends_with("/healthz"));
}

/// A server that switches every request to an echo protocol (an API server does this
/// only for exec/attach/port-forward, which need a kubelet).
#[tokio::test]
async fn upgraded_connections_carry_bytes_both_ways() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let (head, _) = read_request(&mut conn).await.unwrap();
        seen.lock().unwrap().push(head);
        conn.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: echo\r\n\r\n",
        )
        .await
        .unwrap();
        let mut buf = [0u8; 64];
        loop {
            let n = conn.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            conn.write_all(&buf[..n]).await.unwrap();
        }
    });
    let mut config = Config::new(url.parse().unwrap());
    config.auth = k8s_client::config::AuthConfig::Token("upgrade-token".into());
    let c = Client::builder(config)
        .proxy_env(k8s_client::transport::ProxyEnv::none())
        .build()
        .unwrap();
    let req = http::Request::post("/api/v1/namespaces/default/pods/p/exec?command=sh")
        .header("connection", "Upgrade")
        .header("upgrade", "echo")
        .body(k8s_client::client::Body::empty())
        .unwrap();
    let k8s_client::client::UpgradeOutcome::Upgraded { response, mut io } =
        c.send_upgrade(req).await.unwrap()
    else {
        panic!("expected an upgrade");
    };
    assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(response.headers()["upgrade"], "echo");
    io.write_all(b"ping").await.unwrap();
    let mut back = [0u8; 4];
    io.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"ping");
    let head = heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(head.starts_with("post /api/v1/namespaces/default/pods/p/exec?command=sh http/1.1"));
    assert!(
        head.contains("authorization: bearer upgrade-token"),
        "{head}"
    );
    assert!(head.contains("upgrade: echo"), "{head}");
}

#[tokio::test]
async fn connections_are_reused() {
    let (url, seen) = serve(|_| Some(ok_json("{}"))).await;
    let c = client(&url);
    let clone = c.clone();
    for client in [&c, &clone, &c, &clone, &c] {
        let _: serde_json::Value = client
            .request(http::Request::get("/api").body(Vec::new()).unwrap())
            .await
            .unwrap();
    }
    let s = seen.lock().unwrap();
    assert_eq!(s.requests.len(), 5);
    assert_eq!(
        s.connections, 1,
        "one keep-alive connection, shared by clones"
    );
}
