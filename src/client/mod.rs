//! [`Client`]: sends `http::Request`s to the API server with authentication, TLS,
//! retries and the optional rate limiter, and returns typed or raw answers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), k8s_client::Error> {
//! use k8s_client::{Client, Config};
//! let config = Config::new("https://127.0.0.1:6443".parse().unwrap());
//! let client = Client::try_from(config)?;
//! let req = http::Request::get("/api/v1/namespaces/default/pods?limit=1").body(Vec::new()).unwrap();
//! let list: serde_json::Value = client.request(req).await?;
//! # Ok(()) }
//! ```

mod body;
mod builder;
mod custom;
mod direct;
mod endpoints;
mod endpoints_cidr;
mod endpoints_slice;
mod extensions;
mod failure;
mod observe;
mod read;
pub(crate) mod response;
mod sni;
mod stack;
mod upgrade;
mod url;
mod warnings;

pub use body::{Body, BodyStream};
pub use builder::ClientBuilder;
pub use custom::{SendError, SendErrorKind, Transport};
pub use endpoints::{
    ERROR_BURST, EndpointDiscovery, EndpointEvent, EndpointStatus, FIRST_PROBE_DELAY, HealthReason,
    MAX_PROBE_DELAY,
};
pub use endpoints_slice::MAX_DISCOVERED_ENDPOINTS;
pub use observe::{RequestEvent, path_template};
pub use response::MAX_ERROR_BODY_READ;
pub use upgrade::{UpgradeOutcome, Upgraded};

/// A request extension: give a 429 or 5xx answer that carries `Retry-After` back at once
/// instead of waiting and retrying it (the default, client-go's rule). The local proxy
/// sets it, so that its callers see the server's answer as `kubectl proxy` relays it.
///
/// ```
/// let mut req = http::Request::get("/api/v1/namespaces").body(Vec::<u8>::new()).unwrap();
/// req.extensions_mut().insert(k8s_client::client::NoRetryAfter);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoRetryAfter;

/// A request extension: the answer may be large (a whole collection). Such a request
/// goes over an HTTP/1.1 connection of its own, which receives large bodies faster than
/// the shared HTTP/2 connection (see [`ClientBuilder::http1_for_large_responses`]).
/// [`Api::list`](crate::api::Api::list) sets it when the list has no `limit`.
///
/// ```
/// let mut req = http::Request::get("/api/v1/pods").body(Vec::<u8>::new()).unwrap();
/// req.extensions_mut().insert(k8s_client::client::LargeResponse);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LargeResponse;

/// How [`Api`](crate::api::Api) asks for objects of built-in kinds
/// ([`ClientBuilder::wire_format`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireFormat {
    /// Protobuf for built-in kinds with a decoder (the `protobuf` feature), JSON for
    /// everything else; whatever the server answers is decoded (client-go's default).
    #[default]
    Protobuf,
    /// JSON only.
    Json,
}

use crate::auth::{AuthError, Credential, CredentialCache};
use crate::config::Config;
use crate::error::Error;
use crate::transport::rate_limit::RateLimiter;
use crate::transport::{MAX_TRIES, TransportError, retry};
use bytes::Bytes;
use direct::DirectBody;
use endpoints::{EndpointSet, HealthReason as Reason};
use failure::Failure;
use http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use response::{Answer, Received};
use stack::Route;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Resolved;
use warnings::WarningHandler;

/// A Kubernetes API client. Cheap to clone (all clones share connections, credentials
/// and the rate limiter); `Send + Sync`.
///
/// Build one with [`Client::try_from`] a [`Config`], or with [`Client::builder`] to
/// change the defaults (custom [`AuthProvider`](crate::auth::AuthProvider), rate limit,
/// warning handler, proxy environment).
///
/// ```no_run
/// # async fn demo() -> Result<(), k8s_client::Error> {
/// use k8s_client::{Client, Config};
///
/// let client = Client::try_from(Config::infer()?)?;
/// // Typed JSON answers; a non-2xx answer is an `Error::Api` with the server's Status.
/// let req = http::Request::get("/api/v1/namespaces/default/pods/missing")
///     .body(Vec::new())
///     .unwrap();
/// match client.request::<serde_json::Value>(req).await {
///     Ok(pod) => println!("{}", pod["status"]["phase"]),
///     Err(e) if e.is_not_found() => println!("no such pod"),
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    base: ::url::Url,
    /// The cluster URL's `scheme://host[:port]` for messages (no credentials).
    shown_origin: String,
    endpoints: EndpointSet,
    auth: Option<CredentialCache>,
    default_headers: HeaderMap,
    timeout_param: Option<String>,
    rate_limiter: Option<RateLimiter>,
    warnings: WarningHandler,
    wire_format: WireFormat,
    /// Called once per call ([`ClientBuilder::on_request`]).
    on_request: Option<observe::RequestHook>,
    /// A custom lowest layer instead of the HTTP stack ([`ClientBuilder::transport`]).
    transport: Option<Arc<dyn Transport>>,
    /// State of modules layered above the client (discovery's cache), opaque here.
    extensions: extensions::Extensions,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("cluster_url", &url::for_display(&self.inner.base))
            .field("default_namespace", &self.inner.config.default_namespace)
            .field(
                "auth",
                &self
                    .inner
                    .auth
                    .as_ref()
                    .map(|c| c.provider().name().to_owned()),
            )
            .field("rate_limited", &self.inner.rate_limiter.is_some())
            .field("endpoints", &self.inner.endpoints)
            .finish_non_exhaustive()
    }
}

impl TryFrom<Config> for Client {
    type Error = Error;

    fn try_from(config: Config) -> Result<Self, Error> {
        Client::builder(config).build()
    }
}

/// Whether an answer is protobuf (never without the `protobuf` feature, which is what
/// asks for it).
fn is_protobuf(headers: &HeaderMap) -> bool {
    #[cfg(feature = "protobuf")]
    return headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(crate::codec::PROTOBUF));
    #[cfg(not(feature = "protobuf"))]
    {
        let _ = headers;
        false
    }
}

/// Which HTTP client a request goes through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    Upgrade,
}

impl Client {
    /// A builder for a client from `config`, for options kubeconfig has no field for.
    pub fn builder(config: Config) -> ClientBuilder {
        ClientBuilder::new(config)
    }

    /// A client with default options for the inferred configuration: [`Config::infer`]
    /// (the kubeconfig, else the in-cluster service account), then
    /// [`Client::try_from`]. The counterpart of kube-rs's `Client::try_default`.
    ///
    /// It is `async` (as kube-rs's is) only so that the configuration files are read on
    /// tokio's blocking pool instead of a runtime worker; nothing is sent to the server
    /// here (credentials, exec plugins included, are fetched by the first request).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), k8s_client::Error> {
    /// let client = k8s_client::Client::try_default().await?;
    /// println!("talking to {}", client.cluster_url());
    /// # Ok(()) }
    /// ```
    pub async fn try_default() -> Result<Self, Error> {
        let config = match tokio::task::spawn_blocking(Config::infer).await {
            Ok(inferred) => inferred?,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        };
        Client::try_from(config)
    }

    /// This client's value of type `T` (shared by its clones), created by `init` on first
    /// use: how a module above the client keeps per-client state (discovery's cache)
    /// without the client depending on it.
    pub(crate) fn extension<T: std::any::Any + Send + Sync>(
        &self,
        init: impl FnOnce() -> T,
    ) -> Arc<T> {
        self.inner.extensions.get_or_init(init)
    }

    /// The namespace of the config's context (else `default`).
    pub fn default_namespace(&self) -> &str {
        &self.inner.config.default_namespace
    }

    /// The API server's base URL.
    pub fn cluster_url(&self) -> &::url::Url {
        &self.inner.base
    }

    /// Every API server endpoint requests are balanced over now, with its health and
    /// request counts: the cluster URL's (or, with
    /// [`ClientBuilder::discover_endpoints`], those discovered once read), then those
    /// given to [`ClientBuilder::endpoints`].
    pub fn endpoints(&self) -> Vec<EndpointStatus> {
        self.inner.endpoints.statuses()
    }

    /// The config the client was built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// How typed reads of built-in kinds are encoded ([`ClientBuilder::wire_format`]).
    pub fn wire_format(&self) -> WireFormat {
        self.inner.wire_format
    }

    /// Like [`request_bytes`](Self::request_bytes), also telling whether the answer is
    /// protobuf (`Content-Type: application/vnd.kubernetes.protobuf…`).
    #[cfg(feature = "protobuf")]
    pub(crate) fn request_negotiated(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<(Bytes, bool), Error>> + Send + '_ {
        // Not an `async fn`: its future holds the boxed read, not also the request.
        let read = self.checked_body(req);
        async move {
            let (bytes, protobuf, _) = read.await?;
            Ok((bytes, protobuf))
        }
    }

    /// Like [`request_stream`](Self::request_stream), also telling whether the answer is
    /// a protobuf stream.
    #[cfg(feature = "protobuf")]
    pub(crate) async fn request_stream_negotiated(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> Result<(BodyStream, bool), Error> {
        let answer = self.checked(req).await?;
        let protobuf = is_protobuf(answer.response.headers());
        Ok((answer.into_http().into_body().into_stream(), protobuf))
    }

    /// Sends `req` and returns the answer whatever its status; the body streams.
    ///
    /// `req`'s URI is either a path and query (`/api/v1/pods?limit=1`), resolved against
    /// the cluster URL (keeping the cluster URL's own path prefix), or an absolute URL.
    pub async fn send(&self, req: http::Request<Body>) -> Result<http::Response<Body>, Error> {
        Ok(self.execute(req, Mode::Normal).await?.into_http())
    }

    /// Sends `req`, fails with [`Error::Api`] on a non-2xx answer, and decodes the JSON
    /// body as `T` ([`Error::Decode`] names the URL and type on failure).
    pub async fn request<T: serde::de::DeserializeOwned>(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> Result<T, Error> {
        let (bytes, _, url) = self.checked_body(req).await?;
        response::decode_json(&bytes, url)
    }

    /// Like [`request`](Self::request), returning the raw body.
    pub async fn request_bytes(&self, req: http::Request<Vec<u8>>) -> Result<Bytes, Error> {
        Ok(self.checked_body(req).await?.0)
    }

    /// Like [`request`](Self::request), returning the body as text (invalid UTF-8 is
    /// replaced, as logs may contain any bytes).
    pub async fn request_text(&self, req: http::Request<Vec<u8>>) -> Result<String, Error> {
        let bytes = self.request_bytes(req).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Sends `req`, fails with [`Error::Api`] on a non-2xx answer, and returns the body
    /// as a stream of chunks (watch events, logs, large lists).
    pub async fn request_stream(&self, req: http::Request<Vec<u8>>) -> Result<BodyStream, Error> {
        Ok(self
            .checked(req)
            .await?
            .into_http()
            .into_body()
            .into_stream())
    }

    /// Sends an HTTP/1.1 upgrade request (exec, attach, port-forward over SPDY or
    /// WebSocket) with authentication. On `101 Switching Protocols` returns the head and
    /// the raw connection; on any other status returns the whole response, so a proxy
    /// can relay the server's error unchanged.
    pub async fn send_upgrade(&self, req: http::Request<Body>) -> Result<UpgradeOutcome, Error> {
        if self.inner.transport.is_some() {
            let url = url::resolve(&self.inner.base, req.uri(), None)?;
            return Err(TransportError::UpgradeUnsupported {
                url: url.shown(&self.inner.shown_origin),
            }
            .into());
        }
        let answer = self.execute(req, Mode::Upgrade).await?;
        if answer.response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
            return Ok(UpgradeOutcome::Response(answer.into_http()));
        }
        let url = answer.url;
        let Received::Http(response) = answer.response else {
            unreachable!("upgrades go through the built-in HTTP stack")
        };
        let response: http::Response<reqwest::Body> = response.into();
        let (parts, body) = response.into_parts();
        let head = http::Response::from_parts(parts.clone(), ());
        let io = reqwest::Response::from(http::Response::from_parts(parts, body))
            .upgrade()
            .await
            .map_err(|e| TransportError::Upgrade {
                url,
                source: Box::new(e.without_url()),
            })?;
        Ok(UpgradeOutcome::Upgraded {
            response: head,
            io: Upgraded::new(io),
        })
    }

    /// When a request started now must be done (the request timeout).
    fn deadline(&self) -> Option<Instant> {
        self.inner
            .config
            .timeout
            .and_then(|t| Instant::now().checked_add(t))
    }

    async fn checked(&self, req: http::Request<Vec<u8>>) -> Result<Answer, Error> {
        let (parts, body) = req.into_parts();
        self.execute(
            http::Request::from_parts(parts, Body::from(body)),
            Mode::Normal,
        )
        .await?
        .check()
        .await
    }

    /// One call within the request timeout.
    async fn execute(&self, req: http::Request<Body>, mode: Mode) -> Result<Answer, Error> {
        let (parts, body) = req.into_parts();
        self.execute_until(&parts, body, mode, self.deadline())
            .await
    }

    /// [`execute`](Self::execute) within `deadline`, which bounds the whole call: every
    /// try, every wait between tries and the wait for a credential. The request loop runs
    /// inside a `request` span; the request hook sees its outcome.
    async fn execute_until(
        &self,
        parts: &http::request::Parts,
        body: Body,
        mode: Mode,
        deadline: Option<Instant>,
    ) -> Result<Answer, Error> {
        use tracing::Instrument;
        let started = Instant::now();
        let method = parts.method.clone();
        let span = tracing::debug_span!(
            "request",
            %method,
            path = tracing::field::Empty,
            status = tracing::field::Empty,
            tries = tracing::field::Empty,
        );
        // The template costs a few allocations: only when someone will see it.
        let template = (self.inner.on_request.is_some() || !span.is_disabled())
            .then(|| observe::path_template(parts.uri.path()));
        if let Some(template) = &template {
            span.record("path", tracing::field::display(template));
        }
        let mut stats = Stats {
            request_bytes: body.as_bytes().map(|b| b.len() as u64),
            ..Stats::default()
        };
        let result = self
            .execute_tries(parts, body, mode, deadline, &mut stats)
            .instrument(span.clone())
            .await;
        let status = result.as_ref().ok().map(|a| a.response.status().as_u16());
        if let Some(status) = status {
            span.record("status", status);
        }
        span.record("tries", stats.tries);
        if let Some(hook) = &self.inner.on_request {
            let response_bytes = result.as_ref().ok().and_then(|a| {
                a.response
                    .headers()
                    .get(http::header::CONTENT_LENGTH)?
                    .to_str()
                    .ok()?
                    .parse()
                    .ok()
            });
            hook(&RequestEvent {
                method,
                path_template: template.unwrap_or_default(),
                status,
                latency: started.elapsed(),
                tries: stats.tries,
                rate_limit_wait: stats.rate_limit_wait,
                request_bytes: stats.request_bytes,
                response_bytes,
            });
        }
        result
    }

    /// The request loop: rate limit, credential, send, and the retry rules.
    async fn execute_tries(
        &self,
        parts: &http::request::Parts,
        body: Body,
        mode: Mode,
        deadline: Option<Instant>,
        stats: &mut Stats,
    ) -> Result<Answer, Error> {
        let honour_retry_after = parts.extensions.get::<NoRetryAfter>().is_none();
        let large_response = parts.extensions.get::<LargeResponse>().is_some();
        let method = parts.method.clone();
        let resolved = url::resolve(
            &self.inner.base,
            &parts.uri,
            self.inner.timeout_param.as_deref(),
        )?;
        let shown = resolved.shown(&self.inner.shown_origin);
        // A 401 to the caller's own Authorization says nothing about the client's credential.
        let own_authorization = parts.headers.contains_key(AUTHORIZATION);
        // A whole body can be sent again; a streamed one only once.
        let replayable = body.try_clone().is_some();
        let mut once = Some(body);
        let mut tries = 0u32;
        let mut auth_retried = false;
        let endpoints = &self.inner.endpoints;
        match endpoints.claim_discovery_start() {
            Some(EndpointDiscovery::EndpointSlices) => {
                endpoints_slice::spawn(Arc::downgrade(&self.inner));
            }
            Some(EndpointDiscovery::ClientCidr) => {
                endpoints_cidr::spawn(Arc::downgrade(&self.inner));
            }
            Some(_) | None => {}
        }
        // Only requests to the cluster URL may go to another endpoint.
        let cluster_request = match &resolved {
            Resolved::Plain(_) => true,
            Resolved::Parsed(url) => endpoints.is_cluster(url),
        };
        // Credentials in the cluster URL are sent by reqwest (as Basic auth).
        let plain_base =
            self.inner.base.username().is_empty() && self.inner.base.password().is_none();
        // Endpoints this call failed over from (a connection-level failure on each).
        let mut failed_over: Vec<usize> = Vec::new();
        // Resends of a request the server refused unprocessed (an HTTP/2 graceful GOAWAY
        // or REFUSED_STREAM): below the limiter and the try budget, as reqwest (twice) and
        // Go's HTTP/2 transport do them.
        let mut refused = 0u32;
        let mut resend_refused = false;
        loop {
            tries += 1;
            stats.tries = tries;
            if let Some(limiter) = &self.inner.rate_limiter
                && !std::mem::take(&mut resend_refused)
            {
                let waiting = Instant::now();
                limiter.acquire(&method, &shown).await;
                stats.rate_limit_wait += waiting.elapsed();
            }
            let credential = match (&self.inner.auth, deadline) {
                (Some(cache), Some(deadline)) => Some(
                    tokio::time::timeout_at(deadline.into(), cache.get())
                        .await
                        .map_err(|_| TransportError::CredentialTimeout {
                            method: method.clone(),
                            url: shown.clone(),
                            provider: cache.provider().name().to_owned(),
                            timeout: self.inner.config.timeout.unwrap_or_default(),
                        })??,
                ),
                (Some(cache), None) => Some(cache.get().await?),
                (None, _) => None,
            };
            let identity = credential.as_ref().and_then(|c| c.client_identity.as_ref());
            let mut request_headers = self.with_default_headers(&parts.headers);
            if let Some(credential) = &credential {
                self.authorize(&mut request_headers, credential)?;
            }
            // A whole body is sent again on a retry; a streamed one only once.
            let body = match once.as_ref().and_then(Body::try_clone) {
                Some(copy) => copy,
                None => once.take().expect("a streamed body is sent only once"),
            };
            // Either lowest layer gives an answer (and the endpoint it came from); what the
            // answer means for the loop is decided once, below.
            let (received, endpoint) = if let Some(transport) = &self.inner.transport {
                let url = resolved.to_url(&self.inner.base)?;
                let mut request = http::Request::new(body);
                *request.method_mut() = method.clone();
                *request.uri_mut() =
                    http::Uri::try_from(url.as_str()).map_err(|e| TransportError::Custom {
                        method: method.clone(),
                        url: shown.clone(),
                        source: SendError::new(SendErrorKind::NotSent, e),
                    })?;
                *request.headers_mut() = request_headers;
                tracing::trace!(%method, url = %shown, try_number = tries, "sending request through the custom transport");
                let sent = match deadline {
                    Some(deadline) => {
                        match tokio::time::timeout_at(deadline.into(), transport.send(request))
                            .await
                        {
                            Ok(sent) => sent,
                            Err(elapsed) => Err(SendError::new(SendErrorKind::Timeout, elapsed)),
                        }
                    }
                    None => transport.send(request).await,
                };
                let response = match sent {
                    Ok(response) => response,
                    Err(e) => {
                        let wait = connection_backoff(tries);
                        if e.kind() == SendErrorKind::ConnectionLost
                            && replayable
                            && retry::is_safe_to_resend(&method)
                            && tries < MAX_TRIES
                            && within(deadline, wait)
                        {
                            tracing::debug!(%method, url = %shown, try_number = tries, wait_ms = wait.as_millis() as u64, "connection lost; retrying");
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                        return Err(TransportError::Custom {
                            method,
                            url: shown,
                            source: e,
                        }
                        .into());
                    }
                };
                (Received::Custom(response), None)
            } else {
                let endpoint = if cluster_request {
                    endpoints.start_due_probes(request_headers.get(AUTHORIZATION), identity);
                    endpoints
                        .pick(&failed_over)
                        .unwrap_or_else(|| endpoints.primary().clone())
                } else {
                    endpoints.primary().clone()
                };
                let built = endpoint.stack.current(identity)?;
                // An ordinary request to the cluster that needs nothing of reqwest goes to
                // hyper directly, its path and query sent as resolved.
                let direct = match (&resolved, mode) {
                    (Resolved::Plain(path_and_query), Mode::Normal)
                        if !large_response && plain_base =>
                    {
                        endpoint
                            .stack
                            .direct(&built, endpoint.origin())
                            .zip(endpoint.request_uri(path_and_query))
                    }
                    _ => None,
                };
                tracing::trace!(%method, url = %shown, endpoint = %endpoint.shown, try_number = tries, large_response, direct = direct.is_some(), "sending request");
                let in_flight = endpoint.start();
                let seen = in_flight.seen();
                let sent = match direct {
                    Some((direct, uri)) => {
                        let mut request = http::Request::new(body.into_reqwest());
                        *request.method_mut() = method.clone();
                        *request.uri_mut() = uri;
                        *request.headers_mut() = request_headers;
                        direct
                            .send(request, deadline)
                            .await
                            .map(|response| {
                                Received::Direct(response.map(|b| DirectBody::new(b, deadline)))
                            })
                            .map_err(Failure::Direct)
                    }
                    None => {
                        let url = resolved.to_url(&self.inner.base)?;
                        let target = if cluster_request {
                            endpoints.target(&endpoint, &url)
                        } else {
                            url
                        };
                        let route = match mode {
                            Mode::Normal if large_response => Route::LargeResponse,
                            Mode::Normal => Route::Ordinary,
                            Mode::Upgrade => Route::Upgrade,
                        };
                        let client = endpoint.stack.reqwest(&built, route)?;
                        let mut builder = client
                            .request(method.clone(), target)
                            .headers(request_headers)
                            .body(body.into_reqwest());
                        if mode == Mode::Upgrade {
                            builder = builder.version(http::Version::HTTP_11);
                        } else if let Some(deadline) = deadline {
                            // What is left of the request timeout (the client's own applies per try).
                            builder =
                                builder.timeout(deadline.saturating_duration_since(Instant::now()));
                        }
                        builder
                            .send()
                            .await
                            .map(Received::Http)
                            .map_err(Failure::Http)
                    }
                };
                drop(in_flight);
                let response = match sent {
                    Ok(r) => r,
                    Err(e) if e.is_refused_unprocessed() && replayable && refused < 2 => {
                        refused += 1;
                        tries -= 1;
                        resend_refused = true;
                        tracing::debug!(%method, url = %shown, endpoint = %endpoint.shown, "the server refused the request unprocessed (HTTP/2 GOAWAY or REFUSED_STREAM); sending it again");
                        continue;
                    }
                    Err(e) => {
                        // Refused or failed before any request byte was written: safe to
                        // send anywhere else. A verification failure is not an outage.
                        let not_sent = e.is_connect() && !e.is_tls();
                        let lost = e.is_connection_lost();
                        if cluster_request && (not_sent || lost) {
                            let reason = if not_sent {
                                Reason::ConnectFailed
                            } else {
                                Reason::ConnectionLost
                            };
                            endpoints.connection_failed(&endpoint, reason, seen);
                            if replayable
                                && (not_sent || (lost && retry::is_safe_to_resend(&method)))
                                && failed_over.len() + 1 < endpoints.len()
                            {
                                failed_over.push(endpoint.id);
                                tries -= 1;
                                tracing::debug!(%method, url = %shown, endpoint = %endpoint.shown, "connection to the endpoint failed; failing over to another endpoint");
                                continue;
                            }
                        }
                        // Every endpoint failed: the ordinary retry rules, from any endpoint.
                        failed_over.clear();
                        let wait = connection_backoff(tries);
                        if replayable
                            && retry::is_safe_to_resend(&method)
                            && tries < MAX_TRIES
                            && within(deadline, wait)
                            && lost
                        {
                            tracing::debug!(%method, url = %shown, endpoint = %endpoint.shown, try_number = tries, wait_ms = wait.as_millis() as u64, "connection lost; retrying");
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                        tracing::debug!(%method, url = %shown, endpoint = %endpoint.shown, try_number = tries, "request failed");
                        return Err(e.into_error(method, shown).into());
                    }
                };
                if cluster_request {
                    endpoints.answered(&endpoint, response.status(), seen);
                }
                tracing::debug!(%method, url = %shown, endpoint = %endpoint.shown, status = response.status().as_u16(), "response received");
                (response, Some(endpoint))
            };
            match self.after_response(
                received,
                &method,
                &shown,
                endpoint.as_ref().map(|e| e.shown.as_str()),
                &credential,
                own_authorization,
                &mut auth_retried,
                replayable,
                honour_retry_after,
                tries,
                deadline,
            ) {
                Next::Retry(None) => continue,
                Next::Retry(Some(wait)) => {
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Next::Done(response) => {
                    return Ok(Answer {
                        method,
                        url: shown,
                        response,
                    });
                }
            }
        }
    }

    /// `headers` over the client's default headers: a default is sent unless `headers`
    /// sets that name. (Built from a copy of the defaults, which is cheaper than merging
    /// them name by name into a copy of `headers`: a request sets few headers.)
    fn with_default_headers(&self, headers: &HeaderMap) -> HeaderMap {
        let mut merged = self.inner.default_headers.clone();
        // Room for the request's own and an `Authorization`, without growing twice.
        merged.reserve(headers.keys_len() + 1);
        for name in headers.keys() {
            let mut values = headers.get_all(name).iter();
            if let Some(first) = values.next() {
                merged.insert(name.clone(), first.clone());
            }
            for value in values {
                merged.append(name.clone(), value.clone());
            }
        }
        merged
    }

    /// What an answer means for the request loop: warnings logged, a `401` refreshes
    /// the credential (and retries once), `Retry-After` waits and retries.
    #[allow(clippy::too_many_arguments)]
    fn after_response(
        &self,
        response: Received,
        method: &http::Method,
        shown: &str,
        endpoint: Option<&str>,
        credential: &Option<Arc<Credential>>,
        own_authorization: bool,
        auth_retried: &mut bool,
        replayable: bool,
        honour_retry_after: bool,
        tries: u32,
        deadline: Option<Instant>,
    ) -> Next {
        self.inner.warnings.handle(response.headers());
        let status = response.status();
        if status == http::StatusCode::UNAUTHORIZED
            && !*auth_retried
            && !own_authorization
            && let (Some(cache), Some(credential)) = (&self.inner.auth, credential)
        {
            // Drop the rejected credential even when this request cannot be repeated,
            // so the next one starts with a fresh credential.
            cache.invalidate(credential);
            *auth_retried = true;
            if replayable {
                tracing::debug!(%method, url = %shown, endpoint = endpoint.unwrap_or("custom transport"), provider = cache.provider().name(), "401 Unauthorized; refreshing the credential and retrying once");
                return Next::Retry(None);
            }
        }
        if let Some(wait) = retry::retry_after(status, response.headers())
            && honour_retry_after
            && replayable
            && tries < MAX_TRIES
            && within(deadline, wait)
        {
            tracing::debug!(%method, url = %shown, endpoint = endpoint.unwrap_or("custom transport"), status = status.as_u16(), try_number = tries, wait_s = wait.as_secs(), "server asked to retry after a delay");
            return Next::Retry(Some(wait));
        }
        Next::Done(response)
    }

    /// Sets `Authorization` from the credential (unless the caller set one), marked
    /// sensitive so no HTTP-level logging shows it.
    fn authorize(&self, headers: &mut HeaderMap, credential: &Credential) -> Result<(), Error> {
        let Some(authorization) = &credential.authorization else {
            return Ok(());
        };
        if headers.contains_key(AUTHORIZATION) {
            return Ok(());
        }
        let mut value = HeaderValue::from_str(authorization.expose_secret()).map_err(|_| {
            AuthError::InvalidHeader {
                provider: self
                    .inner
                    .auth
                    .as_ref()
                    .map(|c| c.provider().name().to_owned())
                    .unwrap_or_default(),
            }
        })?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
        Ok(())
    }
}

/// What one call cost, for the request hook.
#[derive(Default)]
struct Stats {
    tries: u32,
    rate_limit_wait: Duration,
    request_bytes: Option<u64>,
}

/// What the request loop does after an answer.
enum Next {
    /// Send again, after the wait if any (the answer is dropped first).
    Retry(Option<Duration>),
    /// The answer to return.
    Done(Received),
}

/// Whether `e` is a response body cut off by a lost connection.
fn body_lost(e: &Error) -> bool {
    matches!(e, Error::Transport(TransportError::ResponseBody { source, .. })
        if retry::is_connection_lost(source.as_ref()))
}

/// Whether waiting `wait` from now still ends before `deadline` (if any).
fn within(deadline: Option<Instant>, wait: Duration) -> bool {
    deadline.is_none_or(|d| Instant::now().checked_add(wait).is_some_and(|end| end < d))
}

/// The wait before resending after a lost connection: 100 ms doubling per try, at most 2 s.
fn connection_backoff(tries: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << tries.saturating_sub(1).min(5)))
        .min(Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(connection_backoff(1), Duration::from_millis(100));
        assert_eq!(connection_backoff(2), Duration::from_millis(200));
        assert_eq!(connection_backoff(9), Duration::from_secs(2));
    }

    #[test]
    fn deadline_checks_never_overflow() {
        assert!(within(None, Duration::MAX));
        let soon = Instant::now() + Duration::from_secs(60);
        assert!(!within(Some(soon), Duration::MAX));
        assert!(!within(Some(soon), Duration::from_secs(120)));
        assert!(within(Some(soon), Duration::from_secs(1)));
        assert!(!within(Some(Instant::now()), Duration::ZERO));
    }

    #[tokio::test]
    async fn authorization_is_sensitive_and_caller_headers_win() {
        let mut config = Config::new("https://127.0.0.1:6443".parse().unwrap());
        config.auth = crate::config::AuthConfig::Token("tok".into());
        let client = Client::try_from(config).unwrap();
        let credential = Credential::bearer("tok".into());
        let mut headers = HeaderMap::new();
        client.authorize(&mut headers, &credential).unwrap();
        assert!(headers[AUTHORIZATION].is_sensitive());
        assert_eq!(headers[AUTHORIZATION], "Bearer tok");
        assert!(!format!("{headers:?}").contains("tok"));
        let mut own = HeaderMap::new();
        own.insert(AUTHORIZATION, HeaderValue::from_static("Bearer mine"));
        client.authorize(&mut own, &credential).unwrap();
        assert_eq!(own[AUTHORIZATION], "Bearer mine");
    }

    #[test]
    fn client_is_send_sync_and_debug_has_no_secrets() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Client>();
        let mut config = Config::new("https://admin:s3cr3t-pw@127.0.0.1:6443".parse().unwrap());
        config.auth = crate::config::AuthConfig::Token("s3cr3t-token".into());
        config.headers.push((
            http::HeaderName::from_static("x-api-key"),
            HeaderValue::from_static("s3cr3t-header"),
        ));
        let builder = Client::builder(config.clone());
        assert!(!format!("{builder:?}").contains("s3cr3t"));
        let client = Client::try_from(config).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("token"), "{shown}");
    }
}
