//! Waiting in tests without sleeping as synchronisation: [`eventually`] polls a check
//! until it holds or a deadline passes, [`within`] bounds a future with a safety deadline.

use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// The first pause between two checks; it doubles up to [`MAX_PAUSE`], so a condition that
/// holds soon is seen within milliseconds and a slow one is not polled in a tight loop.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// The longest pause between two checks.
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// Polls `check` until it holds, failing the test (naming `what`) once `timeout` has
/// passed; returns what the check found.
///
/// `check` is one of:
/// - `|| bool`: a condition on local state (`()` once it is `true`);
/// - `|| Option<T>`: a value read from local state;
/// - `|| async { Option<T> }`: a value that needs a request.
///
/// ```ignore
/// eventually("the watch", Duration::from_secs(30), || watches.load(SeqCst) == 1).await;
/// let cm = eventually("the ConfigMap", DEADLINE, || async { api.get_opt("a").await.unwrap() }).await;
/// ```
pub async fn eventually<M, C: Check<M>>(what: &str, timeout: Duration, mut check: C) -> C::Output {
    let deadline = Instant::now() + timeout;
    let mut pause = FIRST_PAUSE;
    loop {
        if let Some(found) = check.check().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Awaits `fut` with a generous safety deadline of 30 s (not a timing assertion: a hang
/// fails the test instead of the whole run).
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A check [`eventually`] can poll; `M` tells the closure shapes apart.
pub trait Check<M> {
    /// What the check yields once it holds.
    type Output;
    /// Runs the check once.
    fn check(&mut self) -> impl Future<Output = Option<Self::Output>>;
}

/// Marks a `|| bool` check.
pub struct Condition;
/// Marks a `|| Option<T>` check.
pub struct Value;
/// Marks a `|| async { Option<T> }` check.
pub struct Request;

impl<F: FnMut() -> bool> Check<Condition> for F {
    type Output = ();
    fn check(&mut self) -> impl Future<Output = Option<()>> {
        std::future::ready(self().then_some(()))
    }
}

impl<T, F: FnMut() -> Option<T>> Check<Value> for F {
    type Output = T;
    fn check(&mut self) -> impl Future<Output = Option<T>> {
        std::future::ready(self())
    }
}

impl<T, F, Fut> Check<Request> for F
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    type Output = T;
    fn check(&mut self) -> impl Future<Output = Option<T>> {
        self()
    }
}
