//! Binding the proxy's listeners: TCP (both loopbacks by default, exactly `address`
//! otherwise) or a unix socket created with mode 0600.

use super::{ProxyError, ProxyOptions};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokio::net::{TcpListener, UnixListener};

/// An address a running proxy serves on. Displays like kubectl prints it:
/// `127.0.0.1:8001`, `[::1]:8001`, or the socket's path.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServeAddr {
    /// A TCP address (with the real port when port 0 was asked for).
    Tcp(SocketAddr),
    /// A unix socket.
    Unix(PathBuf),
}

impl fmt::Display for ServeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeAddr::Tcp(addr) => addr.fmt(f),
            ServeAddr::Unix(path) => path.display().fmt(f),
        }
    }
}

/// A bound listener.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(TcpListener, SocketAddr),
    Unix(UnixListener, PathBuf),
}

impl Listener {
    pub(crate) fn addr(&self) -> ServeAddr {
        match self {
            Listener::Tcp(_, addr) => ServeAddr::Tcp(*addr),
            Listener::Unix(_, path) => ServeAddr::Unix(path.clone()),
        }
    }
}

/// Binds what `options` ask for.
pub(crate) async fn bind(options: &ProxyOptions) -> Result<Vec<Listener>, ProxyError> {
    if let Some(path) = &options.unix_socket {
        let listener = bind_unix(path).map_err(|source| ProxyError::BindUnix {
            path: path.clone(),
            source,
        })?;
        return Ok(vec![Listener::Unix(listener, path.clone())]);
    }
    match &options.address {
        Some(address) => {
            let ip = resolve(address, options.port).await?;
            Ok(vec![bind_tcp(SocketAddr::new(ip, options.port)).await?])
        }
        None => bind_loopbacks(options.port).await,
    }
}

/// An IP literal (IPv6 with or without brackets) or a host name, resolved to one
/// address, preferring IPv4 like Go's `net.Listen`.
async fn resolve(address: &str, port: u16) -> Result<IpAddr, ProxyError> {
    let literal = address
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(address);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(ip);
    }
    let found: Vec<SocketAddr> = tokio::net::lookup_host((address, port))
        .await
        .map_err(|source| ProxyError::ResolveAddress {
            address: address.to_owned(),
            source,
        })?
        .collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or(found.first())
        .map(SocketAddr::ip)
        .ok_or_else(|| ProxyError::NoAddress {
            address: address.to_owned(),
        })
}

async fn bind_tcp(addr: SocketAddr) -> Result<Listener, ProxyError> {
    let bind_error = |source| ProxyError::Bind {
        address: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    Ok(Listener::Tcp(listener, local))
}

/// 127.0.0.1 and ::1 on the same port (a random one, the same for both, when `port` is
/// 0). A machine without IPv6 loopback gets 127.0.0.1 only, with a warning.
async fn bind_loopbacks(port: u16) -> Result<Vec<Listener>, ProxyError> {
    const ATTEMPTS: usize = 8;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let v4 = bind_tcp(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)).await?;
        let Listener::Tcp(_, v4_addr) = &v4 else {
            unreachable!("bind_tcp returns a TCP listener")
        };
        let v6_addr = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), v4_addr.port());
        match TcpListener::bind(v6_addr).await {
            Ok(listener) => return Ok(vec![v4, Listener::Tcp(listener, v6_addr)]),
            Err(e) if port == 0 && e.kind() == io::ErrorKind::AddrInUse && attempt < ATTEMPTS => {
                // The random port is free on 127.0.0.1 but taken on ::1: pick another.
                continue;
            }
            Err(e) if no_ipv6(&e) => {
                tracing::warn!(
                    target: "k8s_client::proxy",
                    "IPv6 loopback ::1 is not available; serving on 127.0.0.1 only"
                );
                return Ok(vec![v4]);
            }
            Err(source) => {
                return Err(ProxyError::Bind {
                    address: v6_addr.to_string(),
                    source,
                });
            }
        }
    }
}

fn no_ipv6(e: &io::Error) -> bool {
    const EAFNOSUPPORT: i32 = 97;
    e.kind() == io::ErrorKind::AddrNotAvailable || e.raw_os_error() == Some(EAFNOSUPPORT)
}

/// Creates the socket with mode 0600 without a window where it is more open: it is
/// bound inside a fresh 0700 directory next to `path`, restricted, then renamed into
/// place. A stale socket at `path` is removed first (other files are left alone, and
/// the bind then fails).
fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        std::fs::remove_file(path)?;
    }
    if path.exists() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let private = parent.join(format!(
        ".k8s-client-proxy-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default()
    ));
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let staged = private.join("socket");
    let result = (|| {
        let listener = UnixListener::bind(&staged)?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&staged, path)?;
        Ok(listener)
    })();
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&private);
    result
}

/// Removes the socket file when the proxy stops (what Go's listener does on close).
pub(crate) fn remove_socket(path: &Path) {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn default_binds_both_loopbacks_on_one_random_port() {
        let options = ProxyOptions {
            port: 0,
            ..ProxyOptions::default()
        };
        let listeners = bind(&options).await.unwrap();
        let addrs: Vec<ServeAddr> = listeners.iter().map(Listener::addr).collect();
        let ServeAddr::Tcp(v4) = &addrs[0] else {
            panic!("{addrs:?}")
        };
        assert_eq!(v4.ip(), IpAddr::from(Ipv4Addr::LOCALHOST));
        assert_ne!(v4.port(), 0);
        if let Some(ServeAddr::Tcp(v6)) = addrs.get(1) {
            assert_eq!(v6.ip(), IpAddr::from(Ipv6Addr::LOCALHOST));
            assert_eq!(v6.port(), v4.port());
            assert_eq!(addrs[1].to_string(), format!("[::1]:{}", v4.port()));
        }
    }

    #[tokio::test]
    async fn explicit_address_binds_exactly_it_with_or_without_brackets() {
        for address in ["::1", "[::1]", "127.0.0.1", "localhost"] {
            let options = ProxyOptions {
                port: 0,
                address: Some(address.into()),
                ..ProxyOptions::default()
            };
            let listeners = match bind(&options).await {
                Ok(l) => l,
                // No IPv6 loopback on this machine.
                Err(ProxyError::Bind { source, .. }) if no_ipv6(&source) => continue,
                Err(e) => panic!("{address}: {e:?}"),
            };
            assert_eq!(listeners.len(), 1, "{address}");
            let ServeAddr::Tcp(addr) = listeners[0].addr() else {
                panic!()
            };
            assert!(addr.ip().is_loopback(), "{address}: {addr}");
        }
    }

    #[tokio::test]
    async fn port_in_use_is_a_bind_error_naming_the_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let options = ProxyOptions {
            port,
            address: Some("127.0.0.1".into()),
            ..ProxyOptions::default()
        };
        let err = bind(&options).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("listening on 127.0.0.1:{port} failed")
        );
    }

    #[tokio::test]
    async fn unix_socket_is_0600_and_replaces_a_stale_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.sock");
        let options = ProxyOptions {
            unix_socket: Some(path.clone()),
            ..ProxyOptions::default()
        };
        let first = bind(&options).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(first);
        // The socket file is still there (stale): binding again replaces it.
        let second = bind(&options).await.unwrap();
        assert_eq!(second[0].addr(), ServeAddr::Unix(path.clone()));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        remove_socket(&path);
        assert!(!path.exists());
        // A regular file is never removed.
        std::fs::write(&path, "data").unwrap();
        assert!(matches!(
            bind(&options).await,
            Err(ProxyError::BindUnix { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
    }
}
