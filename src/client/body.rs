//! [`Body`]: the request and response body type of [`Client`](crate::Client), and
//! [`BodyStream`], a body read chunk by chunk.

use crate::error::Error;
use crate::transport::{BoxError, TransportError};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use hyper::body::{Frame, SizeHint};
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send + 'static>>;

/// An HTTP body: whole bytes (which can be sent again, so the request can be retried),
/// or a stream of chunks (sent once).
///
/// Implements [`http_body::Body`](hyper::body::Body) with `Data = Bytes`, so it can be
/// handed to hyper directly (a local proxy relays responses this way).
///
/// ```
/// # async fn demo() -> Result<(), k8s_client::Error> {
/// use k8s_client::client::Body;
/// let body = Body::from(r#"{"kind":"Pod"}"#);
/// assert_eq!(body.as_bytes(), Some(&b"{\"kind\":\"Pod\"}"[..]));
/// assert_eq!(&body.collect_bytes().await?[..], b"{\"kind\":\"Pod\"}");
/// # Ok(()) }
/// ```
pub struct Body {
    inner: Inner,
}

enum Inner {
    Full(Bytes),
    Stream(ChunkStream),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Self {
            inner: Inner::Full(Bytes::new()),
        }
    }

    /// A body read from `stream`; its errors surface as [`TransportError::RequestBody`]
    /// when sending, and as the stream's item errors when reading.
    pub fn from_stream<S, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Self {
            inner: Inner::Stream(Box::pin(stream.map(|r| {
                r.map_err(|e| {
                    let source: BoxError = e.into();
                    // Keep our own errors as they are (a response body relayed on).
                    match source.downcast::<Error>() {
                        Ok(ours) => *ours,
                        Err(source) => Error::Transport(TransportError::RequestBody { source }),
                    }
                })
            }))),
        }
    }

    pub(crate) fn from_chunks(stream: ChunkStream) -> Self {
        Self {
            inner: Inner::Stream(stream),
        }
    }

    /// The bytes, when the body is whole (not a stream).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::Full(b) => Some(b),
            Inner::Stream(_) => None,
        }
    }

    /// A copy that can be sent again, when the body is whole.
    pub(crate) fn try_clone(&self) -> Option<Body> {
        match &self.inner {
            Inner::Full(b) => Some(Body::from(b.clone())),
            Inner::Stream(_) => None,
        }
    }

    /// The body as a stream of chunks.
    pub fn into_stream(self) -> BodyStream {
        BodyStream {
            inner: match self.inner {
                Inner::Full(b) if b.is_empty() => Box::pin(futures_util::stream::empty()),
                Inner::Full(b) => Box::pin(futures_util::stream::once(async move { Ok(b) })),
                Inner::Stream(s) => s,
            },
        }
    }

    /// Reads the whole body into memory.
    pub async fn collect_bytes(self) -> Result<Bytes, Error> {
        match self.inner {
            Inner::Full(b) => Ok(b),
            Inner::Stream(mut s) => {
                let mut buf = BytesMut::new();
                while let Some(chunk) = s.next().await {
                    buf.extend_from_slice(&chunk?);
                }
                Ok(buf.freeze())
            }
        }
    }

    pub(crate) fn into_reqwest(self) -> reqwest::Body {
        match self.inner {
            Inner::Full(b) => reqwest::Body::from(b),
            Inner::Stream(s) => reqwest::Body::wrap_stream(s),
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bodies can carry secrets (a Secret manifest): show only the shape.
        match &self.inner {
            Inner::Full(b) => write!(f, "Body({} bytes)", b.len()),
            Inner::Stream(_) => f.write_str("Body(stream)"),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Self {
            inner: Inner::Full(Bytes::from(v)),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Self {
            inner: Inner::Full(b),
        }
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Self::from(s.into_bytes())
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Self::from(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Self::from(Bytes::from_static(s))
    }
}

impl From<()> for Body {
    fn from((): ()) -> Self {
        Self::empty()
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match &mut self.inner {
            Inner::Full(b) => {
                if b.is_empty() {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Ok(Frame::data(std::mem::take(b)))))
                }
            }
            Inner::Stream(s) => s
                .as_mut()
                .poll_next(cx)
                .map(|o| o.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(&self.inner, Inner::Full(b) if b.is_empty())
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(b) => SizeHint::with_exact(b.len() as u64),
            Inner::Stream(_) => SizeHint::default(),
        }
    }
}

/// A body read chunk by chunk (watch events, logs, proxied responses).
///
/// A [`Stream`] of `Result<Bytes, Error>`; `Send` and `Unpin`.
pub struct BodyStream {
    inner: ChunkStream,
}

impl BodyStream {
    /// Reads the rest of the stream into memory.
    pub async fn collect_bytes(self) -> Result<Bytes, Error> {
        Body::from_chunks(self.inner).collect_bytes().await
    }

    /// Back into a [`Body`] (to relay it).
    pub fn into_body(self) -> Body {
        Body::from_chunks(self.inner)
    }
}

impl Stream for BodyStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BodyStream")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn whole_and_streamed_bodies() {
        let b = Body::from(vec![1u8, 2, 3]);
        assert!(b.try_clone().is_some());
        assert_eq!(format!("{b:?}"), "Body(3 bytes)");
        let collected = BodyExt::collect(b).await.unwrap().to_bytes();
        assert_eq!(&collected[..], &[1, 2, 3]);

        let chunks = futures_util::stream::iter(vec![
            Ok::<_, std::io::Error>(Bytes::from_static(b"ab")),
            Ok(Bytes::from_static(b"cd")),
        ]);
        let s = Body::from_stream(chunks);
        assert!(s.try_clone().is_none());
        assert_eq!(&s.collect_bytes().await.unwrap()[..], b"abcd");

        let failing = Body::from_stream(futures_util::stream::iter(vec![Err::<Bytes, _>(
            std::io::Error::other("boom"),
        )]));
        let err = failing.collect_bytes().await.unwrap_err();
        assert!(matches!(
            err,
            Error::Transport(TransportError::RequestBody { .. })
        ));

        let mut empty = Body::empty().into_stream();
        assert!(empty.next().await.is_none());
    }
}
