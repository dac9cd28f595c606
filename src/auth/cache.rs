//! The caching, single-flight layer in front of an [`AuthProvider`].

use super::{AuthError, AuthProvider, Credential};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long before its expiry a credential is refreshed: this margin, or half the
/// credential's lifetime when that is shorter (see [`refresh_margin`]).
const REFRESH_MARGIN: Duration = Duration::from_secs(10);

/// The margin before `expires_at` at which a credential fetched at `fetched` is
/// refreshed: [`REFRESH_MARGIN`], but at most half its lifetime, so a credential that
/// lives only a few seconds is not fetched again for every request.
fn refresh_margin(fetched: SystemTime, expires_at: SystemTime) -> Duration {
    let lifetime = expires_at.duration_since(fetched).unwrap_or_default();
    REFRESH_MARGIN.min(lifetime / 2)
}

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
/// While the current credential has not expired yet, the refresh runs in the background
/// (on the Tokio runtime) and callers keep getting the current credential: a plugin that
/// fails or hangs fails no request as long as a valid credential exists.
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
    /// The credential in use and when it was fetched.
    current: Option<(Arc<Credential>, SystemTime)>,
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

    /// A credential that is valid for at least the refresh margin, fetching one if needed;
    /// within the margin, the current one while a refresh runs in the background.
    ///
    /// Fails with [`AuthError::Unavailable`] (the provider's error as its source, see
    /// [`AuthError::cause`]) when the fetch this call waited for failed, or when one
    /// failed less than [`FAILED_FETCH_BACKOFF`] ago.
    pub async fn get(&self) -> Result<Arc<Credential>, AuthError> {
        let (number, flight) = {
            let mut state = self.state();
            let now = SystemTime::now();
            if let Some((c, fetched)) = &state.current {
                match c.expires_at {
                    None => return Ok(c.clone()),
                    Some(at) if at > now + refresh_margin(*fetched, at) => return Ok(c.clone()),
                    Some(at) if at > now => {
                        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                            let c = c.clone();
                            self.refresh_in_background(&mut state, &runtime);
                            return Ok(c);
                        }
                    }
                    Some(_) => {}
                }
            }
            if let Some((error, until)) = &state.failure {
                if Instant::now() < *until {
                    return Err(self.unavailable(error.clone()));
                }
                state.failure = None;
            }
            self.flight(&mut state)
        };
        let outcome = flight.await;
        self.finish(number, &outcome);
        outcome.map_err(|error| self.unavailable(error))
    }

    /// The fetch under way, or a new one.
    fn flight(&self, state: &mut State) -> (u64, Flight) {
        if let Some((number, flight)) = &state.flight {
            return (*number, flight.clone());
        }
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

    /// Starts a fetch driven by a task of its own, unless one runs or the last one failed
    /// less than [`FAILED_FETCH_BACKOFF`] ago.
    fn refresh_in_background(&self, state: &mut State, runtime: &tokio::runtime::Handle) {
        if state.flight.is_some()
            || state
                .failure
                .as_ref()
                .is_some_and(|(_, until)| Instant::now() < *until)
        {
            return;
        }
        let (number, flight) = self.flight(state);
        let cache = self.clone();
        runtime.spawn(async move {
            let outcome = flight.await;
            if let Err(e) = &outcome {
                tracing::warn!(provider = cache.inner.provider.name(), error = %e, "refreshing the credential failed; the current one is used until it expires");
            }
            cache.finish(number, &outcome);
        });
    }

    /// Records the outcome of fetch `number` if it is still the one under way.
    fn finish(&self, number: u64, outcome: &FetchResult) {
        let mut state = self.state();
        if state.flight.as_ref().is_some_and(|(n, _)| *n == number) {
            state.flight = None;
            match outcome {
                Ok(credential) => {
                    state.current = Some((credential.clone(), SystemTime::now()));
                    state.failure = None;
                }
                Err(error) => {
                    state.failure = Some((error.clone(), Instant::now() + FAILED_FETCH_BACKOFF));
                }
            }
        }
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
            .is_some_and(|(c, _)| Arc::ptr_eq(c, rejected))
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

    /// Fetches credentials that expire `lifetime` after the fetch; `mode` 0 succeeds,
    /// 1 fails, 2 never answers.
    #[derive(Debug)]
    struct Expiring {
        runs: AtomicUsize,
        lifetime: Duration,
        mode: std::sync::atomic::AtomicU8,
    }

    impl Expiring {
        fn new(lifetime: Duration) -> Self {
            Self {
                runs: AtomicUsize::new(0),
                lifetime,
                mode: std::sync::atomic::AtomicU8::new(0),
            }
        }
    }

    impl AuthProvider for Expiring {
        fn name(&self) -> &str {
            "expiring"
        }
        fn fetch(&self) -> ProviderFuture<'_, Result<Credential, AuthError>> {
            Box::pin(async move {
                self.runs.fetch_add(1, Ordering::SeqCst);
                match self.mode.load(Ordering::SeqCst) {
                    0 => Ok(Credential::bearer("t".into())
                        .expiring_at(SystemTime::now() + self.lifetime)),
                    1 => Err(AuthError::provider(
                        "expiring",
                        std::io::Error::other("down"),
                    )),
                    _ => std::future::pending().await,
                }
            })
        }
    }

    #[test]
    fn the_margin_is_at_most_half_the_lifetime() {
        let t = SystemTime::UNIX_EPOCH;
        assert_eq!(
            refresh_margin(t, t + Duration::from_secs(3600)),
            REFRESH_MARGIN
        );
        assert_eq!(
            refresh_margin(t, t + Duration::from_secs(4)),
            Duration::from_secs(2)
        );
        assert_eq!(
            refresh_margin(t + Duration::from_secs(1), t),
            Duration::ZERO
        );
    }

    #[tokio::test]
    async fn a_short_lived_credential_is_not_fetched_for_every_request() {
        let provider = Arc::new(Expiring::new(Duration::from_secs(4)));
        let cache = CredentialCache::new(provider.clone());
        for _ in 0..50 {
            cache.get().await.unwrap();
        }
        assert_eq!(provider.runs.load(Ordering::SeqCst), 1);
    }

    /// Makes the current credential one that expires in `left`, fetched long ago (so
    /// it is inside the refresh margin).
    fn age(cache: &CredentialCache, left: Duration) {
        let mut state = cache.state();
        let (c, _) = state.current.take().unwrap();
        let mut c = (*c).clone();
        c.expires_at = Some(SystemTime::now() + left);
        state.current = Some((Arc::new(c), SystemTime::now() - Duration::from_secs(600)));
    }

    #[tokio::test]
    async fn a_failing_or_hanging_refresh_fails_no_request_while_the_credential_lasts() {
        for mode in [1, 2] {
            let provider = Arc::new(Expiring::new(Duration::from_secs(600)));
            let cache = CredentialCache::new(provider.clone());
            let first = cache.get().await.unwrap();
            provider.mode.store(mode, Ordering::SeqCst);
            age(&cache, Duration::from_secs(5));
            for _ in 0..20 {
                let c = tokio::time::timeout(Duration::from_secs(1), cache.get())
                    .await
                    .expect("the current credential comes back at once")
                    .unwrap();
                assert_eq!(c.authorization, first.authorization);
                tokio::task::yield_now().await;
            }
            // One refresh in the background, not one per request.
            assert_eq!(provider.runs.load(Ordering::SeqCst), 2, "mode {mode}");
            // Once it has expired, the failure is the caller's.
            if mode == 1 {
                age(&cache, Duration::ZERO);
                let err = cache.get().await.unwrap_err();
                assert!(matches!(err, AuthError::Unavailable { .. }), "{err:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_background_refresh_replaces_the_credential() {
        let provider = Arc::new(Expiring::new(Duration::from_secs(600)));
        let cache = CredentialCache::new(provider.clone());
        cache.get().await.unwrap();
        age(&cache, Duration::from_secs(5));
        cache.get().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let expires = cache.get().await.unwrap().expires_at.unwrap();
            if expires > SystemTime::now() + Duration::from_secs(60) {
                break;
            }
            assert!(Instant::now() < deadline, "the refresh never landed");
            tokio::task::yield_now().await;
        }
        assert_eq!(provider.runs.load(Ordering::SeqCst), 2);
    }
}
