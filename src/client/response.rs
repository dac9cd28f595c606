//! Turning HTTP answers into results: status checks with the server's `Status`, JSON
//! decoding that names the URL and type, and reqwest/hyper → `http` conversions.

use super::body::Body;
use super::direct::DirectBody;
use crate::error::{ApiError, Error, Status};
use crate::transport::{BoxError, TransportError};
use bytes::Bytes;
use futures_util::StreamExt;

/// At most this much of a non-`Status` error body is kept.
const MAX_ERROR_BODY: usize = 1024;

/// At most this much of a non-2xx body is read (to decode the `Status` in it); the rest
/// is not read and the connection is closed. An API server's `Status` is a few KiB even
/// with many `details.causes`; client-go reads error bodies whole, which lets a hostile
/// server make it buffer without end.
pub const MAX_ERROR_BODY_READ: usize = 1024 * 1024;

/// A response, and what is needed to describe it in errors.
pub(crate) struct Answer {
    pub(crate) method: http::Method,
    pub(crate) url: String,
    pub(crate) response: Received,
}

/// A response from the built-in HTTP stack (through reqwest, or straight from hyper with
/// the request's deadline for reading the body), or from a custom transport.
pub(crate) enum Received {
    Http(reqwest::Response),
    Direct(http::Response<DirectBody>),
    Custom(http::Response<Body>),
}

impl Received {
    pub(crate) fn status(&self) -> http::StatusCode {
        match self {
            Received::Http(r) => r.status(),
            Received::Direct(r) => r.status(),
            Received::Custom(r) => r.status(),
        }
    }

    pub(crate) fn headers(&self) -> &http::HeaderMap {
        match self {
            Received::Http(r) => r.headers(),
            Received::Direct(r) => r.headers(),
            Received::Custom(r) => r.headers(),
        }
    }
}

impl Answer {
    /// Fails with [`Error::Api`] unless the status is 2xx.
    pub(crate) async fn check(self) -> Result<Self, Error> {
        if self.response.status().is_success() {
            return Ok(self);
        }
        let code = self.response.status().as_u16();
        // An unreadable error body still yields the status code. (Boxed: only an error
        // answer pays for the read's state.)
        let (body, complete) = Box::pin(read_at_most(self.response, MAX_ERROR_BODY_READ)).await;
        if complete {
            return Err(api_error(self.method, self.url, code, &body));
        }
        tracing::debug!(method = %self.method, url = %self.url, code, limit = MAX_ERROR_BODY_READ, "error body too large; not read further");
        let mut text = truncate_utf8(&body, MAX_ERROR_BODY);
        text.push_str(&format!(
            " (body truncated: longer than {MAX_ERROR_BODY_READ} bytes)"
        ));
        Err(Error::Api(Box::new(ApiError {
            method: self.method,
            url: self.url,
            code,
            status: None,
            body: Some(text),
        })))
    }

    /// The body's length as the server announced it (`Content-Length`), if it did.
    pub(crate) fn content_length(&self) -> Option<u64> {
        match &self.response {
            Received::Http(r) => r.content_length(),
            Received::Direct(_) | Received::Custom(_) => self
                .response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok()),
        }
    }

    /// Hands `response`'s body to `sink` chunk by chunk as it arrives; its output once
    /// the body has ended. A failed read is [`TransportError::ResponseBody`] naming `url`
    /// (the answer's redacted URL).
    pub(crate) async fn read_into<S: BodySink>(
        response: Received,
        url: &str,
        mut sink: S,
    ) -> Result<S::Output, Error> {
        let mut chunks = Chunks::of(response);
        loop {
            match chunks.next().await {
                Ok(Some(chunk)) => sink.chunk(chunk)?,
                Ok(None) => return sink.finish(),
                Err(ChunkError::Http(source)) => return Err(body_broke(url.to_owned(), source)),
                Err(ChunkError::Custom(e)) => return Err(e),
            }
        }
    }

    /// Into an `http::Response` whose body streams.
    pub(crate) fn into_http(self) -> http::Response<Body> {
        let url = self.url;
        let response: http::Response<reqwest::Body> = match self.response {
            Received::Http(response) => response.into(),
            Received::Direct(response) => {
                let (parts, body) = response.into_parts();
                // The stream ends after an error; the URL travels with the body and is
                // taken only by an error.
                let chunks = futures_util::stream::unfold(Some((body, url)), |state| async move {
                    let (mut body, url) = state?;
                    match body.next().await {
                        Ok(Some(chunk)) => Some((Ok(chunk), Some((body, url)))),
                        Ok(None) => None,
                        Err(source) => Some((Err(body_broke(url, source)), None)),
                    }
                });
                return http::Response::from_parts(parts, Body::from_chunks(Box::pin(chunks)));
            }
            Received::Custom(response) => return response,
        };
        let (parts, body) = response.into_parts();
        let chunks = http_body_util::BodyDataStream::new(body)
            .map(move |r| r.map_err(|e| body_broke(url.clone(), Box::new(e))));
        http::Response::from_parts(parts, Body::from_chunks(Box::pin(chunks)))
    }
}

/// A body that broke off while it was read: [`TransportError::ResponseBody`] naming
/// `url` (the answer's redacted URL).
fn body_broke(url: String, source: BoxError) -> Error {
    Error::Transport(TransportError::ResponseBody { url, source })
}

/// At most this much room is set aside up front for a body from its `Content-Length`
/// (a server may announce more than it sends); a longer body grows the buffer as it
/// arrives.
const MAX_BODY_PREALLOCATION: u64 = 64 * 1024 * 1024;

/// The room to set aside for a body whose first chunks hold `received` bytes and whose
/// `Content-Length` is `announced`.
fn initial_capacity(announced: Option<u64>, received: usize) -> usize {
    let announced = announced.unwrap_or(0).min(MAX_BODY_PREALLOCATION);
    usize::try_from(announced).map_or(received, |a| a.max(received))
}

/// Reads up to `limit` bytes of `response`'s body; `true` when that is the whole body.
/// A body that is longer, or fails midway, is dropped unread (its connection closes).
async fn read_at_most(response: Received, limit: usize) -> (Vec<u8>, bool) {
    let mut chunks = Chunks::of(response);
    let mut body = Vec::new();
    loop {
        match chunks.next().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    body.extend_from_slice(&chunk[..limit - body.len()]);
                    return (body, false);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return (body, true),
            // What arrived is still worth showing; the status code is what matters.
            Err(_) => return (body, true),
        }
    }
}

/// A body read chunk by chunk.
enum Chunks {
    Http(reqwest::Response),
    Direct(DirectBody),
    Custom(super::body::BodyStream),
}

/// Why reading the next chunk failed.
enum ChunkError {
    /// The built-in HTTP stack's error (for [`TransportError::ResponseBody`]).
    Http(BoxError),
    Custom(Error),
}

impl Chunks {
    fn of(response: Received) -> Self {
        match response {
            Received::Http(response) => Chunks::Http(response),
            Received::Direct(response) => Chunks::Direct(response.into_body()),
            Received::Custom(response) => Chunks::Custom(response.into_body().into_stream()),
        }
    }

    /// The next chunk, `None` at the end of the body.
    async fn next(&mut self) -> Result<Option<Bytes>, ChunkError> {
        match self {
            Chunks::Http(r) => r
                .chunk()
                .await
                .map_err(|e| ChunkError::Http(Box::new(e.without_url()))),
            Chunks::Direct(b) => b.next().await.map_err(ChunkError::Http),
            Chunks::Custom(s) => s.next().await.transpose().map_err(ChunkError::Custom),
        }
    }
}

/// Takes a successful answer's body piece by piece as it arrives.
pub(crate) trait BodySink {
    /// What the whole body makes.
    type Output;
    /// One piece of the body.
    fn chunk(&mut self, chunk: Bytes) -> Result<(), Error>;
    /// The body has ended.
    fn finish(self) -> Result<Self::Output, Error>;
}

/// The whole body in one buffer. Each chunk is copied out as it arrives and let go, so
/// a large body is held once (plus the chunk in hand) instead of as every received
/// chunk and then one contiguous copy of them all; a body that arrives as one chunk is
/// kept as it is.
pub(crate) struct WholeBody {
    first: Option<Bytes>,
    rest: Vec<u8>,
    announced: Option<u64>,
}

impl WholeBody {
    /// A buffer for a body whose `Content-Length` is `announced`.
    pub(crate) fn new(announced: Option<u64>) -> Self {
        Self {
            first: None,
            rest: Vec::new(),
            announced,
        }
    }
}

impl BodySink for WholeBody {
    type Output = Bytes;

    fn chunk(&mut self, chunk: Bytes) -> Result<(), Error> {
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(chunk);
            return Ok(());
        }
        if let Some(first) = self.first.take() {
            self.rest
                .reserve_exact(initial_capacity(self.announced, first.len() + chunk.len()));
            self.rest.extend_from_slice(&first);
        }
        self.rest.extend_from_slice(&chunk);
        Ok(())
    }

    fn finish(self) -> Result<Bytes, Error> {
        Ok(match self.first {
            Some(first) => first,
            None => Bytes::from(self.rest),
        })
    }
}

/// Decodes `bytes` as `T` straight from the slice.
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    url: String,
) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|source| Error::Decode {
        url,
        type_name: std::any::type_name::<T>(),
        source,
    })
}

/// An [`ApiError`] from a non-2xx answer: the decoded `Status` when the body is one,
/// else the start of the body.
pub(crate) fn api_error(method: http::Method, url: String, code: u16, body: &[u8]) -> Error {
    let status = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .filter(|v| v.get("kind").and_then(|k| k.as_str()) == Some("Status"))
        .and_then(|v| serde_json::from_value::<Status>(v).ok());
    // The answer to a protobuf request carries a protobuf Status.
    #[cfg(feature = "protobuf")]
    let status = status.or_else(|| crate::codec::decode_status(body).ok());
    let body = if status.is_some() || body.is_empty() {
        None
    } else {
        Some(truncate_utf8(body, MAX_ERROR_BODY))
    };
    Error::Api(Box::new(ApiError {
        method,
        url,
        code,
        status,
        body,
    }))
}

fn truncate_utf8(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(max)]);
    let mut text = text.into_owned();
    // A cut through a multi-byte character shows as U+FFFD at the end; drop it.
    if body.len() > max {
        while text.ends_with('\u{FFFD}') {
            text.pop();
        }
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_room_follows_content_length_within_a_bound() {
        assert_eq!(initial_capacity(None, 10), 10);
        assert_eq!(
            initial_capacity(Some(5), 10),
            10,
            "never less than what arrived"
        );
        assert_eq!(initial_capacity(Some(1 << 20), 10), 1 << 20);
        assert_eq!(
            initial_capacity(Some(u64::MAX), 10),
            64 * 1024 * 1024,
            "a lying Content-Length reserves at most the bound"
        );
    }

    #[test]
    fn status_bodies_are_decoded() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods \"x\" not found","reason":"NotFound","code":404}"#;
        let err = api_error(
            http::Method::GET,
            "https://h/api/v1/namespaces/d/pods/x".into(),
            404,
            body,
        );
        assert!(err.is_not_found());
        assert_eq!(err.reason(), Some("NotFound"));
        let api = err.api().unwrap();
        assert_eq!(api.body, None);
        assert_eq!(
            err.to_string(),
            r#"GET https://h/api/v1/namespaces/d/pods/x answered 404 NotFound: pods "x" not found"#
        );
        // The message is not repeated by a source.
        assert!(std::error::Error::source(&err).is_none());
    }

    #[test]
    fn other_bodies_are_truncated() {
        let long = "é".repeat(2000);
        let err = api_error(http::Method::POST, "u".into(), 502, long.as_bytes());
        let body = err.api().unwrap().body.clone().unwrap();
        assert!(body.ends_with('…'));
        assert!(body.len() <= MAX_ERROR_BODY + '…'.len_utf8());
        assert!(!body.contains('\u{FFFD}'));
        let plain = api_error(http::Method::GET, "u".into(), 500, b"oops");
        assert_eq!(plain.api().unwrap().body.as_deref(), Some("oops"));
        assert_eq!(plain.api().unwrap().status, None);
    }

    #[test]
    fn decode_errors_name_url_and_type() {
        let err = decode_json::<Vec<u32>>(b"{}", "https://h/x".into()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("https://h/x") && msg.contains("Vec<u32>"),
            "{msg}"
        );
    }
}
