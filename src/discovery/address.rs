//! Address selection: which server address to use from a given client network, and
//! which local address this host uses to reach the API server.
//!
//! The API server answers `/api` (and each group) with `serverAddressByClientCIDRs`:
//! a list of `(clientCIDR, serverAddress)` pairs. It always contains the default entry
//! `0.0.0.0/0` → the advertised address (`--advertise-address` and the secure port),
//! and, when configured, more specific networks with their own address.

use super::DiscoveryError;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// One `{"clientCIDR": …, "serverAddress": …}` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerAddressByClientCIDR {
    /// The client network, e.g. `0.0.0.0/0` or `10.0.0.0/8`.
    #[serde(rename = "clientCIDR", default)]
    pub client_cidr: String,
    /// The address (`host:port`) clients in that network should use.
    #[serde(rename = "serverAddress", default)]
    pub server_address: String,
}

impl ServerAddressByClientCIDR {
    /// An entry mapping `client_cidr` to `server_address`.
    pub fn new(client_cidr: impl Into<String>, server_address: impl Into<String>) -> Self {
        Self {
            client_cidr: client_cidr.into(),
            server_address: server_address.into(),
        }
    }
}

/// The `serverAddressByClientCIDRs` list of [`APIVersions`](super::APIVersions) and
/// [`APIGroup`](super::APIGroup), in the server's order (it dereferences to a slice).
///
/// [`select`](Self::select) picks the entry for a client address by longest-prefix match:
///
/// ```
/// use k8s_client::discovery::{ServerAddressByClientCIDR, ServerAddressByClientCIDRs};
/// let addrs = ServerAddressByClientCIDRs::from(vec![
///     ServerAddressByClientCIDR::new("0.0.0.0/0", "10.0.1.149:443"),
///     ServerAddressByClientCIDR::new("192.168.0.0/16", "192.168.1.10:6443"),
/// ]);
/// let pick = |ip: &str| addrs.select(ip.parse().unwrap()).map(|e| e.server_address.as_str());
/// assert_eq!(pick("192.168.4.2"), Some("192.168.1.10:6443")); // the /16 beats the /0
/// assert_eq!(pick("10.0.7.3"), Some("10.0.1.149:443"));       // only the default matches
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServerAddressByClientCIDRs(pub Vec<ServerAddressByClientCIDR>);

impl ServerAddressByClientCIDRs {
    /// The entry to use from `client_ip`: the entry whose `clientCIDR` contains it with
    /// the longest prefix (the first such entry on a tie).
    ///
    /// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) match as IPv4. When no network of
    /// the address's family contains it, the server's catch-all entry (prefix length 0 —
    /// the API server's default `0.0.0.0/0`, which it also sends to IPv6 clients) is
    /// used if present. Entries whose `clientCIDR` does not parse never match.
    /// `None` when nothing matches.
    pub fn select(&self, client_ip: IpAddr) -> Option<&ServerAddressByClientCIDR> {
        let ip = client_ip.to_canonical();
        let mut best: Option<(u8, &ServerAddressByClientCIDR)> = None;
        for entry in &self.0 {
            let Some(net) = parse_cidr(&entry.client_cidr) else {
                continue;
            };
            if net.contains(&ip) && best.is_none_or(|(len, _)| net.prefix_len() > len) {
                best = Some((net.prefix_len(), entry));
            }
        }
        best.map(|(_, entry)| entry).or_else(|| {
            self.0
                .iter()
                .find(|e| parse_cidr(&e.client_cidr).is_some_and(|n| n.prefix_len() == 0))
        })
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::ops::Deref for ServerAddressByClientCIDRs {
    type Target = [ServerAddressByClientCIDR];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl From<Vec<ServerAddressByClientCIDR>> for ServerAddressByClientCIDRs {
    fn from(entries: Vec<ServerAddressByClientCIDR>) -> Self {
        Self(entries)
    }
}

impl<'a> IntoIterator for &'a ServerAddressByClientCIDRs {
    type Item = &'a ServerAddressByClientCIDR;
    type IntoIter = std::slice::Iter<'a, ServerAddressByClientCIDR>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A CIDR (`10.0.0.0/8`, `fd00::/8`); a bare address counts as a single-host network.
fn parse_cidr(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
        .map(|net| match net {
            // `::ffff:10.0.0.0/104` is the IPv4 network 10.0.0.0/8.
            IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
                Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(net),
                None => net,
            },
            other => other,
        })
}

/// Which local address this host uses to reach the API server, and the server address
/// it was computed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalRoute {
    /// The server's resolved address (the first that has a route).
    pub server: SocketAddr,
    /// The local source address the operating system picks for it.
    pub local: IpAddr,
}

/// The local address the operating system uses to reach `host:port`.
///
/// Resolves the host, then for each of its addresses connects an unbound UDP socket and
/// reads its local address: `connect` on UDP only selects a route, no packet is sent.
/// This is the address the API server sees as the client address unless a proxy or
/// NAT sits in between.
pub async fn local_route(host: &str, port: u16) -> Result<LocalRoute, DiscoveryError> {
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|source| DiscoveryError::ResolveServer {
                host: host.to_owned(),
                source,
            })?
            .collect(),
    };
    let mut last_error = None;
    for server in &addrs {
        match route_to(*server) {
            Ok(local) => {
                return Ok(LocalRoute {
                    server: *server,
                    local,
                });
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(DiscoveryError::NoRoute {
        host: host.to_owned(),
        port,
        source: last_error
            .unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address")),
    })
}

fn route_to(server: SocketAddr) -> std::io::Result<IpAddr> {
    let unspecified = match server {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let socket = UdpSocket::bind(SocketAddr::new(unspecified, 0))?;
    socket.connect(server)?;
    Ok(socket.local_addr()?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[(&str, &str)]) -> ServerAddressByClientCIDRs {
        entries
            .iter()
            .map(|(cidr, addr)| ServerAddressByClientCIDR::new(*cidr, *addr))
            .collect::<Vec<_>>()
            .into()
    }

    fn pick<'a>(addrs: &'a ServerAddressByClientCIDRs, ip: &str) -> Option<&'a str> {
        addrs
            .select(ip.parse().unwrap())
            .map(|e| e.server_address.as_str())
    }

    #[test]
    fn select_table() {
        let seed = list(&[("0.0.0.0/0", "10.0.1.149:443")]);
        let overlapping = list(&[
            ("0.0.0.0/0", "default:443"),
            ("10.0.0.0/8", "ten:443"),
            ("10.1.0.0/16", "ten-one:443"),
            ("10.1.2.0/24", "ten-one-two:443"),
            ("10.1.0.0/16", "second-same-prefix:443"),
            ("fd00::/8", "[fd00::1]:443"),
            ("fd00:1::/32", "[fd00:1::1]:443"),
            ("not a cidr", "broken:443"),
        ]);
        let no_default = list(&[("10.0.0.0/8", "ten:443"), ("2001:db8::/32", "doc:443")]);
        let v6_default = list(&[("::/0", "[2001:db8::1]:443"), ("10.0.0.0/8", "ten:443")]);
        let cases: &[(&ServerAddressByClientCIDRs, &str, Option<&str>)] = &[
            // The seed: every client gets the advertised address.
            (&seed, "10.0.7.3", Some("10.0.1.149:443")),
            (&seed, "192.168.1.1", Some("10.0.1.149:443")),
            // The API server sends 0.0.0.0/0 to IPv6 clients too: it is the default.
            (&seed, "2001:db8::5", Some("10.0.1.149:443")),
            // IPv4: longest prefix wins, first entry on a tie.
            (&overlapping, "10.1.2.3", Some("ten-one-two:443")),
            (&overlapping, "10.1.9.9", Some("ten-one:443")),
            (&overlapping, "10.200.0.1", Some("ten:443")),
            (&overlapping, "172.16.0.1", Some("default:443")),
            // IPv4-mapped IPv6 matches as IPv4.
            (&overlapping, "::ffff:10.1.2.3", Some("ten-one-two:443")),
            // IPv6.
            (&overlapping, "fd00:1::7", Some("[fd00:1::1]:443")),
            (&overlapping, "fd12::7", Some("[fd00::1]:443")),
            (&overlapping, "2001:db8::1", Some("default:443")),
            // No match and no default.
            (&no_default, "192.168.1.1", None),
            (&no_default, "2001:db9::1", None),
            (&no_default, "2001:db8:ffff::1", Some("doc:443")),
            (&list(&[]), "10.0.0.1", None),
            // An IPv6 default serves IPv4 clients when nothing more specific matches.
            (&v6_default, "192.168.1.1", Some("[2001:db8::1]:443")),
            (&v6_default, "10.0.0.1", Some("ten:443")),
        ];
        for (addrs, ip, want) in cases {
            assert_eq!(pick(addrs, ip), *want, "client {ip} in {addrs:?}");
        }
    }

    #[test]
    fn cidr_parsing_accepts_bare_addresses_and_mapped_networks() {
        assert_eq!(parse_cidr("10.0.0.1").unwrap().prefix_len(), 32);
        assert_eq!(
            parse_cidr("::ffff:10.0.0.0/104").unwrap(),
            "10.0.0.0/8".parse::<IpNet>().unwrap()
        );
        assert!(parse_cidr("10.0.0.0/33").is_none());
    }

    #[test]
    fn seed_document_shape() {
        let raw = r#"[{"clientCIDR":"0.0.0.0/0","serverAddress":"10.0.1.149:443"}]"#;
        let addrs: ServerAddressByClientCIDRs = serde_json::from_str(raw).unwrap();
        assert_eq!(addrs.len(), 1);
        assert_eq!(serde_json::to_string(&addrs).unwrap(), raw);
    }

    #[tokio::test]
    async fn local_route_to_loopback_is_loopback() {
        let route = local_route("127.0.0.1", 6443).await.unwrap();
        assert_eq!(route.local, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(route.server, "127.0.0.1:6443".parse().unwrap());
        let route = local_route("localhost", 6443).await.unwrap();
        assert!(route.local.is_loopback(), "{route:?}");
    }
}
