//! The API server endpoints behind one [`Client`](super::Client): the cluster URL plus
//! the extra addresses given to [`ClientBuilder::endpoints`](super::ClientBuilder::endpoints),
//! their health, and the choice of endpoint per request.
//!
//! Each endpoint has its own HTTP stack (connection pool). TLS on every endpoint is
//! verified against one name — the `tls-server-name`, else the cluster URL's host — and
//! that name is sent as SNI when it is a DNS name (the `tls-server-name` mechanism of
//! [`super::sni`]), whatever address is dialled.
//!
//! Health is passive first: a connection that cannot be made or is lost, or a burst of
//! 5xx/429 answers, ejects the endpoint. An ejected endpoint is probed with
//! `GET /readyz` once its backoff expires (doubling on each failed probe) and
//! re-admitted on `200`. Requests pick between two random healthy endpoints the one with
//! fewer requests outstanding; if none is healthy, the one whose probe is due soonest
//! is tried anyway (failing closed would turn a detection error into an outage).

use super::sni::SniRewrite;
use super::stack::{Route, Stack, StackSettings};
use crate::auth::ClientIdentity;
use crate::transport::TransportError;
use http::HeaderValue;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How many 5xx or 429 answers in a row eject an endpoint.
pub const ERROR_BURST: u32 = 5;
/// The first wait before an ejected endpoint is probed.
pub const FIRST_PROBE_DELAY: Duration = Duration::from_millis(250);
/// The longest wait between probes of an ejected endpoint.
pub const MAX_PROBE_DELAY: Duration = Duration::from_secs(5);
/// How long a `/readyz` probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an endpoint's health changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthReason {
    /// A connection to it could not be established.
    ConnectFailed,
    /// A connection to it broke (reset, closed, HTTP/2 GOAWAY) during an exchange.
    ConnectionLost,
    /// It answered [`ERROR_BURST`] 5xx or 429 responses in a row.
    ErrorBurst,
    /// A `/readyz` probe did not answer `200`.
    ProbeFailed,
    /// A `/readyz` probe answered `200`.
    ProbeSucceeded,
    /// A request sent to it while ejected (no endpoint was healthy) succeeded.
    RequestSucceeded,
}

/// A change of an endpoint's health, given to
/// [`ClientBuilder::on_endpoint_health`](super::ClientBuilder::on_endpoint_health) and
/// logged at `info` level.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointEvent {
    /// The endpoint (`scheme://host:port`).
    pub endpoint: String,
    /// Whether it is now healthy (re-admitted) or ejected.
    pub healthy: bool,
    /// Why.
    pub reason: HealthReason,
}

/// A snapshot of one endpoint, from [`Client::endpoints`](super::Client::endpoints).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStatus {
    /// The endpoint (`scheme://host:port`).
    pub endpoint: String,
    /// Whether requests are balanced onto it (not ejected).
    pub healthy: bool,
    /// Requests sent to it whose response head has not arrived yet.
    pub outstanding: usize,
    /// Requests it answered (any status) since the client was built.
    pub answered: u64,
}

/// Where a client finds API server endpoints beyond its cluster URL
/// ([`ClientBuilder::discover_endpoints`](super::ClientBuilder::discover_endpoints)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointDiscovery {
    /// Nowhere: the cluster URL and the addresses given to
    /// [`ClientBuilder::endpoints`](super::ClientBuilder::endpoints) (the default).
    #[default]
    Off,
    /// The `default/kubernetes` EndpointSlices, watched: every ready API server.
    EndpointSlices,
    /// The `serverAddressByClientCIDRs` of `/api`, read once: the address the
    /// answering API server advertises for the client's network (the entry with the
    /// longest matching CIDR).
    ClientCidr,
}

pub(crate) type HealthCallback = Arc<dyn Fn(&EndpointEvent) + Send + Sync>;

struct Health {
    healthy: bool,
    /// Bumped on every ejection and re-admission: an outcome of a request sent before
    /// the last change says nothing about the endpoint's current state.
    changes: u64,
    /// 5xx/429 answers in a row.
    errors: u32,
    /// The wait before the next probe, doubling per failed probe.
    delay: Duration,
    next_probe: Instant,
    probing: bool,
}

/// One API server address and its connection pool.
pub(crate) struct Endpoint {
    /// Unique within its set and never reused; 0 is the cluster URL's endpoint.
    pub(crate) id: usize,
    /// `scheme://host:port`, for logs and events.
    pub(crate) shown: String,
    origin: url::Url,
    /// The origin as request-URI parts (`None` if `http` cannot take it).
    uri_origin: Option<(http::uri::Scheme, http::uri::Authority)>,
    pub(crate) stack: Stack,
    outstanding: AtomicUsize,
    answered: AtomicU64,
    health: Mutex<Health>,
}

/// Counts a request as outstanding on an endpoint while alive.
pub(crate) struct InFlight<'a> {
    endpoint: &'a Endpoint,
    seen: Seen,
}

impl InFlight<'_> {
    /// The endpoint's health as the request was sent.
    pub(crate) fn seen(&self) -> Seen {
        self.seen
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.endpoint.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An endpoint's health generation when a request was sent to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seen(u64);

impl Endpoint {
    pub(crate) fn start(&self) -> InFlight<'_> {
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        InFlight {
            endpoint: self,
            seen: Seen(lock(&self.health).changes),
        }
    }

    fn is_healthy(&self) -> bool {
        lock(&self.health).healthy
    }
}

/// Every endpoint of a client.
pub(crate) struct EndpointSet {
    /// The cluster URL's endpoint (id 0): it serves requests to other hosts and is the
    /// fallback while no discovered endpoint is known.
    primary: Arc<Endpoint>,
    /// The endpoints given to `ClientBuilder::endpoints`, always balanced over.
    extra: Vec<Arc<Endpoint>>,
    /// The endpoints requests are balanced over now.
    active: RwLock<Arc<[Arc<Endpoint>]>>,
    /// How to build an endpoint for an address found at run time (`None`: discovery off).
    template: Option<Template>,
    /// Where endpoints are discovered.
    discovery: EndpointDiscovery,
    /// Whether the discovery task has been started.
    discovery_started: AtomicBool,
    next_id: AtomicUsize,
    cluster: url::Url,
    rng: AtomicU64,
    on_health: Option<HealthCallback>,
}

/// The settings of every endpoint other than the cluster URL's.
struct Template {
    settings: StackSettings,
    name: String,
}

impl fmt::Debug for EndpointSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.active().iter().map(|e| &e.shown))
            .finish()
    }
}

/// `scheme://host[:port]`: never the user information, path or query.
fn origin_of(url: &url::Url) -> String {
    let host = url.host().map(|h| h.to_string()).unwrap_or_default();
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl EndpointSet {
    /// The cluster URL's endpoint (with `primary`, the client's existing stack) and one
    /// per extra address; with a `discovery`, addresses found at run time
    /// ([`set_discovered`](Self::set_discovered)) replace the cluster URL's endpoint.
    pub(crate) fn new(
        cluster: &url::Url,
        primary: Stack,
        settings: &StackSettings,
        extra: &[url::Url],
        discovery: EndpointDiscovery,
        on_health: Option<HealthCallback>,
    ) -> Result<Self, TransportError> {
        let discover = discovery != EndpointDiscovery::Off;
        let primary = endpoint(0, cluster.clone(), primary);
        let template = if extra.is_empty() && !discover {
            None
        } else {
            Some(Template {
                settings: settings.clone(),
                name: verified_name(cluster, settings)?,
            })
        };
        let mut endpoints = vec![primary.clone()];
        if let Some(t) = &template {
            for url in extra {
                check_extra(cluster, url)?;
                if endpoints.iter().any(|e| e.origin_eq(url)) {
                    continue;
                }
                endpoints.push(endpoint(endpoints.len(), url.clone(), t.stack_for(url)?));
            }
        }
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
            | 1;
        Ok(Self {
            extra: endpoints[1..].to_vec(),
            next_id: AtomicUsize::new(endpoints.len()),
            active: RwLock::new(endpoints.into()),
            primary,
            template: template.filter(|_| discover),
            discovery,
            discovery_started: AtomicBool::new(false),
            cluster: cluster.clone(),
            rng: AtomicU64::new(seed),
            on_health,
        })
    }

    /// The endpoints requests are balanced over now.
    pub(crate) fn active(&self) -> Arc<[Arc<Endpoint>]> {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.active().len()
    }

    /// The cluster URL the endpoints serve.
    pub(crate) fn cluster(&self) -> &url::Url {
        &self.cluster
    }

    /// The discovery to start, if it is on and not yet started: given once (the caller
    /// then starts it), and only inside a Tokio runtime.
    pub(crate) fn claim_discovery_start(&self) -> Option<EndpointDiscovery> {
        let start = self.template.is_some()
            && !self.discovery_started.load(Ordering::Relaxed)
            && tokio::runtime::Handle::try_current().is_ok()
            && !self.discovery_started.swap(true, Ordering::AcqRel);
        start.then_some(self.discovery)
    }

    /// Replaces the discovered endpoints by `urls` (already validated and bounded):
    /// endpoints that stay keep their connections and health; with none, the cluster
    /// URL's endpoint serves again. Endpoints given to the builder always stay.
    /// Whether the set changed.
    pub(crate) fn set_discovered(&self, urls: &[url::Url]) -> bool {
        let Some(template) = &self.template else {
            return false;
        };
        let current = self.active();
        let known = || {
            current
                .iter()
                .chain(std::iter::once(&self.primary))
                .chain(self.extra.iter())
        };
        let mut next: Vec<Arc<Endpoint>> = Vec::with_capacity(urls.len() + self.extra.len() + 1);
        for url in urls {
            if check_extra(&self.cluster, url).is_err() || next.iter().any(|e| e.origin_eq(url)) {
                continue;
            }
            if let Some(e) = known().find(|e| e.origin_eq(url)) {
                next.push(e.clone());
                continue;
            }
            match template.stack_for(url) {
                Ok(stack) => {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    next.push(endpoint(id, url.clone(), stack));
                }
                Err(error) => {
                    tracing::warn!(endpoint = %origin_of(url), %error, "cannot set up a discovered API server endpoint; skipping it");
                }
            }
        }
        if next.is_empty() {
            next.push(self.primary.clone());
        }
        for e in &self.extra {
            if !next.iter().any(|n| n.id == e.id) {
                next.push(e.clone());
            }
        }
        let same = next.len() == current.len()
            && next.iter().zip(current.iter()).all(|(a, b)| a.id == b.id);
        if same {
            return false;
        }
        for e in next
            .iter()
            .filter(|n| !current.iter().any(|c| c.id == n.id))
        {
            tracing::info!(endpoint = %e.shown, "API server endpoint joined the set");
        }
        for e in current
            .iter()
            .filter(|c| !next.iter().any(|n| n.id == c.id))
        {
            tracing::info!(endpoint = %e.shown, "API server endpoint left the set");
        }
        *self.active.write().unwrap_or_else(|e| e.into_inner()) = next.into();
        true
    }

    pub(crate) fn primary(&self) -> &Arc<Endpoint> {
        &self.primary
    }

    /// Whether `url` addresses the cluster (so any endpoint may serve it).
    pub(crate) fn is_cluster(&self, url: &url::Url) -> bool {
        self.primary.origin_eq(url)
    }

    /// `url` (addressed to the cluster) sent to `endpoint`: its scheme, host and port.
    pub(crate) fn target(&self, endpoint: &Endpoint, url: &url::Url) -> url::Url {
        let mut t = url.clone();
        if endpoint.id != 0 {
            // Both are valid https/http URLs with hosts, checked at build time.
            let _ = t.set_host(endpoint.origin.host_str());
            let _ = t.set_port(endpoint.origin.port());
        }
        endpoint.stack.connect_url(&t).unwrap_or(t)
    }

    fn random(&self) -> u64 {
        // xorshift64*: cheap, and only spreads load.
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The endpoint for the next try, never one in `exclude` (`None` when all are).
    pub(crate) fn pick(&self, exclude: &[usize]) -> Option<Arc<Endpoint>> {
        let active = self.active();
        if active.len() == 1 {
            return (!exclude.contains(&active[0].id)).then(|| active[0].clone());
        }
        let open: Vec<&Arc<Endpoint>> =
            active.iter().filter(|e| !exclude.contains(&e.id)).collect();
        let healthy: Vec<&Arc<Endpoint>> =
            open.iter().copied().filter(|e| e.is_healthy()).collect();
        match healthy.len() {
            0 => open
                .into_iter()
                .min_by_key(|e| lock(&e.health).next_probe)
                .cloned(),
            1 => Some(healthy[0].clone()),
            n => {
                let r = self.random();
                let a = (r % n as u64) as usize;
                let b = (a + 1 + ((r >> 32) % (n as u64 - 1)) as usize) % n;
                let (ea, eb) = (healthy[a], healthy[b]);
                let chosen = if eb.outstanding.load(Ordering::Relaxed)
                    < ea.outstanding.load(Ordering::Relaxed)
                {
                    eb
                } else {
                    ea
                };
                Some(chosen.clone())
            }
        }
    }

    fn emit(&self, endpoint: &Endpoint, healthy: bool, reason: HealthReason) {
        emit(self.on_health.as_ref(), endpoint, healthy, reason);
    }

    /// A connection-level failure on `endpoint` of a request sent when its health was
    /// `seen`: eject it, unless its health changed since (a stale connection of an
    /// ejected and re-admitted endpoint proves nothing about the new state).
    pub(crate) fn connection_failed(&self, endpoint: &Endpoint, reason: HealthReason, seen: Seen) {
        if self.len() == 1 || Seen(lock(&endpoint.health).changes) != seen {
            return;
        }
        if eject(endpoint, false) {
            self.emit(endpoint, false, reason);
        }
    }

    /// `endpoint` answered with `status` a request sent when its health was `seen`. A
    /// success re-admits an ejected endpoint only if the request was sent after the
    /// ejection (a request already in flight on a draining server proves nothing).
    pub(crate) fn answered(&self, endpoint: &Endpoint, status: http::StatusCode, seen: Seen) {
        endpoint.answered.fetch_add(1, Ordering::Relaxed);
        if self.len() == 1 {
            return;
        }
        let bad = status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS;
        let mut h = lock(&endpoint.health);
        if bad {
            h.errors += 1;
            if h.healthy && h.errors >= ERROR_BURST {
                drop(h);
                if eject(endpoint, false) {
                    self.emit(endpoint, false, HealthReason::ErrorBurst);
                }
            }
            return;
        }
        h.errors = 0;
        if !h.healthy && !h.probing && Seen(h.changes) == seen {
            admit(&mut h);
            drop(h);
            self.emit(endpoint, true, HealthReason::RequestSucceeded);
        }
    }

    /// Starts a `/readyz` probe of every ejected endpoint whose backoff has expired
    /// (needs a Tokio runtime; without one the endpoints wait for a request to
    /// succeed). Probes carry the client's credential.
    pub(crate) fn start_due_probes(
        &self,
        authorization: Option<&HeaderValue>,
        identity: Option<&ClientIdentity>,
    ) {
        let active = self.active();
        if active.len() == 1 {
            return;
        }
        let now = Instant::now();
        for ep in active.iter() {
            {
                let mut h = lock(&ep.health);
                if h.healthy || h.probing || h.next_probe > now {
                    continue;
                }
                let Ok(handle) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                h.probing = true;
                let probe = Probe {
                    endpoint: ep.clone(),
                    url: self.target(ep, &readyz_url(&self.cluster)),
                    authorization: authorization.cloned(),
                    identity: identity.cloned(),
                    on_health: self.on_health.clone(),
                };
                handle.spawn(probe.run());
            }
        }
    }

    /// A snapshot of every endpoint, the cluster URL's first.
    pub(crate) fn statuses(&self) -> Vec<EndpointStatus> {
        self.active()
            .iter()
            .map(|e| EndpointStatus {
                endpoint: e.shown.clone(),
                healthy: e.is_healthy(),
                outstanding: e.outstanding.load(Ordering::Relaxed),
                answered: e.answered.load(Ordering::Relaxed),
            })
            .collect()
    }
}

fn readyz_url(cluster: &url::Url) -> url::Url {
    let mut u = cluster.clone();
    let path = format!("{}/readyz", cluster.path().trim_end_matches('/'));
    u.set_path(&path);
    u.set_query(None);
    u
}

fn endpoint(id: usize, origin: url::Url, stack: Stack) -> Arc<Endpoint> {
    Arc::new(Endpoint {
        id,
        shown: origin_of(&origin),
        uri_origin: uri_origin(&origin),
        origin,
        stack,
        outstanding: AtomicUsize::new(0),
        answered: AtomicU64::new(0),
        health: Mutex::new(Health {
            healthy: true,
            changes: 0,
            errors: 0,
            delay: FIRST_PROBE_DELAY,
            next_probe: Instant::now(),
            probing: false,
        }),
    })
}

impl Endpoint {
    /// The endpoint's URL (scheme, host and port are what matter).
    pub(crate) fn origin(&self) -> &url::Url {
        &self.origin
    }

    /// The request URI for `path_and_query` (text the URL parser keeps as it is) on this
    /// endpoint.
    pub(crate) fn request_uri(
        &self,
        path_and_query: &http::uri::PathAndQuery,
    ) -> Option<http::Uri> {
        let (scheme, authority) = self.uri_origin.as_ref()?;
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(scheme.clone());
        parts.authority = Some(authority.clone());
        parts.path_and_query = Some(path_and_query.clone());
        http::Uri::from_parts(parts).ok()
    }

    fn origin_eq(&self, url: &url::Url) -> bool {
        url.scheme() == self.origin.scheme()
            && url.host() == self.origin.host()
            && url.port_or_known_default() == self.origin.port_or_known_default()
    }
}

/// `url`'s scheme and `host[:port]` (without user information) as request-URI parts.
fn uri_origin(url: &url::Url) -> Option<(http::uri::Scheme, http::uri::Authority)> {
    let scheme = url.scheme().parse().ok()?;
    let authority = url[url::Position::BeforeHost..url::Position::AfterPort]
        .parse()
        .ok()?;
    Some((scheme, authority))
}

/// Ejects `endpoint` (or, after a failed probe, keeps it ejected with a longer wait).
/// Whether it was healthy before.
fn eject(endpoint: &Endpoint, after_probe: bool) -> bool {
    let mut h = lock(&endpoint.health);
    let was = h.healthy;
    if was {
        h.delay = FIRST_PROBE_DELAY;
    } else if after_probe {
        h.delay = (h.delay * 2).min(MAX_PROBE_DELAY);
    }
    if was {
        h.changes += 1;
    }
    h.healthy = false;
    h.errors = 0;
    h.next_probe = Instant::now() + h.delay;
    was
}

fn admit(h: &mut Health) {
    h.changes += 1;
    h.healthy = true;
    h.errors = 0;
    h.delay = FIRST_PROBE_DELAY;
}

fn emit(on_health: Option<&HealthCallback>, ep: &Endpoint, healthy: bool, reason: HealthReason) {
    if healthy {
        tracing::info!(endpoint = %ep.shown, ?reason, "API server endpoint re-admitted");
    } else {
        tracing::info!(endpoint = %ep.shown, ?reason, "API server endpoint ejected");
    }
    if let Some(cb) = on_health {
        cb(&EndpointEvent {
            endpoint: ep.shown.clone(),
            healthy,
            reason,
        });
    }
}

/// One `/readyz` probe of an ejected endpoint.
struct Probe {
    endpoint: Arc<Endpoint>,
    url: url::Url,
    authorization: Option<HeaderValue>,
    identity: Option<ClientIdentity>,
    on_health: Option<HealthCallback>,
}

impl Probe {
    async fn run(self) {
        let ok = self.send().await;
        let ep = &self.endpoint;
        let mut h = lock(&ep.health);
        h.probing = false;
        if h.healthy {
            return;
        }
        if ok {
            admit(&mut h);
            drop(h);
            emit(
                self.on_health.as_ref(),
                ep,
                true,
                HealthReason::ProbeSucceeded,
            );
        } else {
            drop(h);
            eject(ep, true);
            tracing::debug!(endpoint = %ep.shown, "readiness probe failed; endpoint stays ejected");
        }
    }

    async fn send(&self) -> bool {
        let Ok(built) = self.endpoint.stack.current(self.identity.as_ref()) else {
            return false;
        };
        let Ok(http) = self.endpoint.stack.reqwest(&built, Route::Ordinary) else {
            return false;
        };
        let mut req = http.get(self.url.clone()).timeout(PROBE_TIMEOUT);
        if let Some(a) = &self.authorization {
            req = req.header(http::header::AUTHORIZATION, a.clone());
        }
        matches!(req.send().await, Ok(r) if r.status() == http::StatusCode::OK)
    }
}

impl Template {
    /// A stack that dials `url` and verifies (and sends as SNI) the cluster's name.
    fn stack_for(&self, url: &url::Url) -> Result<Stack, TransportError> {
        let mut s = self.settings.clone();
        s.tls.tls_server_name = Some(self.name.clone());
        s.sni = SniRewrite::new(url, Some(&self.name));
        Stack::new(s)
    }
}

/// The name every endpoint's certificate is verified against: the `tls-server-name`,
/// else the cluster URL's host.
fn verified_name(cluster: &url::Url, settings: &StackSettings) -> Result<String, TransportError> {
    if let Some(name) = &settings.tls.tls_server_name {
        return Ok(name.clone());
    }
    match cluster.host() {
        Some(url::Host::Domain(d)) => Ok(d.to_owned()),
        Some(url::Host::Ipv4(ip)) => Ok(ip.to_string()),
        Some(url::Host::Ipv6(ip)) => Ok(ip.to_string()),
        None => Err(TransportError::InvalidEndpoint {
            url: super::url::for_display(cluster),
            reason: "the cluster URL has no host",
        }),
    }
}

fn check_extra(cluster: &url::Url, url: &url::Url) -> Result<(), TransportError> {
    let reason = if url.scheme() != cluster.scheme() {
        Some("its scheme differs from the cluster URL's")
    } else if url.host().is_none() {
        Some("it has no host")
    } else if !matches!(url.path(), "" | "/") || url.query().is_some() {
        Some(
            "it has a path or query (endpoints are scheme://host:port; the cluster URL's path applies)",
        )
    } else if !url.username().is_empty() || url.password().is_some() {
        Some("it carries user information")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(TransportError::InvalidEndpoint {
            url: super::url::for_display(url),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
#[path = "endpoints_tests.rs"]
mod tests;
