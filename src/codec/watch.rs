//! The protobuf watch stream (`application/vnd.kubernetes.protobuf;stream=watch`):
//! frames of a 4-byte big-endian length and a `metav1.WatchEvent` (`type`, and
//! `object.raw` holding a whole `k8s\0` envelope of the object or of a `Status`).

use super::error::ProtobufError;
use super::rt::{Reader, Value};
use crate::api::{Bookmark, RequestError, Resource, WatchEvent};
use crate::error::Error;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::stream::{BoxStream, Stream, StreamExt};

/// A frame's length prefix exceeds the maximum event size.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FrameTooLarge {
    pub(crate) length: u32,
}

/// Splits a byte stream into length-prefixed frames, refusing a frame longer than
/// `max` before buffering it.
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    buf: BytesMut,
    max: usize,
}

impl FrameDecoder {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max,
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete frame, `None` when more bytes are needed.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Bytes>, FrameTooLarge> {
        let Some(head) = self.buf.get(..4) else {
            return Ok(None);
        };
        let length = u32::from_be_bytes(head.try_into().expect("4 bytes"));
        let len = length as usize;
        if len > self.max {
            return Err(FrameTooLarge { length });
        }
        if self.buf.len() < 4 + len {
            self.buf.reserve(4 + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    /// Whether bytes of an unfinished frame are left.
    pub(crate) fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }
}

/// Decodes one frame: a `WatchEvent` whose object is an envelope.
pub(crate) fn decode_event<K: Resource + 'static>(
    frame: &[u8],
) -> Result<Result<WatchEvent<K>, crate::error::Status>, ProtobufError> {
    let mut event_type = String::new();
    let mut object: &[u8] = &[];
    let mut r = Reader::new(frame);
    let envelope_err = |source| ProtobufError::Envelope { source };
    while let Some((tag, wt)) = r.key().map_err(envelope_err)? {
        match tag {
            1 => event_type.merge(wt, &mut r).map_err(envelope_err)?,
            2 => super::rt::inline(wt, &mut r, |tag, wt, r| {
                match tag {
                    1 => object = r.bytes(wt)?,
                    _ => r.skip(wt)?,
                }
                Ok(())
            })
            .map_err(envelope_err)?,
            _ => r.skip(wt).map_err(envelope_err)?,
        }
    }
    let env = super::envelope(object)?;
    let decode = || super::decode_raw::<K>(env.raw, &env.kind);
    Ok(Ok(match event_type.as_str() {
        "ADDED" => WatchEvent::Added(decode()?),
        "MODIFIED" => WatchEvent::Modified(decode()?),
        "DELETED" => WatchEvent::Deleted(decode()?),
        "BOOKMARK" => {
            let object = decode()?;
            let meta = object.meta();
            let mut bookmark = Bookmark::default();
            bookmark.metadata.resource_version = meta.resource_version.clone().unwrap_or_default();
            bookmark.metadata.annotations = meta.annotations.clone().unwrap_or_default();
            WatchEvent::Bookmark(bookmark)
        }
        "ERROR" => return Ok(Err(super::status_from_raw(env.raw, &env.kind)?)),
        _ => return Err(ProtobufError::EventType { event_type }),
    }))
}

struct State<S> {
    body: S,
    frames: FrameDecoder,
    url: String,
    done: bool,
}

fn protobuf_error<K>(url: &str, source: ProtobufError) -> Error {
    Error::DecodeProtobuf {
        url: url.to_owned(),
        type_name: std::any::type_name::<WatchEvent<K>>(),
        source,
    }
}

/// Turns a protobuf watch body into typed events; a 410 `ERROR` event ends the stream
/// with a Gone [`Error::Api`], like the JSON decoder.
pub(crate) fn decode_stream<K, S>(
    body: S,
    url: String,
    max_event_size: usize,
) -> BoxStream<'static, Result<WatchEvent<K>, Error>>
where
    K: Resource + Send + 'static,
    S: Stream<Item = Result<Bytes, Error>> + Send + Unpin + 'static,
{
    let state = State {
        body,
        frames: FrameDecoder::new(max_event_size),
        url,
        done: false,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.frames.next_frame() {
                Ok(Some(frame)) => {
                    let ev = match decode_event::<K>(&frame) {
                        Ok(Ok(ev)) => Ok(ev),
                        Ok(Err(status)) if status.code == Some(410) => {
                            Err(crate::api::status_error(&st.url, status))
                        }
                        Ok(Err(status)) => Ok(WatchEvent::Error(status)),
                        Err(e) => Err(protobuf_error::<K>(&st.url, e)),
                    };
                    st.done = ev.is_err();
                    return Some((ev, st));
                }
                Ok(None) => {}
                Err(FrameTooLarge { .. }) => {
                    // The same error as an oversized JSON line.
                    st.done = true;
                    let err = RequestError::EventTooLarge {
                        url: st.url.clone(),
                        limit: st.frames.max,
                    };
                    return Some((Err(err.into()), st));
                }
            }
            match st.body.next().await {
                Some(Ok(chunk)) => st.frames.push(&chunk),
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None => {
                    st.done = true;
                    if st.frames.has_partial() {
                        let e = protobuf_error::<K>(&st.url, ProtobufError::TruncatedFrame);
                        return Some((Err(e), st));
                    }
                    return None;
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_chunks_and_oversized_frames_are_refused_before_buffering() {
        let mut d = FrameDecoder::new(8);
        d.push(&[0, 0, 0, 3, b'a']);
        assert!(d.next_frame().unwrap().is_none());
        d.push(b"bc\0\0");
        assert_eq!(d.next_frame().unwrap().unwrap(), Bytes::from_static(b"abc"));
        assert!(d.next_frame().unwrap().is_none());
        assert!(d.has_partial());
        let mut d = FrameDecoder::new(8);
        d.push(&[0xff, 0xff, 0xff, 0xff]);
        let err = d.next_frame().unwrap_err();
        assert_eq!(err, FrameTooLarge { length: u32::MAX });
        assert!(
            d.buf.capacity() < 1024,
            "no allocation for the announced length"
        );
    }
}
