//! A bearer token read from a file (`tokenFile`, the in-cluster service-account token).

use super::{AuthError, AuthProvider, BoxFuture, Credential};
use crate::secret::SecretString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How long a token read from a file is used before the file is read again.
///
/// The [`CredentialCache`](super::CredentialCache) refreshes 10 s before `expires_at`,
/// so `expires_at` is set this long after the read plus that margin.
pub const TOKEN_FILE_REREAD: Duration = Duration::from_secs(60);
const CACHE_MARGIN: Duration = Duration::from_secs(10);

/// A bearer token read from a file, re-read about once a minute and right after the
/// server answered 401 (client-go's `cachingTokenSource` rules).
///
/// If a re-read fails (the file is missing, unreadable or empty) while an earlier token
/// is known, the earlier token stays in use and a warning naming the path is logged.
/// Without an earlier token the failure is returned.
///
/// ```no_run
/// # async fn demo() -> Result<(), k8s_client::auth::AuthError> {
/// use k8s_client::auth::{AuthProvider, TokenFile};
/// let provider = TokenFile::new("/var/run/secrets/kubernetes.io/serviceaccount/token");
/// let credential = provider.fetch().await?;
/// assert!(credential.authorization.is_some());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
    last: Mutex<Option<SecretString>>,
}

impl TokenFile {
    /// A provider reading `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            last: Mutex::new(None),
        }
    }

    /// The token file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn read(&self) -> Result<SecretString, AuthError> {
        let raw = tokio::fs::read_to_string(&self.path)
            .await
            .map_err(|source| AuthError::TokenFile {
                path: self.path.clone(),
                source,
            })?;
        let raw = SecretString::new(raw);
        let token = raw.expose_secret().trim();
        if token.is_empty() {
            return Err(AuthError::EmptyTokenFile {
                path: self.path.clone(),
            });
        }
        Ok(SecretString::from(token))
    }
}

impl AuthProvider for TokenFile {
    fn name(&self) -> &str {
        "token-file"
    }

    /// Reads the file. The cache calls this about once a minute and after a 401.
    fn fetch(&self) -> BoxFuture<'_, Result<Credential, AuthError>> {
        Box::pin(async move {
            let expires_at = SystemTime::now() + TOKEN_FILE_REREAD + CACHE_MARGIN;
            let token = match self.read().await {
                Ok(token) => {
                    *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
                    token
                }
                Err(error) => {
                    let last = self.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    match last {
                        Some(token) => {
                            tracing::warn!(
                                path = %self.path.display(),
                                error = &error as &dyn std::error::Error,
                                "re-reading the token file failed; keeping the previous token"
                            );
                            token
                        }
                        None => return Err(error),
                    }
                }
            };
            Ok(Credential::bearer(token).expiring_at(expires_at))
        })
    }
}
