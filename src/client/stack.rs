//! The HTTP clients behind a [`Client`](super::Client), rebuilt when the TLS material
//! changes: a CA or client-certificate file whose modification time changed (checked at
//! most once a second), or a new client identity from an auth provider (exec plugins).
//! A rebuild starts a fresh connection pool, so old connections close once idle.

use super::direct::{Direct, POOL_IDLE_TIMEOUT};
use super::sni::SniRewrite;
use crate::auth::ClientIdentity;
use crate::config::{KeySource, PemSource, TlsConfig};
use crate::transport::tls::{ALPN_H1, ALPN_H2_H1, TlsMaterial};
use crate::transport::{ProxyRules, TransportError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// How often the TLS files' modification times are looked at.
const FILE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// client-go's HTTP/2 health check: ping after 30 s without frames, give up after 15 s.
pub(crate) const HEALTH_CHECK: Http2Health = Http2Health {
    interval: Duration::from_secs(30),
    timeout: Duration::from_secs(15),
};

/// When an HTTP/2 connection is pinged and how long the answer may take before the
/// connection is closed (its requests fail and are retried on a new connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Http2Health {
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

impl Http2Health {
    /// The longest interval or timeout taken; longer ones are this (later instants
    /// would not be representable).
    pub(crate) const MAX: Duration = Duration::from_secs(365 * 24 * 60 * 60);

    /// A health check with both durations between 1 ms and [`Self::MAX`].
    pub(crate) fn new(interval: Duration, timeout: Duration) -> Self {
        let bounded = |d: Duration| d.clamp(Duration::from_millis(1), Self::MAX);
        Self {
            interval: bounded(interval),
            timeout: bounded(timeout),
        }
    }
}

/// Everything the HTTP clients are built from.
#[derive(Debug, Clone)]
pub(crate) struct StackSettings {
    pub(crate) tls: TlsConfig,
    pub(crate) proxy: ProxyRules,
    pub(crate) timeout: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) gzip: bool,
    pub(crate) sni: Option<SniRewrite>,
    /// The HTTP/2 health check, or none (no pings).
    pub(crate) http2_health: Option<Http2Health>,
    /// Whether connections may speak HTTP/2 (false: HTTP/1.1 only).
    pub(crate) http2: bool,
    /// Whether large responses get HTTP/1.1 connections of their own.
    pub(crate) http1_for_large_responses: bool,
}

impl StackSettings {
    /// After how long without frames an HTTP/2 connection is pinged; none: never.
    pub(crate) fn ping_interval(&self) -> Option<Duration> {
        self.http2_health.map(|h| h.interval)
    }

    /// How long a ping's answer may take (unused without an interval).
    pub(crate) fn ping_timeout(&self) -> Duration {
        self.http2_health.unwrap_or(HEALTH_CHECK).timeout
    }
}

/// One generation of HTTP clients. The reqwest clients are built on first use: a client
/// whose requests all go direct never builds them.
pub(crate) struct Built {
    /// The TLS material the clients of this generation are built from (already checked:
    /// the first TLS configuration is built with the generation).
    material: TlsMaterial,
    /// For ordinary requests that go straight to the server, when the settings allow
    /// it ([`Stack::direct`]).
    direct: Option<Direct>,
    /// For ordinary requests (HTTP/2 via ALPN, HTTP/1.1 fallback).
    http: OnceLock<reqwest::Client>,
    /// For requests marked [`LargeResponse`](super::LargeResponse): HTTP/1.1 only, with
    /// the ordinary client's timeouts and compression (or the ordinary client itself).
    large: OnceLock<reqwest::Client>,
    /// For connection upgrades (HTTP/1.1 only, no overall or read timeout).
    upgrade: OnceLock<reqwest::Client>,
    identity: Option<ClientIdentity>,
    stamps: Vec<(PathBuf, Option<FileStamp>)>,
}

/// Which of a generation's reqwest clients a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// An ordinary request.
    Ordinary,
    /// A request marked [`LargeResponse`](super::LargeResponse).
    LargeResponse,
    /// A connection upgrade.
    Upgrade,
}

pub(crate) struct Stack {
    settings: StackSettings,
    current: RwLock<Arc<Built>>,
    next_check: Mutex<Instant>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("gzip", &self.settings.gzip)
            .field("timeout", &self.settings.timeout)
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// Builds the first generation now, so configuration errors surface at build time.
    pub(crate) fn new(settings: StackSettings) -> Result<Self, TransportError> {
        let built = build(&settings, None)?;
        Ok(Self {
            settings,
            current: RwLock::new(Arc::new(built)),
            next_check: Mutex::new(Instant::now() + FILE_CHECK_INTERVAL),
        })
    }

    /// The URL to connect to for `url`: the `tls-server-name` as host when it must be
    /// sent as SNI (see [`super::sni`]).
    pub(crate) fn connect_url(&self, url: &url::Url) -> Option<url::Url> {
        self.settings
            .sni
            .as_ref()?
            .connect_url(url, &self.settings.proxy)
    }

    /// The client on bare hyper for an ordinary request to `url` (its scheme, host and
    /// port), when nothing about the request needs reqwest (see [`super::direct`]): no
    /// proxy for the URL and no credentials in it.
    pub(crate) fn direct<'a>(&self, built: &'a Built, url: &url::Url) -> Option<&'a Direct> {
        let direct = built.direct.as_ref()?;
        let plain = url.username().is_empty() && url.password().is_none();
        (plain && self.settings.proxy.select(url).is_none()).then_some(direct)
    }

    /// The reqwest client of `built` for `route`, built now if this is its first use.
    pub(crate) fn reqwest<'a>(
        &self,
        built: &'a Built,
        route: Route,
    ) -> Result<&'a reqwest::Client, TransportError> {
        let cell = match route {
            Route::LargeResponse if self.large_apart() => &built.large,
            Route::Ordinary | Route::LargeResponse => &built.http,
            Route::Upgrade => &built.upgrade,
        };
        if let Some(client) = cell.get() {
            return Ok(client);
        }
        let client = self
            .builder(built, route)?
            .build()
            .map_err(|e| TransportError::Build {
                source: Box::new(e),
            })?;
        // Concurrent first uses may both build; one client is kept (neither has
        // connected yet).
        Ok(cell.get_or_init(|| client))
    }

    /// Whether large responses get an HTTP/1.1 pool of their own: asked for, and ordinary
    /// requests may use HTTP/2 (without it, the ordinary pool is that pool already).
    fn large_apart(&self) -> bool {
        self.settings.http1_for_large_responses && self.settings.http2
    }

    /// The reqwest builder for `route`.
    fn builder(
        &self,
        built: &Built,
        route: Route,
    ) -> Result<reqwest::ClientBuilder, TransportError> {
        let settings = &self.settings;
        let (builder, http1) = match route {
            Route::Upgrade => (base_builder(settings), true),
            Route::LargeResponse if self.large_apart() => (requests_builder(settings), true),
            Route::Ordinary | Route::LargeResponse => (requests_builder(settings), !settings.http2),
        };
        let tls = |alpn| built.material.client_config(&settings.tls, alpn);
        Ok(if http1 {
            builder
                .tls_backend_preconfigured(tls(ALPN_H1)?)
                .http1_only()
        } else {
            builder
                .tls_backend_preconfigured(tls(ALPN_H2_H1)?)
                .http2_keep_alive_interval(settings.ping_interval())
                .http2_keep_alive_timeout(settings.ping_timeout())
                .http2_keep_alive_while_idle(true)
        })
    }

    /// The clients to use for a request made with `identity` (from the credential).
    pub(crate) fn current(
        &self,
        identity: Option<&ClientIdentity>,
    ) -> Result<Arc<Built>, TransportError> {
        let built = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if built.identity.as_ref() != identity {
            tracing::debug!(
                "client identity from the credential changed; rebuilding the HTTP client"
            );
            return self.replace(identity);
        }
        if !self.due_for_file_check() {
            return Ok(built);
        }
        if stamps(&self.settings.tls, identity.is_some()) == built.stamps {
            return Ok(built);
        }
        tracing::debug!("TLS files changed on disk; rebuilding the HTTP client");
        match self.replace(identity) {
            Ok(b) => Ok(b),
            Err(e) => {
                // A file caught mid-write: keep the working client, try again on the next check.
                tracing::warn!(error = %e, "re-reading changed TLS files failed; keeping the previous ones");
                Ok(built)
            }
        }
    }

    fn due_for_file_check(&self) -> bool {
        let now = Instant::now();
        let mut next = self.next_check.lock().unwrap_or_else(|e| e.into_inner());
        if now < *next {
            return false;
        }
        *next = now + FILE_CHECK_INTERVAL;
        true
    }

    fn replace(&self, identity: Option<&ClientIdentity>) -> Result<Arc<Built>, TransportError> {
        let fresh = Arc::new(build(&self.settings, identity)?);
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        // Concurrent requests may have raced to rebuild for the same new identity: keep
        // the first generation so they all share one connection pool.
        if current.identity.as_ref() == identity && current.stamps == fresh.stamps {
            return Ok(current.clone());
        }
        *current = fresh.clone();
        Ok(fresh)
    }
}

/// The files the TLS material was read from and their modification times.
fn stamps(tls: &TlsConfig, identity_from_credential: bool) -> Vec<(PathBuf, Option<FileStamp>)> {
    let mut paths = Vec::new();
    if let Some(PemSource::File(p)) = &tls.ca {
        paths.push(p.clone());
    }
    if !identity_from_credential && let Some(cc) = &tls.client_certificate {
        if let PemSource::File(p) = &cc.cert {
            paths.push(p.clone());
        }
        if let KeySource::File(p) = &cc.key {
            paths.push(p.clone());
        }
    }
    paths
        .into_iter()
        .map(|p| {
            let stamp = std::fs::metadata(&p).ok().map(|m| FileStamp::of(&m));
            (p, stamp)
        })
        .collect()
}

/// What tells one version of a file from the next. The modification time alone is not
/// enough: two writes within the file system's timestamp granularity (a few
/// milliseconds) share it. A file replaced by rename (the kubelet's atomic writer, most
/// editors) is a new inode, and a rewrite in place usually changes the length.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: (u64, u64),
}

impl FileStamp {
    fn of(m: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            modified: m.modified().ok(),
            len: m.len(),
            #[cfg(unix)]
            inode: (m.dev(), m.ino()),
        }
    }
}

fn build(
    settings: &StackSettings,
    identity: Option<&ClientIdentity>,
) -> Result<Built, TransportError> {
    // Stamp before reading, so a change during the read is seen at the next check.
    let stamps = stamps(&settings.tls, identity.is_some());
    let material = TlsMaterial::load(&settings.tls, identity)?;
    // Built now whether or not the direct route applies: what is wrong with the material
    // surfaces here, not at the first request.
    let tls = material.client_config(&settings.tls, &[])?;
    let direct = Direct::applies(settings).then(|| Direct::new(settings, tls));
    Ok(Built {
        material,
        direct,
        http: OnceLock::new(),
        large: OnceLock::new(),
        upgrade: OnceLock::new(),
        identity: identity.cloned(),
        stamps,
    })
}

/// The base with what ordinary (not upgrade) requests add: compression and timeouts.
fn requests_builder(settings: &StackSettings) -> reqwest::ClientBuilder {
    let b = base_builder(settings);
    #[cfg(feature = "gzip")]
    let b = b.gzip(settings.gzip);
    b.timeout_opt(settings.timeout)
        .read_timeout_opt(settings.read_timeout)
}

fn base_builder(settings: &StackSettings) -> reqwest::ClientBuilder {
    let rules = settings.proxy.clone();
    let sni = settings.sni.clone();
    let mut b = reqwest::Client::builder()
        .proxy(reqwest::Proxy::custom(move |url| {
            // A URL addressed to the tls-server-name was rewritten only because the
            // cluster URL itself goes direct: never send it to a proxy.
            match &sni {
                Some(sni) if sni.is_server_name(url) => None,
                _ => rules.select(url),
            }
        }))
        .tcp_nodelay(true)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        // A 3xx goes back to the caller: following it would send the credential (and
        // the request body) to wherever a hostile or misconfigured server points.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(t) = settings.connect_timeout {
        b = b.connect_timeout(t);
    }
    if let Some(sni) = &settings.sni {
        b = b.dns_resolver(Arc::new(sni.resolver()));
    }
    b
}

trait OptionalTimeouts {
    fn timeout_opt(self, t: Option<Duration>) -> Self;
    fn read_timeout_opt(self, t: Option<Duration>) -> Self;
}

impl OptionalTimeouts for reqwest::ClientBuilder {
    fn timeout_opt(self, t: Option<Duration>) -> Self {
        match t {
            Some(t) => self.timeout(t),
            None => self,
        }
    }
    fn read_timeout_opt(self, t: Option<Duration>) -> Self {
        match t {
            Some(t) => self.read_timeout(t),
            None => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ProxyEnv;

    fn settings() -> StackSettings {
        StackSettings {
            tls: TlsConfig::default(),
            proxy: ProxyRules::new(None, &ProxyEnv::none()).unwrap(),
            timeout: Some(Duration::from_secs(5)),
            connect_timeout: Some(Duration::from_secs(1)),
            read_timeout: None,
            gzip: false,
            sni: None,
            http2_health: Some(HEALTH_CHECK),
            http2: true,
            http1_for_large_responses: true,
        }
    }

    fn goes_direct(settings: StackSettings, url: &str) -> bool {
        let stack = Stack::new(settings).unwrap();
        let built = stack.current(None).unwrap();
        stack.direct(&built, &url.parse().unwrap()).is_some()
    }

    #[test]
    fn only_requests_that_need_nothing_of_reqwest_go_direct() {
        let cluster = "https://10.0.0.1:6443/api/v1/pods";
        assert!(goes_direct(settings(), cluster));
        assert!(goes_direct(settings(), "http://[::1]:8080/api"));
        // Credentials in the URL become Basic auth in reqwest.
        assert!(!goes_direct(
            settings(),
            "https://user:pw@10.0.0.1:6443/api"
        ));
        assert!(!goes_direct(settings(), "https://user@10.0.0.1:6443/api"));
        let fixed = ProxyRules::new(
            Some(&"http://proxy.example:3128".parse().unwrap()),
            &ProxyEnv::none(),
        )
        .unwrap();
        assert!(!goes_direct(
            StackSettings {
                proxy: fixed,
                ..settings()
            },
            cluster
        ));
        // The environment's proxy, except for the hosts NO_PROXY names and loopback.
        let env = ProxyEnv::from_lookup(|name| match name {
            "HTTPS_PROXY" => Some("http://proxy.example:3128".into()),
            "NO_PROXY" => Some("10.0.0.2".into()),
            _ => None,
        });
        let from_env = || StackSettings {
            proxy: ProxyRules::new(None, &env).unwrap(),
            ..settings()
        };
        assert!(!goes_direct(from_env(), cluster));
        assert!(goes_direct(from_env(), "https://10.0.0.2:6443/api"));
        assert!(goes_direct(from_env(), "https://127.0.0.1:6443/api"));
        // Compression and per-read timeouts are reqwest's.
        assert!(!goes_direct(
            StackSettings {
                gzip: true,
                ..settings()
            },
            cluster
        ));
        assert!(!goes_direct(
            StackSettings {
                read_timeout: Some(Duration::from_secs(1)),
                ..settings()
            },
            cluster
        ));
        let sni = SniRewrite::new(&cluster.parse().unwrap(), Some("kubernetes.default"));
        assert!(sni.is_some());
        assert!(!goes_direct(StackSettings { sni, ..settings() }, cluster));
    }

    #[test]
    fn reqwest_clients_are_built_on_first_use_and_kept() {
        let stack = Stack::new(settings()).unwrap();
        let built = stack.current(None).unwrap();
        assert!(built.direct.is_some());
        assert!(built.http.get().is_none());
        assert!(built.large.get().is_none());
        assert!(built.upgrade.get().is_none());
        let first = stack.reqwest(&built, Route::Ordinary).unwrap();
        assert!(std::ptr::eq(
            first,
            stack.reqwest(&built, Route::Ordinary).unwrap()
        ));
        assert!(built.large.get().is_none() && built.upgrade.get().is_none());
        let large = stack.reqwest(&built, Route::LargeResponse).unwrap();
        assert!(!std::ptr::eq(first, large));
        let upgrade = stack.reqwest(&built, Route::Upgrade).unwrap();
        assert!(!std::ptr::eq(large, upgrade));

        // Without an HTTP/1.1 pool of their own, or with HTTP/2 off (the ordinary pool is
        // HTTP/1.1 then), large responses share the ordinary client.
        for shared in [
            StackSettings {
                http1_for_large_responses: false,
                ..settings()
            },
            StackSettings {
                http2: false,
                ..settings()
            },
        ] {
            let stack = Stack::new(shared).unwrap();
            let built = stack.current(None).unwrap();
            let large = stack.reqwest(&built, Route::LargeResponse).unwrap();
            assert!(std::ptr::eq(
                large,
                stack.reqwest(&built, Route::Ordinary).unwrap()
            ));
            assert!(built.large.get().is_none());
        }
    }

    #[test]
    fn bad_tls_material_fails_the_build_not_the_first_request() {
        // PEM that parses, around bytes that are no certificate: rejected by the verifier's
        // root store, whichever route the requests would take.
        let garbage = b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
        for gzip in [false, true] {
            let err = Stack::new(StackSettings {
                tls: TlsConfig {
                    ca: Some(PemSource::Data(garbage.to_vec())),
                    ..TlsConfig::default()
                },
                gzip,
                ..settings()
            })
            .unwrap_err();
            assert!(
                matches!(
                    err,
                    TransportError::InvalidCertificate {
                        what: "certificate-authority",
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }

    fn stamp(p: &std::path::Path) -> FileStamp {
        FileStamp::of(&std::fs::metadata(p).unwrap())
    }

    #[test]
    fn a_file_replaced_at_once_by_one_of_equal_length_has_a_new_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.crt");
        std::fs::write(&path, "first").unwrap();
        let before = stamp(&path);
        // Same length, written and renamed within the same timestamp tick.
        let tmp = dir.path().join("..ca.crt.tmp");
        std::fs::write(&tmp, "other").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_ne!(stamp(&path), before);
        assert_eq!(stamp(&path), stamp(&path));
    }

    #[test]
    fn a_rewrite_in_place_of_another_length_has_a_new_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.crt");
        std::fs::write(&path, "first").unwrap();
        let before = stamp(&path);
        std::fs::write(&path, "longer contents").unwrap();
        assert_ne!(stamp(&path), before);
    }
}
