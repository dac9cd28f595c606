//! The caching, single-flight layer in front of an [`AuthProvider`].

use super::{AuthError, AuthProvider, Credential};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// How long before its expiry a credential is refreshed.
const REFRESH_MARGIN: Duration = Duration::from_secs(10);

/// Keeps the last credential of a provider; refreshes it shortly before expiry with one
/// fetch for any number of concurrent callers; drops it when the server rejects it.
#[derive(Debug, Clone)]
pub struct CredentialCache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    provider: Arc<dyn AuthProvider>,
    current: RwLock<Option<Arc<Credential>>>,
    refresh: tokio::sync::Mutex<()>,
}

impl CredentialCache {
    /// A cache in front of `provider`.
    pub fn new(provider: Arc<dyn AuthProvider>) -> Self {
        Self {
            inner: Arc::new(Inner {
                provider,
                current: RwLock::new(None),
                refresh: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The provider behind the cache.
    pub fn provider(&self) -> &Arc<dyn AuthProvider> {
        &self.inner.provider
    }

    fn valid(&self, now: SystemTime) -> Option<Arc<Credential>> {
        let current = self.inner.current.read().unwrap_or_else(|e| e.into_inner());
        current
            .as_ref()
            .filter(|c| c.expires_at.is_none_or(|at| at > now + REFRESH_MARGIN))
            .cloned()
    }

    /// A credential that is valid for at least the refresh margin, fetching one if needed.
    pub async fn get(&self) -> Result<Arc<Credential>, AuthError> {
        if let Some(c) = self.valid(SystemTime::now()) {
            return Ok(c);
        }
        let _flight = self.inner.refresh.lock().await;
        if let Some(c) = self.valid(SystemTime::now()) {
            return Ok(c);
        }
        let fresh = Arc::new(self.inner.provider.fetch().await?);
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(fresh.clone());
        Ok(fresh)
    }

    /// The server answered 401 to `rejected`: drop it (if it is still the current one)
    /// and tell the provider.
    pub fn invalidate(&self, rejected: &Arc<Credential>) {
        let mut current = self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, rejected)) {
            *current = None;
        }
        drop(current);
        self.inner.provider.unauthorized(rejected);
    }
}
