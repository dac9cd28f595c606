//! Static credentials: a bearer token and basic auth.

use super::{AuthError, AuthProvider, BoxFuture, Credential};
use crate::secret::SecretString;
use base64::Engine;

/// A bearer token that never changes (`token` in kubeconfig, `--token`).
#[derive(Debug, Clone)]
pub struct StaticToken {
    token: SecretString,
}

impl StaticToken {
    /// A provider that always returns `token`.
    pub fn new(token: SecretString) -> Self {
        Self { token }
    }
}

impl AuthProvider for StaticToken {
    fn name(&self) -> &str {
        "token"
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Credential, AuthError>> {
        Box::pin(async move { Ok(Credential::bearer(self.token.clone())) })
    }
}

/// HTTP basic auth (`username`/`password`). Modern API servers ignore it: the request is
/// anonymous (403 for `system:anonymous`, or 401 with `--anonymous-auth=false`).
#[derive(Debug, Clone)]
pub struct BasicAuth {
    username: String,
    password: SecretString,
}

impl BasicAuth {
    /// A provider for `username` and `password`.
    pub fn new(username: String, password: SecretString) -> Self {
        Self { username, password }
    }
}

impl AuthProvider for BasicAuth {
    fn name(&self) -> &str {
        "basic"
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Credential, AuthError>> {
        Box::pin(async move {
            let raw = format!("{}:{}", self.username, self.password.expose_secret());
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            Ok(Credential {
                authorization: Some(SecretString::new(format!("Basic {encoded}"))),
                ..Credential::default()
            })
        })
    }
}
