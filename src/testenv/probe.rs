//! Minimal blocking HTTP(S) GETs used to wait for readiness.
//!
//! The test environment must not depend on our `Client` (which is tested against it)
//! nor on any async runtime (it is started from whatever runtime a test uses), so it
//! speaks HTTP/1.1 over a rustls stream itself, for the handful of probe requests.

use super::TestEnvError;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Probes one server over HTTPS with the admin client certificate.
pub(crate) struct TlsProbe {
    config: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
}

fn pki_err(what: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> TestEnvError {
    TestEnvError::Pki {
        what,
        source: Box::new(e),
    }
}

impl TlsProbe {
    pub(crate) fn new(
        addr: SocketAddr,
        ca_pem: &str,
        cert_pem: &str,
        key_pem: &[u8],
    ) -> Result<Self, TestEnvError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots
                .add(cert.map_err(|e| pki_err("probe CA", e))?)
                .map_err(|e| pki_err("probe CA", e))?;
        }
        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pki_err("probe client certificate", e))?;
        let key =
            PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| pki_err("probe client key", e))?;
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| pki_err("probe TLS configuration", e))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| pki_err("probe TLS configuration", e))?;
        Ok(Self {
            config: Arc::new(config),
            addr,
        })
    }

    /// The address probed.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `GET path`; the status code, or `None` on any connection or protocol failure
    /// (the server is not up yet).
    pub(crate) fn status(&self, path: &str) -> Option<u16> {
        let tcp = connect(self.addr)?;
        let name = ServerName::IpAddress(self.addr.ip().into());
        let conn = rustls::ClientConnection::new(self.config.clone(), name).ok()?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        exchange(&mut tls, self.addr, path)
    }
}

/// `GET http://addr/path` over plain TCP; the status code or `None`.
pub(crate) fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut tcp = connect(addr)?;
    exchange(&mut tcp, addr, path)
}

fn connect(addr: SocketAddr) -> Option<TcpStream> {
    let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT).ok()?;
    tcp.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
    tcp.set_write_timeout(Some(IO_TIMEOUT)).ok()?;
    Some(tcp)
}

fn exchange(stream: &mut (impl Read + Write), addr: SocketAddr, path: &str) -> Option<u16> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    stream.flush().ok()?;
    // The status line is all we need.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    parse_status_line(&buf)
}

fn parse_status_line(buf: &[u8]) -> Option<u16> {
    let line = buf.split(|b| *b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_is_parsed() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\nx: y\r\n"), Some(200));
        assert_eq!(
            parse_status_line(b"HTTP/1.1 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(parse_status_line(b"SSH-2.0\r\n"), None);
        assert_eq!(parse_status_line(b""), None);
    }

    #[test]
    fn plain_probe_reads_a_real_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        });
        assert_eq!(http_status(addr, "/health"), Some(204));
        server.join().unwrap();
    }
}
