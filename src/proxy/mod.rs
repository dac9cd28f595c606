//! A local proxy to the API server: `kubectl proxy` as a library.
//!
//! [`Proxy`] serves plain HTTP on the local machine and forwards each request to the
//! API server through a [`Client`], so the client's TLS verification, credentials
//! (including refreshing exec/OIDC credentials), impersonation and proxy settings
//! apply. `curl http://localhost:8001/api/` then works without any credentials.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use k8s_client::proxy::Proxy;
//! use k8s_client::{Client, Config};
//!
//! let client = Client::try_from(Config::infer()?)?;
//! let proxy = Proxy::builder(client).port(8080).build()?.bind().await?;
//! for addr in proxy.local_addrs() {
//!     println!("Starting to serve on {addr}"); // 127.0.0.1:8080 and [::1]:8080
//! }
//! proxy.serve().await?; // until Ctrl-C or SIGTERM
//! # Ok(()) }
//! ```
//!
//! # Behaviour (kubectl's, except where noted)
//! - Options: [`ProxyOptions`], named after kubectl's flags, with its defaults.
//! - The request target is checked first: a `\` (raw, or `%5C` in the path), control
//!   characters (raw, or encoded in the path), raw non-ASCII bytes and broken
//!   percent-escapes get `400 Bad Request` and are never forwarded. The path is then
//!   percent-decoded once; everything below works on that decoded path.
//! - Requests under `api_prefix` pass the filter, then go to the API server; requests
//!   under `www_prefix` are served from `www` (not filtered, as in kubectl); other
//!   paths get `404 page not found`; non-canonical paths (`//`, `/./`, `/../`, also
//!   encoded) and a prefix without its trailing slash are redirected (`301`).
//! - The filter: a request whose path matches `reject_paths` or whose method matches
//!   `reject_methods` is refused; otherwise its path must match `accept_paths` and its
//!   host (port removed) `accept_hosts`. Refused requests get `403` and `Forbidden\n`.
//! - The filter decides on exactly the path that is forwarded: the decoded, clean
//!   path, percent-encoded again in one canonical form that the API server decodes back
//!   to the same string and that URL parsers on the way leave unchanged.
//! - Redirects from the API server are relayed to the caller, never followed.
//! - Upstream failures (connection refused, TLS, credentials) give `500` with the
//!   error's text; it never contains credentials.
//! - Responses stream: every chunk (each watch event) is written to the client as soon
//!   as it arrives (kubectl flushes every 200 ms).
//! - Upgrade requests (`exec`, `attach`, `portforward`; SPDY or WebSocket) are sent
//!   over HTTP/1.1 with the client's credentials; after `101 Switching Protocols` bytes
//!   are copied both ways. An error answer (≥ 400) or a redirect is relayed unchanged.
//! - `X-Forwarded-For` gets the client's address; hop-by-hop headers are dropped.
//!
//! Deliberate differences: without `address`, both `127.0.0.1` and `::1` are served;
//! `[::1]:port` as `Host` is accepted by the default `accept_hosts` (kubectl refuses it,
//! kubernetes/kubernetes#77496); `keepalive` applies to the accepted connections;
//! static directories are not listed; the `400` refusals above (kubectl forwards such
//! paths); encoded dot segments are redirected like plain ones; an upgrade answered
//! with a redirect is relayed (kubectl answers `500`). See `docs/proxy.md`.
//!
//! # Security
//! Anything that can reach the proxy acts with your credentials. The defaults keep it
//! to this machine: loopback addresses only, and the `Host` check refuses requests
//! that a web page could send through DNS rebinding. `exec` and `attach` are refused
//! by default because they run commands in containers: a page that got a request
//! through would get code execution, not just data. Prefer a unix socket (mode 0600)
//! on shared machines; `disable_filter` removes all of these checks.
//!
//! Each request is logged at debug level (target `k8s_client::proxy`: method, path,
//! status, duration) — never headers or query strings.

mod error;
mod filter;
mod headers;
mod listen;
mod options;
mod route;
mod server;
mod service;
mod target;
#[cfg(test)]
mod target_tests;

pub use error::ProxyError;
pub use listen::ServeAddr;
pub use options::{
    DEFAULT_ACCEPT_HOSTS, DEFAULT_ACCEPT_PATHS, DEFAULT_PORT, DEFAULT_REJECT_METHODS,
    DEFAULT_REJECT_PATHS, ProxyOptions,
};
pub use server::BoundProxy;

use crate::Client;
use route::Router;
use service::Shared;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long in-flight requests get to finish after a shutdown signal, by default.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A configured local proxy. Call [`bind`](Proxy::bind), then
/// [`serve`](BoundProxy::serve) or [`serve_with_shutdown`](BoundProxy::serve_with_shutdown).
#[derive(Debug)]
pub struct Proxy {
    shared: Arc<Shared>,
    options: ProxyOptions,
    shutdown_grace: Duration,
}

impl Proxy {
    /// A proxy forwarding through `client`, configured by `options`.
    ///
    /// Fails when a filter pattern does not compile, when `unix_socket` is combined with
    /// a non-default `port`, or when `www` is not a directory.
    pub fn new(client: Client, options: ProxyOptions) -> Result<Self, ProxyError> {
        Self::with_grace(client, options, DEFAULT_SHUTDOWN_GRACE)
    }

    /// A builder with kubectl's defaults, for setting options one by one.
    pub fn builder(client: Client) -> ProxyBuilder {
        ProxyBuilder {
            client,
            options: ProxyOptions::default(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }

    fn with_grace(
        client: Client,
        options: ProxyOptions,
        shutdown_grace: Duration,
    ) -> Result<Self, ProxyError> {
        options.validate()?;
        let filter = options.compile_filter()?;
        if filter.is_none() && options.unix_socket.is_none() {
            tracing::warn!(
                target: "k8s_client::proxy",
                "request filter disabled: the proxy is open to cross-site request forgery from any web page"
            );
        }
        let static_files = options.www.as_ref().map(|dir| {
            tower_http::services::ServeDir::new(dir).append_index_html_on_directories(true)
        });
        let router = Router::new(
            &options.api_prefix,
            options.www.as_ref().map(|_| options.www_prefix.as_str()),
        );
        let shared = Arc::new(Shared {
            client,
            router,
            filter,
            append_server_path: options.append_server_path,
            static_files,
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
        });
        Ok(Self {
            shared,
            options,
            shutdown_grace,
        })
    }

    /// The options in effect.
    pub fn options(&self) -> &ProxyOptions {
        &self.options
    }

    /// Binds the listeners: `unix_socket` if set; else `address:port`; else
    /// `127.0.0.1:port` and `[::1]:port` (only 127.0.0.1 when the machine has no IPv6).
    pub async fn bind(self) -> Result<BoundProxy, ProxyError> {
        let listeners = listen::bind(&self.options).await?;
        Ok(BoundProxy {
            listeners,
            shared: self.shared,
            keepalive: self.options.keepalive,
            shutdown_grace: self.shutdown_grace,
        })
    }
}

/// Builds a [`Proxy`] option by option; setters are named after kubectl's flags.
///
/// ```no_run
/// # fn demo(client: k8s_client::Client) -> Result<(), k8s_client::proxy::ProxyError> {
/// use k8s_client::proxy::Proxy;
/// let proxy = Proxy::builder(client)
///     .port(0)
///     .api_prefix("/k8s-api")
///     .reject_methods("^POST$,^PUT$,^PATCH$,^DELETE$")
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use]
pub struct ProxyBuilder {
    client: Client,
    options: ProxyOptions,
    shutdown_grace: Duration,
}

impl ProxyBuilder {
    /// Replaces all options at once.
    pub fn options(mut self, options: ProxyOptions) -> Self {
        self.options = options;
        self
    }

    /// `--port` (default 8001; 0 picks a free port).
    pub fn port(mut self, port: u16) -> Self {
        self.options.port = port;
        self
    }

    /// `--address`: serve on exactly this address (default: both 127.0.0.1 and ::1).
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.options.address = Some(address.into());
        self
    }

    /// `--unix-socket`: serve on a unix socket created with mode 0600.
    pub fn unix_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.options.unix_socket = Some(path.into());
        self
    }

    /// `--accept-hosts`, comma-separated regular expressions.
    pub fn accept_hosts(mut self, patterns: impl Into<String>) -> Self {
        self.options.accept_hosts = patterns.into();
        self
    }

    /// `--accept-paths`, comma-separated regular expressions.
    pub fn accept_paths(mut self, patterns: impl Into<String>) -> Self {
        self.options.accept_paths = patterns.into();
        self
    }

    /// `--reject-paths`, comma-separated regular expressions.
    pub fn reject_paths(mut self, patterns: impl Into<String>) -> Self {
        self.options.reject_paths = patterns.into();
        self
    }

    /// `--reject-methods`, comma-separated regular expressions.
    pub fn reject_methods(mut self, patterns: impl Into<String>) -> Self {
        self.options.reject_methods = patterns.into();
        self
    }

    /// `--api-prefix` (default `/`).
    pub fn api_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.options.api_prefix = prefix.into();
        self
    }

    /// `--www`: serve static files from this directory.
    pub fn www(mut self, dir: impl Into<PathBuf>) -> Self {
        self.options.www = Some(dir.into());
        self
    }

    /// `--www-prefix` (default `/static/`).
    pub fn www_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.options.www_prefix = prefix.into();
        self
    }

    /// `--disable-filter`: dangerous, see [`ProxyOptions::disable_filter`].
    pub fn disable_filter(mut self, disable: bool) -> Self {
        self.options.disable_filter = disable;
        self
    }

    /// `--keepalive`: TCP keep-alive period of accepted connections (zero: off).
    pub fn keepalive(mut self, period: Duration) -> Self {
        self.options.keepalive = period;
        self
    }

    /// `--append-server-path`.
    pub fn append_server_path(mut self, append: bool) -> Self {
        self.options.append_server_path = append;
        self
    }

    /// How long in-flight requests and upgraded connections may run on after a
    /// shutdown signal before they are closed (default 10 s). Long watches usually
    /// hit this limit.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Checks the options and builds the proxy (nothing is bound yet).
    pub fn build(self) -> Result<Proxy, ProxyError> {
        Proxy::with_grace(self.client, self.options, self.shutdown_grace)
    }
}
