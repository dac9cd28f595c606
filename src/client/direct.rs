//! Ordinary requests that go straight to the server, on hyper's pooled client without
//! reqwest's layers: the same connections (rustls, HTTP/2 by ALPN with HTTP/1.1 as
//! fallback, client-go's HTTP/2 health pings, a 90 s idle pool) for about a third fewer
//! instructions per small request (`docs/performance.md`).
//!
//! A request takes this route when nothing about it needs reqwest: a path and query the
//! URL parser keeps as they are (sent as text, never parsed into a URL), no proxy for its
//! host, no `tls-server-name` rewrite, no response compression, no per-read timeout, no
//! credentials in the cluster URL, not a large response (those have an HTTP/1.1 pool) and
//! not a connection upgrade. Everything else goes through reqwest. Both routes give the
//! same errors, retries and failover; a request the server refused unprocessed (an HTTP/2
//! graceful GOAWAY or `REFUSED_STREAM`) is sent again up to twice by the request loop,
//! as reqwest does it on its route.

use super::stack::StackSettings;
use crate::transport::BoxError;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::{Duration, Instant};

/// How long an idle pooled connection is kept (reqwest's and Go's default).
pub(super) const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// TCP keep-alive probes on idle connections (client-go's dialer: 30 s).
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

type Connector = ConnectTimeout<hyper_rustls::HttpsConnector<HttpConnector>>;

/// Bounds the whole of establishing a connection — TCP, then the TLS handshake — by the
/// connect timeout (the TCP connector's own bounds only the TCP part), as reqwest's does.
#[derive(Clone)]
struct ConnectTimeout<C> {
    inner: C,
    timeout: Option<Duration>,
}

impl<C> tower_service::Service<http::Uri> for ConnectTimeout<C>
where
    C: tower_service::Service<http::Uri>,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match timeout {
                Some(t) => match tokio::time::timeout(t, connecting).await {
                    Ok(connected) => connected.map_err(Into::into),
                    Err(_) => Err(Box::new(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "connecting (TCP and TLS) took longer than the connect timeout",
                    )) as BoxError),
                },
                None => connecting.await.map_err(Into::into),
            }
        })
    }
}

/// hyper's pooled client for one generation of TLS material.
#[derive(Clone)]
pub(crate) struct Direct {
    client: legacy::Client<Connector, reqwest::Body>,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct").finish_non_exhaustive()
    }
}

/// Why a request on the direct path got no answer.
#[derive(Debug)]
pub(crate) enum DirectError {
    /// The request timeout passed before the answer's head arrived.
    TimedOut(tokio::time::error::Elapsed),
    /// Connecting, the TLS handshake or the exchange failed.
    Failed(legacy::Error),
}

impl Direct {
    /// Whether `settings` let requests take the direct path at all (a proxy is decided per
    /// URL, by the caller).
    pub(crate) fn applies(settings: &StackSettings) -> bool {
        settings.sni.is_none() && !settings.gzip && settings.read_timeout.is_none()
    }

    /// The client over `tls`, a TLS configuration without ALPN protocols (the connector
    /// offers `h2` and `http/1.1`, or `http/1.1` alone when the settings turn HTTP/2 off).
    pub(crate) fn new(settings: &StackSettings, tls: rustls::ClientConfig) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_keepalive(Some(TCP_KEEPALIVE));
        tcp.set_connect_timeout(settings.connect_timeout);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1();
        let connector = ConnectTimeout {
            inner: if settings.http2 {
                https.enable_http2().wrap_connector(tcp)
            } else {
                https.wrap_connector(tcp)
            },
            timeout: settings.connect_timeout,
        };
        let client = legacy::Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .http2_keep_alive_interval(settings.ping_interval())
            .http2_keep_alive_timeout(settings.ping_timeout())
            .http2_keep_alive_while_idle(true)
            .build(connector);
        Self { client }
    }

    /// Sends `request` (an absolute URI) and waits for the answer's head until
    /// `deadline`.
    pub(crate) async fn send(
        &self,
        request: http::Request<reqwest::Body>,
        deadline: Option<Instant>,
    ) -> Result<http::Response<Incoming>, DirectError> {
        let sent = self.client.request(request);
        let result = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.into(), sent)
                .await
                .map_err(DirectError::TimedOut)?,
            None => sent.await,
        };
        result.map_err(DirectError::Failed)
    }
}

impl DirectError {
    /// Whether connecting failed (nothing was sent).
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, DirectError::Failed(e) if e.is_connect())
    }

    /// Whether a timeout ended the request: the request timeout, or the connect timeout.
    pub(crate) fn is_timeout(&self) -> bool {
        match self {
            DirectError::TimedOut(_) => true,
            DirectError::Failed(e) => has_timed_out_io(e),
        }
    }

    /// The error to keep as the `source` of the caller's error.
    pub(crate) fn into_source(self) -> BoxError {
        match self {
            DirectError::TimedOut(e) => Box::new(e),
            DirectError::Failed(e) => Box::new(e),
        }
    }
}

/// Whether an I/O error of kind `TimedOut` is in `err`'s chain (the connector's connect
/// timeout).
fn has_timed_out_io(err: &(dyn std::error::Error + 'static)) -> bool {
    crate::transport::retry::chain(err).any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    })
}

/// A direct answer's body, read frame by frame until the request's deadline.
pub(crate) struct DirectBody {
    body: Incoming,
    deadline: Option<Instant>,
}

impl DirectBody {
    pub(crate) fn new(body: Incoming, deadline: Option<Instant>) -> Self {
        Self { body, deadline }
    }

    /// The next piece of data, `None` at the end of the body (trailers are skipped).
    pub(crate) async fn next(&mut self) -> Result<Option<bytes::Bytes>, BoxError> {
        loop {
            let frame = match self.deadline {
                Some(deadline) => tokio::time::timeout_at(deadline.into(), self.body.frame())
                    .await
                    .map_err(|e| -> BoxError { Box::new(e) })?,
                None => self.body.frame().await,
            };
            match frame {
                None => return Ok(None),
                Some(Err(e)) => return Err(Box::new(e)),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }
}
