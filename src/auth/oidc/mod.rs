//! The `oidc` auth-provider (`users[].user.auth-provider.name: oidc`).

mod issuer;
mod persist;

use super::error::OidcError;
use super::{AuthError, AuthProvider, BoxFuture, Credential};
use crate::config::AuthProviderConfig;
use crate::secret::{SecretString, redact_userinfo};
use base64::Engine;
use issuer::IdpCa;
pub use issuer::MAX_ISSUER_RESPONSE;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An `id-token` is used while its `exp` is more than this far away (client-go's rule).
pub const OIDC_EXPIRY_DELTA: Duration = Duration::from_secs(10);

/// kubectl's OIDC auth-provider: sends the `id-token` while its `exp` claim is more than
/// 10 s away; else exchanges the `refresh-token` at the issuer's token endpoint (found
/// through `<idp-issuer-url>/.well-known/openid-configuration`, over TLS trusting
/// `idp-certificate-authority(-data)` or else the system roots), and writes the new
/// `id-token` (and a rotated `refresh-token`) back to the kubeconfig file the user entry
/// came from: under kubectl's `<file>.lock`, through symlinks to the real file, and in
/// place when the file cannot be replaced by a rename (a bind mount). When writing fails
/// the fresh tokens are still used from memory (a WARN log says why, without secrets);
/// kubectl would fail the request instead.
///
/// The `id-token` is decoded, not verified (as client-go does): the API server verifies it.
///
/// `Debug` shows the issuer URL without user name and password, and no token or secret.
pub struct OidcProvider {
    issuer_url: String,
    client_id: String,
    client_secret: Option<SecretString>,
    ca: IdpCa,
    origin_file: Option<PathBuf>,
    user_name: Option<String>,
    tokens: tokio::sync::Mutex<Tokens>,
    http: tokio::sync::OnceCell<reqwest::Client>,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("issuer_url", &redact_userinfo(&self.issuer_url))
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("ca", &self.ca)
            .field("origin_file", &self.origin_file)
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Tokens {
    id_token: Option<SecretString>,
    refresh_token: Option<SecretString>,
}

impl OidcProvider {
    /// A provider for an `auth-provider` entry named `oidc`. `idp-issuer-url` and
    /// `client-id` are required (kubectl's rule); `extra-scopes` is accepted and, like
    /// kubectl, not sent on refresh.
    pub fn new(config: &AuthProviderConfig) -> Result<Self, OidcError> {
        let get = |key: &str| {
            config
                .config
                .iter()
                .find(|(k, v)| k == key && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        let issuer_url = get("idp-issuer-url")
            .ok_or(OidcError::MissingKey {
                key: "idp-issuer-url",
            })?
            .expose_secret()
            .to_owned();
        let client_id = get("client-id")
            .ok_or(OidcError::MissingKey { key: "client-id" })?
            .expose_secret()
            .to_owned();
        if get("extra-scopes").is_some() {
            tracing::debug!(
                "oidc auth-provider: extra-scopes is deprecated; refresh requests don't send scopes"
            );
        }
        let ca = if let Some(data) = get("idp-certificate-authority-data") {
            IdpCa::Data(data.expose_secret().to_owned())
        } else if let Some(file) = get("idp-certificate-authority") {
            IdpCa::File(PathBuf::from(file.expose_secret()))
        } else {
            IdpCa::System
        };
        Ok(Self {
            issuer_url,
            client_id,
            client_secret: get("client-secret"),
            ca,
            origin_file: config.origin_file.clone(),
            user_name: config.user_name.clone(),
            tokens: tokio::sync::Mutex::new(Tokens {
                id_token: get("id-token"),
                refresh_token: get("refresh-token"),
            }),
            http: tokio::sync::OnceCell::new(),
        })
    }

    async fn token(&self) -> Result<Credential, OidcError> {
        let mut tokens = self.tokens.lock().await;
        if let Some(id_token) = &tokens.id_token {
            let exp = jwt_expiry(id_token).ok_or(OidcError::InvalidIdToken {
                source_name: "id-token",
            })?;
            if SystemTime::now() + OIDC_EXPIRY_DELTA < exp {
                return Ok(Credential::bearer(id_token.clone()).expiring_at(exp));
            }
        }
        let refresh_token = tokens
            .refresh_token
            .clone()
            .ok_or(OidcError::NoRefreshToken)?;
        let http = self
            .http
            .get_or_try_init(|| async { issuer::http_client(&self.ca) })
            .await?;
        let token_url = issuer::token_endpoint(http, &self.issuer_url).await?;
        tracing::debug!(
            issuer = %redact_userinfo(&self.issuer_url),
            token_endpoint = %redact_userinfo(&token_url),
            "refreshing the OIDC id-token"
        );
        let fresh = issuer::refresh(
            http,
            &token_url,
            &self.client_id,
            self.client_secret.as_ref(),
            &refresh_token,
        )
        .await?;
        let exp = jwt_expiry(&fresh.id_token).ok_or(OidcError::InvalidIdToken {
            source_name: "id_token returned by the issuer",
        })?;
        let rotated = fresh.refresh_token.filter(|r| r != &refresh_token);
        // Write back first, then update memory (client-go's order). Unlike client-go, a
        // failed write does not fail the request: the issuer may have rotated the
        // refresh-token, so the fresh tokens are kept in memory either way.
        if let (Some(path), Some(user)) = (&self.origin_file, &self.user_name) {
            let mut updates = vec![("id-token", fresh.id_token.clone())];
            if let Some(r) = &rotated {
                updates.push(("refresh-token", r.clone()));
            }
            let (p, u) = (path.clone(), user.clone());
            let written = tokio::task::spawn_blocking(move || {
                let pairs: Vec<(&str, &str)> = updates
                    .iter()
                    .map(|(k, v)| (*k, v.expose_secret()))
                    .collect();
                persist::write_back(&p, &u, &pairs)
            })
            .await
            .unwrap_or_else(|join| Err(std::io::Error::other(join).into()));
            match written {
                Ok(()) => {
                    tracing::debug!(path = %path.display(), user = %user, "wrote refreshed OIDC tokens back")
                }
                Err(source) => {
                    let error = OidcError::Persist {
                        path: path.clone(),
                        user: user.clone(),
                        source,
                    };
                    tracing::warn!(
                        error = %crate::error::Report::new(&error),
                        "keeping the refreshed OIDC tokens in memory only"
                    );
                }
            }
        }
        tokens.id_token = Some(fresh.id_token.clone());
        if let Some(r) = rotated {
            tokens.refresh_token = Some(r);
        }
        Ok(Credential::bearer(fresh.id_token).expiring_at(exp))
    }
}

impl AuthProvider for OidcProvider {
    fn name(&self) -> &str {
        "oidc"
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Credential, AuthError>> {
        Box::pin(async move { Ok(self.token().await?) })
    }
}

/// The `exp` claim of a JWT, decoded without verifying the signature.
fn jwt_expiry(token: &SecretString) -> Option<SystemTime> {
    let mut parts = token.expose_secret().split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    // No `exp` claim: expired (client-go decodes it as the zero time).
    let Some(exp) = claims.get("exp") else {
        return Some(UNIX_EPOCH);
    };
    let secs = exp.as_i64().or_else(|| exp.as_f64().map(|f| f as i64))?;
    Some(if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> SecretString {
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        SecretString::new(format!("{}.{}.sig", b(r#"{"alg":"none"}"#), b(claims)))
    }

    #[test]
    fn expiry_from_payload() {
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":100}"#)),
            Some(UNIX_EPOCH + Duration::from_secs(100))
        );
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":100.7}"#)),
            Some(UNIX_EPOCH + Duration::from_secs(100))
        );
        assert_eq!(jwt_expiry(&jwt(r#"{"sub":"x"}"#)), Some(UNIX_EPOCH));
        assert_eq!(jwt_expiry(&SecretString::from("a.b")), None);
        assert_eq!(jwt_expiry(&SecretString::from("a.!!.c")), None);
    }
}
