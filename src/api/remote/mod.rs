//! Streams to and from pods through the API server: `exec`, `attach` (WebSocket,
//! `v5.channel.k8s.io` with `v4.channel.k8s.io` fallback) and `portforward` (SPDY/3.1
//! tunnelled in WebSocket, with `v4.channel.k8s.io` fallback) — see `docs/streaming.md`.

/// `AsyncRead` or `AsyncWrite` for a newtype over a `DuplexStream`, forwarded to it.
macro_rules! duplex_io {
    (read $t:ty) => {
        impl tokio::io::AsyncRead for $t {
            fn poll_read(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
            }
        }
    };
    (write $t:ty) => {
        impl tokio::io::AsyncWrite for $t {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
            }

            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.0).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
            }
        }
    };
}

mod cp;
mod error;
mod exec;
mod forward_target;
mod logs;
mod portforward;
mod portforward_spdy;
mod spdy;
mod spdy_dictionary;
mod tar_io;
mod ws;

pub use cp::{CopyLocation, CopyParams, UploadEnd};
pub use error::StreamError;
pub use exec::{
    AttachParams, AttachedProcess, DEFAULT_CONTAINER_ANNOTATION, ExitStatus, PROTOCOL_V4,
    PROTOCOL_V5, ProcessOutput, ProcessStdin,
};
pub use forward_target::{ForwardTarget, PortMapping, RemotePort, ResolvedForward};
pub use logs::{
    DEFAULT_MAX_LOG_REQUESTS, LogLine, LogSelection, LogStream, MAX_LINE,
    SELECTOR_DEFAULT_TAIL_LINES,
};
pub use portforward::{
    PORTFORWARD_PROTOCOL, PortStream, PortforwardProtocol, PortforwardSession, Portforwarder,
};
pub use portforward_spdy::SPDY_TUNNEL_PROTOCOL;
pub use spdy::{MAX_FRAME as SPDY_MAX_FRAME, MAX_HEADER_BLOCK as SPDY_MAX_HEADER_BLOCK, SpdyError};
pub use tar_io::{CopyReport, SkipReason, SkippedEntry};
pub use ws::{STREAM_PING_PERIOD, STREAM_SILENCE_LIMIT};
