//! Minimal blocking HTTP(S) requests used to wait for readiness and to register
//! simulated nodes.
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

impl TlsProbe {
    /// `method path` with an optional JSON body; the status code and the (de-chunked)
    /// response body, or `None` on any connection or protocol failure.
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        json: Option<&[u8]>,
    ) -> Option<(u16, Vec<u8>)> {
        let tcp = connect(self.addr)?;
        let name = ServerName::IpAddress(self.addr.ip().into());
        let conn = rustls::ClientConnection::new(self.config.clone(), name).ok()?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n",
            self.addr
        );
        if let Some(body) = json {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        tls.write_all(head.as_bytes()).ok()?;
        if let Some(body) = json {
            tls.write_all(body).ok()?;
        }
        tls.flush().ok()?;
        let mut raw = Vec::new();
        // A TLS close without close_notify still ends the response (Connection: close).
        let _ = tls.read_to_end(&mut raw);
        parse_response(&raw)
    }
}

/// Splits a complete HTTP/1.1 response into status and body (de-chunking if needed).
fn parse_response(raw: &[u8]) -> Option<(u16, Vec<u8>)> {
    let status = parse_status_line(raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = &raw[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return Some((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some((status, out));
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
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
    fn chunked_and_plain_bodies_are_parsed() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked), Some((200, b"abcde".to_vec())));
        let plain = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain), Some((404, b"{}".to_vec())));
        let truncated = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc";
        assert_eq!(parse_response(truncated), None);
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
