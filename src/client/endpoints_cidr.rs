//! The API server address for the client's network, from the `serverAddressByClientCIDRs`
//! of `/api` ([`EndpointDiscovery::ClientCidr`](super::EndpointDiscovery::ClientCidr)).
//!
//! kube-apiserver answers, for the client address it sees (the connection's peer, or
//! the first `X-Forwarded-For`/`X-Real-Ip` entry), the entries whose CIDR contains it:
//! always `0.0.0.0/0` → its `--advertise-address` and secure port, and for clients in
//! the service network, the `kubernetes` service address. The client takes the entry
//! with the longest valid CIDR (the most specific network) and uses its address instead
//! of the cluster URL. client-go decodes the field but never dials it.

use super::Inner;
use super::endpoints_slice::{
    RETRY_MAX, RETRY_MIN, SliceError, client, dialable, pause, read_bounded,
};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::sync::Weak;

/// The most entries examined.
const MAX_ENTRIES: usize = 64;

#[derive(Deserialize)]
struct Versions {
    #[serde(rename = "serverAddressByClientCIDRs", default)]
    entries: Option<Vec<Entry>>,
}

/// One `serverAddressByClientCIDRs` entry.
#[derive(Deserialize)]
pub(crate) struct Entry {
    #[serde(rename = "clientCIDR", default)]
    client_cidr: String,
    #[serde(rename = "serverAddress", default)]
    server_address: String,
}

/// `serverAddress` ("host", "host:port", "IP" or "IP:port") as `scheme://host[:port]`,
/// refusing anything that is not exactly that, an IP that is not [`dialable`], and
/// port 0.
pub(crate) fn address_url(address: &str, scheme: &str) -> Option<url::Url> {
    if address.is_empty()
        || address.len() > 253 + 6
        || address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "/?#@\\%".contains(c))
    {
        return None;
    }
    let (host, port) = if let Ok(sa) = address.parse::<SocketAddr>() {
        (sa.ip().to_string(), Some(sa.port()))
    } else if let Ok(ip) = address.parse::<IpAddr>() {
        (ip.to_string(), None)
    } else {
        match address.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => {
                (h.to_owned(), Some(p.parse::<u16>().ok()?))
            }
            Some(_) => return None,
            None => (address.to_owned(), None),
        }
    };
    if port == Some(0) {
        return None;
    }
    let host = match host.parse::<IpAddr>() {
        Ok(ip) if !dialable(ip) => return None,
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => match url::Host::parse(&host).ok()? {
            url::Host::Domain(d) if !d.is_empty() && !d.ends_with('.') => d,
            _ => return None,
        },
    };
    let text = match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    };
    let url: url::Url = text.parse().ok()?;
    (url.path() == "/" && url.query().is_none()).then_some(url)
}

/// The address of the entry with the longest valid CIDR (the first of equals) among
/// the first [`MAX_ENTRIES`]; entries with an invalid CIDR or address are skipped.
pub(crate) fn select(entries: &[Entry], scheme: &str) -> Option<url::Url> {
    let mut best: Option<(u8, url::Url)> = None;
    for e in entries.iter().take(MAX_ENTRIES) {
        let Ok(net) = e.client_cidr.parse::<ipnet::IpNet>() else {
            continue;
        };
        if net != net.trunc() {
            continue;
        }
        let Some(url) = address_url(&e.server_address, scheme) else {
            continue;
        };
        if best.as_ref().is_none_or(|(len, _)| net.prefix_len() > *len) {
            best = Some((net.prefix_len(), url));
        }
    }
    best.map(|(_, url)| url)
}

/// Starts reading `/api` on the current Tokio runtime (retried until it succeeds or the
/// client is dropped).
pub(crate) fn spawn(inner: Weak<Inner>) {
    tokio::spawn(run(inner));
}

async fn run(weak: Weak<Inner>) {
    let mut delay = RETRY_MIN;
    loop {
        let Some(client) = client(&weak) else { return };
        match read(&client).await {
            Ok(chosen) => {
                let scheme = client.inner.endpoints.cluster().scheme().to_owned();
                let url = chosen.iter().flat_map(|e| select(e, &scheme)).next();
                match &url {
                    Some(url) => {
                        tracing::info!(endpoint = %url, "API server address for this client's network, from serverAddressByClientCIDRs")
                    }
                    None => tracing::warn!(
                        "/api lists no usable serverAddressByClientCIDRs entry; keeping the cluster URL"
                    ),
                }
                client.inner.endpoints.set_discovered(url.as_slice());
                return;
            }
            Err(error) => {
                tracing::warn!(%error, retry_s = delay.as_secs(), "reading serverAddressByClientCIDRs failed; keeping the current endpoints");
            }
        }
        drop(client);
        if !pause(&weak, delay).await {
            return;
        }
        delay = (delay * 2).min(RETRY_MAX);
    }
}

async fn read(client: &super::Client) -> Result<Option<Vec<Entry>>, SliceError> {
    let req = http::Request::get("/api")
        .body(Vec::new())
        .expect("a constant request");
    let body = read_bounded(client, req)
        .await?
        .ok_or(SliceError::ApiTooLarge)?;
    let versions: Versions = serde_json::from_slice(&body).map_err(SliceError::ApiDecode)?;
    Ok(versions.entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(cidr: &str, address: &str) -> Entry {
        Entry {
            client_cidr: cidr.to_owned(),
            server_address: address.to_owned(),
        }
    }

    fn shown(address: &str) -> Option<String> {
        address_url(address, "https").map(|u| u.to_string())
    }

    #[test]
    fn addresses_in_every_documented_form() {
        assert_eq!(
            shown("10.0.0.1:6443").as_deref(),
            Some("https://10.0.0.1:6443/")
        );
        assert_eq!(shown("10.0.0.1").as_deref(), Some("https://10.0.0.1/"));
        assert_eq!(
            shown("[fd00::1]:6443").as_deref(),
            Some("https://[fd00::1]:6443/")
        );
        assert_eq!(shown("fd00::1").as_deref(), Some("https://[fd00::1]/"));
        assert_eq!(
            shown("api.example.com:6443").as_deref(),
            Some("https://api.example.com:6443/")
        );
        assert_eq!(
            shown("API.example.com").as_deref(),
            Some("https://api.example.com/")
        );
    }

    #[test]
    fn hostile_addresses_are_refused() {
        for bad in [
            "",
            " ",
            "10.0.0.1:0",
            "10.0.0.1:65536",
            "10.0.0.1:-1",
            "10.0.0.1:x",
            "0.0.0.0:443",
            "224.0.0.1:443",
            "169.254.169.254:80",
            "[fe80::1]:443",
            "user@10.0.0.1:443",
            "10.0.0.1:443/path",
            "10.0.0.1:443?q",
            "10.0.0.1:443#f",
            "http://10.0.0.1:443",
            "evil.example:443\r\nX: y",
            "a b:443",
            "host.:443",
            "%31%30.0.0.1",
            "[::ffff:169.254.169.254]:443",
            ":443",
            "[10.0.0.1]:443",
        ] {
            assert_eq!(shown(bad), None, "{bad:?}");
        }
        assert_eq!(shown(&"a".repeat(300)), None);
    }

    #[test]
    fn the_longest_valid_cidr_wins() {
        let entries = [
            entry("0.0.0.0/0", "10.0.0.1:6443"),
            entry("10.96.0.0/12", "10.96.0.1:443"),
            entry("10.96.0.0/33", "10.96.0.9:443"),
            entry("10.96.0.1/24", "10.96.0.8:443"),
            entry("not-a-cidr", "10.96.0.7:443"),
            entry("10.96.0.0/16", "0.0.0.0:443"),
            entry("10.96.0.0/12", "10.96.0.2:443"),
        ];
        assert_eq!(
            select(&entries, "https").unwrap().as_str(),
            "https://10.96.0.1/"
        );
        assert_eq!(
            select(&entries[..1], "https").unwrap().as_str(),
            "https://10.0.0.1:6443/"
        );
        assert_eq!(select(&entries[2..6], "https"), None);
        assert_eq!(select(&[], "https"), None);
    }

    #[test]
    fn huge_lists_are_bounded() {
        let mut entries: Vec<Entry> = (0..10_000).map(|_| entry("bad", "bad")).collect();
        entries.push(entry("0.0.0.0/0", "10.0.0.1:6443"));
        assert_eq!(select(&entries, "https"), None);
        entries.insert(0, entry("0.0.0.0/0", "10.0.0.2:6443"));
        assert_eq!(
            select(&entries, "https").unwrap().as_str(),
            "https://10.0.0.2:6443/"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the address, a result is a plain `https://host[:port]/` with no user
        /// information, path, query or fragment, and a non-zero port.
        #[test]
        fn any_address_gives_a_plain_origin(address in "\\PC{0,60}|[0-9a-f.:\\[\\]]{1,40}") {
            if let Some(url) = address_url(&address, "https") {
                prop_assert_eq!(url.scheme(), "https");
                prop_assert_eq!(url.path(), "/");
                prop_assert!(url.query().is_none() && url.fragment().is_none());
                prop_assert!(url.username().is_empty() && url.password().is_none());
                prop_assert!(url.port() != Some(0));
                prop_assert!(url.host().is_some());
            }
        }
    }
}
