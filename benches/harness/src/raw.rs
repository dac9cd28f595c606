//! The raw client: reqwest (HTTP/2, or HTTP/1.1 when asked) with no Kubernetes library around it.
//!
//! It reads just enough of a kubeconfig (current context → server, CA, client
//! certificate or token, file or inline data) to talk to the benchmark's
//! apiserver. The harness also uses it to load the data set and to write the
//! objects of the watch scenario, so that work never depends on the client
//! under test.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// The User-Agent every benchmarked client sends (never curl's: the apiserver
/// pretty-prints JSON for curl).
pub const USER_AGENT: &str = "k8s-client-bench/0.0.0 (raw limit)";

/// A failure of the raw client, with its context.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Deserialize)]
struct Kubeconfig {
    #[serde(rename = "current-context")]
    current_context: String,
    clusters: Vec<Named<Cluster>>,
    users: Vec<Named<User>>,
    contexts: Vec<Named<Context>>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: T,
}

#[derive(Deserialize)]
struct Cluster {
    server: String,
    #[serde(rename = "certificate-authority")]
    ca: Option<PathBuf>,
    #[serde(rename = "certificate-authority-data")]
    ca_data: Option<String>,
}

#[derive(Deserialize, Default)]
struct User {
    #[serde(rename = "client-certificate")]
    cert: Option<PathBuf>,
    #[serde(rename = "client-certificate-data")]
    cert_data: Option<String>,
    #[serde(rename = "client-key")]
    key: Option<PathBuf>,
    #[serde(rename = "client-key-data")]
    key_data: Option<String>,
    token: Option<String>,
}

#[derive(Deserialize)]
struct Context {
    cluster: String,
    user: String,
}

fn pick<'a, T>(list: &'a [Named<T>], name: &str, what: &str) -> Result<&'a T> {
    list.iter()
        .find(|n| n.name == name)
        .map(|n| &n.value)
        .ok_or_else(|| format!("kubeconfig has no {what} named {name:?}").into())
}

fn pem_bytes(
    base: &Path,
    file: &Option<PathBuf>,
    data: &Option<String>,
) -> Result<Option<Vec<u8>>> {
    if let Some(data) = data {
        return Ok(Some(
            base64::engine::general_purpose::STANDARD.decode(data)?,
        ));
    }
    match file {
        Some(f) => {
            let path = if f.is_absolute() {
                f.clone()
            } else {
                base.join(f)
            };
            Ok(Some(
                std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?,
            ))
        }
        None => Ok(None),
    }
}

/// Transport settings of the raw client (all off by default: HTTP/2 with
/// hyper's default flow-control windows, no compression).
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// Ask for gzip.
    pub gzip: bool,
    /// HTTP/1.1 only.
    pub http1: bool,
    /// HTTP/2 initial stream and connection window, bytes.
    pub h2_window: Option<u32>,
    /// HTTP/2 adaptive (BDP-based) flow-control window.
    pub h2_adaptive: bool,
    /// HTTP/2 largest frame this client accepts (`SETTINGS_MAX_FRAME_SIZE`), bytes.
    pub h2_max_frame: Option<u32>,
    /// Also build a bare-hyper client (TLS and protocol version as above, hyper's
    /// default windows) for [`RawClient::get_hyper`].
    pub hyper: bool,
    /// How many bare-hyper clients (each with a pool of its own, so over HTTP/2 one
    /// connection each) [`RawClient::get_hyper`] spreads its requests over, round robin;
    /// 0 counts as 1.
    pub hyper_clients: usize,
}

type HyperClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Empty<Bytes>,
>;

/// A minimal HTTP/2 client for one apiserver.
#[derive(Clone)]
pub struct RawClient {
    http: reqwest::Client,
    /// The same TLS and protocol version on bare hyper (no reqwest), for `get_hyper`;
    /// built only when asked for.
    hyper: Vec<HyperClient>,
    next_hyper: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    server: String,
    bearer: Option<String>,
}

impl RawClient {
    /// Builds the client from the kubeconfig at `path` (its current context),
    /// without compression.
    pub fn from_kubeconfig(path: &Path) -> Result<Self> {
        Self::from_kubeconfig_with(path, &Transport::default())
    }

    /// Like [`RawClient::from_kubeconfig`] with explicit transport settings.
    pub fn from_kubeconfig_with(path: &Path, transport: &Transport) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading kubeconfig {}: {e}", path.display()))?;
        let kc: Kubeconfig = serde_yaml_ng::from_str(&text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let ctx = pick(&kc.contexts, &kc.current_context, "context")?;
        let cluster = pick(&kc.clusters, &ctx.cluster, "cluster")?;
        let user = pick(&kc.users, &ctx.user, "user")?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        let ca = pem_bytes(base, &cluster.ca, &cluster.ca_data)?
            .ok_or("the benchmark kubeconfig must name a certificate authority")?;
        for cert in CertificateDer::pem_slice_iter(&ca) {
            roots.add(cert?)?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let cert = pem_bytes(base, &user.cert, &user.cert_data)?;
        let key = pem_bytes(base, &user.key, &user.key_data)?;
        let mut tls = match (cert, key) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_slice_iter(&cert)
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_slice(&key)?)?
            }
            _ => builder.with_no_client_auth(),
        };
        let mut builder = reqwest::Client::builder();
        if transport.http1 {
            tls.alpn_protocols = vec![b"http/1.1".to_vec()];
            builder = builder.http1_only();
        } else {
            tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        }
        let one_hyper = || {
            // hyper-rustls sets the ALPN protocols itself, from the versions enabled.
            let mut hyper_tls = tls.clone();
            hyper_tls.alpn_protocols.clear();
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(hyper_tls)
                .https_only();
            let https = if transport.http1 {
                https.enable_http1().build()
            } else {
                https.enable_all_versions().build()
            };
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(https)
        };
        let hyper = if transport.hyper {
            (0..transport.hyper_clients.max(1))
                .map(|_| one_hyper())
                .collect()
        } else {
            Vec::new()
        };
        if let Some(window) = transport.h2_window {
            builder = builder
                .http2_initial_stream_window_size(window)
                .http2_initial_connection_window_size(window);
        }
        if transport.h2_adaptive {
            builder = builder.http2_adaptive_window(true);
        }
        if let Some(frame) = transport.h2_max_frame {
            builder = builder.http2_max_frame_size(frame);
        }
        let http = builder
            .tls_backend_preconfigured(tls)
            .user_agent(USER_AGENT)
            .gzip(transport.gzip)
            .no_proxy()
            .build()?;
        Ok(Self {
            http,
            hyper,
            next_hyper: Default::default(),
            server: cluster.server.trim_end_matches('/').to_string(),
            bearer: user.token.as_ref().map(|t| format!("Bearer {t}")),
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.server))
            .header(http::header::ACCEPT, "application/json");
        if let Some(b) = &self.bearer {
            rb = rb.header(http::header::AUTHORIZATION, b);
        }
        rb
    }

    async fn checked(rb: reqwest::RequestBuilder, what: &str) -> Result<reqwest::Response> {
        let resp = rb.send().await?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(format!(
                "{what}: HTTP {status}: {}",
                body.chars().take(300).collect::<String>()
            )
            .into());
        }
        Ok(resp)
    }

    /// GET `path` and return the whole body.
    pub async fn get_bytes(&self, path: &str) -> Result<Bytes> {
        Ok(
            Self::checked(self.request(reqwest::Method::GET, path), path)
                .await?
                .bytes()
                .await?,
        )
    }

    /// GET `path` and decode the body straight from its bytes.
    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        Ok(serde_json::from_slice(&self.get_bytes(path).await?)?)
    }

    /// GET `path` over bare hyper (no reqwest: no URL parsing, redirect or retry
    /// layers) and decode the body straight from its bytes.
    pub async fn get_hyper<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        use http_body_util::BodyExt;
        let mut req = http::Request::get(format!("{}{path}", self.server))
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, USER_AGENT);
        if let Some(b) = &self.bearer {
            req = req.header(http::header::AUTHORIZATION, b);
        }
        if self.hyper.is_empty() {
            return Err("the raw client was built without `Transport::hyper`".into());
        }
        let turn = self
            .next_hyper
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let hyper = &self.hyper[turn % self.hyper.len()];
        let resp = hyper
            .request(req.body(http_body_util::Empty::new())?)
            .await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            return Err(format!("{path}: HTTP {status}").into());
        }
        Ok(serde_json::from_slice(&body)?)
    }

    /// GET `path` and return the response for streaming its body.
    pub async fn get_stream(&self, path: &str) -> Result<reqwest::Response> {
        Self::checked(self.request(reqwest::Method::GET, path), path).await
    }

    /// Sends `body` as JSON with `method`; `Ok(None)` when the server answered 409 Conflict.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Option<Bytes>> {
        let resp = self
            .request(method, path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body)?)
            .send()
            .await?;
        if resp.status() == reqwest::StatusCode::CONFLICT {
            return Ok(None);
        }
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(format!(
                "{path}: HTTP {status}: {}",
                body.chars().take(300).collect::<String>()
            )
            .into());
        }
        Ok(Some(resp.bytes().await?))
    }

    /// DELETE `path` (404 counts as success).
    pub async fn delete(&self, path: &str) -> Result<()> {
        let resp = self.request(reqwest::Method::DELETE, path).send().await?;
        let status = resp.status();
        if !status.is_success() && status != reqwest::StatusCode::NOT_FOUND {
            return Err(format!("DELETE {path}: HTTP {status}").into());
        }
        Ok(())
    }
}
