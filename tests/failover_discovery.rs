//! Endpoints from the `default/kubernetes` EndpointSlices, against local servers: what a
//! real API server will not serve on demand (hostile slices, a 403, an oversized list,
//! a server whose certificate names the dialled address but not the cluster). The same
//! behaviour against real API servers is in `failover_slices.rs`.

mod support;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use k8s_client::client::EndpointDiscovery;
use k8s_client::config::{AuthConfig, PemSource};
use k8s_client::transport::{ProxyEnv, TransportError};
use k8s_client::{Client, Config, Error};
use rcgen::SanType;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::eventually;
use support::server::UpBody;
use support::server::UpFuture;
use support::server::Upstream;
use support::server::channel_body;
use support::server::full;
use support::within;
use tokio::sync::mpsc;

/// How long a condition on the client's endpoints may take to hold.
const PATIENCE: Duration = Duration::from_secs(30);

const SLICES: &str = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";

fn slice(name: &str, addr: SocketAddr, ready: bool) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "default", "resourceVersion": "1",
                     "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [addr.ip().to_string()], "conditions": {"ready": ready}}],
        "ports": [{"name": "https", "port": addr.port(), "protocol": "TCP"}],
    })
}

/// What the fake control plane serves for the EndpointSlice list.
#[derive(Clone)]
enum ListAnswer {
    Items,
    Status(StatusCode),
    Raw(Bytes),
}

/// The state every fake API server shares: the slices, the open watches, and a log of
/// which server answered which request.
struct Plane {
    slices: Mutex<Vec<Value>>,
    list: Mutex<ListAnswer>,
    watchers: Mutex<Vec<mpsc::Sender<Bytes>>>,
    lists: AtomicUsize,
    watches: AtomicUsize,
    served: Mutex<Vec<&'static str>>,
}

impl Plane {
    fn new(slices: Vec<Value>, list: ListAnswer) -> Arc<Self> {
        Arc::new(Self {
            slices: Mutex::new(slices),
            list: Mutex::new(list),
            watchers: Mutex::new(Vec::new()),
            lists: AtomicUsize::new(0),
            watches: AtomicUsize::new(0),
            served: Mutex::new(Vec::new()),
        })
    }

    fn answer(self: &Arc<Self>, tag: &'static str, req: &Request<Incoming>) -> Response<UpBody> {
        let path = req.uri().path();
        let query = req.uri().query().unwrap_or("");
        if path != SLICES {
            self.served.lock().unwrap().push(tag);
            return Response::new(full(format!("{{\"server\":\"{tag}\"}}")));
        }
        assert!(query.contains("labelSelector=kubernetes.io%2Fservice-name%3Dkubernetes"));
        if query.contains("watch=true") {
            self.watches.fetch_add(1, Ordering::SeqCst);
            let (tx, body) = channel_body();
            self.watchers.lock().unwrap().push(tx);
            return Response::new(body);
        }
        self.lists.fetch_add(1, Ordering::SeqCst);
        match self.list.lock().unwrap().clone() {
            ListAnswer::Items => {
                let items = self.slices.lock().unwrap().clone();
                let list = json!({"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1",
                                  "metadata": {"resourceVersion": "1"}, "items": items});
                Response::new(full(list.to_string()))
            }
            ListAnswer::Status(status) => {
                let mut r = Response::new(full(r#"{"kind":"Status","status":"Failure"}"#));
                *r.status_mut() = status;
                r
            }
            ListAnswer::Raw(bytes) => Response::new(full(bytes)),
        }
    }

    async fn server(self: &Arc<Self>, tag: &'static str) -> Upstream {
        let plane = self.clone();
        Upstream::start(move |req| -> UpFuture {
            let r = plane.answer(tag, &req);
            Box::pin(async move { r })
        })
        .await
    }

    /// Changes the slices and sends the event to every open watch.
    async fn event(&self, kind: &str, object: Value) {
        {
            let mut slices = self.slices.lock().unwrap();
            slices.retain(|s| s["metadata"]["name"] != object["metadata"]["name"]);
            if kind != "DELETED" {
                slices.push(object.clone());
            }
        }
        let line = Bytes::from(format!("{}\n", json!({"type": kind, "object": object})));
        let watchers = self.watchers.lock().unwrap().clone();
        assert!(!watchers.is_empty(), "no watch is open");
        for tx in watchers {
            let _ = tx.send(line.clone()).await;
        }
    }

    fn served_by(&self, tag: &str) -> usize {
        self.served
            .lock()
            .unwrap()
            .iter()
            .filter(|t| **t == tag)
            .count()
    }
}

fn discovering(url: &str) -> Client {
    let mut config = Config::new(url.parse().unwrap());
    config.auth = AuthConfig::Token("client-token".into());
    Client::builder(config)
        .proxy_env(ProxyEnv::none())
        .discover_endpoints(EndpointDiscovery::EndpointSlices)
        .build()
        .unwrap()
}

fn shown(client: &Client) -> Vec<String> {
    client.endpoints().into_iter().map(|e| e.endpoint).collect()
}

async fn get(client: &Client) -> Result<Value, Error> {
    client
        .request(Request::get("/version").body(Vec::new()).unwrap())
        .await
}

#[tokio::test]
async fn endpoints_follow_the_slices_watch_and_fall_back_to_the_cluster_url() {
    let plane = Plane::new(Vec::new(), ListAnswer::Items);
    let cluster = plane.server("cluster").await;
    let a = plane.server("a").await;
    let b = plane.server("b").await;
    plane
        .event_free_set(vec![slice("kubernetes", a.addr, true)])
        .await;
    let client = discovering(&format!("http://{}", cluster.addr));
    let (ua, ub, uc) = (
        format!("http://{}", a.addr),
        format!("http://{}", b.addr),
        format!("http://{}", cluster.addr),
    );
    // The first request starts discovery; until the slice is read the cluster URL serves.
    get(&client).await.unwrap();
    eventually("the slice's endpoint", PATIENCE, || {
        shown(&client) == [ua.clone()]
    })
    .await;
    let before = plane.served_by("a");
    for _ in 0..5 {
        assert_eq!(get(&client).await.unwrap()["server"], "a");
    }
    assert_eq!(plane.served_by("a"), before + 5);

    eventually("the watch", PATIENCE, || {
        plane.watches.load(Ordering::SeqCst) == 1
    })
    .await;
    plane
        .event("ADDED", slice("kubernetes-b", b.addr, true))
        .await;
    eventually("a second endpoint", PATIENCE, || {
        shown(&client) == [ua.clone(), ub.clone()]
    })
    .await;
    for _ in 0..60 {
        get(&client).await.unwrap();
    }
    assert!(
        plane.served_by("b") > 5,
        "b served {}",
        plane.served_by("b")
    );

    // Not ready: it leaves the set.
    plane
        .event("MODIFIED", slice("kubernetes-b", b.addr, false))
        .await;
    eventually("b leaving", PATIENCE, || shown(&client) == [ua.clone()]).await;
    // No ready endpoint at all: the cluster URL serves again.
    plane
        .event("DELETED", slice("kubernetes", a.addr, true))
        .await;
    eventually("the cluster URL", PATIENCE, || {
        shown(&client) == [uc.clone()]
    })
    .await;
    assert_eq!(get(&client).await.unwrap()["server"], "cluster");

    // Dropping the client ends the discovery task and its watch.
    let watch = plane.watchers.lock().unwrap()[0].clone();
    drop(client);
    within("the watch to close", watch.closed()).await;
    assert_eq!(plane.watches.load(Ordering::SeqCst), 1);
}

impl Plane {
    /// Sets the slices without an event (before any watch is open).
    async fn event_free_set(&self, slices: Vec<Value>) {
        *self.slices.lock().unwrap() = slices;
    }
}

#[tokio::test]
async fn unreadable_or_hostile_slices_leave_the_cluster_url() {
    let huge = Bytes::from(vec![b' '; 5 << 20]);
    for answer in [
        ListAnswer::Status(StatusCode::FORBIDDEN),
        ListAnswer::Status(StatusCode::NOT_FOUND),
        ListAnswer::Raw(Bytes::from_static(b"{\"items\": [{\"endpoints\": 7}]}")),
        ListAnswer::Raw(Bytes::from_static(b"\x00\xffnot json")),
        ListAnswer::Raw(huge),
    ] {
        let plane = Plane::new(Vec::new(), answer);
        let cluster = plane.server("cluster").await;
        let client = discovering(&format!("http://{}", cluster.addr));
        get(&client).await.unwrap();
        // A second list proves the first answer was handled (and refused).
        eventually("a retried list", PATIENCE, || {
            plane.lists.load(Ordering::SeqCst) >= 2
        })
        .await;
        assert_eq!(shown(&client), [format!("http://{}", cluster.addr)]);
        assert_eq!(get(&client).await.unwrap()["server"], "cluster");
        assert_eq!(plane.watches.load(Ordering::SeqCst), 0);
    }

    // Readable, but every address or port is unusable.
    let mut bogus = Vec::new();
    for (n, (address, port)) in [
        ("0.0.0.0", json!(443)),
        ("224.0.0.1", json!(443)),
        ("169.254.169.254", json!(443)),
        ("10.0.0.1", json!(0)),
        ("10.0.0.1", json!(70000)),
        ("10.0.0.1", json!(-443)),
        ("not-an-ip", json!(443)),
        ("::1", json!(443)),
    ]
    .into_iter()
    .enumerate()
    {
        bogus.push(json!({
            "metadata": {"name": format!("kubernetes-{n}"),
                         "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address]}],
            "ports": [{"name": "https", "port": port}],
        }));
    }
    let plane = Plane::new(bogus, ListAnswer::Items);
    let cluster = plane.server("cluster").await;
    let client = discovering(&format!("http://{}", cluster.addr));
    get(&client).await.unwrap();
    // The watch starts after the list was applied.
    eventually("the watch", PATIENCE, || {
        plane.watches.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(shown(&client), [format!("http://{}", cluster.addr)]);
}

mod tls {
    use super::*;
    use crate::support::server::TestCa;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub fn ca() -> TestCa {
        TestCa::new("failover test CA")
    }

    pub struct Served {
        pub addr: SocketAddr,
        /// HTTP requests read (after a completed handshake).
        pub requests: Arc<AtomicUsize>,
        /// Handshakes started.
        pub hellos: Arc<AtomicUsize>,
    }

    /// An HTTPS server with a certificate for `sans` from `ca`, answering each request
    /// with `answer(request head)` (`None`: a watch, held open).
    pub async fn serve(
        ca: &TestCa,
        sans: Vec<SanType>,
        answer: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Served {
        let config = ca.leaf(sans).server_config();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let hellos = Arc::new(AtomicUsize::new(0));
        let (r, h, answer) = (requests.clone(), hellos.clone(), Arc::new(answer));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (r, h, answer, acceptor) =
                    (r.clone(), h.clone(), answer.clone(), acceptor.clone());
                tokio::spawn(async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = vec![0u8; 8192];
                    loop {
                        let mut got = Vec::new();
                        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                            match tls.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => got.extend_from_slice(&buf[..n]),
                            }
                        }
                        r.fetch_add(1, Ordering::SeqCst);
                        let head = String::from_utf8_lossy(&got).into_owned();
                        let Some(body) = answer(&head) else {
                            let _ = tls
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
                                .await;
                            // Held open until the client goes away.
                            let _ = tls.read(&mut buf).await;
                            return;
                        };
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if tls.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Served {
            addr,
            requests,
            hellos,
        }
    }
}

/// A discovered address is dialled, but the certificate must name the cluster (here
/// the `tls-server-name`): a server whose certificate is valid for the address it is
/// reached at, from the trusted CA, is refused; one for the cluster's name serves.
#[tokio::test]
async fn a_discovered_endpoint_must_present_the_clusters_name() {
    let ca = tls::ca();
    let name = || vec![SanType::DnsName("apiserver.internal".try_into().unwrap())];
    // Every server serves the same slices (and holds watches open).
    let list = Arc::new(Mutex::new(String::new()));
    let answer = |tag: &'static str| {
        let list = list.clone();
        move |head: &str| {
            if head.contains("watch=true") {
                None
            } else if head.contains("endpointslices") {
                Some(list.lock().unwrap().clone())
            } else {
                Some(format!("{{\"server\":\"{tag}\"}}"))
            }
        }
    };
    let good = tls::serve(&ca, name(), answer("good")).await;
    let wrong = tls::serve(
        &ca,
        vec![SanType::IpAddress("127.0.0.1".parse().unwrap())],
        answer("wrong"),
    )
    .await;
    let cluster = tls::serve(&ca, name(), answer("cluster")).await;
    let items = json!([
        slice("kubernetes", good.addr, true),
        slice("kubernetes-2", wrong.addr, true)
    ]);
    *list.lock().unwrap() =
        json!({"kind": "EndpointSliceList", "metadata": {"resourceVersion": "1"}, "items": items})
            .to_string();

    let mut config = Config::new(format!("https://{}", cluster.addr).parse().unwrap());
    config.tls.ca = Some(PemSource::Data(ca.pem.clone().into_bytes()));
    config.tls.tls_server_name = Some("apiserver.internal".to_owned());
    let client = Client::builder(config)
        .proxy_env(ProxyEnv::none())
        .discover_endpoints(EndpointDiscovery::EndpointSlices)
        .build()
        .unwrap();
    get(&client).await.unwrap();
    let expected = [
        format!("https://{}", good.addr),
        format!("https://{}", wrong.addr),
    ];
    eventually("both discovered endpoints", PATIENCE, || {
        shown(&client) == expected
    })
    .await;

    let (mut ok, mut refused) = (0, 0);
    for _ in 0..40 {
        match get(&client).await {
            Ok(v) => {
                assert_eq!(v["server"], "good");
                ok += 1
            }
            Err(Error::Transport(TransportError::Tls { .. })) => refused += 1,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert!(ok > 0 && refused > 0, "ok {ok}, refused {refused}");
    assert!(wrong.hellos.load(Ordering::SeqCst) > 0);
    assert_eq!(
        wrong.requests.load(Ordering::SeqCst),
        0,
        "a request reached the wrong server"
    );
    let served = good.requests.load(Ordering::SeqCst);
    assert!(
        served >= ok,
        "good served {served}, ok {ok}, refused {refused}"
    );
}

/// A `/api` answer with the given body; other paths name the server.
async fn api_server(tag: &'static str, api: Bytes, reads: Arc<AtomicUsize>) -> Upstream {
    Upstream::start(move |req| -> UpFuture {
        let body = if req.uri().path() == "/api" {
            reads.fetch_add(1, Ordering::SeqCst);
            api.clone()
        } else {
            Bytes::from(format!("{{\"server\":\"{tag}\"}}"))
        };
        Box::pin(async move { Response::new(full(body)) })
    })
    .await
}

fn cidr_client(addr: SocketAddr) -> Client {
    let mut config = Config::new(format!("http://{}", addr).parse().unwrap());
    config.auth = AuthConfig::Token("client-token".into());
    Client::builder(config)
        .proxy_env(ProxyEnv::none())
        .discover_endpoints(EndpointDiscovery::ClientCidr)
        .build()
        .unwrap()
}

#[tokio::test]
async fn client_cidr_discovery_takes_the_most_specific_valid_entry_only() {
    let target = api_server("target", Bytes::new(), Arc::default()).await;
    let entries = json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": "10.255.255.1:6443"},
        {"clientCIDR": "127.0.0.0/8", "serverAddress": target.addr.to_string()},
        {"clientCIDR": "127.0.0.0/40", "serverAddress": "127.0.0.1:1"},
        {"clientCIDR": "127.0.0.1/32", "serverAddress": "169.254.169.254:80"},
        {"clientCIDR": "127.0.0.1/31", "serverAddress": "user@127.0.0.1:1"},
    ]});
    let reads = Arc::new(AtomicUsize::new(0));
    let cluster = api_server("cluster", Bytes::from(entries.to_string()), reads.clone()).await;
    let client = cidr_client(cluster.addr);
    get(&client).await.unwrap();
    let expected = [format!("http://{}", target.addr)];
    eventually("the selected address", PATIENCE, || {
        shown(&client) == expected
    })
    .await;
    assert_eq!(get(&client).await.unwrap()["server"], "target");
    assert_eq!(reads.load(Ordering::SeqCst), 1, "/api is read once");

    // Hostile answers: nothing usable, the cluster URL stays.
    let mut many: Vec<Value> = (0..10_000)
        .map(|i| json!({"clientCIDR": format!("10.{}.0.0/16", i % 256), "serverAddress": "0.0.0.0:1"}))
        .collect();
    many.push(json!({"clientCIDR": "0.0.0.0/0", "serverAddress": target.addr.to_string()}));
    for api in [
        Bytes::from(json!({"serverAddressByClientCIDRs": many}).to_string()),
        Bytes::from(
            json!({"serverAddressByClientCIDRs": [{"clientCIDR": "x", "serverAddress": "y"}]})
                .to_string(),
        ),
        Bytes::from(json!({"versions": ["v1"]}).to_string()),
    ] {
        let reads = Arc::new(AtomicUsize::new(0));
        let cluster = api_server("cluster", api, reads.clone()).await;
        let client = cidr_client(cluster.addr);
        get(&client).await.unwrap();
        eventually("the /api read", PATIENCE, || {
            reads.load(Ordering::SeqCst) == 1
        })
        .await;
        // Handled once read: requests keep going to the cluster URL.
        for _ in 0..20 {
            assert_eq!(get(&client).await.unwrap()["server"], "cluster");
            tokio::task::yield_now().await;
        }
        assert_eq!(shown(&client), [format!("http://{}", cluster.addr)]);
    }
    // Unreadable (too large, not JSON): retried, and the cluster URL stays meanwhile.
    for api in [
        Bytes::from(vec![b'{'; 5 << 20]),
        Bytes::from_static(b"<html>"),
    ] {
        let reads = Arc::new(AtomicUsize::new(0));
        let cluster = api_server("cluster", api, reads.clone()).await;
        let client = cidr_client(cluster.addr);
        get(&client).await.unwrap();
        eventually("a retried /api read", PATIENCE, || {
            reads.load(Ordering::SeqCst) >= 2
        })
        .await;
        assert_eq!(shown(&client), [format!("http://{}", cluster.addr)]);
    }
}

mod logs {
    use crate::support::logs::LogBuffer;

    /// Everything this binary logs (a global subscriber: a scoped one misses events
    /// whose callsite another test thread registered first).
    pub fn text() -> String {
        LogBuffer::global().text()
    }

    /// The lines that contain every one of `parts`.
    pub fn lines_with(parts: &[&str]) -> Vec<String> {
        text()
            .lines()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .map(str::to_owned)
            .collect()
    }
}

/// Each response is logged with the endpoint that served it, each health change and
/// each change of the discovered set is an event naming the endpoint (besides the
/// `on_endpoint_health` callback), and no log line carries the credential.
#[tokio::test]
async fn logs_name_the_serving_endpoint_and_every_health_and_set_change() {
    logs::text();
    let live = api_server("live", Bytes::new(), Arc::default()).await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (live_url, dead_url) = (format!("http://{}", live.addr), format!("http://{dead}"));
    let events = Arc::new(Mutex::new(Vec::new()));
    let recorded = events.clone();
    let mut config = Config::new(live_url.parse().unwrap());
    config.auth = AuthConfig::Token("s3cr3t-log-token".into());
    let client = Client::builder(config)
        .proxy_env(ProxyEnv::none())
        .endpoints([dead_url.parse().unwrap()])
        .on_endpoint_health(move |e| recorded.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    for _ in 0..20 {
        assert_eq!(get(&client).await.unwrap()["server"], "live");
    }
    let ejected = logs::lines_with(&[
        "API server endpoint ejected",
        &format!("endpoint={dead_url}"),
        "reason=ConnectFailed",
    ]);
    assert_eq!(ejected.len(), 1, "{ejected:?}");
    assert!(ejected[0].contains("INFO"), "{}", ejected[0]);
    let callback: Vec<_> = events.lock().unwrap().clone();
    assert_eq!(callback.len(), 1, "{callback:?}");
    assert_eq!(callback[0].endpoint, dead_url);
    let served = logs::lines_with(&["response received", &format!("endpoint={live_url}")]);
    assert!(served.len() >= 20, "{}", served.len());
    assert!(logs::lines_with(&["response received", &format!("endpoint={dead_url}")]).is_empty());
    assert!(
        !logs::lines_with(&["failing over", &format!("endpoint={dead_url}")]).is_empty(),
        "the failover is logged with the endpoint it left"
    );

    // Discovery: the joining and the leaving endpoint are named.
    let plane = Plane::new(Vec::new(), ListAnswer::Items);
    let cluster = plane.server("cluster").await;
    let member = plane.server("member").await;
    plane
        .event_free_set(vec![slice("kubernetes", member.addr, true)])
        .await;
    let discovering = discovering(&format!("http://{}", cluster.addr));
    get(&discovering).await.unwrap();
    let member_url = format!("http://{}", member.addr);
    eventually("the member", PATIENCE, || {
        shown(&discovering) == [member_url.clone()]
    })
    .await;
    let joined = logs::lines_with(&["joined the set", &format!("endpoint={member_url}")]);
    let left = logs::lines_with(&["left the set", &format!("endpoint=http://{}", cluster.addr)]);
    assert_eq!((joined.len(), left.len()), (1, 1), "{joined:?} {left:?}");
    assert!(logs::text().contains("API server endpoints updated"));
    assert!(!logs::text().contains("s3cr3t"), "a credential was logged");
}
