//! Authentication: the [`AuthProvider`] trait, the [`CredentialCache`] in front of it
//! (refresh before expiry, single flight, drop on 401), and the built-in providers:
//! [`StaticToken`], [`TokenFile`], [`BasicAuth`], [`ExecProvider`] and [`OidcProvider`].
//!
//! See `docs/authentication.md` for every provider's kubeconfig fields and refresh rules.

mod cache;
mod error;
mod exec;
#[cfg(feature = "oidc")]
mod oidc;
mod provider;
mod static_token;
mod token_file;

pub use cache::{CredentialCache, FAILED_FETCH_BACKOFF};
pub use error::{AuthError, ExecError, ExecOutputProblem, OidcError, PersistError};
pub use exec::{DEFAULT_EXEC_TIMEOUT, EXEC_INFO_ENV, ExecProvider, MAX_EXEC_OUTPUT};
#[cfg(feature = "oidc")]
pub use oidc::{MAX_ISSUER_RESPONSE, OIDC_EXPIRY_DELTA, OidcProvider};
pub use provider::{AuthProvider, BoxFuture, ClientIdentity, Credential};
pub use static_token::{BasicAuth, StaticToken};
pub use token_file::{TOKEN_FILE_REREAD, TokenFile};

use crate::config::{AuthConfig, AuthProviderConfig, Config};
use std::sync::Arc;

/// kubectl's error for the removed in-tree `gcp` auth-provider.
const GCP_REMOVED: &str = "The gcp auth plugin has been removed.\nPlease use the \"gke-gcloud-auth-plugin\" kubectl/client-go credential plugin instead.\nSee https://cloud.google.com/blog/products/containers-kubernetes/kubectl-auth-changes-in-gke for further details";

/// kubectl's error for the removed in-tree `azure` auth-provider.
const AZURE_REMOVED: &str = "The azure auth plugin has been removed.\nPlease use the https://github.com/Azure/kubelogin kubectl/client-go credential plugin instead.\nSee https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins for further details";

/// The built-in provider for a resolved [`Config`], or `None` when it needs no
/// authentication header (anonymous, or a TLS client certificate only).
///
/// Fails as kubectl does for an exec plugin with an unknown `apiVersion` (`v1alpha1`),
/// an `oidc` entry without `idp-issuer-url`/`client-id`, the removed `gcp` and `azure`
/// auth-providers, and any other auth-provider name.
pub fn provider_for(config: &Config) -> Result<Option<Arc<dyn AuthProvider>>, AuthError> {
    Ok(match &config.auth {
        AuthConfig::None => None,
        AuthConfig::Token(token) => Some(Arc::new(StaticToken::new(token.clone()))),
        AuthConfig::TokenFile(path) => Some(Arc::new(TokenFile::new(path.clone()))),
        AuthConfig::Basic { username, password } => {
            Some(Arc::new(BasicAuth::new(username.clone(), password.clone())))
        }
        AuthConfig::Exec(exec) => Some(Arc::new(ExecProvider::new(exec.clone())?)),
        AuthConfig::AuthProvider(provider) => Some(auth_provider(provider)?),
    })
}

fn auth_provider(config: &AuthProviderConfig) -> Result<Arc<dyn AuthProvider>, AuthError> {
    match config.name.as_str() {
        #[cfg(feature = "oidc")]
        "oidc" => Ok(Arc::new(OidcProvider::new(config)?)),
        #[cfg(not(feature = "oidc"))]
        "oidc" => Err(AuthError::FeatureDisabled {
            what: "the oidc auth-provider",
            feature: "oidc",
        }),
        "gcp" => Err(AuthError::RemovedAuthProvider {
            name: "gcp",
            message: GCP_REMOVED,
        }),
        "azure" => Err(AuthError::RemovedAuthProvider {
            name: "azure",
            message: AZURE_REMOVED,
        }),
        other => Err(AuthError::UnknownAuthProvider {
            name: other.to_owned(),
        }),
    }
}
