//! Failover rules at the moment a server dies with a request in flight. A real API
//! server cannot be killed at an exact point of an exchange, so these use small local
//! HTTP servers that hold the first request they receive until the test resets its
//! connection — the crash of a server that had read the request.

use k8s_client::auth::{AuthError, AuthProvider, BoxFuture, Credential};
use k8s_client::client::{EndpointEvent, HealthReason};
use k8s_client::{Client, Config, Error};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};

/// Two servers sharing one log of received requests; the first request overall is held
/// (if asked) until `crash` is notified, then its connection is closed.
struct Pair {
    urls: [String; 2],
    /// (server index, method) per request received.
    received: mpsc::UnboundedReceiver<(usize, String)>,
    crash: Arc<Notify>,
    /// Requests that carried `Authorization: Bearer client-token`.
    authorized: Arc<AtomicUsize>,
}

async fn pair(hold_first: bool) -> Pair {
    pair_with_delay(hold_first, Duration::ZERO).await
}

/// Like [`pair`], with server 1 waiting `slow` before each answer.
async fn pair_with_delay(hold_first: bool, slow: Duration) -> Pair {
    let (tx, received) = mpsc::unbounded_channel();
    let crash = Arc::new(Notify::new());
    let held = Arc::new(Mutex::new(!hold_first));
    let authorized = Arc::new(AtomicUsize::new(0));
    let mut urls = Vec::new();
    for index in 0..2 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        urls.push(format!("http://{}", listener.local_addr().unwrap()));
        let server = Server {
            index,
            tx: tx.clone(),
            crash: crash.clone(),
            held: held.clone(),
            authorized: authorized.clone(),
            delay: if index == 1 { slow } else { Duration::ZERO },
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(server.clone().serve(stream));
            }
        });
    }
    Pair {
        urls: [urls[0].clone(), urls[1].clone()],
        received,
        crash,
        authorized,
    }
}

#[derive(Clone)]
struct Server {
    index: usize,
    tx: mpsc::UnboundedSender<(usize, String)>,
    crash: Arc<Notify>,
    held: Arc<Mutex<bool>>,
    authorized: Arc<AtomicUsize>,
    delay: Duration,
}

impl Server {
    async fn serve(self, mut stream: TcpStream) {
        let Server {
            index,
            tx,
            crash,
            held,
            authorized,
            delay,
        } = self;
        let _ = stream.set_nodelay(true);
        let mut buf = Vec::new();
        loop {
            // One request: head, then Content-Length bytes of body.
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let mut chunk = [0u8; 4096];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < head_end + length {
                let mut chunk = [0u8; 4096];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            buf.drain(..head_end + length);
            let method = head.split(' ').next().unwrap_or_default().to_owned();
            if head
                .to_ascii_lowercase()
                .contains("\r\nauthorization: bearer client-token\r\n")
            {
                authorized.fetch_add(1, Ordering::SeqCst);
            }
            let hold = !std::mem::replace(&mut *held.lock().unwrap(), true);
            // Register interest before reporting, so the crash cannot be missed.
            let crashed = crash.notified();
            let _ = tx.send((index, method));
            if hold {
                crashed.await;
                // A crash: the kernel closes the socket, no response.
                return;
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let body = "{\"kind\":\"Status\"}";
            // One write: head and body in separate segments would meet Nagle's
            // algorithm and the client's delayed ACK (40 ms per answer).
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if stream.write_all(response.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

fn client(urls: &[String], events: Arc<Mutex<Vec<EndpointEvent>>>) -> Client {
    let config = Config::new(urls[0].parse().unwrap());
    Client::builder(config)
        .endpoints(urls[1..].iter().map(|u| u.parse().unwrap()))
        .on_endpoint_health(move |e| events.lock().unwrap().push(e.clone()))
        .build()
        .unwrap()
}

fn request(method: http::Method) -> http::Request<Vec<u8>> {
    http::Request::builder()
        .method(method)
        .uri("/api/v1/namespaces/default/configmaps")
        .body(b"{}".to_vec())
        .unwrap()
}

#[tokio::test]
async fn a_post_in_flight_when_its_server_crashes_is_not_replayed() {
    let mut p = pair(true).await;
    let events = Arc::default();
    let client = client(&p.urls, Arc::clone(&events));
    let post = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .request::<serde_json::Value>(request(http::Method::POST))
                .await
        }
    });
    let (server, method) = p.received.recv().await.unwrap();
    assert_eq!(method, "POST");
    p.crash.notify_waiters();
    let result = post.await.unwrap();
    assert!(
        matches!(result, Err(Error::Transport(_))),
        "the caller sees the failure: {result:?}"
    );
    // Nothing else reached either server: the POST was not sent again.
    assert!(p.received.try_recv().is_err());
    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].endpoint, p.urls[server]);
    assert_eq!(events[0].reason, HealthReason::ConnectionLost);
    // The next request goes to the other server.
    client
        .request::<serde_json::Value>(request(http::Method::POST))
        .await
        .unwrap();
    assert_eq!(
        p.received.recv().await.unwrap(),
        (1 - server, "POST".to_owned())
    );
}

#[tokio::test]
async fn a_get_in_flight_when_its_server_crashes_fails_over_unnoticed() {
    let mut p = pair(true).await;
    let client = client(&p.urls, Arc::default());
    let get = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .request::<serde_json::Value>(request(http::Method::GET))
                .await
        }
    });
    let (server, method) = p.received.recv().await.unwrap();
    assert_eq!(method, "GET");
    p.crash.notify_waiters();
    get.await
        .unwrap()
        .expect("the GET is answered by the other server");
    assert_eq!(
        p.received.recv().await.unwrap(),
        (1 - server, "GET".to_owned())
    );
    let statuses = client.endpoints();
    assert!(!statuses[server].healthy && statuses[1 - server].healthy);
}

#[tokio::test]
async fn a_refused_connection_sends_even_a_post_to_another_server() {
    // A port nothing listens on: the connection is refused before any byte is sent.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let mut p = pair(false).await;
    let events = Arc::default();
    let client = client(&[closed.clone(), p.urls[1].clone()], Arc::clone(&events));
    for _ in 0..20 {
        client
            .request::<serde_json::Value>(request(http::Method::POST))
            .await
            .expect("a refused connection fails over, whatever the method");
        assert_eq!(p.received.recv().await.unwrap(), (1, "POST".to_owned()));
    }
    let statuses = client.endpoints();
    assert!(!statuses[0].healthy && statuses[1].healthy, "{statuses:?}");
    let events = events.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .all(|e| e.endpoint == closed && (e.healthy || e.reason == HealthReason::ConnectFailed)),
        "{events:?}"
    );
}

/// A static token that counts fetches.
#[derive(Debug, Default)]
struct Counting {
    fetches: AtomicUsize,
}

impl AuthProvider for Counting {
    fn name(&self) -> &str {
        "counting"
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Credential, AuthError>> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(Credential::bearer("client-token".into())) })
    }
}

#[tokio::test]
async fn one_credential_and_one_rate_limiter_serve_every_endpoint() {
    const REQUESTS: usize = 21;
    const QPS: f32 = 20.0;
    let mut p = pair(false).await;
    let provider = Arc::new(Counting::default());
    let client = Client::builder(Config::new(p.urls[0].parse().unwrap()))
        .endpoints([p.urls[1].parse().unwrap()])
        .auth_provider(provider.clone())
        .rate_limit(QPS, 1)
        .build()
        .unwrap();
    let started = Instant::now();
    let mut per_server = [0usize; 2];
    for _ in 0..REQUESTS {
        client
            .request::<serde_json::Value>(request(http::Method::GET))
            .await
            .unwrap();
        per_server[p.received.recv().await.unwrap().0] += 1;
    }
    let elapsed = started.elapsed();
    assert!(per_server.iter().all(|n| *n > 0), "{per_server:?}");
    assert_eq!(p.authorized.load(Ordering::SeqCst), REQUESTS);
    assert_eq!(
        provider.fetches.load(Ordering::SeqCst),
        1,
        "one credential for all"
    );
    // One bucket: 20 tokens beyond the burst of 1 take a second. A limiter per
    // endpoint would let both halves through in half that.
    let floor = Duration::from_secs_f32((REQUESTS - 1) as f32 / QPS * 0.9);
    assert!(elapsed >= floor, "{REQUESTS} requests took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_gets_less_load() {
    // Round robin would send the slow server exactly half; power of two choices on
    // outstanding requests sends most requests where answers come back.
    const REQUESTS: usize = 400;
    const IN_FLIGHT: usize = 8;
    let p = pair_with_delay(false, Duration::from_millis(40)).await;
    let client = client(&p.urls, Arc::default());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (client, next) = (client.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::SeqCst) < REQUESTS {
                    client
                        .request::<serde_json::Value>(request(http::Method::GET))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let answered: Vec<u64> = client.endpoints().iter().map(|e| e.answered).collect();
    eprintln!(
        "slow endpoint answered {answered:?} in {:?}",
        started.elapsed()
    );
    assert_eq!(answered.iter().sum::<u64>(), REQUESTS as u64);
    assert!(
        answered[1] > 0,
        "the slow endpoint still serves: {answered:?}"
    );
    assert!(
        answered[1] * 4 < REQUESTS as u64,
        "the slow endpoint got a quarter or more: {answered:?}"
    );
}

/// Two servers answering every request; the first request overall gets its response
/// head and part of its body, then the connection is reset (a server killed while
/// sending). Returns the URLs and how many requests each server received.
async fn cut_body_pair() -> (Vec<String>, Arc<[AtomicUsize; 2]>) {
    let first = Arc::new(AtomicUsize::new(0));
    let counts: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let mut urls = Vec::new();
    for index in 0..2 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        urls.push(format!("http://{}", listener.local_addr().unwrap()));
        let (first, counts) = (first.clone(), counts.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (first, counts) = (first.clone(), counts.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    loop {
                        let mut got = Vec::new();
                        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => got.extend_from_slice(&buf[..n]),
                            }
                        }
                        counts[index].fetch_add(1, Ordering::SeqCst);
                        let body = br#"{"kind":"Namespace","metadata":{"name":"default"}}"#;
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            body.len()
                        );
                        if first.fetch_add(1, Ordering::SeqCst) == 0 {
                            let _ = stream.write_all(head.as_bytes()).await;
                            let _ = stream.write_all(&body[..10]).await;
                            let _ = stream.flush().await;
                            // SO_LINGER 0: closing sends a reset, as a killed process does.
                            let _ =
                                socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                            return;
                        }
                        let _ = stream.write_all(head.as_bytes()).await;
                        let _ = stream.write_all(body).await;
                    }
                });
            }
        });
    }
    (urls, counts)
}

#[tokio::test]
async fn a_get_whose_body_is_cut_off_is_sent_again_but_a_post_is_not() {
    let (urls, counts) = cut_body_pair().await;
    let getting = client(&urls, Arc::default());
    let req = http::Request::get("/api/v1/namespaces/default")
        .body(Vec::new())
        .unwrap();
    let ns: serde_json::Value = getting.request(req).await.unwrap();
    assert_eq!(ns["metadata"]["name"], "default");
    let total = counts[0].load(Ordering::SeqCst) + counts[1].load(Ordering::SeqCst);
    assert_eq!(total, 2, "the GET was sent exactly twice");

    let (urls, counts) = cut_body_pair().await;
    let posting = client(&urls, Arc::default());
    let req = http::Request::post("/api/v1/namespaces")
        .body(b"{}".to_vec())
        .unwrap();
    let err = posting.request::<serde_json::Value>(req).await.unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    let total = counts[0].load(Ordering::SeqCst) + counts[1].load(Ordering::SeqCst);
    assert_eq!(total, 1, "the POST was not replayed");
}
