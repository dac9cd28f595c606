//! Building the rustls client configuration from a [`TlsConfig`].
//!
//! Server verification: the configured CA bundle when there is one, else the platform's
//! trust store (`rustls-platform-verifier`, which is what Go's `crypto/x509` does on each
//! OS: the system roots, with the platform's own revocation and policy checks), or no
//! verification at all with `insecure-skip-tls-verify`. `tls-server-name` wraps the
//! verifier so the certificate is checked against that name instead of the URL's host.

use super::TransportError;
use crate::auth::ClientIdentity;
use crate::config::{KeySource, PemSource, TlsConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// ALPN for ordinary requests: HTTP/2 preferred, HTTP/1.1 as fallback.
pub(crate) const ALPN_H2_H1: &[&[u8]] = &[b"h2", b"http/1.1"];
/// ALPN for connection upgrades (SPDY/WebSocket need HTTP/1.1).
pub(crate) const ALPN_H1: &[&[u8]] = &[b"http/1.1"];

/// PEM material read from the config (files read now), ready for rustls.
pub(crate) struct TlsMaterial {
    /// The CA certificates and where they came from.
    ca: Option<(Vec<CertificateDer<'static>>, String)>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

impl TlsMaterial {
    /// Reads and parses the CA bundle and the client certificate of `tls`; an `identity`
    /// handed out by an auth provider replaces the configured client certificate.
    pub(crate) fn load(
        tls: &TlsConfig,
        identity: Option<&ClientIdentity>,
    ) -> Result<Self, TransportError> {
        let ca = match &tls.ca {
            Some(source) => {
                let location = pem_location(source);
                let pem = read_pem("certificate-authority", source)?;
                Some((
                    parse_certs("certificate-authority", &pem, &location)?,
                    location,
                ))
            }
            None => None,
        };
        let identity = match identity {
            Some(id) => Some((
                parse_certs("client-certificate", &id.cert_pem, "the credential plugin")?,
                parse_key(id.key_pem.expose_secret(), "the credential plugin")?,
            )),
            None => match &tls.client_certificate {
                Some(cc) => {
                    let certs = parse_certs(
                        "client-certificate",
                        &read_pem("client-certificate", &cc.cert)?,
                        &pem_location(&cc.cert),
                    )?;
                    let key = match &cc.key {
                        KeySource::Data(data) => {
                            parse_key(data.expose_secret(), "client-key-data")?
                        }
                        KeySource::File(path) => {
                            let pem = read_file("client-key", path)?;
                            parse_key(&pem, &path.display().to_string())?
                        }
                    };
                    Some((certs, key))
                }
                None => None,
            },
        };
        Ok(Self { ca, identity })
    }

    /// The rustls client configuration: ring provider, TLS 1.2 and 1.3, the verifier
    /// chosen by `tls`, the client identity, and `alpn`.
    pub(crate) fn client_config(
        &self,
        tls: &TlsConfig,
        alpn: &[&[u8]],
    ) -> Result<rustls::ClientConfig, TransportError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TransportError::TlsSetup {
                source: Box::new(e),
            })?;
        let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_tls_verify {
            Arc::new(NoVerification { provider })
        } else {
            let base: Arc<dyn ServerCertVerifier> = match &self.ca {
                Some((certs, location)) => {
                    let mut roots = rustls::RootCertStore::empty();
                    for cert in certs {
                        roots.add(cert.clone()).map_err(|e| {
                            TransportError::InvalidCertificate {
                                what: "certificate-authority",
                                location: location.clone(),
                                source: Box::new(e),
                            }
                        })?;
                    }
                    rustls::client::WebPkiServerVerifier::builder_with_provider(
                        Arc::new(roots),
                        provider,
                    )
                    .build()
                    .map_err(|e| TransportError::TlsSetup {
                        source: Box::new(e),
                    })?
                }
                None => Arc::new(rustls_platform_verifier::Verifier::new(provider).map_err(
                    |e| TransportError::TlsSetup {
                        source: Box::new(e),
                    },
                )?),
            };
            match &tls.tls_server_name {
                Some(name) => Arc::new(ServerNameOverride {
                    name: ServerName::try_from(name.clone()).map_err(|e| {
                        TransportError::InvalidTlsServerName {
                            name: name.clone(),
                            source: Box::new(e),
                        }
                    })?,
                    inner: base,
                }),
                None => base,
            }
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match &self.identity {
            Some((certs, key)) => builder
                .with_client_auth_cert(certs.clone(), key.clone_key())
                .map_err(|e| TransportError::ClientCertificate {
                    source: Box::new(e),
                })?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}

fn pem_location(source: &PemSource) -> String {
    match source {
        PemSource::Data(_) => "inline data".to_owned(),
        PemSource::File(path) => path.display().to_string(),
    }
}

fn read_pem(what: &'static str, source: &PemSource) -> Result<Vec<u8>, TransportError> {
    match source {
        PemSource::Data(data) => Ok(data.clone()),
        PemSource::File(path) => read_file(what, path),
    }
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, TransportError> {
    std::fs::read(path).map_err(|source| TransportError::ReadFile {
        what,
        path: path.to_owned(),
        source,
    })
}

fn parse_certs(
    what: &'static str,
    pem: &[u8],
    location: &str,
) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TransportError::InvalidPem {
            what,
            location: location.to_owned(),
            source: Box::new(e),
        })?;
    if certs.is_empty() {
        return Err(TransportError::NoCertificates {
            what,
            location: location.to_owned(),
        });
    }
    Ok(certs)
}

/// Parses a PEM private key: PKCS#1 (`RSA PRIVATE KEY`), PKCS#8 (`PRIVATE KEY`) or SEC1
/// (`EC PRIVATE KEY`). The parser's error never contains key material.
fn parse_key(pem: &[u8], location: &str) -> Result<PrivateKeyDer<'static>, TransportError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TransportError::NoPrivateKey {
            location: location.to_owned(),
        },
        other => TransportError::InvalidPem {
            what: "client-key",
            location: location.to_owned(),
            source: Box::new(other),
        },
    })
}

/// Verifies the server certificate against a fixed name (`tls-server-name`) instead of
/// the host the connection was made to.
#[derive(Debug)]
struct ServerNameOverride {
    name: ServerName<'static>,
    inner: Arc<dyn ServerCertVerifier>,
}

impl ServerCertVerifier for ServerNameOverride {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecure-skip-tls-verify`: accepts any certificate for any name. Handshake signatures
/// are still checked, so the session at least talks to the holder of that certificate.
#[derive(Debug)]
struct NoVerification {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
