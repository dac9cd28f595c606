//! Watch events and the streaming decoder: one JSON event per line, read from the body
//! chunk by chunk with a bounded buffer.

use super::error::RequestError;
use crate::error::{ApiError, Error, Status};
use bytes::{Buf, Bytes, BytesMut};
use futures_util::stream::{BoxStream, Stream, StreamExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// One event of a watch.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum WatchEvent<K> {
    /// An object was created (or, at the start of a watch without `resourceVersion`,
    /// already existed).
    Added(K),
    /// An object changed.
    Modified(K),
    /// An object was deleted; this is its last state.
    Deleted(K),
    /// No change, but everything up to this `resourceVersion` has been sent: resume from here.
    Bookmark(Bookmark),
    /// The server reported an error other than 410 Gone (which ends the stream with an
    /// [`Error::Api`] whose [`is_gone`](Error::is_gone) is true).
    Error(Status),
}

impl<K: super::Resource> WatchEvent<K> {
    /// The `resourceVersion` this event brings the watch to, if it carries one.
    pub fn resource_version(&self) -> Option<&str> {
        match self {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                o.meta().resource_version.as_deref()
            }
            WatchEvent::Bookmark(b) => Some(&b.metadata.resource_version),
            WatchEvent::Error(_) => None,
        }
    }
}

/// The object of a `BOOKMARK` event: only a `resourceVersion` (and annotations such as
/// `k8s.io/initial-events-end`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Bookmark {
    /// The bookmark's metadata.
    pub metadata: BookmarkMeta,
}

/// The annotation of the bookmark that ends the initial events of a streaming list.
pub const INITIAL_EVENTS_END_ANNOTATION: &str = "k8s.io/initial-events-end";

impl Bookmark {
    /// The `resourceVersion` to resume from.
    pub fn resource_version(&self) -> &str {
        &self.metadata.resource_version
    }

    /// Whether this bookmark ends the initial events of a watch with
    /// [`WatchParams::initial_events`](super::WatchParams::initial_events).
    pub fn is_initial_events_end(&self) -> bool {
        self.metadata
            .annotations
            .get(INITIAL_EVENTS_END_ANNOTATION)
            .is_some_and(|v| v == "true")
    }
}

/// Metadata of a [`Bookmark`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BookmarkMeta {
    /// The version to resume from.
    pub resource_version: String,
    /// Annotations of the bookmark.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(tag = "type", content = "object")]
enum RawEvent<K> {
    #[serde(rename = "ADDED")]
    Added(K),
    #[serde(rename = "MODIFIED")]
    Modified(K),
    #[serde(rename = "DELETED")]
    Deleted(K),
    #[serde(rename = "BOOKMARK")]
    Bookmark(Bookmark),
    #[serde(rename = "ERROR")]
    Error(Status),
}

/// Splits a byte stream into newline-terminated lines, never buffering more than
/// `max` bytes (plus one incoming chunk) of an unfinished line.
#[derive(Debug)]
pub(crate) struct LineDecoder {
    buf: BytesMut,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
    max: usize,
}

/// A line exceeded the decoder's maximum.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LineTooLong;

impl LineDecoder {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            scanned: 0,
            max,
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete, non-blank line (without its newline).
    pub(crate) fn next_line(&mut self) -> Result<Option<Bytes>, LineTooLong> {
        loop {
            match self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let end = self.scanned + i;
                    self.scanned = 0;
                    if end > self.max {
                        return Err(LineTooLong);
                    }
                    let line = self.buf.split_to(end).freeze();
                    self.buf.advance(1);
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Ok(Some(line));
                }
                None => {
                    self.scanned = self.buf.len();
                    if self.buf.len() > self.max {
                        return Err(LineTooLong);
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// What is left after the body ended (a last line without newline), if not blank.
    pub(crate) fn finish(&mut self) -> Option<Bytes> {
        self.scanned = 0;
        let rest = self.buf.split().freeze();
        (!rest.iter().all(u8::is_ascii_whitespace)).then_some(rest)
    }

    /// Bytes currently buffered.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// Decodes one event line; a 410 `ERROR` event becomes `Error::Api` (Gone).
fn decode_event<K: DeserializeOwned>(line: &[u8], url: &str) -> Result<WatchEvent<K>, Error> {
    let raw: RawEvent<K> = serde_json::from_slice(line).map_err(|source| Error::Decode {
        url: url.to_owned(),
        type_name: std::any::type_name::<WatchEvent<K>>(),
        source,
    })?;
    Ok(match raw {
        RawEvent::Added(o) => WatchEvent::Added(o),
        RawEvent::Modified(o) => WatchEvent::Modified(o),
        RawEvent::Deleted(o) => WatchEvent::Deleted(o),
        RawEvent::Bookmark(b) => WatchEvent::Bookmark(b),
        RawEvent::Error(status) if status.code == Some(410) => {
            return Err(status_error(url, status));
        }
        RawEvent::Error(status) => WatchEvent::Error(status),
    })
}

/// The error for an `ERROR` event's `Status` (code 500 when the Status has none).
pub(crate) fn status_error(url: &str, status: Status) -> Error {
    Error::Api(Box::new(ApiError {
        method: http::Method::GET,
        url: url.to_owned(),
        code: status.code.unwrap_or(500),
        status: Some(status),
        body: None,
    }))
}

struct DecodeState<S> {
    body: S,
    lines: LineDecoder,
    url: String,
    done: bool,
}

/// Turns a watch response body into typed events. The stream ends after the body ends
/// or after the first error.
pub(crate) fn decode_stream<K, S>(
    body: S,
    url: String,
    max_event_size: usize,
) -> BoxStream<'static, Result<WatchEvent<K>, Error>>
where
    K: DeserializeOwned + Send + 'static,
    S: Stream<Item = Result<Bytes, Error>> + Send + Unpin + 'static,
{
    let state = DecodeState {
        body,
        lines: LineDecoder::new(max_event_size),
        url,
        done: false,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.lines.next_line() {
                Ok(Some(line)) => {
                    let ev = decode_event(&line, &st.url);
                    st.done = ev.is_err();
                    return Some((ev, st));
                }
                Ok(None) => {}
                Err(LineTooLong) => {
                    st.done = true;
                    let err = RequestError::EventTooLarge {
                        url: st.url.clone(),
                        limit: st.lines.max,
                    };
                    return Some((Err(err.into()), st));
                }
            }
            match st.body.next().await {
                Some(Ok(chunk)) => st.lines.push(&chunk),
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None => {
                    st.done = true;
                    let rest = st.lines.finish()?;
                    let ev = decode_event(&rest, &st.url);
                    return Some((ev, st));
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    #[test]
    fn lines_split_across_chunks() {
        let mut d = LineDecoder::new(100);
        d.push(b"{\"a\":");
        assert_eq!(d.next_line(), Ok(None));
        d.push(b"1}\n\n{\"b\"");
        assert_eq!(
            d.next_line().unwrap().unwrap(),
            Bytes::from_static(b"{\"a\":1}")
        );
        assert_eq!(d.next_line(), Ok(None));
        assert_eq!(d.buffered(), 4);
        d.push(b":2}");
        assert_eq!(d.next_line(), Ok(None));
        assert_eq!(d.finish().unwrap(), Bytes::from_static(b"{\"b\":2}"));
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn line_limit_is_enforced_with_and_without_newline() {
        let mut d = LineDecoder::new(8);
        d.push(b"12345678\n123456789\n");
        assert_eq!(d.next_line().unwrap().unwrap().len(), 8);
        assert_eq!(d.next_line(), Err(LineTooLong));
        let mut d = LineDecoder::new(8);
        d.push(b"123456789");
        assert_eq!(d.next_line(), Err(LineTooLong));
    }

    fn body(chunks: &[&'static str]) -> impl Stream<Item = Result<Bytes, Error>> + Unpin {
        futures_util::stream::iter(
            chunks
                .iter()
                .map(|c| Ok(Bytes::from_static(c.as_bytes())))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn events_decode_in_order() {
        let s = body(&[
            r#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"1"}}}"#,
            "\n",
            r#"{"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"2"}}}
{"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"3","annotations":{"k8s.io/initial-events-end":"true"}}}}
{"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"4"}}}
{"type":"ERROR","object":{"kind":"Status","code":500,"reason":"InternalError"}}"#,
        ]);
        let events: Vec<_> = decode_stream::<ConfigMap, _>(s, "/w".into(), 1 << 20)
            .collect()
            .await;
        let events: Vec<_> = events.into_iter().map(Result::unwrap).collect();
        assert_eq!(events.len(), 5);
        assert!(
            matches!(&events[0], WatchEvent::Added(cm) if cm.metadata.name.as_deref() == Some("a"))
        );
        let rvs: Vec<_> = events.iter().map(|e| e.resource_version()).collect();
        assert_eq!(rvs, [Some("1"), Some("2"), Some("3"), Some("4"), None]);
        assert!(matches!(&events[4], WatchEvent::Error(s) if s.code == Some(500)));
        assert!(matches!(&events[2], WatchEvent::Bookmark(b) if b.is_initial_events_end()));
    }

    #[tokio::test]
    async fn gone_event_is_a_typed_error_and_ends_the_stream() {
        let s = body(&[
            "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Expired\",\"code\":410}}\n",
            "{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}\n",
        ]);
        let events: Vec<_> = decode_stream::<ConfigMap, _>(s, "/w".into(), 1 << 20)
            .collect()
            .await;
        assert_eq!(events.len(), 1);
        let err = events.into_iter().next().unwrap().unwrap_err();
        assert!(err.is_gone());
        assert_eq!(err.reason(), Some("Expired"));
    }

    #[tokio::test]
    async fn too_large_event_is_a_clear_error() {
        let s = body(&["{\"type\":\"ADDED\",", "\"object\":{\"metadata\":{}}}\n"]);
        let events: Vec<_> = decode_stream::<ConfigMap, _>(s, "/w".into(), 20)
            .collect()
            .await;
        assert_eq!(events.len(), 1);
        let err = events.into_iter().next().unwrap().unwrap_err();
        assert!(matches!(
            err,
            Error::Request(RequestError::EventTooLarge { limit: 20, .. })
        ));
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "a watch event from /w exceeds the maximum event size of 20 bytes"
        );
    }

    #[tokio::test]
    async fn garbage_is_a_decode_error() {
        let s = body(&["not json\n"]);
        let mut events = decode_stream::<ConfigMap, _>(s, "/w".into(), 100);
        assert!(matches!(
            events.next().await,
            Some(Err(Error::Decode { .. }))
        ));
        assert!(events.next().await.is_none());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn config() -> ProptestConfig {
            ProptestConfig {
                cases: 256,
                failure_persistence: None,
                ..ProptestConfig::default()
            }
        }

        /// `bytes` cut at `cuts` (positions taken modulo the length, in any order).
        fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Bytes> {
            let mut at: Vec<usize> = cuts
                .iter()
                .map(|c| {
                    if bytes.is_empty() {
                        0
                    } else {
                        c % (bytes.len() + 1)
                    }
                })
                .collect();
            at.sort_unstable();
            at.dedup();
            let mut chunks = Vec::new();
            let mut start = 0;
            for end in at.into_iter().chain([bytes.len()]) {
                if end > start {
                    chunks.push(Bytes::copy_from_slice(&bytes[start..end]));
                    start = end;
                }
            }
            chunks
        }

        fn run(chunks: Vec<Bytes>, max: usize) -> Vec<Result<WatchEvent<ConfigMap>, String>> {
            let body = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, Error>));
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(
                decode_stream::<ConfigMap, _>(body, "/w".into(), max)
                    .map(|r| r.map_err(|e| crate::error::Report::new(&e).to_string()))
                    .collect(),
            )
        }

        fn event_line() -> impl Strategy<Value = String> {
            let name = "[a-z0-9-]{1,12}";
            let rv = "[0-9]{1,6}";
            prop_oneof![
                (name, rv).prop_map(|(n, rv)| serde_json::json!({"type": "ADDED", "object": {"metadata": {"name": n, "resourceVersion": rv}, "data": {"k": "v\nw"}}}).to_string()),
                (name, rv).prop_map(|(n, rv)| serde_json::json!({"type": "MODIFIED", "object": {"metadata": {"name": n, "resourceVersion": rv}}}).to_string()),
                (name, rv).prop_map(|(n, rv)| serde_json::json!({"type": "DELETED", "object": {"metadata": {"name": n, "resourceVersion": rv}}}).to_string()),
                rv.prop_map(|rv| serde_json::json!({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": rv}}}).to_string()),
                Just(serde_json::json!({"type": "ERROR", "object": {"kind": "Status", "code": 500}}).to_string()),
            ]
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn line_decoder_is_bounded_and_never_panics(
                bytes in prop::collection::vec(prop_oneof![Just(b'\n'), Just(b' '), any::<u8>()], 0..2048),
                cuts in prop::collection::vec(any::<usize>(), 0..16),
                max in 0usize..256,
            ) {
                let mut d = LineDecoder::new(max);
                'chunks: for chunk in split(&bytes, &cuts) {
                    d.push(&chunk);
                    loop {
                        match d.next_line() {
                            Ok(Some(line)) => {
                                prop_assert!(line.len() <= max);
                                prop_assert!(!line.contains(&b'\n'));
                            }
                            Ok(None) => break,
                            Err(LineTooLong) => break 'chunks,
                        }
                    }
                    prop_assert!(d.buffered() <= max + chunk.len());
                }
                let _ = d.finish();
            }

            #[test]
            fn arbitrary_bodies_end_after_at_most_one_error(
                bytes in prop::collection::vec(any::<u8>(), 0..1024),
                cuts in prop::collection::vec(any::<usize>(), 0..16),
                max in 1usize..512,
            ) {
                let events = run(split(&bytes, &cuts), max);
                let errors = events.iter().filter(|e| e.is_err()).count();
                prop_assert!(errors <= 1);
                if errors == 1 {
                    prop_assert!(events.last().unwrap().is_err(), "the stream ends at its error");
                }
            }

            #[test]
            fn splitting_a_valid_stream_anywhere_gives_the_same_events(
                lines in prop::collection::vec(event_line(), 0..12),
                blank in prop::collection::vec(any::<bool>(), 12),
                trailing_newline in any::<bool>(),
                cuts in prop::collection::vec(any::<usize>(), 0..24),
            ) {
                let mut text = String::new();
                for (i, line) in lines.iter().enumerate() {
                    if blank[i] {
                        text.push_str("\n \n");
                    }
                    text.push_str(line);
                    if i + 1 < lines.len() || trailing_newline {
                        text.push('\n');
                    }
                }
                let whole = run(vec![Bytes::from(text.clone())], 1 << 20);
                let pieces = run(split(text.as_bytes(), &cuts), 1 << 20);
                prop_assert_eq!(whole.len(), lines.len());
                prop_assert!(whole.iter().all(Result::is_ok));
                prop_assert_eq!(pieces, whole);
            }
        }
    }
}
