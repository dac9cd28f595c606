//! The one local HTTP server of the tests, [`Upstream`]: a stand-in for an API server (or
//! an OIDC issuer) for what a real one cannot show on demand: the exact headers it
//! received, a held or endless response, a 429 with a huge `Retry-After`, a redirect, a
//! 101 with an echo tunnel. Plain HTTP or TLS ([`Upstream::start_tls`], certificates from
//! [`TestCa`]).
//!
//! Servers that must misbehave below HTTP (close a connection without answering, count
//! TLS handshakes, record SNI) read and write the socket themselves in their test; they
//! take their certificates from [`TestCa`] too.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use k8s_client::Client;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// A response body of an [`Upstream`] handler.
pub type UpBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::convert::Infallible>;

/// A boxed handler future.
pub type UpFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Response<UpBody>> + Send>>;

/// A local HTTP/1.1 server (with upgrades) answering every request with `handler`; it
/// stops when dropped.
pub struct Upstream {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Upstream {
    /// Serves plain HTTP on a random port of 127.0.0.1.
    pub async fn start<F>(handler: F) -> Self
    where
        F: Fn(Request<Incoming>) -> UpFuture + Send + Sync + 'static,
    {
        Self::serve(None, handler).await
    }

    /// Serves HTTPS with `config` (see [`Leaf::server_config`]) on a random port of
    /// 127.0.0.1.
    pub async fn start_tls<F>(config: rustls::ServerConfig, handler: F) -> Self
    where
        F: Fn(Request<Incoming>) -> UpFuture + Send + Sync + 'static,
    {
        Self::serve(
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
            handler,
        )
        .await
    }

    /// Serves plain HTTP on `listener` (one made elsewhere, e.g. inside a network
    /// namespace).
    pub fn on<F>(listener: tokio::net::TcpListener, handler: F) -> Self
    where
        F: Fn(Request<Incoming>) -> UpFuture + Send + Sync + 'static,
    {
        Self::serve_on(listener, None, handler)
    }

    async fn serve<F>(tls: Option<tokio_rustls::TlsAcceptor>, handler: F) -> Self
    where
        F: Fn(Request<Incoming>) -> UpFuture + Send + Sync + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve_on(listener, tls, handler)
    }

    fn serve_on<F>(
        listener: tokio::net::TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        handler: F,
    ) -> Self
    where
        F: Fn(Request<Incoming>) -> UpFuture + Send + Sync + 'static,
    {
        let addr = listener.local_addr().unwrap();
        let handler = Arc::new(handler);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (handler, tls) = (handler.clone(), tls.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let fut = handler(req);
                        async move { Ok::<_, std::convert::Infallible>(fut.await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    let _ = match tls {
                        None => {
                            http.serve_connection(TokioIo::new(stream), service)
                                .with_upgrades()
                                .await
                        }
                        Some(tls) => {
                            let Ok(stream) = tls.accept(stream).await else {
                                return;
                            };
                            http.serve_connection(TokioIo::new(stream), service)
                                .with_upgrades()
                                .await
                        }
                    };
                });
            }
        });
        Self { addr, task }
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client for this (plain HTTP) upstream with a static bearer token.
    pub fn client(&self, token: &str) -> Client {
        let mut config = k8s_client::Config::new(self.url().parse().unwrap());
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

/// A whole JSON body with `status`.
pub fn json(status: u16, body: &serde_json::Value) -> Response<UpBody> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(full(body.to_string()))
        .unwrap()
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

/// A certificate authority for local TLS servers.
pub struct TestCa {
    /// The CA certificate (PEM), for a client's trust roots.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// A fresh self-signed CA; `common_name` makes verification errors readable.
    pub fn new(common_name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `sans`, signed by this CA.
    pub fn leaf(&self, sans: Vec<SanType>) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = sans;
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        }
    }

    /// A server certificate for `localhost` and `127.0.0.1`.
    pub fn localhost(&self) -> Leaf {
        self.leaf(vec![
            SanType::DnsName("localhost".try_into().unwrap()),
            SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
        ])
    }
}

/// A server certificate and its key.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key_der: PrivateKeyDer<'static>,
}

impl Leaf {
    /// A rustls server configuration (ring, HTTP/1.1 by ALPN) presenting this certificate.
    pub fn server_config(&self) -> rustls::ServerConfig {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![self.cert_der.clone()], self.key_der.clone_key())
        .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config
    }
}
