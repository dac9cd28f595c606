//! The caching, single-flight layer in front of an [`AuthProvider`].

use super::{AuthError, AuthProvider, Credential};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long before its expiry a credential is refreshed.
const REFRESH_MARGIN: Duration = Duration::from_secs(10);

/// How long a failed fetch is remembered: requests in this window get the same
/// [`AuthError::Unavailable`] at once instead of starting another fetch.
///
/// Without it, a plugin that hangs until its timeout (or fails slowly) would be run again
/// by every request queued behind it, and a failing one once per request. Five seconds
/// keeps a busy client from running a broken plugin more than once per window, yet lets
/// a fixed one (a finished browser login, a repaired file) be picked up almost at once.
pub const FAILED_FETCH_BACKOFF: Duration = Duration::from_secs(5);

type FetchResult = Result<Arc<Credential>, Arc<AuthError>>;
type Flight = Shared<BoxFuture<'static, FetchResult>>;

/// Keeps the last credential of a provider; refreshes it shortly before expiry with one
/// fetch for any number of concurrent callers; drops it when the server rejects it.
///
/// A failed fetch is shared too: every caller that waited for it gets an
/// [`AuthError::Unavailable`] whose source is the provider's error, and so does every
/// caller during the following [`FAILED_FETCH_BACKOFF`]. A fetch keeps running when the
/// caller that started it gives up, as long as another caller still waits for it.
#[derive(Debug, Clone)]
pub struct CredentialCache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    provider: Arc<dyn AuthProvider>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    current: Option<Arc<Credential>>,
    /// The last failure and until when it is handed out.
    failure: Option<(Arc<AuthError>, Instant)>,
    /// The fetch under way, with its number (so only its own outcome is recorded).
    flight: Option<(u64, Flight)>,
    flights: u64,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("current", &self.current)
            .field("failing", &self.failure.is_some())
            .field("fetching", &self.flight.is_some())
            .finish()
    }
}

impl CredentialCache {
    /// A cache in front of `provider`.
    pub fn new(provider: Arc<dyn AuthProvider>) -> Self {
        Self {
            inner: Arc::new(Inner {
                provider,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The provider behind the cache.
    pub fn provider(&self) -> &Arc<dyn AuthProvider> {
        &self.inner.provider
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A credential that is valid for at least the refresh margin, fetching one if needed.
    ///
    /// Fails with [`AuthError::Unavailable`] (the provider's error as its source, see
    /// [`AuthError::cause`]) when the fetch this call waited for failed, or when one
    /// failed less than [`FAILED_FETCH_BACKOFF`] ago.
    pub async fn get(&self) -> Result<Arc<Credential>, AuthError> {
        let (number, flight) = {
            let mut state = self.state();
            let now = SystemTime::now();
            if let Some(c) = state
                .current
                .as_ref()
                .filter(|c| c.expires_at.is_none_or(|at| at > now + REFRESH_MARGIN))
            {
                return Ok(c.clone());
            }
            if let Some((error, until)) = &state.failure {
                if Instant::now() < *until {
                    return Err(self.unavailable(error.clone()));
                }
                state.failure = None;
            }
            match &state.flight {
                Some((number, flight)) => (*number, flight.clone()),
                None => {
                    state.flights += 1;
                    let number = state.flights;
                    let provider = self.inner.provider.clone();
                    let flight = async move {
                        tracing::debug!(provider = provider.name(), "fetching a credential");
                        provider.fetch().await.map(Arc::new).map_err(Arc::new)
                    }
                    .boxed()
                    .shared();
                    state.flight = Some((number, flight.clone()));
                    (number, flight)
                }
            }
        };
        let outcome = flight.await;
        let mut state = self.state();
        if state.flight.as_ref().is_some_and(|(n, _)| *n == number) {
            state.flight = None;
            match &outcome {
                Ok(credential) => state.current = Some(credential.clone()),
                Err(error) => {
                    state.failure = Some((error.clone(), Instant::now() + FAILED_FETCH_BACKOFF));
                }
            }
        }
        drop(state);
        outcome.map_err(|error| self.unavailable(error))
    }

    fn unavailable(&self, source: Arc<AuthError>) -> AuthError {
        AuthError::Unavailable {
            provider: self.inner.provider.name().to_owned(),
            source,
        }
    }

    /// The server answered 401 to `rejected`: drop it (if it is still the current one)
    /// and tell the provider.
    pub fn invalidate(&self, rejected: &Arc<Credential>) {
        let mut state = self.state();
        if state
            .current
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, rejected))
        {
            state.current = None;
        }
        drop(state);
        self.inner.provider.unauthorized(rejected);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::BoxFuture as ProviderFuture;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, Default)]
    struct Counting {
        runs: AtomicUsize,
        fail: bool,
    }

    impl AuthProvider for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn fetch(&self) -> ProviderFuture<'_, Result<Credential, AuthError>> {
            Box::pin(async move {
                self.runs.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                if self.fail {
                    Err(AuthError::provider(
                        "counting",
                        std::io::Error::other("down"),
                    ))
                } else {
                    Ok(Credential::bearer("t".into()))
                }
            })
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch_and_its_failure() {
        let provider = Arc::new(Counting {
            fail: true,
            ..Counting::default()
        });
        let cache = CredentialCache::new(provider.clone());
        let calls = (0..20).map(|_| cache.get());
        let results = futures_util::future::join_all(calls).await;
        assert_eq!(provider.runs.load(Ordering::SeqCst), 1);
        for r in results {
            let err = r.unwrap_err();
            assert!(matches!(err, AuthError::Unavailable { .. }), "{err:?}");
            assert!(matches!(err.cause(), AuthError::Provider { .. }));
        }
        // Remembered: no new run within the window.
        assert!(cache.get().await.is_err());
        assert_eq!(provider.runs.load(Ordering::SeqCst), 1);
        // After the window a new fetch runs.
        cache.state().failure.as_mut().unwrap().1 = Instant::now();
        assert!(cache.get().await.is_err());
        assert_eq!(provider.runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_fetch_survives_its_first_caller_giving_up() {
        let provider = Arc::new(Counting::default());
        let cache = CredentialCache::new(provider.clone());
        // Start a fetch and abandon it after its first poll.
        let mut first = Box::pin(cache.get());
        assert!(first.as_mut().now_or_never().is_none());
        drop(first);
        let c = cache.get().await.unwrap();
        assert_eq!(
            c.authorization.as_ref().unwrap().expose_secret(),
            "Bearer t"
        );
        assert_eq!(provider.runs.load(Ordering::SeqCst), 1);
    }
}
