//! `tls-server-name` as SNI. The TLS stack takes the SNI name from the URL's host, so a
//! request to the cluster is addressed to the `tls-server-name` instead, and a resolver
//! maps that name back to the cluster's real host: the server then sees the configured
//! name in the ClientHello (SNI-routed API server front ends depend on it) and the
//! certificate is verified against it, exactly like client-go's `tls.Config.ServerName`.
//!
//! Requests that go through a proxy keep the real host (the proxy must reach it); the
//! verifier override in `transport::tls` still checks the certificate against the name.

use crate::transport::ProxyRules;
use std::net::{IpAddr, SocketAddr};

/// Where the `tls-server-name` really points.
#[derive(Clone, Debug)]
pub(crate) struct SniRewrite {
    /// The `tls-server-name` (a DNS name; IP names send no SNI and need no rewrite).
    name: String,
    /// The cluster URL's host and port.
    host: url::Host<String>,
    port: Option<u16>,
}

impl SniRewrite {
    /// A rewrite when `tls_server_name` is a DNS name different from the cluster host.
    pub(crate) fn new(cluster: &url::Url, tls_server_name: Option<&str>) -> Option<Self> {
        let name = tls_server_name?.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() || name.parse::<IpAddr>().is_ok() || cluster.scheme() != "https" {
            return None;
        }
        let host = cluster.host()?.to_owned();
        if matches!(&host, url::Host::Domain(d) if d.eq_ignore_ascii_case(&name)) {
            return None;
        }
        // Names that are not valid URL hosts cannot be put into the URL.
        url::Host::parse(&name).ok()?;
        Some(Self {
            name,
            host,
            port: cluster.port_or_known_default(),
        })
    }

    /// `url` with its host replaced by the server name, when it addresses the cluster
    /// and does not go through a proxy.
    pub(crate) fn connect_url(&self, url: &url::Url, proxy: &ProxyRules) -> Option<url::Url> {
        if url.scheme() != "https"
            || url.host().map(|h| h.to_owned()) != Some(self.host.clone())
            || url.port_or_known_default() != self.port
            || proxy.select(url).is_some()
        {
            return None;
        }
        let mut rewritten = url.clone();
        rewritten.set_host(Some(&self.name)).ok()?;
        Some(rewritten)
    }

    /// Whether `url` is addressed to the server name (a rewritten cluster URL).
    pub(crate) fn is_server_name(&self, url: &url::Url) -> bool {
        url.host_str()
            .is_some_and(|h| h.eq_ignore_ascii_case(&self.name))
    }

    /// The resolver that maps the server name to the cluster host and resolves every
    /// other name normally.
    pub(crate) fn resolver(&self) -> SniResolver {
        SniResolver {
            name: self.name.clone(),
            host: self.host.clone(),
        }
    }
}

pub(crate) struct SniResolver {
    name: String,
    host: url::Host<String>,
}

impl reqwest::dns::Resolve for SniResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = if name.as_str().eq_ignore_ascii_case(&self.name) {
            match &self.host {
                url::Host::Ipv4(ip) => Err(IpAddr::V4(*ip)),
                url::Host::Ipv6(ip) => Err(IpAddr::V6(*ip)),
                url::Host::Domain(d) => Ok(d.clone()),
            }
        } else {
            Ok(name.as_str().to_owned())
        };
        Box::pin(async move {
            match lookup {
                // The port is replaced by the connector.
                Err(ip) => {
                    let addrs: reqwest::dns::Addrs =
                        Box::new(std::iter::once(SocketAddr::new(ip, 0)));
                    Ok(addrs)
                }
                Ok(host) => {
                    let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
                    let addrs: reqwest::dns::Addrs =
                        Box::new(found.collect::<Vec<_>>().into_iter());
                    Ok(addrs)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ProxyEnv;

    fn no_proxy() -> ProxyRules {
        ProxyRules::new(None, &ProxyEnv::none()).unwrap()
    }

    #[test]
    fn rewrites_cluster_urls_only() {
        let cluster: url::Url = "https://127.0.0.1:6443".parse().unwrap();
        let sni = SniRewrite::new(&cluster, Some("LocalHost")).unwrap();
        let u = sni
            .connect_url(
                &"https://127.0.0.1:6443/api?x=1".parse().unwrap(),
                &no_proxy(),
            )
            .unwrap();
        assert_eq!(u.as_str(), "https://localhost:6443/api?x=1");
        assert!(sni.is_server_name(&u));
        assert!(!sni.is_server_name(&"https://127.0.0.1:6443".parse().unwrap()));
        assert!(
            sni.connect_url(&"https://127.0.0.1:7443/api".parse().unwrap(), &no_proxy())
                .is_none()
        );
        assert!(
            sni.connect_url(&"https://10.0.0.1:6443/api".parse().unwrap(), &no_proxy())
                .is_none()
        );
        let proxied =
            ProxyRules::new(Some(&"http://p:3128".parse().unwrap()), &ProxyEnv::none()).unwrap();
        assert!(
            sni.connect_url(&"https://127.0.0.1:6443/api".parse().unwrap(), &proxied)
                .is_none()
        );
    }

    #[test]
    fn no_rewrite_when_not_needed() {
        let cluster: url::Url = "https://api.example.com".parse().unwrap();
        assert!(SniRewrite::new(&cluster, None).is_none());
        assert!(SniRewrite::new(&cluster, Some("api.example.com")).is_none());
        assert!(SniRewrite::new(&cluster, Some("10.0.0.1")).is_none());
        assert!(SniRewrite::new(&"http://h".parse().unwrap(), Some("x")).is_none());
        assert!(SniRewrite::new(&cluster, Some("other.example.com")).is_some());
    }

    #[tokio::test]
    async fn resolver_maps_the_name_to_the_cluster_host() {
        use reqwest::dns::Resolve;
        let cluster: url::Url = "https://[::1]:6443".parse().unwrap();
        let r = SniRewrite::new(&cluster, Some("kubernetes"))
            .unwrap()
            .resolver();
        let name: reqwest::dns::Name = "kubernetes".parse().unwrap();
        let addrs: Vec<_> = r.resolve(name).await.unwrap().collect();
        assert_eq!(addrs, [SocketAddr::new("::1".parse().unwrap(), 0)]);
    }
}
