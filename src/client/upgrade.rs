//! Upgraded connections (exec, attach, port-forward over SPDY or WebSocket).

use super::body::Body;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What [`Client::send_upgrade`](super::Client::send_upgrade) got back.
#[derive(Debug)]
#[non_exhaustive]
pub enum UpgradeOutcome {
    /// The server switched protocols (101): the response head and the raw connection.
    Upgraded {
        /// The 101 response head (negotiated protocol headers, …).
        response: http::Response<()>,
        /// The connection, now speaking the negotiated protocol.
        io: Upgraded,
    },
    /// The server answered with anything else; relay or inspect it.
    Response(http::Response<Body>),
}

/// A connection after an HTTP/1.1 upgrade: `AsyncRead + AsyncWrite + Send + Unpin`.
pub struct Upgraded {
    inner: reqwest::Upgraded,
}

impl Upgraded {
    pub(crate) fn new(inner: reqwest::Upgraded) -> Self {
        Self { inner }
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Upgraded")
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
