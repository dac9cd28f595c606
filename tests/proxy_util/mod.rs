//! Helpers shared by the proxy test binaries: start our proxy or `kubectl proxy`, and
//! talk HTTP/1.1 to either over TCP or a unix socket with full control of the headers.
#![allow(dead_code)]

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use k8s_client::Client;
#[cfg(feature = "testenv")]
use k8s_client::config::{ClientCertificate, KeySource, PemSource};
use k8s_client::proxy::{Proxy, ProxyOptions, ServeAddr};
#[cfg(feature = "testenv")]
use k8s_client::testenv::TestEnv;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where a proxy listens.
#[derive(Clone, Debug)]
pub enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Target {
    /// The `Host` header a browser or curl would send.
    pub fn host_header(&self) -> String {
        match self {
            Target::Tcp(addr) => addr.to_string(),
            Target::Unix(_) => "localhost".to_owned(),
        }
    }
}

impl From<ServeAddr> for Target {
    fn from(addr: ServeAddr) -> Self {
        match addr {
            ServeAddr::Tcp(a) => Target::Tcp(a),
            ServeAddr::Unix(p) => Target::Unix(p),
            other => panic!("unexpected address {other:?}"),
        }
    }
}

/// A response read completely.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Sends `req` on a fresh HTTP/1.1 connection and returns the response head with a
/// streaming body. The request's headers are sent as they are (including `Host`).
pub async fn send(target: &Target, req: Request<Full<Bytes>>) -> Response<Incoming> {
    macro_rules! exchange {
        ($stream:expr) => {{
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new($stream))
                .await
                .expect("HTTP/1.1 handshake");
            tokio::spawn(conn.with_upgrades());
            sender.send_request(req).await.expect("sending the request")
        }};
    }
    match target {
        Target::Tcp(addr) => exchange!(
            tokio::net::TcpStream::connect(addr)
                .await
                .expect("connect to proxy")
        ),
        Target::Unix(path) => exchange!(
            tokio::net::UnixStream::connect(path)
                .await
                .expect("connect to proxy socket")
        ),
    }
}

/// Sends a request and reads the whole answer.
pub async fn fetch(target: &Target, req: Request<Full<Bytes>>) -> Answer {
    let response = send(target, req).await;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("reading the body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A request with the `Host` header of `target` and an optional JSON body.
pub fn request(
    target: &Target,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Request<Full<Bytes>> {
    request_with_host(&target.host_header(), method, path, body)
}

/// A request with an explicit `Host` header.
pub fn request_with_host(
    host: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, host)
        // Both proxies pass the caller's User-Agent on (it names the field manager).
        .header(http::header::USER_AGENT, "proxy-test/1.0");
    let bytes = match body {
        Some(v) => {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
            Bytes::from(serde_json::to_vec(v).unwrap())
        }
        None => Bytes::new(),
    };
    builder.body(Full::new(bytes)).unwrap()
}

/// A client for the testenv admin (client certificate), built from the raw pieces.
#[cfg(feature = "testenv")]
pub fn admin_client(env: &TestEnv) -> Client {
    let mut config = k8s_client::Config::new(env.server_url().parse().unwrap());
    config.tls.ca = Some(PemSource::Data(env.ca_pem().as_bytes().to_vec()));
    config.tls.client_certificate = Some(ClientCertificate {
        cert: PemSource::Data(env.admin_cert_pem().as_bytes().to_vec()),
        key: KeySource::Data(env.admin_key_pem().clone()),
    });
    Client::try_from(config).expect("admin client")
}

/// Our proxy, serving on a background task until dropped or [`OurProxy::stop`]ped.
pub struct OurProxy {
    pub addrs: Vec<ServeAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), k8s_client::proxy::ProxyError>>>,
}

impl OurProxy {
    pub async fn start(client: Client, options: ProxyOptions) -> Self {
        Self::start_with_grace(client, options, Duration::from_secs(5)).await
    }

    pub async fn start_with_grace(client: Client, options: ProxyOptions, grace: Duration) -> Self {
        let bound = Proxy::builder(client)
            .options(options)
            .shutdown_grace(grace)
            .build()
            .expect("valid proxy options")
            .bind()
            .await
            .expect("binding the proxy");
        let addrs = bound.local_addrs();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bound.serve_with_shutdown(async {
            let _ = stopped.await;
        }));
        Self {
            addrs,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The first address (127.0.0.1 for the default options).
    pub fn target(&self) -> Target {
        self.addrs[0].clone().into()
    }

    /// Signals shutdown; the returned handle completes when serving has ended.
    pub fn stop(&mut self) -> JoinHandle<Result<(), k8s_client::proxy::ProxyError>> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take().expect("stopped once")
    }
}

impl Drop for OurProxy {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A `kubectl proxy` child process (killed on drop).
pub struct KubectlProxy {
    pub target: Target,
    _child: tokio::process::Child,
}

impl KubectlProxy {
    /// Runs `kubectl --kubeconfig=<kubeconfig> proxy <args>` and waits for its
    /// `Starting to serve on …` line.
    pub async fn start(kubeconfig: &std::path::Path, args: &[&str]) -> Self {
        let mut child = tokio::process::Command::new("kubectl")
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg("proxy")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("running kubectl (v1.32 is expected on PATH)");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let read = tokio::time::timeout(
            Duration::from_secs(60),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await;
        assert!(
            matches!(read, Ok(Ok(n)) if n > 0),
            "kubectl proxy {args:?} printed nothing"
        );
        let served = line
            .trim()
            .strip_prefix("Starting to serve on ")
            .unwrap_or_else(|| panic!("unexpected kubectl output {line:?}"));
        let target = if args.iter().any(|a| a.starts_with("--unix-socket")) {
            Target::Unix(PathBuf::from(served))
        } else {
            Target::Tcp(served.parse().expect("kubectl prints host:port"))
        };
        Self {
            target,
            _child: child,
        }
    }
}

/// Options with a random port and otherwise kubectl's defaults, on 127.0.0.1 only.
pub fn options_on_random_port() -> ProxyOptions {
    let mut options = ProxyOptions::default();
    options.port = 0;
    options.address = Some("127.0.0.1".to_owned());
    options
}

/// Drops what legitimately differs between two reads of the same object: server
/// generated ids, versions and times.
pub fn normalize(value: &mut serde_json::Value) {
    const VOLATILE: [&str; 5] = [
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "time",
        "deletionTimestamp",
    ];
    match value {
        serde_json::Value::Object(map) => {
            for key in VOLATILE {
                map.remove(key);
            }
            map.values_mut().for_each(normalize);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

/// A response body for the local upstream server.
pub type UpBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::convert::Infallible>;

/// A boxed handler future.
pub type UpFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Response<UpBody>> + Send>>;

/// A plain-HTTP stand-in for an API server, for what a real one cannot show on demand
/// (the exact headers it received, a held response, a 101 with an echo tunnel).
pub struct Upstream {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Upstream {
    pub async fn start<F>(handler: F) -> Self
    where
        F: Fn(Request<Incoming>) -> UpFuture + Send + Sync + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handler = std::sync::Arc::new(handler);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let fut = handler(req);
                        async move { Ok::<_, std::convert::Infallible>(fut.await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Self { addr, task }
    }

    /// A client for this upstream with a static bearer token.
    pub fn client(&self, token: &str) -> Client {
        let mut config = k8s_client::Config::new(format!("http://{}", self.addr).parse().unwrap());
        config.auth = k8s_client::config::AuthConfig::Token(token.into());
        Client::try_from(config).expect("client for the local upstream")
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> UpBody {
    Full::new(bytes.into()).boxed_unsync()
}

/// A body fed chunk by chunk through the returned sender.
pub fn channel_body() -> (tokio::sync::mpsc::Sender<Bytes>, UpBody) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok(hyper::body::Frame::data(chunk)), rx))
    });
    (tx, http_body_util::StreamBody::new(stream).boxed_unsync())
}

/// Polls `check` until it holds, failing after a generous deadline.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Awaits `fut` with a generous safety deadline (not a timing assertion).
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}
