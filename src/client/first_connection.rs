//! One connection for a burst of first requests.
//!
//! A new HTTP client has no connection yet, and its pool cannot know before the TLS
//! handshake whether the server speaks HTTP/2 (one connection carries every request)
//! or only HTTP/1.1 (one connection per request in flight). Left alone, 32 requests
//! started together open 32 TLS connections; once the first negotiates HTTP/2 the pool
//! keeps only one of them, so 31 handshakes — on the client and on the API server — were
//! for nothing.
//!
//! [`FirstConnection`] lets one request (the opener) connect while the others wait:
//! when the opener's connection is made ([`ConnectionSeen`] on the connector reports it)
//! the others go and share it over HTTP/2, or open their own over HTTP/1.1. When the
//! opener fails or gives up before a connection is made, the waiting requests go on
//! their own, as they would without the gate, and the next request opens again. After
//! the first connection nothing waits any more.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::Connection;
use tokio::sync::Notify;

/// Where a client's first connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No request is connecting.
    Idle,
    /// A request is connecting; the others wait.
    Opening,
    /// A connection was made: requests go straight on.
    Open,
}

/// The gate of one HTTP client (see the module documentation).
#[derive(Debug)]
pub(crate) struct FirstConnection {
    state: Mutex<State>,
    changed: Notify,
}

/// Held by the opener while it sends; dropping it before a connection was made lets
/// the waiting requests go.
#[derive(Debug)]
pub(crate) struct OpenerGuard {
    gate: Arc<FirstConnection>,
}

impl Drop for OpenerGuard {
    fn drop(&mut self) {
        self.gate.settle(State::Idle);
    }
}

impl FirstConnection {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::Idle),
            changed: Notify::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits while another request opens the first connection, then lets the caller go
    /// on. `Some` when the caller is the one to open it: the gate stays closed to others
    /// until the connection is made or the guard is dropped. Cancel-safe: a caller
    /// dropped while waiting holds nothing.
    pub(crate) async fn pass(self: &Arc<Self>) -> Option<OpenerGuard> {
        let changed = self.changed.notified();
        tokio::pin!(changed);
        // Registered before the state is read, so a change in between still wakes it.
        changed.as_mut().enable();
        {
            let mut state = self.state();
            match *state {
                State::Open => return None,
                State::Idle => {
                    *state = State::Opening;
                    return Some(OpenerGuard { gate: self.clone() });
                }
                State::Opening => {}
            }
        }
        // Woken by a connection, or by an opener that ended without one: either way go
        // on (alone in the second case, as without the gate).
        changed.await;
        None
    }

    /// Ends an opening: `Open` for good once a connection was made, else back to `Idle`
    /// (only from `Opening`; `Open` is never undone).
    fn settle(&self, to: State) {
        let mut state = self.state();
        match (*state, to) {
            (State::Open, _) => return,
            (_, State::Open) => *state = State::Open,
            (State::Opening, _) => *state = State::Idle,
            (State::Idle, _) => return,
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// Whether the first connection was made (for tests).
    #[cfg(test)]
    fn is_open(&self) -> bool {
        *self.state() == State::Open
    }
}

/// Connector layer reporting each connection made to the client's [`FirstConnection`].
#[derive(Debug, Clone)]
pub(crate) struct ConnectionSeen {
    gate: Arc<FirstConnection>,
}

impl ConnectionSeen {
    pub(crate) fn new(gate: Arc<FirstConnection>) -> Self {
        Self { gate }
    }
}

impl<S> tower_layer::Layer<S> for ConnectionSeen {
    type Service = ConnectionSeenService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ConnectionSeenService {
            inner,
            gate: self.gate.clone(),
        }
    }
}

/// The connector wrapped by [`ConnectionSeen`].
#[derive(Debug, Clone)]
pub(crate) struct ConnectionSeenService<S> {
    inner: S,
    gate: Arc<FirstConnection>,
}

impl<S, R> tower_service::Service<R> for ConnectionSeenService<S>
where
    S: tower_service::Service<R>,
    S::Response: Connection,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let connecting = self.inner.call(req);
        let gate = self.gate.clone();
        Box::pin(async move {
            let connected = connecting.await;
            // A failed connect leaves the gate to the opener's guard: the waiting
            // requests go on their own once the opener's request ends.
            if connected.is_ok() {
                gate.settle(State::Open);
            }
            connected
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn settled(gate: &Arc<FirstConnection>) -> Option<OpenerGuard> {
        tokio::time::timeout(Duration::from_secs(5), gate.pass())
            .await
            .expect("the gate lets the request through")
    }

    #[tokio::test]
    async fn one_opener_then_everyone_goes_once_connected() {
        let gate = FirstConnection::new();
        let Some(guard) = settled(&gate).await else {
            panic!("the first request opens");
        };
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { gate.pass().await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(waiters.iter().all(|w| !w.is_finished()), "others wait");
        gate.settle(State::Open);
        for w in waiters {
            assert!(w.await.unwrap().is_none());
        }
        drop(guard);
        assert!(
            gate.is_open(),
            "dropping the opener does not close an open gate"
        );
        assert!(settled(&gate).await.is_none());
    }

    #[tokio::test]
    async fn an_opener_without_a_connection_releases_the_waiters_and_the_next_opens() {
        let gate = FirstConnection::new();
        let Some(guard) = settled(&gate).await else {
            panic!("the first request opens");
        };
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.pass().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(guard);
        assert!(
            waiter.await.unwrap().is_none(),
            "a waiter goes on alone after a failed opening"
        );
        assert!(!gate.is_open());
        assert!(
            settled(&gate).await.is_some(),
            "the next request opens again"
        );
    }

    #[tokio::test]
    async fn a_waiter_dropped_while_waiting_holds_nothing() {
        let gate = FirstConnection::new();
        let Some(guard) = settled(&gate).await else {
            panic!("the first request opens");
        };
        let timed_out = tokio::time::timeout(Duration::from_millis(20), gate.pass()).await;
        assert!(timed_out.is_err(), "the second request waits");
        drop(guard);
        assert!(settled(&gate).await.is_some());
    }

    /// A connector that answers with a plain connection or an error.
    #[derive(Clone)]
    struct Dial(bool);

    struct Plain;
    impl Connection for Plain {
        fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
            hyper_util::client::legacy::connect::Connected::new()
        }
    }

    impl tower_service::Service<()> for Dial {
        type Response = Plain;
        type Error = std::io::Error;
        type Future = std::future::Ready<Result<Plain, std::io::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: ()) -> Self::Future {
            std::future::ready(if self.0 {
                Ok(Plain)
            } else {
                Err(std::io::Error::other("refused"))
            })
        }
    }

    #[tokio::test]
    async fn the_connector_layer_opens_the_gate_only_on_a_connection() {
        use tower_layer::Layer;
        use tower_service::Service;
        let gate = FirstConnection::new();
        let Some(_guard) = settled(&gate).await else {
            panic!("the first request opens");
        };
        let layer = ConnectionSeen::new(gate.clone());
        assert!(layer.layer(Dial(false)).call(()).await.is_err());
        assert!(!gate.is_open(), "a failed connect opens nothing");
        assert!(layer.layer(Dial(true)).call(()).await.is_ok());
        assert!(gate.is_open());
    }
}
