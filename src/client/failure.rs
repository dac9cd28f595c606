//! A request that got no answer from the built-in HTTP stack (through reqwest or straight
//! from hyper): what kind of failure it was, for failover and retries, and the error
//! the caller sees.

use super::direct::DirectError;
use crate::transport::{TransportError, retry};

/// Why an exchange on the built-in HTTP stack failed.
#[derive(Debug)]
pub(super) enum Failure {
    Http(reqwest::Error),
    Direct(DirectError),
}

impl Failure {
    fn as_error(&self) -> &(dyn std::error::Error + 'static) {
        match self {
            Failure::Http(e) => e,
            Failure::Direct(DirectError::TimedOut(e)) => e,
            Failure::Direct(DirectError::Failed(e)) => e,
        }
    }

    /// Connecting failed (TLS handshake failures included).
    pub(super) fn is_connect(&self) -> bool {
        match self {
            Failure::Http(e) => e.is_connect(),
            Failure::Direct(e) => e.is_connect(),
        }
    }

    /// The TLS handshake failed (a verification failure is not an outage).
    pub(super) fn is_tls(&self) -> bool {
        is_tls_failure(self.as_error())
    }

    /// The connection broke (reset, EOF, GOAWAY).
    pub(super) fn is_connection_lost(&self) -> bool {
        retry::is_connection_lost(self.as_error())
    }

    /// The server refused the request without processing it: a graceful HTTP/2 GOAWAY
    /// (`NO_ERROR`) that left its stream out, or `REFUSED_STREAM`. Safe to send again
    /// whatever the method. (reqwest resends these itself, so only the direct route
    /// reports them.)
    pub(super) fn is_refused_unprocessed(&self) -> bool {
        let Failure::Direct(DirectError::Failed(e)) = self else {
            return false;
        };
        // The outermost HTTP/2 error decides.
        retry::chain(e)
            .find_map(|e| e.downcast_ref::<h2::Error>())
            .is_some_and(|h2| {
                h2.is_remote()
                    && ((h2.is_go_away() && h2.reason() == Some(h2::Reason::NO_ERROR))
                        || (h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM)))
            })
    }

    fn is_timeout(&self) -> bool {
        match self {
            Failure::Http(e) => e.is_timeout(),
            Failure::Direct(e) => e.is_timeout(),
        }
    }

    /// The error for the caller: TLS handshake, timeout, connect, or other.
    pub(super) fn into_error(self, method: http::Method, url: String) -> TransportError {
        let (tls, timeout, connect) = (self.is_tls(), self.is_timeout(), self.is_connect());
        let source = match self {
            // Our message names the (redacted) URL; reqwest's would repeat it.
            Failure::Http(e) => Box::new(e.without_url()),
            Failure::Direct(e) => e.into_source(),
        };
        if tls {
            TransportError::Tls { url, source }
        } else if timeout {
            TransportError::Timeout {
                method,
                url,
                source,
            }
        } else if connect {
            TransportError::Connect { url, source }
        } else {
            TransportError::Request {
                method,
                url,
                source,
            }
        }
    }
}

fn is_tls_failure(err: &(dyn std::error::Error + 'static)) -> bool {
    retry::chain(err).any(|e| {
        e.downcast_ref::<rustls::Error>().is_some()
            || e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| is_tls_failure(inner))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_failures_are_found_inside_io_errors() {
        let e = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(is_tls_failure(&e));
        assert!(!is_tls_failure(&std::io::Error::other("x")));
    }
}
