//! The pluggable lowest layer of a [`Client`](super::Client): [`Transport`] sends one
//! `http::Request` and returns one `http::Response`, below authentication, the rate
//! limiter, retries and the status checks. The built-in one is the HTTP stack
//! (reqwest + rustls, see [`ClientBuilder`](super::ClientBuilder)); a custom one
//! replaces it, e.g. the in-memory `testing::MockTransport` for unit tests without a
//! cluster.

use super::body::Body;
use futures_util::future::BoxFuture;
use std::fmt;

/// Sends one request and returns the response head (the body may stream); one call per
/// try. Installed with [`ClientBuilder::transport`](super::ClientBuilder::transport).
///
/// The request's URI is absolute (`https://server:6443/api/v1/...?...`), its headers
/// are final: `Authorization` from the auth provider (marked sensitive), the
/// impersonation and `User-Agent` headers, the caller's own. Everything above this layer
/// still applies to a custom transport: credentials (refreshed once on a `401`), the
/// rate limiter, `Retry-After` handling, the request timeout, error mapping and
/// decoding. What belongs to the built-in HTTP stack does not: TLS settings, proxies,
/// connection pools, and the extra endpoints of
/// [`ClientBuilder::endpoints`](super::ClientBuilder::endpoints) (every request goes to
/// the cluster URL). Connection upgrades (exec, attach, port-forward) need the built-in
/// stack: [`Client::send_upgrade`](super::Client::send_upgrade) fails with
/// [`TransportError::UpgradeUnsupported`](crate::transport::TransportError::UpgradeUnsupported).
pub trait Transport: Send + Sync + 'static {
    /// Sends `request`. A failure says whether the request may have reached the server
    /// ([`SendError`]), which decides whether it is retried.
    fn send(
        &self,
        request: http::Request<Body>,
    ) -> BoxFuture<'static, Result<http::Response<Body>, SendError>>;
}

/// Why a [`Transport`] could not exchange a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendErrorKind {
    /// Nothing was sent (no connection could be made): never a partial effect.
    NotSent,
    /// The connection broke during the exchange: the server may have acted on it.
    /// Idempotent requests with a whole body are retried (as for the built-in stack).
    ConnectionLost,
    /// The exchange took too long.
    Timeout,
    /// Anything else.
    Other,
}

impl fmt::Display for SendErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendErrorKind::NotSent => "the request could not be sent",
            SendErrorKind::ConnectionLost => "the connection was lost during the exchange",
            SendErrorKind::Timeout => "the exchange timed out",
            SendErrorKind::Other => "the exchange failed",
        })
    }
}

/// A [`Transport`]'s failure: its [`kind`](SendError::kind) and the underlying error.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct SendError {
    kind: SendErrorKind,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl SendError {
    /// A failure of `kind` caused by `source`.
    pub fn new(
        kind: SendErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            source: source.into(),
        }
    }

    /// What kind of failure it is.
    pub fn kind(&self) -> SendErrorKind {
        self.kind
    }
}
