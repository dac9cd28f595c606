//! Authentication: the [`AuthProvider`] trait, the [`CredentialCache`] in front of it
//! (refresh before expiry, single flight, drop on 401), and the built-in providers.

mod cache;
mod error;
mod provider;
mod static_token;

pub use cache::CredentialCache;
pub use error::AuthError;
pub use provider::{AuthProvider, BoxFuture, ClientIdentity, Credential};
pub use static_token::{BasicAuth, StaticToken};

use crate::config::{AuthConfig, Config};
use std::sync::Arc;

/// The built-in provider for a resolved [`Config`], or `None` when it needs no
/// authentication header (anonymous, or a TLS client certificate only).
pub fn provider_for(config: &Config) -> Result<Option<Arc<dyn AuthProvider>>, AuthError> {
    Ok(match &config.auth {
        AuthConfig::None => None,
        AuthConfig::Token(token) => Some(Arc::new(StaticToken::new(token.clone()))),
        AuthConfig::Basic { username, password } => {
            Some(Arc::new(BasicAuth::new(username.clone(), password.clone())))
        }
        other => {
            return Err(AuthError::Unsupported {
                kind: auth_kind(other),
            });
        }
    })
}

fn auth_kind(auth: &AuthConfig) -> &'static str {
    match auth {
        AuthConfig::None => "none",
        AuthConfig::Token(_) => "token",
        AuthConfig::TokenFile(_) => "tokenFile",
        AuthConfig::Basic { .. } => "basic",
        AuthConfig::Exec(_) => "exec",
        AuthConfig::AuthProvider(_) => "auth-provider",
    }
}
