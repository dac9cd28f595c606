//! The [`AuthProvider`] trait and the [`Credential`] it returns.

use super::AuthError;
use crate::secret::{SecretBytes, SecretString};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

/// A boxed, `Send` future (what [`AuthProvider::fetch`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source of credentials: a token, a token file, an exec plugin, OIDC, or your own.
///
/// The client never calls a provider directly on every request: a [`CredentialCache`]
/// in front of it keeps the last credential until shortly before its expiry, runs one
/// fetch for many concurrent requests, and drops the credential when the server answers
/// 401 (then the request is retried once, if it is safe to repeat).
///
/// [`CredentialCache`]: super::CredentialCache
///
/// ```
/// use k8s_client::auth::{AuthError, AuthProvider, BoxFuture, Credential};
/// use k8s_client::SecretString;
///
/// #[derive(Debug)]
/// struct Vault;
///
/// impl AuthProvider for Vault {
///     fn name(&self) -> &str {
///         "vault"
///     }
///     fn fetch(&self) -> BoxFuture<'_, Result<Credential, AuthError>> {
///         Box::pin(async { Ok(Credential::bearer(SecretString::from("token-from-vault"))) })
///     }
/// }
/// ```
pub trait AuthProvider: Send + Sync + fmt::Debug + 'static {
    /// A short name for messages and logs (`token-file`, `exec`, `oidc`, …).
    fn name(&self) -> &str;

    /// Obtains a fresh credential. Called only when the cache has none that is still valid.
    fn fetch(&self) -> BoxFuture<'_, Result<Credential, AuthError>>;

    /// The server answered 401 to a request made with `rejected`. The cache has already
    /// dropped it; a provider that caches on its own (a token file) should re-read.
    fn unauthorized(&self, rejected: &Credential) {
        let _ = rejected;
    }
}

/// What a provider hands out: an `Authorization` header value and/or a TLS client
/// identity, and when it stops being valid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Credential {
    /// The whole `Authorization` header value (`Bearer …`, `Basic …`).
    pub authorization: Option<SecretString>,
    /// A client certificate to present (from an exec plugin).
    pub client_identity: Option<ClientIdentity>,
    /// When the credential expires; `None` means it does not.
    pub expires_at: Option<SystemTime>,
}

impl Credential {
    /// A bearer token credential that does not expire.
    pub fn bearer(token: SecretString) -> Self {
        Self {
            authorization: Some(SecretString::new(format!(
                "Bearer {}",
                token.expose_secret()
            ))),
            client_identity: None,
            expires_at: None,
        }
    }

    /// The same credential with an expiry.
    pub fn expiring_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }
}

/// A TLS client certificate chain and key, both PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate chain (PEM).
    pub cert_pem: Vec<u8>,
    /// The private key (PEM).
    pub key_pem: SecretBytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_is_redacted_in_debug() {
        let c = Credential::bearer(SecretString::from("s3cr3t"));
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert_eq!(c.authorization.unwrap().expose_secret(), "Bearer s3cr3t");
    }
}
