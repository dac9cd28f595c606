//! Decoding a protobuf `…List` body while it arrives: each item is decoded as soon as
//! its last byte is in, so decoding overlaps the API server's encoding and the
//! transfer, and the body is never held whole (only the item in progress is buffered).
//!
//! The result, and the error for a broken body, are those of
//! [`decode_list`](super::decode_list) on the whole body, with one exception: an
//! envelope that names a content encoding after its `raw` field (no API server writes
//! one) fails while its items are decoded instead of before.

use super::rt::{self, DecodeError, Reader, WireType};
use super::{Envelope, MAGIC, ProtobufError, decoders, parse_unknown};
use crate::api::{ObjectList, Resource};
use bytes::{Buf, BytesMut};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;

/// At most this many items are reserved ahead from the first item's size.
const MAX_RESERVE_AHEAD: usize = 1 << 16;

/// Where the decoder stands in the body.
enum State {
    /// Before the 4-byte magic is complete.
    Magic,
    /// Between the fields of the `runtime.Unknown` envelope.
    Envelope,
    /// Inside the envelope's `raw` field (the list message): this many bytes remain.
    List { remaining: usize },
}

/// A protobuf list of `K` decoded piece by piece: [`feed`](Self::feed) each chunk of the
/// body as it arrives, then [`finish`](Self::finish).
pub(crate) struct ListDecoder<K> {
    object: fn(&[u8]) -> Result<K, DecodeError>,
    state: State,
    /// Bytes received and not yet decoded (at most one field in progress).
    pending: BytesMut,
    /// The envelope fields other than `raw` seen so far.
    api_version: String,
    kind: String,
    content_encoding: String,
    list_len: usize,
    list: ObjectList<K>,
}

impl<K: Resource> ListDecoder<K> {
    /// A decoder for a list of `K`; fails when `K` has no protobuf decoder.
    pub(crate) fn new() -> Result<Self, ProtobufError> {
        Ok(Self::with_decoder(decoders::<K>()?.object))
    }
}

impl<K> ListDecoder<K> {
    /// A decoder for the same kind with nothing fed yet (for a request sent again).
    pub(crate) fn fresh(&self) -> Self {
        Self::with_decoder(self.object)
    }

    fn with_decoder(object: fn(&[u8]) -> Result<K, DecodeError>) -> Self {
        Self {
            object,
            state: State::Magic,
            pending: BytesMut::new(),
            api_version: String::new(),
            kind: String::new(),
            content_encoding: String::new(),
            list_len: 0,
            list: ObjectList {
                metadata: ListMeta::default(),
                items: Vec::new(),
            },
        }
    }

    /// Decodes what `chunk` completes; keeps the rest for the next chunk.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Result<(), ProtobufError> {
        if self.pending.is_empty() {
            // The usual case: decode straight from the chunk, keep only its tail.
            let used = self.advance(chunk, false)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            self.pending.extend_from_slice(chunk);
            let pending = std::mem::take(&mut self.pending);
            let used = self.advance(&pending, false);
            self.pending = pending;
            self.pending.advance(used?);
        }
        Ok(())
    }

    /// The list, once the body has ended.
    pub(crate) fn finish(mut self) -> Result<ObjectList<K>, ProtobufError> {
        let pending = std::mem::take(&mut self.pending);
        let used = self.advance(&pending, true)?;
        let truncated = ProtobufError::Envelope {
            source: DecodeError::Truncated,
        };
        match self.state {
            State::Magic => return Err(ProtobufError::NotProtobuf),
            State::List { .. } => return Err(truncated),
            State::Envelope if used < pending.len() => return Err(truncated),
            State::Envelope => {}
        }
        self.check_kind()?;
        if !self.content_encoding.is_empty() {
            return Err(ProtobufError::ContentEncoding {
                encoding: self.content_encoding,
            });
        }
        self.list.items.shrink_to_fit();
        Ok(self.list)
    }

    /// Decodes every complete piece at the start of `avail`; returns how many bytes
    /// it used. `end`: nothing follows `avail`.
    fn advance(&mut self, avail: &[u8], end: bool) -> Result<usize, ProtobufError> {
        let mut used = 0;
        loop {
            let rest = &avail[used..];
            let step = match self.state {
                State::Magic => {
                    if rest.len() < MAGIC.len() {
                        return Ok(used);
                    }
                    if !rest.starts_with(MAGIC) {
                        return Err(ProtobufError::NotProtobuf);
                    }
                    self.state = State::Envelope;
                    MAGIC.len()
                }
                State::Envelope => match self.envelope_field(rest, end)? {
                    Some(n) => n,
                    None => return Ok(used),
                },
                State::List { remaining } => {
                    let within = &rest[..rest.len().min(remaining)];
                    let whole = within.len() == remaining;
                    // A body that ends inside `raw` leaves the decoder in this state,
                    // which `finish` reports as a cut envelope (as the whole-body
                    // decoder does); only a field cut inside a complete `raw` is an
                    // error here.
                    match self
                        .list_field(within, whole)
                        .map_err(|source| self.message_error(source))?
                    {
                        Some(n) => {
                            self.state = match remaining - n {
                                0 => State::Envelope,
                                remaining => State::List { remaining },
                            };
                            n
                        }
                        None => return Ok(used),
                    }
                }
            };
            used += step;
        }
    }

    /// One envelope field at the start of `rest`: its length, `None` when incomplete.
    /// The `raw` field is entered as soon as its length is known.
    fn envelope_field(&mut self, rest: &[u8], end: bool) -> Result<Option<usize>, ProtobufError> {
        let envelope = |source| ProtobufError::Envelope { source };
        if rest.is_empty() {
            return Ok(None);
        }
        let mut r = Reader::new(rest);
        let header = (|| {
            let (tag, wt) = r.key()?.ok_or(DecodeError::Truncated)?;
            if tag == 2 && wt == WireType::Len {
                let len = usize::try_from(r.varint()?).map_err(|_| DecodeError::Truncated)?;
                return Ok(Some(len));
            }
            Ok(None)
        })();
        match header {
            Ok(Some(len)) => {
                self.check_kind()?;
                // `raw` is a bytes field: a later occurrence replaces an earlier one.
                self.list.metadata = ListMeta::default();
                self.list.items.clear();
                self.list_len = len;
                self.state = match len {
                    0 => State::Envelope,
                    remaining => State::List { remaining },
                };
                Ok(Some(rest.len() - r.remaining()))
            }
            Ok(None) => match whole_field(rest, end).map_err(envelope)? {
                Some(Field { len: n, .. }) => {
                    let Envelope {
                        api_version,
                        kind,
                        content_encoding,
                        ..
                    } = parse_unknown(&rest[..n]).map_err(envelope)?;
                    // Protobuf merge: a later occurrence of a field wins.
                    for (field, value) in [
                        (&mut self.api_version, api_version),
                        (&mut self.kind, kind),
                        (&mut self.content_encoding, content_encoding),
                    ] {
                        if !value.is_empty() {
                            *field = value.into_owned();
                        }
                    }
                    Ok(Some(n))
                }
                None => Ok(None),
            },
            Err(DecodeError::Truncated) if !end => Ok(None),
            Err(source) => Err(envelope(source)),
        }
    }

    /// One field of the list message at the start of `within` (the part of `raw` that
    /// has arrived; `end`: all of it): its length, `None` when incomplete.
    fn list_field(&mut self, within: &[u8], end: bool) -> Result<Option<usize>, DecodeError> {
        if within.is_empty() {
            return Ok(None);
        }
        let Some(Field {
            tag,
            wt,
            value,
            len: n,
        }) = whole_field(within, end)?
        else {
            return Ok(None);
        };
        match tag {
            1 => {
                let mut r = Reader::new(&within[..n]);
                r.key()?;
                rt::value(&mut self.list.metadata, wt, &mut r)?;
            }
            2 => {
                if wt != WireType::Len {
                    return Err(DecodeError::WireTypeMismatch);
                }
                let item = (self.object)(value)?;
                if self.list.items.is_empty() {
                    // Items of one list are alike: room for as many as fit in `raw`.
                    let ahead = self.list_len / n.max(1);
                    self.list.items.reserve(ahead.min(MAX_RESERVE_AHEAD));
                }
                self.list.items.push(item);
            }
            _ => {}
        }
        Ok(Some(n))
    }

    fn check_kind(&self) -> Result<(), ProtobufError> {
        if self.kind == "Status" && self.api_version == "v1" {
            return Err(ProtobufError::UnexpectedKind {
                expected: std::any::type_name::<ObjectList<K>>(),
                api_version: self.api_version.clone(),
                kind: self.kind.clone(),
            });
        }
        Ok(())
    }

    fn message_error(&self, source: DecodeError) -> ProtobufError {
        ProtobufError::Message {
            type_name: std::any::type_name::<ObjectList<K>>(),
            kind: self.kind.clone(),
            source,
        }
    }
}

/// One complete field.
struct Field<'a> {
    tag: u32,
    wt: WireType,
    /// A length-delimited field's contents, else the value's bytes.
    value: &'a [u8],
    /// The whole field's length, key included.
    len: usize,
}

/// The field at the start of `avail` if all of it is there; `None` when more bytes are
/// needed. With `end` (nothing follows) a cut field is an error.
fn whole_field(avail: &[u8], end: bool) -> Result<Option<Field<'_>>, DecodeError> {
    let mut r = Reader::new(avail);
    let read = (|| {
        let (tag, wt) = r.key()?.ok_or(DecodeError::Truncated)?;
        let value = match wt {
            WireType::Len => r.bytes(wt)?,
            _ => {
                let start = avail.len() - r.remaining();
                r.skip(wt)?;
                &avail[start..avail.len() - r.remaining()]
            }
        };
        Ok((tag, wt, value))
    })();
    match read {
        Ok((tag, wt, value)) => Ok(Some(Field {
            tag,
            wt,
            value,
            len: avail.len() - r.remaining(),
        })),
        Err(DecodeError::Truncated) if !end => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
#[path = "list_stream_tests.rs"]
mod tests;
