//! Talking to the OIDC issuer: TLS trust, discovery, and the refresh-token grant.

use crate::auth::error::OidcError;
use crate::secret::{SecretString, redact_userinfo};
use base64::Engine;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the issuer's CA comes from.
#[derive(Debug, Clone)]
pub(crate) enum IdpCa {
    /// The system roots.
    System,
    /// `idp-certificate-authority` (a PEM file).
    File(PathBuf),
    /// `idp-certificate-authority-data` (base64 of PEM).
    Data(String),
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most bytes read of an issuer's discovery document or token response (1 MiB); a
/// longer answer is [`OidcError::ResponseTooLarge`]. Real answers are a few KiB.
pub const MAX_ISSUER_RESPONSE: usize = 1024 * 1024;

/// An HTTPS client that trusts `ca` (never anything less).
pub(crate) fn http_client(ca: &IdpCa) -> Result<reqwest::Client, OidcError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OidcError::HttpClient {
            source: Box::new(e),
        })?;
    let builder = match ca {
        IdpCa::System => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map_err(|e| OidcError::HttpClient {
                    source: Box::new(e),
                })?
        }
        IdpCa::File(path) => {
            let pem = std::fs::read(path).map_err(|source| OidcError::CaFile {
                path: path.clone(),
                source,
            })?;
            builder.with_root_certificates(roots(&pem)?)
        }
        IdpCa::Data(data) => {
            let pem = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|source| OidcError::CaData { source })?;
            builder.with_root_certificates(roots(&pem)?)
        }
    };
    let tls = builder.with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(REQUEST_TIMEOUT)
        // A redirect could carry the refresh token's form body or the client secret to
        // another host: the issuer's own URLs are used as they are, never followed.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| OidcError::HttpClient {
            source: Box::new(e),
        })
}

fn roots(pem: &[u8]) -> Result<rustls::RootCertStore, OidcError> {
    let mut store = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|_| OidcError::CaPem)?;
        store.add(cert).map_err(|_| OidcError::CaPem)?;
    }
    if store.is_empty() {
        return Err(OidcError::CaPem);
    }
    Ok(store)
}

fn request_error(url: &str, e: reqwest::Error) -> OidcError {
    OidcError::Request {
        url: redact_userinfo(url),
        source: Box::new(e.without_url()),
    }
}

/// The body of a successful answer, at most [`MAX_ISSUER_RESPONSE`] bytes.
async fn read_bounded(url: &str, mut response: reqwest::Response) -> Result<Vec<u8>, OidcError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| request_error(url, e))? {
        if body.len() + chunk.len() > MAX_ISSUER_RESPONSE {
            return Err(OidcError::ResponseTooLarge {
                url: redact_userinfo(url),
                limit: MAX_ISSUER_RESPONSE,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The issuer's `token_endpoint` from `<issuer>/.well-known/openid-configuration`.
pub(crate) async fn token_endpoint(
    client: &reqwest::Client,
    issuer: &str,
) -> Result<String, OidcError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| request_error(&url, e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(OidcError::Status {
            url: redact_userinfo(&url),
            status: status.as_u16(),
        });
    }
    let body = read_bounded(&url, response).await?;
    serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("token_endpoint")?.as_str().map(str::to_owned))
        .filter(|e| !e.is_empty())
        .ok_or_else(|| OidcError::NoTokenEndpoint {
            url: redact_userinfo(&url),
        })
}

/// Tokens returned by a refresh.
pub(crate) struct Refreshed {
    pub(crate) id_token: SecretString,
    pub(crate) refresh_token: Option<SecretString>,
}

/// The OAuth2 refresh-token grant. Like golang.org/x/oauth2's auto-detection, the client
/// credentials go first in an HTTP Basic header and, if the endpoint rejects that, in the
/// form body.
pub(crate) async fn refresh(
    client: &reqwest::Client,
    token_url: &str,
    client_id: &str,
    client_secret: Option<&SecretString>,
    refresh_token: &SecretString,
) -> Result<Refreshed, OidcError> {
    let secret = client_secret.map(SecretString::expose_secret).unwrap_or("");
    let mut last_status = 0;
    for in_header in [true, false] {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        let mut request = client
            .post(token_url)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json");
        if in_header {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(client_id),
                enc(secret)
            ));
            let mut value = http::HeaderValue::try_from(format!("Basic {basic}")).map_err(|e| {
                OidcError::HttpClient {
                    source: Box::new(e),
                }
            })?;
            value.set_sensitive(true);
            request = request.header(http::header::AUTHORIZATION, value);
        } else {
            form.push(("client_id", client_id));
            if !secret.is_empty() {
                form.push(("client_secret", secret));
            }
        }
        let body = SecretString::new(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&form)
                .finish(),
        );
        let response = request
            .body(body.expose_secret().to_owned())
            .send()
            .await
            .map_err(|e| request_error(token_url, e))?;
        let status = response.status();
        if !status.is_success() {
            last_status = status.as_u16();
            if in_header && matches!(last_status, 400 | 401) {
                continue;
            }
            break;
        }
        let body = read_bounded(token_url, response).await?;
        let no_id_token = || OidcError::NoIdToken {
            url: redact_userinfo(token_url),
        };
        let json: Value = serde_json::from_slice(&body).map_err(|_| no_id_token())?;
        let id_token = json
            .get("id_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(no_id_token)?;
        let refresh_token = json
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(SecretString::from);
        return Ok(Refreshed {
            id_token: SecretString::from(id_token),
            refresh_token,
        });
    }
    Err(OidcError::Status {
        url: redact_userinfo(token_url),
        status: last_status,
    })
}
