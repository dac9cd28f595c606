//! [`ClientBuilder`]: options beyond the [`Config`], with errors deferred to `build()`.

use super::endpoints::{EndpointDiscovery, EndpointEvent, EndpointSet, HealthCallback};
use super::sni::SniRewrite;
use super::stack::{HEALTH_CHECK, Http2Health, Stack, StackSettings};
use super::warnings::WarningHandler;
use super::{Client, Inner, WireFormat};
use crate::auth::{self, AuthProvider, CredentialCache};
use crate::config::Config;
use crate::error::Error;
use crate::transport::rate_limit::RateLimiter;
use crate::transport::{
    ProxyEnv, ProxyRules, TransportError, default_user_agent, impersonation_headers,
};
use http::header::{ACCEPT, HeaderMap, HeaderValue, USER_AGENT};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Builds a [`Client`] from a [`Config`] plus options that kubeconfig has no field for.
///
/// Setters take and return the builder by value; every validation happens in
/// [`build`](Self::build).
///
/// ```no_run
/// # fn demo(config: k8s_client::Config) -> Result<(), k8s_client::Error> {
/// use k8s_client::Client;
/// let client = Client::builder(config)
///     .gzip(true)
///     .rate_limit(50.0, 100)
///     .warning_handler(|w| eprintln!("server warning: {w}"))
///     .build()?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct ClientBuilder {
    config: Config,
    gzip: bool,
    rate_limit: Option<(f64, u32)>,
    warning_handler: Option<WarningHandler>,
    proxy_env: Option<ProxyEnv>,
    auth_provider: Option<Arc<dyn AuthProvider>>,
    wire_format: WireFormat,
    endpoints: Vec<::url::Url>,
    discover_endpoints: EndpointDiscovery,
    on_endpoint_health: Option<HealthCallback>,
    /// Set by `http2_health_check`; unset, the environment decides (client-go's variables).
    http2_health: Option<Http2Health>,
    http2: Option<bool>,
    http1_for_large_responses: bool,
    transport: Option<Arc<dyn super::Transport>>,
    on_request: Option<super::observe::RequestHook>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Config's Debug redacts secrets, but its extra headers may carry credentials
        // in a form we cannot recognise: show the endpoint and options only.
        f.debug_struct("ClientBuilder")
            .field(
                "cluster_url",
                &super::url::for_display(&self.config.cluster_url),
            )
            .field("gzip", &self.gzip)
            .field("wire_format", &self.wire_format)
            .field("custom_transport", &self.transport.is_some())
            .field("request_hook", &self.on_request.is_some())
            .field("rate_limit", &self.rate_limit)
            .field("custom_warning_handler", &self.warning_handler.is_some())
            .field("proxy_env", &self.proxy_env)
            .field("http2_health", &self.http2_health)
            .field("http2", &self.http2)
            .field("http1_for_large_responses", &self.http1_for_large_responses)
            .field(
                "auth_provider",
                &self.auth_provider.as_ref().map(|p| p.name().to_owned()),
            )
            .field(
                "endpoints",
                &self
                    .endpoints
                    .iter()
                    .map(super::url::for_display)
                    .collect::<Vec<_>>(),
            )
            .field("discover_endpoints", &self.discover_endpoints)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(super) fn new(config: Config) -> Self {
        Self {
            config,
            gzip: false,
            rate_limit: None,
            warning_handler: None,
            proxy_env: None,
            auth_provider: None,
            wire_format: WireFormat::default(),
            endpoints: Vec::new(),
            discover_endpoints: EndpointDiscovery::Off,
            on_endpoint_health: None,
            http2_health: None,
            http2: None,
            http1_for_large_responses: true,
            transport: None,
            on_request: None,
        }
    }

    /// Calls `hook` once per call of the client, when its final answer's head arrived
    /// or it failed, with the method, [path template](super::path_template), status,
    /// latency, tries, rate-limiter wait and sizes ([`RequestEvent`](super::RequestEvent)):
    /// the place to feed Prometheus or OpenTelemetry metrics. A whole-body read whose
    /// body breaks off after the answer's head and is sent again reports each sending.
    /// The hook runs on the request's task: keep it quick (update counters, don't block).
    ///
    /// ```no_run
    /// # fn demo(config: k8s_client::Config) -> Result<(), k8s_client::Error> {
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// static ERRORS: AtomicU64 = AtomicU64::new(0);
    /// let client = k8s_client::Client::builder(config)
    ///     .on_request(|e| {
    ///         if e.status.is_none_or(|s| s >= 500) {
    ///             ERRORS.fetch_add(1, Ordering::Relaxed);
    ///         }
    ///     })
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn on_request(
        mut self,
        hook: impl Fn(&super::RequestEvent) + Send + Sync + 'static,
    ) -> Self {
        self.on_request = Some(Arc::new(hook));
        self
    }

    /// Sends every request through `transport` instead of the built-in HTTP stack
    /// (see [`Transport`](super::Transport) for what still applies). For unit tests
    /// without a cluster, `testing::MockTransport` (feature `testing`) is one.
    pub fn transport(mut self, transport: impl super::Transport) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// How [`Api`](crate::api::Api) reads built-in kinds: [`WireFormat::Protobuf`] (the
    /// default, as client-go: protobuf where the type has a decoder, JSON otherwise) or
    /// [`WireFormat::Json`] to force JSON.
    pub fn wire_format(mut self, format: WireFormat) -> Self {
        self.wire_format = format;
        self
    }

    /// Ask for gzip-compressed responses (`Accept-Encoding: gzip`). Off by default.
    /// Measured (`docs/performance.md`, TLS over loopback): for large bodies gzip is
    /// *faster* on the client — a 10,000-ConfigMap list 1.41× (0.204 s vs 0.288 s), a
    /// paged list 1.38×, a watch's initial events 1.47× — with less client CPU; small
    /// requests are unaffected (the API server compresses bodies over 128 KiB only). The
    /// cost is the API server's CPU, spent per request on every large answer, which a
    /// shared control plane pays for all its clients; on a link where bandwidth is free
    /// the client-side gain disappears too. So it stays off; turn it on for clients that
    /// mostly list large collections. `disable-compression: true` in the cluster entry
    /// always wins. Needs the `gzip` feature (on by default).
    #[cfg(feature = "gzip")]
    pub fn gzip(mut self, enable: bool) -> Self {
        self.gzip = enable;
        self
    }

    /// Turn on the client-side token-bucket rate limiter: `qps` requests per second with
    /// bursts of up to `burst`. Off by default. Waits are logged at `debug` level.
    /// `build()` fails with [`TransportError::InvalidRateLimit`] unless `qps` is finite and
    /// at least [`MIN_QPS`](crate::transport::MIN_QPS) and `burst` is from 1 to
    /// [`MAX_BURST`](crate::transport::MAX_BURST) (0, negative, NaN or infinite `qps` and a
    /// zero or absurd burst are rejected).
    pub fn rate_limit(mut self, qps: f32, burst: u32) -> Self {
        self.rate_limit = Some((f64::from(qps), burst));
        self
    }

    /// Called with the text of every `Warning` header the server sends (deprecated APIs,
    /// unknown fields…). The default logs each distinct warning once at `warn` level.
    pub fn warning_handler(mut self, handler: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.warning_handler = Some(WarningHandler::custom(handler));
        self
    }

    /// The proxy environment (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`) to use when the
    /// config has no `proxy-url`, instead of the process environment.
    pub fn proxy_env(mut self, env: ProxyEnv) -> Self {
        self.proxy_env = Some(env);
        self
    }

    /// Authenticate with `provider` instead of the one the config's user entry implies.
    pub fn auth_provider(mut self, provider: Arc<dyn AuthProvider>) -> Self {
        self.auth_provider = Some(provider);
        self
    }

    /// Overrides the User-Agent (also settable as `Config::user_agent`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.config.user_agent = Some(user_agent.into());
        self
    }

    /// Bounds every request as a whole, and is sent as `?timeout=` (`--request-timeout`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = Some(timeout);
        self
    }

    /// Further addresses of the same API server (`https://10.0.0.2:6443`, …): requests
    /// are balanced over the cluster URL and these, unhealthy ones are ejected and
    /// probed, and idempotent requests fail over between them (see the
    /// `docs/failover.md` guide). Each must have the cluster URL's scheme and no path,
    /// query or user information; the cluster URL's path prefix applies to all. Every
    /// endpoint's certificate is verified against the `tls-server-name`, else the cluster
    /// URL's host — never against the address dialled. Credentials, the rate limiter
    /// and the warning handler are shared by all endpoints.
    ///
    /// ```
    /// # fn demo(config: k8s_client::Config) -> Result<(), k8s_client::Error> {
    /// let client = k8s_client::Client::builder(config)
    ///     .endpoints(["https://10.0.0.2:6443".parse().unwrap(), "https://10.0.0.3:6443".parse().unwrap()])
    ///     .build()?;
    /// assert!(client.endpoints().len() >= 1);
    /// # Ok(()) }
    /// ```
    pub fn endpoints(mut self, endpoints: impl IntoIterator<Item = ::url::Url>) -> Self {
        self.endpoints.extend(endpoints);
        self
    }

    /// Where to find API server endpoints at run time (off by default, in a cluster too:
    /// see `docs/failover.md` — a pod may reach the service address but not the API
    /// servers' own addresses):
    ///
    /// - [`EndpointDiscovery::EndpointSlices`]: the `default/kubernetes` EndpointSlices
    ///   (`discovery.k8s.io/v1`, label `kubernetes.io/service-name=kubernetes`, the port
    ///   named `https`, ready addresses only), followed with a watch: API servers that
    ///   join or leave the control plane join or leave the set.
    /// - [`EndpointDiscovery::ClientCidr`]: the `serverAddressByClientCIDRs` of `/api`,
    ///   read once: the address of the answering API server for the client's network.
    ///
    /// Until discovery succeeds, and whenever it finds no usable address or cannot read
    /// its source (no permission, an error), the cluster URL serves as before; once it
    /// finds addresses they replace it. Every discovered endpoint's certificate is
    /// verified against the `tls-server-name`, else the cluster URL's host — never
    /// against the address dialled. Addresses that are unspecified, multicast, broadcast
    /// or link-local, and ports outside 1–65535 are skipped; at most
    /// [`MAX_DISCOVERED_ENDPOINTS`](super::MAX_DISCOVERED_ENDPOINTS) are used. Discovery
    /// runs on the Tokio runtime of the client's first request and ends after the last
    /// clone of the client is dropped. Combines with [`endpoints`](Self::endpoints),
    /// whose addresses always stay in the set.
    ///
    /// ```no_run
    /// # async fn demo(config: k8s_client::Config) -> Result<(), k8s_client::Error> {
    /// use k8s_client::client::EndpointDiscovery;
    /// let client = k8s_client::Client::builder(config)
    ///     .discover_endpoints(EndpointDiscovery::EndpointSlices)
    ///     .build()?;
    /// let _ = client.request_bytes(http::Request::get("/version").body(Vec::new()).unwrap()).await?;
    /// // Shortly after: one entry per ready API server in the EndpointSlice.
    /// println!("{:?}", client.endpoints());
    /// # Ok(()) }
    /// ```
    pub fn discover_endpoints(mut self, discovery: EndpointDiscovery) -> Self {
        self.discover_endpoints = discovery;
        self
    }

    /// Called on every endpoint health change (ejection, re-admission); the changes are
    /// also logged at `info` level. Runs on the request path: keep it cheap.
    pub fn on_endpoint_health(
        mut self,
        callback: impl Fn(&EndpointEvent) + Send + Sync + 'static,
    ) -> Self {
        self.on_endpoint_health = Some(Arc::new(callback));
        self
    }

    /// The HTTP/2 health check: a connection that carried no frame for `interval` is
    /// pinged, and closed when the answer takes longer than `timeout`; its requests then
    /// fail as a lost connection (GETs are retried on a new one). The defaults are
    /// client-go's (30 s and 15 s). A dead peer that sends no FIN or RST (a black-holed
    /// path) is detected after at most `interval + timeout`, so shorter values recover
    /// sooner at the cost of more pings. Durations are taken between 1 ms and a year.
    ///
    /// Left unset, client-go's environment variables decide:
    /// `HTTP2_READ_IDLE_TIMEOUT_SECONDS` is the interval (`0` turns the check off) and
    /// `HTTP2_PING_TIMEOUT_SECONDS` the timeout (`0` means 15 s); a value that is not a
    /// whole number of seconds, or is negative, is ignored with a warning.
    ///
    /// ```
    /// # fn demo(config: k8s_client::Config) -> Result<(), k8s_client::Error> {
    /// use std::time::Duration;
    /// let client = k8s_client::Client::builder(config)
    ///     .http2_health_check(Duration::from_secs(5), Duration::from_secs(3))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn http2_health_check(mut self, interval: Duration, timeout: Duration) -> Self {
        self.http2_health = Some(Http2Health::new(interval, timeout));
        self
    }

    /// Whether connections may speak HTTP/2 (offered through ALPN, taken when the server
    /// agrees: the default) or only HTTP/1.1.
    ///
    /// Left unset, the `DISABLE_HTTP2` environment variable decides, as it does for
    /// client-go and kubectl: any non-empty value turns HTTP/2 off. Without HTTP/2,
    /// requests in flight at the same time go over a pool of HTTP/1.1 connections
    /// (one request per connection at a time), every open watch holds a connection of
    /// its own, and the HTTP/2 health check does not apply.
    ///
    /// ```
    /// # fn demo(config: k8s_client::Config) -> Result<(), k8s_client::Error> {
    /// let client = k8s_client::Client::builder(config).http2(false).build()?;
    /// # Ok(()) }
    /// ```
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = Some(enabled);
        self
    }

    /// Whether requests marked [`LargeResponse`](super::LargeResponse) — a list of a
    /// whole collection, without `limit` — go over HTTP/1.1 connections of their own
    /// (the default) or over the shared HTTP/2 connection like every other request.
    ///
    /// A large body arrives markedly faster over HTTP/1.1 on this stack: one 15 MB list
    /// of 10,000 ConfigMaps is received in about 0.13 s over HTTP/1.1 against 0.24 s over
    /// HTTP/2 on loopback (see docs/performance.md), and HTTP/2 adds nothing to a single
    /// large answer, whose stream would only share the connection's flow-control window.
    /// The cost is one more connection (pooled, closed after 90 s idle) per concurrent
    /// whole-collection list. Pages (`limit` set), watches and small requests always
    /// use HTTP/2 when the server offers it. client-go sends everything over HTTP/2;
    /// `false` does the same here.
    ///
    /// ```
    /// # fn demo(config: k8s_client::Config) -> Result<(), k8s_client::Error> {
    /// let client = k8s_client::Client::builder(config)
    ///     .http1_for_large_responses(false)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn http1_for_large_responses(mut self, on: bool) -> Self {
        self.http1_for_large_responses = on;
        self
    }

    /// Bounds establishing a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = Some(timeout);
        self
    }

    /// Bounds each wait for data from the server.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.config.read_timeout = Some(timeout);
        self
    }

    /// Builds the client: reads the TLS files, sets up the auth provider, the proxy and
    /// the limiter.
    pub fn build(self) -> Result<Client, Error> {
        let config = self.config;
        let rate_limiter = match self.rate_limit {
            None => None,
            Some((qps, burst)) if crate::transport::rate_limit::valid(qps, burst) => {
                Some(RateLimiter::new(qps, burst, std::time::Instant::now()))
            }
            Some((qps, burst)) => {
                return Err(TransportError::InvalidRateLimit { qps, burst }.into());
            }
        };
        let provider = match self.auth_provider {
            Some(p) => Some(p),
            None => auth::provider_for(&config)?,
        };
        let proxy_env = self.proxy_env.unwrap_or_else(ProxyEnv::from_env);
        let proxy = ProxyRules::new(config.proxy_url.as_ref(), &proxy_env)?;
        let default_headers = default_headers(&config)?;
        let http2 = self
            .http2
            .unwrap_or_else(|| !http2_disabled_by(|name| std::env::var_os(name)));
        let settings = StackSettings {
            tls: config.tls.clone(),
            proxy,
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            read_timeout: config.read_timeout,
            gzip: self.gzip && !config.disable_compression,
            sni: SniRewrite::new(&config.cluster_url, config.tls.tls_server_name.as_deref()),
            // Without HTTP/2 there is nothing to ping (and no variable to warn about).
            http2_health: match (http2, self.http2_health) {
                (false, _) => None,
                (true, Some(set)) => Some(set),
                (true, None) => http2_health_from(|name| std::env::var_os(name)),
            },
            http2,
            http1_for_large_responses: self.http1_for_large_responses,
        };
        let stack = Stack::new(settings.clone())?;
        let endpoints = EndpointSet::new(
            &config.cluster_url,
            stack,
            &settings,
            &self.endpoints,
            self.discover_endpoints,
            self.on_endpoint_health,
        )?;
        if config.tls.insecure_skip_tls_verify {
            tracing::warn!(
                cluster = %super::url::for_display(&config.cluster_url),
                "insecure-skip-tls-verify is set: the API server's certificate is not verified"
            );
        }
        let timeout_param = config.timeout.map(go_duration);
        Ok(Client {
            inner: Arc::new(Inner {
                base: config.cluster_url.clone(),
                shown_origin: super::url::shown_origin(&config.cluster_url),
                auth: provider.map(CredentialCache::new),
                config,
                endpoints,
                default_headers,
                timeout_param,
                rate_limiter,
                warnings: self.warning_handler.unwrap_or_default(),
                wire_format: self.wire_format,
                transport: self.transport,
                on_request: self.on_request,
                extensions: Default::default(),
            }),
        })
    }
}

/// Whether the environment turns HTTP/2 off: `DISABLE_HTTP2` set to anything but the
/// empty string (client-go's rule).
fn http2_disabled_by(lookup: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    lookup("DISABLE_HTTP2").is_some_and(|v| !v.is_empty())
}

/// The HTTP/2 health check the environment asks for, with client-go's variables and
/// rules: `HTTP2_READ_IDLE_TIMEOUT_SECONDS` (default 30; `0` turns the check off) and
/// `HTTP2_PING_TIMEOUT_SECONDS` (default 15; `0` means the default, as in Go's HTTP/2
/// transport). An empty variable counts as unset; a value that is not a whole number of
/// seconds in Go's `int` range, or is negative (which Go would take), is ignored with a
/// warning naming the variable. Durations above [`Http2Health::MAX`] are that.
fn http2_health_from(lookup: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<Http2Health> {
    let seconds = |name: &str, default: Duration| {
        let Some(value) = lookup(name).filter(|v| !v.is_empty()) else {
            return default;
        };
        // Go's `int` range first (what `Atoi` takes), then no negatives.
        let whole = value.to_str().and_then(|v| v.parse::<i64>().ok());
        match whole.and_then(|n| u64::try_from(n).ok()) {
            Some(n) => Duration::from_secs(n),
            None => {
                tracing::warn!(
                    variable = name,
                    value = %value.to_string_lossy(),
                    default = ?default,
                    "not a whole number of seconds; the default is used"
                );
                default
            }
        }
    };
    let interval = seconds("HTTP2_READ_IDLE_TIMEOUT_SECONDS", HEALTH_CHECK.interval);
    let timeout = seconds("HTTP2_PING_TIMEOUT_SECONDS", HEALTH_CHECK.timeout);
    let timeout = if timeout.is_zero() {
        HEALTH_CHECK.timeout
    } else {
        timeout
    };
    (!interval.is_zero()).then(|| Http2Health::new(interval, timeout))
}

/// Accept, User-Agent, impersonation and the config's extra headers.
fn default_headers(config: &Config) -> Result<HeaderMap, TransportError> {
    let mut headers = HeaderMap::new();
    // client-go's default: JSON preferred, anything accepted (logs are text).
    headers.insert(ACCEPT, HeaderValue::from_static("application/json, */*"));
    let agent = config.user_agent.clone().unwrap_or_else(default_user_agent);
    headers.insert(
        USER_AGENT,
        HeaderValue::from_str(&agent).map_err(|_| TransportError::InvalidHeader {
            name: "User-Agent".to_owned(),
        })?,
    );
    if let Some(imp) = &config.impersonate {
        for (name, value) in &impersonation_headers(imp)? {
            headers.append(name, value.clone());
        }
    }
    for (name, value) in &config.headers {
        let mut value = value.clone();
        // Extra headers may carry credentials; keep them out of any HTTP-level logging.
        value.set_sensitive(true);
        headers.append(name.clone(), value);
    }
    Ok(headers)
}

/// A duration as Go's `time.ParseDuration` reads it (client-go sends `?timeout=` so).
fn go_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Impersonation;

    #[test]
    fn disable_http2_turns_http2_off_when_set_to_anything_but_empty() {
        let with = |value: Option<&str>| {
            http2_disabled_by(|name| {
                assert_eq!(name, "DISABLE_HTTP2");
                value.map(Into::into)
            })
        };
        assert!(!with(None));
        assert!(!with(Some("")));
        assert!(with(Some("1")));
        assert!(with(Some("true")));
        // client-go looks at presence, not value.
        assert!(with(Some("false")));
    }

    #[test]
    fn http2_health_check_follows_client_gos_variables() {
        let with = |read_idle: Option<&str>, ping: Option<&str>| {
            http2_health_from(|name| match name {
                "HTTP2_READ_IDLE_TIMEOUT_SECONDS" => read_idle.map(Into::into),
                "HTTP2_PING_TIMEOUT_SECONDS" => ping.map(Into::into),
                other => panic!("unexpected variable {other}"),
            })
        };
        let health = |interval, timeout| {
            Some(Http2Health {
                interval: Duration::from_secs(interval),
                timeout: Duration::from_secs(timeout),
            })
        };
        assert_eq!(with(None, None), Some(HEALTH_CHECK));
        assert_eq!(with(Some(""), Some("")), Some(HEALTH_CHECK));
        assert_eq!(with(Some("10"), Some("5")), health(10, 5));
        assert_eq!(with(Some("10"), None), health(10, 15));
        assert_eq!(with(None, Some("3")), health(30, 3));
        // Zero turns the check off; a zero ping timeout means the default.
        assert_eq!(with(Some("0"), Some("5")), None);
        assert_eq!(with(Some("10"), Some("0")), health(10, 15));
        // What is not a whole number of seconds leaves that value at its default.
        assert_eq!(with(Some("1.5"), Some("x")), Some(HEALTH_CHECK));
        assert_eq!(with(Some("-1"), Some("-2")), Some(HEALTH_CHECK));
        assert_eq!(with(Some(" 10"), None), Some(HEALTH_CHECK));
        assert_eq!(with(Some("99999999999999999999"), None), Some(HEALTH_CHECK));
        // Go's `Atoi` takes a sign.
        assert_eq!(with(Some("+10"), Some("+5")), health(10, 5));
        assert_eq!(with(Some("-0"), None), None);
        // Durations no instant can be computed from are bounded.
        assert_eq!(
            with(Some("9223372036854775807"), Some("9223372036854775807")),
            Some(Http2Health::new(Duration::MAX, Duration::MAX))
        );
        assert_eq!(
            Http2Health::new(Duration::MAX, Duration::ZERO).interval,
            Http2Health::MAX
        );
        assert_eq!(
            Http2Health::new(Duration::MAX, Duration::ZERO).timeout,
            Duration::from_millis(1)
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(go_duration(Duration::from_micros(10)), "1ms");
    }

    #[test]
    fn default_headers_include_agent_impersonation_and_extras() {
        let mut config = Config::new("https://127.0.0.1:6443".parse().unwrap());
        config.user_agent = Some("tool/1.0".into());
        config.impersonate = Some(Impersonation {
            user: Some("jane".into()),
            ..Impersonation::default()
        });
        config.headers.push((
            http::HeaderName::from_static("x-extra"),
            HeaderValue::from_static("1"),
        ));
        let h = default_headers(&config).unwrap();
        assert_eq!(h[USER_AGENT], "tool/1.0");
        assert_eq!(h[ACCEPT], "application/json, */*");
        assert_eq!(h["impersonate-user"], "jane");
        assert!(h["x-extra"].is_sensitive());
        config.user_agent = Some("bad\nagent".into());
        assert!(default_headers(&config).is_err());
    }
}
