//! Serving: the accept loop, one hyper connection per client (HTTP/1.1 with upgrades,
//! or HTTP/2), and graceful shutdown.

use super::ProxyError;
use super::listen::{Listener, ServeAddr, remove_socket};
use super::service::{Shared, handle};
use futures_util::FutureExt;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// A proxy bound to its addresses, ready to serve. Made by [`Proxy::bind`](super::Proxy::bind).
///
/// ```no_run
/// # async fn demo(client: k8s_client::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use k8s_client::proxy::{Proxy, ProxyOptions};
/// let proxy = Proxy::new(client, ProxyOptions::default())?.bind().await?;
/// for addr in proxy.local_addrs() {
///     println!("Starting to serve on {addr}");
/// }
/// proxy.serve().await?; // until Ctrl-C or SIGTERM, then drains in-flight requests
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct BoundProxy {
    pub(crate) listeners: Vec<Listener>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) keepalive: Duration,
    pub(crate) shutdown_grace: Duration,
}

impl BoundProxy {
    /// The addresses being served, with the real port when port 0 was asked for.
    pub fn local_addrs(&self) -> Vec<ServeAddr> {
        self.listeners.iter().map(Listener::addr).collect()
    }

    /// Serves until Ctrl-C (SIGINT) or SIGTERM, then shuts down gracefully.
    pub async fn serve(self) -> Result<(), ProxyError> {
        self.serve_with_shutdown(shutdown_signal()).await
    }

    /// Serves until `signal` completes. Then no new connection is accepted, in-flight
    /// requests and upgraded connections get up to the shutdown grace period (see
    /// [`ProxyBuilder::shutdown_grace`](super::ProxyBuilder::shutdown_grace)) to finish,
    /// and whatever is still open afterwards is closed.
    pub async fn serve_with_shutdown<F>(self, signal: F) -> Result<(), ProxyError>
    where
        F: Future<Output = ()> + Send,
    {
        let BoundProxy {
            listeners,
            shared,
            keepalive,
            shutdown_grace,
        } = self;
        let graceful = GracefulShutdown::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().keep_alive(true);
        let mut signal = std::pin::pin!(signal.fuse());
        let mut backoff = Duration::ZERO;
        loop {
            let accepts = listeners.iter().map(|l| Box::pin(accept(l, keepalive)));
            let accepted = tokio::select! {
                () = &mut signal => break,
                (accepted, _, _) = futures_util::future::select_all(accepts) => accepted,
            };
            match accepted {
                Ok((io, peer)) => {
                    backoff = Duration::ZERO;
                    serve_connection(&builder, &graceful, &shared, io, peer);
                }
                Err(e) => {
                    // Like Go's server: a failed accept (out of file descriptors, …) is
                    // retried after a growing pause instead of stopping the proxy.
                    backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                    tracing::warn!(target: "k8s_client::proxy", error = %e, retry_in = ?backoff, "accepting a connection failed");
                    tokio::time::sleep(backoff).await;
                }
            }
        }
        for listener in &listeners {
            if let Listener::Unix(_, path) = listener {
                remove_socket(path);
            }
        }
        drop(listeners);
        tracing::debug!(target: "k8s_client::proxy", connections = graceful.count(), "shutting down");
        let tasks = shared.tasks.clone();
        let drained = tokio::time::timeout(shutdown_grace, async {
            graceful.shutdown().await;
            tasks.close();
            tasks.wait().await;
        })
        .await;
        if drained.is_err() {
            tracing::debug!(target: "k8s_client::proxy", "grace period over: closing the remaining connections");
        }
        shared.stop.cancel();
        shared.tasks.close();
        shared.tasks.wait().await;
        Ok(())
    }
}

/// A connection from a client, and its IP when it came over TCP.
enum Accepted {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn accept(
    listener: &Listener,
    keepalive: Duration,
) -> std::io::Result<(Accepted, Option<IpAddr>)> {
    match listener {
        Listener::Tcp(l, _) => {
            let (stream, peer) = l.accept().await?;
            let _ = stream.set_nodelay(true);
            if !keepalive.is_zero() {
                let params = socket2::TcpKeepalive::new().with_time(keepalive);
                if let Err(e) = socket2::SockRef::from(&stream).set_tcp_keepalive(&params) {
                    tracing::debug!(target: "k8s_client::proxy", error = %e, "setting TCP keep-alive failed");
                }
            }
            // A v4-mapped peer on a dual-stack socket is shown as IPv4, as Go does.
            Ok((Accepted::Tcp(stream), Some(peer.ip().to_canonical())))
        }
        Listener::Unix(l, _) => {
            let (stream, _) = l.accept().await?;
            Ok((Accepted::Unix(stream), None))
        }
    }
}

fn serve_connection(
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    shared: &Arc<Shared>,
    io: Accepted,
    peer: Option<IpAddr>,
) {
    match io {
        Accepted::Tcp(s) => spawn_connection(builder, graceful, shared, s, peer),
        Accepted::Unix(s) => spawn_connection(builder, graceful, shared, s, peer),
    }
}

fn spawn_connection<I>(
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    shared: &Arc<Shared>,
    io: I,
    peer: Option<IpAddr>,
) where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let handler = Arc::clone(shared);
    let service = service_fn(move |req| {
        let shared = Arc::clone(&handler);
        async move { Ok::<_, Infallible>(handle(&shared, req, peer).await) }
    });
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .into_owned();
    let connection = graceful.watch(connection);
    let stop = shared.stop.clone();
    shared.tasks.spawn(async move {
        tokio::select! {
            result = connection => {
                if let Err(e) = result {
                    tracing::debug!(target: "k8s_client::proxy", error = %e, "connection ended with an error");
                }
            }
            () = stop.cancelled() => {}
        }
    });
}

/// Ctrl-C, or SIGTERM on unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn accepted_keepalive(keepalive: Duration) -> bool {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = Listener::Tcp(listener, addr);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, peer) = accept(&listener, keepalive).await.unwrap();
        assert_eq!(peer, Some(IpAddr::from([127, 0, 0, 1])));
        let Accepted::Tcp(stream) = accepted else {
            panic!("a TCP connection")
        };
        assert!(stream.nodelay().unwrap());
        socket2::SockRef::from(&stream).keepalive().unwrap()
    }

    #[tokio::test]
    async fn keepalive_option_sets_tcp_keepalive_on_accepted_connections() {
        assert!(accepted_keepalive(Duration::from_secs(30)).await);
        assert!(!accepted_keepalive(Duration::ZERO).await);
    }
}
