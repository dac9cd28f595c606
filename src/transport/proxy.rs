//! Proxy selection, as Go's `net/http` does it for client-go: the cluster's `proxy-url`
//! for every request, else `HTTPS_PROXY`/`HTTP_PROXY` filtered by `NO_PROXY`.
//! Pure functions over an injectable [`ProxyEnv`]; no I/O.

use super::TransportError;
use std::net::IpAddr;

/// The proxy environment variables, read once (upper case wins over lower case, as in Go).
///
/// ```
/// use k8s_client::transport::ProxyEnv;
/// let env = ProxyEnv::from_lookup(|name| match name {
///     "HTTPS_PROXY" => Some("http://proxy.corp:3128".to_owned()),
///     "NO_PROXY" => Some("10.0.0.0/8,.internal".to_owned()),
///     _ => None,
/// });
/// assert_eq!(env.https_proxy.as_deref(), Some("http://proxy.corp:3128"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyEnv {
    /// `HTTPS_PROXY` (or `https_proxy`).
    pub https_proxy: Option<String>,
    /// `HTTP_PROXY` (or `http_proxy`).
    pub http_proxy: Option<String>,
    /// `NO_PROXY` (or `no_proxy`).
    pub no_proxy: Option<String>,
}

use crate::secret::redact_userinfo;

impl std::fmt::Debug for ProxyEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Proxy URLs may carry a user name and password.
        let shown = |v: &Option<String>| v.as_deref().map(redact_userinfo);
        f.debug_struct("ProxyEnv")
            .field("https_proxy", &shown(&self.https_proxy))
            .field("http_proxy", &shown(&self.http_proxy))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl ProxyEnv {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads through `lookup` (for tests, or a custom environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |upper: &str, lower: &str| {
            lookup(upper)
                .filter(|v| !v.is_empty())
                .or_else(|| lookup(lower).filter(|v| !v.is_empty()))
        };
        Self {
            https_proxy: get("HTTPS_PROXY", "https_proxy"),
            http_proxy: get("HTTP_PROXY", "http_proxy"),
            no_proxy: get("NO_PROXY", "no_proxy"),
        }
    }

    /// An environment without any proxy.
    pub fn none() -> Self {
        Self::default()
    }
}

/// The proxy decision for one client: either a fixed proxy or the environment's rules.
#[derive(Clone)]
pub(crate) enum ProxyRules {
    /// `proxy-url`: every request goes through it.
    Fixed(url::Url),
    /// The environment: per-scheme proxies and the `NO_PROXY` list.
    Env {
        https: Option<url::Url>,
        http: Option<url::Url>,
        no_proxy: NoProxy,
    },
}

/// Shows the proxy URLs without their user name and password.
impl std::fmt::Debug for ProxyRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |u: &Option<url::Url>| u.as_ref().map(crate::secret::url_for_display);
        match self {
            Self::Fixed(url) => f
                .debug_tuple("Fixed")
                .field(&crate::secret::url_for_display(url))
                .finish(),
            Self::Env {
                https,
                http,
                no_proxy,
            } => f
                .debug_struct("Env")
                .field("https", &shown(https))
                .field("http", &shown(http))
                .field("no_proxy", no_proxy)
                .finish(),
        }
    }
}

impl ProxyRules {
    /// Validates `proxy_url`, or parses the environment's proxies.
    pub(crate) fn new(
        proxy_url: Option<&url::Url>,
        env: &ProxyEnv,
    ) -> Result<Self, TransportError> {
        if let Some(url) = proxy_url {
            return Ok(Self::Fixed(normalize_scheme(url.clone())?));
        }
        let parse =
            |name: &str, value: &Option<String>| -> Result<Option<url::Url>, TransportError> {
                let Some(value) = value else { return Ok(None) };
                // Go: a value without a scheme means http://.
                let with_scheme = if value.contains("://") {
                    value.clone()
                } else {
                    format!("http://{value}")
                };
                let url = url::Url::parse(&with_scheme).map_err(|source| {
                    TransportError::InvalidProxyUrl {
                        source_name: name.to_owned(),
                        source,
                    }
                })?;
                normalize_scheme(url).map(Some)
            };
        Ok(Self::Env {
            https: parse("HTTPS_PROXY", &env.https_proxy)?,
            http: parse("HTTP_PROXY", &env.http_proxy)?,
            no_proxy: NoProxy::parse(env.no_proxy.as_deref().unwrap_or("")),
        })
    }

    /// The proxy for a request to `target`, or `None` to connect directly.
    pub(crate) fn select(&self, target: &url::Url) -> Option<url::Url> {
        match self {
            Self::Fixed(url) => Some(url.clone()),
            Self::Env {
                https,
                http,
                no_proxy,
            } => {
                let proxy = match target.scheme() {
                    "https" => https.as_ref(),
                    "http" => http.as_ref(),
                    _ => None,
                }?;
                let host = target.host()?;
                let port = target.port_or_known_default().unwrap_or(0);
                if is_local(&host) || no_proxy.matches(&host, port) {
                    return None;
                }
                Some(proxy.clone())
            }
        }
    }
}

/// Accepts http, https, socks5 and socks5h. `socks5` is turned into `socks5h` so that the
/// proxy resolves the server's name, as Go's SOCKS5 dialer does.
fn normalize_scheme(url: url::Url) -> Result<url::Url, TransportError> {
    match url.scheme() {
        "http" | "https" => Ok(url),
        #[cfg(feature = "socks")]
        "socks5h" => Ok(url),
        #[cfg(feature = "socks")]
        "socks5" => {
            // `Url::set_scheme` refuses some special/non-special switches; rebuild instead.
            let rebuilt = format!("socks5h{}", &url.as_str()["socks5".len()..]);
            url::Url::parse(&rebuilt).map_err(|source| TransportError::InvalidProxyUrl {
                source_name: "proxy-url".to_owned(),
                source,
            })
        }
        #[cfg(not(feature = "socks"))]
        "socks5" | "socks5h" => Err(TransportError::SocksDisabled),
        other => Err(TransportError::UnsupportedProxyScheme {
            scheme: other.to_owned(),
        }),
    }
}

/// Go never proxies requests to `localhost` or loopback addresses taken from the
/// environment's proxy settings.
fn is_local(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// A parsed `NO_PROXY` list: `*`, IPs, CIDRs, host names (which also match their
/// subdomains), `.suffix` (subdomains only), each optionally with `:port`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NoProxy {
    all: bool,
    entries: Vec<NoProxyEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum NoProxyEntry {
    Cidr(ipnet::IpNet),
    Ip(IpAddr, Option<u16>),
    /// `name` matches `name` and `*.name`; `.name` (stored with `subdomains_only`) only the latter.
    Domain {
        name: String,
        subdomains_only: bool,
        port: Option<u16>,
    },
}

impl NoProxy {
    pub(crate) fn parse(list: &str) -> Self {
        let mut out = Self::default();
        for raw in list.split(',') {
            let entry = raw.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                out.all = true;
                continue;
            }
            if let Ok(net) = entry.parse::<ipnet::IpNet>() {
                out.entries.push(NoProxyEntry::Cidr(net));
                continue;
            }
            if let Ok(ip) = entry
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                out.entries.push(NoProxyEntry::Ip(ip, None));
                continue;
            }
            // host:port, [v6]:port
            let (host, port) = split_port(&entry);
            if let Ok(ip) = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                out.entries.push(NoProxyEntry::Ip(ip, port));
                continue;
            }
            let host = host.strip_prefix('*').unwrap_or(host);
            let (name, subdomains_only) = match host.strip_prefix('.') {
                Some(rest) => (rest, true),
                None => (host, false),
            };
            if name.is_empty() {
                continue;
            }
            out.entries.push(NoProxyEntry::Domain {
                name: name.to_owned(),
                subdomains_only,
                port,
            });
        }
        out
    }

    pub(crate) fn matches(&self, host: &url::Host<&str>, port: u16) -> bool {
        if self.all {
            return true;
        }
        let ip = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
            url::Host::Domain(_) => None,
        };
        let name = match host {
            url::Host::Domain(d) => d.to_ascii_lowercase(),
            _ => String::new(),
        };
        let name = name.trim_end_matches('.');
        self.entries.iter().any(|entry| match entry {
            NoProxyEntry::Cidr(net) => ip.is_some_and(|ip| net.contains(&ip)),
            NoProxyEntry::Ip(want, want_port) => {
                ip == Some(*want) && want_port.is_none_or(|p| p == port)
            }
            NoProxyEntry::Domain {
                name: want,
                subdomains_only,
                port: want_port,
            } => {
                if ip.is_some() || want_port.is_some_and(|p| p != port) {
                    return false;
                }
                let sub = name.len() > want.len()
                    && name.ends_with(want.as_str())
                    && name.as_bytes()[name.len() - want.len() - 1] == b'.';
                sub || (!subdomains_only && name == want)
            }
        })
    }
}

fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some((host, port)) = entry.rsplit_once(':') {
        // An IPv6 literal without brackets has several colons: no port then.
        if (!host.contains(':') || host.ends_with(']'))
            && let Ok(port) = port.parse()
        {
            return (host, Some(port));
        }
    }
    (entry, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(https: &str, no_proxy: &str) -> ProxyRules {
        let env = ProxyEnv::from_lookup(|n| match n {
            "https_proxy" => Some(https.to_owned()),
            "HTTP_PROXY" => Some("http://plain:80".to_owned()),
            "no_proxy" => Some(no_proxy.to_owned()),
            _ => None,
        });
        ProxyRules::new(None, &env).unwrap()
    }

    fn sel(r: &ProxyRules, target: &str) -> Option<String> {
        r.select(&target.parse().unwrap()).map(|u| u.to_string())
    }

    #[test]
    fn env_lookup_prefers_upper_case() {
        let env = ProxyEnv::from_lookup(|n| match n {
            "HTTPS_PROXY" => Some("http://upper".to_owned()),
            "https_proxy" => Some("http://lower".to_owned()),
            "http_proxy" => Some("http://lower-http".to_owned()),
            "NO_PROXY" => Some(String::new()),
            "no_proxy" => Some("x".to_owned()),
            _ => None,
        });
        assert_eq!(env.https_proxy.as_deref(), Some("http://upper"));
        assert_eq!(env.http_proxy.as_deref(), Some("http://lower-http"));
        assert_eq!(env.no_proxy.as_deref(), Some("x"));
    }

    #[test]
    fn picks_proxy_by_scheme_and_adds_http_scheme() {
        let r = rules("proxy.corp:3128", "");
        assert_eq!(
            sel(&r, "https://api.example.com:6443").as_deref(),
            Some("http://proxy.corp:3128/")
        );
        assert_eq!(
            sel(&r, "http://api.example.com").as_deref(),
            Some("http://plain/")
        );
    }

    #[test]
    fn never_proxies_loopback_from_env() {
        let r = rules("http://p:1", "");
        assert_eq!(sel(&r, "https://127.0.0.1:6443"), None);
        assert_eq!(sel(&r, "https://[::1]:6443"), None);
        assert_eq!(sel(&r, "https://localhost:6443"), None);
    }

    #[test]
    fn no_proxy_cidrs_ips_and_suffixes() {
        let r = rules(
            "http://p:1",
            "10.0.0.0/8, 192.168.1.5 ,.internal,example.com,fd00::/8,other.org:8443,[2001:db8::1]",
        );
        assert_eq!(sel(&r, "https://10.1.2.3:6443"), None);
        assert!(sel(&r, "https://11.1.2.3:6443").is_some());
        assert_eq!(sel(&r, "https://192.168.1.5"), None);
        assert!(sel(&r, "https://192.168.1.6").is_some());
        assert_eq!(sel(&r, "https://api.internal"), None);
        assert!(
            sel(&r, "https://internal").is_some(),
            ".suffix matches subdomains only"
        );
        assert_eq!(sel(&r, "https://example.com"), None);
        assert_eq!(sel(&r, "https://a.b.example.com"), None);
        assert!(sel(&r, "https://notexample.com").is_some());
        assert_eq!(sel(&r, "https://[fd00::1]:6443"), None);
        assert_eq!(sel(&r, "https://[2001:db8::1]:6443"), None);
        assert_eq!(sel(&r, "https://other.org:8443"), None);
        assert!(
            sel(&r, "https://other.org:6443").is_some(),
            "port must match"
        );
        assert_eq!(sel(&r, "https://API.INTERNAL"), None, "case-insensitive");
    }

    #[test]
    fn no_proxy_star_and_wildcard_prefix() {
        assert_eq!(
            sel(&rules("http://p:1", "*"), "https://anything.example"),
            None
        );
        let r = rules("http://p:1", "*.corp");
        assert_eq!(sel(&r, "https://a.corp"), None);
        assert!(sel(&r, "https://corp").is_some());
    }

    #[test]
    fn fixed_proxy_applies_everywhere_and_maps_socks5() {
        let url: url::Url = "socks5://127.0.0.1:1080".parse().unwrap();
        let r = ProxyRules::new(Some(&url), &ProxyEnv::none()).unwrap();
        assert_eq!(
            sel(&r, "https://127.0.0.1:6443").as_deref(),
            Some("socks5h://127.0.0.1:1080")
        );
        let bad: url::Url = "ftp://x".parse().unwrap();
        assert!(matches!(
            ProxyRules::new(Some(&bad), &ProxyEnv::none()),
            Err(TransportError::UnsupportedProxyScheme { scheme }) if scheme == "ftp"
        ));
    }

    #[test]
    fn debug_hides_proxy_credentials() {
        let env = ProxyEnv::from_lookup(|n| match n {
            "HTTPS_PROXY" => Some("http://bob:hunter2@proxy:3128/x".to_owned()),
            "HTTP_PROXY" => Some("user:pw@plain:80".to_owned()),
            _ => None,
        });
        let shown = format!("{env:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("pw@"),
            "{shown}"
        );
        assert!(shown.contains("http://<redacted>@proxy:3128/x"), "{shown}");
        let rules = ProxyRules::new(
            Some(&"http://user:s3cr3t@proxy:3128".parse().unwrap()),
            &ProxyEnv::none(),
        )
        .unwrap();
        assert!(!format!("{rules:?}").contains("s3cr3t"), "{rules:?}");
        let env = ProxyEnv {
            https_proxy: Some("http://u:s3cr3t@p:1".into()),
            ..ProxyEnv::none()
        };
        let rules = ProxyRules::new(None, &env).unwrap();
        assert!(!format!("{rules:?}").contains("s3cr3t"), "{rules:?}");
        assert_eq!(redact_userinfo("http://proxy:3128"), "http://proxy:3128");
    }

    #[test]
    fn invalid_env_proxy_names_the_variable() {
        let env = ProxyEnv::from_lookup(|n| (n == "HTTPS_PROXY").then(|| "http://[bad".to_owned()));
        let err = ProxyRules::new(None, &env).unwrap_err();
        assert!(err.to_string().contains("HTTPS_PROXY"), "{err}");
    }
}
