//! The proxy tests' side: start our proxy or `kubectl proxy`, and talk HTTP/1.1 to
//! either over TCP or a unix socket with full control of the headers.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use k8s_client::Client;
use k8s_client::proxy::{Proxy, ProxyOptions, ServeAddr};
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
