//! SPDY/3.1 framing (draft 3.1), as far as Kubernetes port-forward uses it: the frame
//! layout, and the header blocks (name/value pairs, zlib-compressed with the SPDY/3
//! dictionary over one zlib stream per direction for the whole connection).
//!
//! The decoder is written for a hostile or broken peer: every length is checked
//! against what arrived before anything is allocated, frames and header blocks are
//! bounded ([`MAX_FRAME`], [`MAX_HEADER_BLOCK`]), unknown control frame types are
//! skipped (as the draft says), and bad zlib data is an error, never a panic.

use super::spdy_dictionary::DICTIONARY;
use bytes::{Buf, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

/// The SPDY version spoken.
pub(crate) const VERSION: u16 = 3;
/// The largest frame accepted (its payload; the wire allows 16 MiB). The Go peers
/// (kubelet, kwok) write data frames of at most 32 KiB and header frames of a few
/// dozen bytes.
pub const MAX_FRAME: usize = 1024 * 1024;
/// The largest decompressed header block accepted.
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;

pub(crate) const SYN_STREAM: u16 = 1;
pub(crate) const SYN_REPLY: u16 = 2;
pub(crate) const RST_STREAM: u16 = 3;
pub(crate) const SETTINGS: u16 = 4;
pub(crate) const PING: u16 = 6;
pub(crate) const GOAWAY: u16 = 7;
pub(crate) const HEADERS: u16 = 8;
pub(crate) const WINDOW_UPDATE: u16 = 9;

/// FLAG_FIN of data and control frames: the sender's half of the stream ends.
pub(crate) const FLAG_FIN: u8 = 0x01;
/// RST_STREAM status: the stream is refused (we take no streams from the server).
pub(crate) const REFUSED_STREAM: u32 = 3;
/// RST_STREAM status: the stream is cancelled.
pub(crate) const CANCEL: u32 = 5;
/// Bytes of a frame header (data and control alike).
pub(crate) const FRAME_HEADER: usize = 8;

/// The server broke SPDY/3.1 (or the connection carrying it ended): what went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpdyError {
    /// A control frame of another SPDY version.
    #[error("the server sent a SPDY/{version} control frame on a SPDY/3.1 connection")]
    UnsupportedVersion {
        /// The frame's version field.
        version: u16,
    },
    /// A frame longer than this client accepts.
    #[error("the server sent a SPDY frame of {length} bytes, more than the {limit} accepted")]
    FrameTooLarge {
        /// The frame's length field.
        length: usize,
        /// [`MAX_FRAME`].
        limit: usize,
    },
    /// A frame whose length does not fit its type.
    #[error("the server sent a malformed SPDY {frame} frame")]
    Malformed {
        /// The frame type.
        frame: &'static str,
    },
    /// A header block that is not valid zlib data for the SPDY/3 dictionary.
    #[error("a SPDY header block from the server is not valid compressed data")]
    BadCompression,
    /// A header block decompressing to more than this client accepts.
    #[error("a SPDY header block from the server decompresses to more than {limit} bytes")]
    HeaderBlockTooLarge {
        /// [`MAX_HEADER_BLOCK`].
        limit: usize,
    },
    /// A header block whose name/value pairs are not well-formed.
    #[error("a SPDY header block from the server is malformed: {reason}")]
    BadHeaderBlock {
        /// What is wrong.
        reason: &'static str,
    },
    /// A frame for a stream this client never opened.
    #[error("the server sent a SPDY frame for stream {stream}, which this client never opened")]
    UnknownStream {
        /// The stream id.
        stream: u32,
    },
    /// The server reset a forwarded connection's stream.
    #[error("the server reset the SPDY stream of port {port} (status {status})")]
    StreamReset {
        /// The remote port.
        port: u16,
        /// The RST_STREAM status code.
        status: u32,
    },
    /// The server did not answer a new stream in time.
    #[error("the server did not accept the SPDY streams for port {port} within {seconds} s")]
    NoReply {
        /// The remote port.
        port: u16,
        /// The time waited.
        seconds: u64,
    },
    /// The server sent GOAWAY: it takes no new streams on this connection.
    #[error("the server takes no new port-forward streams on this connection (GOAWAY)")]
    GoneAway,
    /// The SPDY connection ended before this forwarded connection did.
    #[error("the port-forward connection ended before the stream of port {port} did")]
    ConnectionLost {
        /// The remote port.
        port: u16,
    },
    /// Compressing our own header block failed.
    #[error("compressing a SPDY header block failed")]
    Compress,
}

/// Header name/value pairs, names in lower case (a value holding several values
/// separated by NUL becomes several pairs).
pub(crate) type Headers = Vec<(String, String)>;

/// One decoded frame.
#[derive(Debug, PartialEq)]
pub(crate) enum Frame {
    Data {
        stream: u32,
        fin: bool,
        data: Bytes,
    },
    SynStream {
        stream: u32,
        fin: bool,
        headers: Headers,
    },
    SynReply {
        stream: u32,
        fin: bool,
        headers: Headers,
    },
    RstStream {
        stream: u32,
        status: u32,
    },
    Settings,
    Ping {
        id: u32,
    },
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        stream: u32,
        fin: bool,
        headers: Headers,
    },
    WindowUpdate {
        stream: u32,
        delta: u32,
    },
    /// A control frame type this client does not know (skipped).
    Unknown {
        kind: u16,
    },
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Decodes frames from the server; owns the connection's header decompressor.
pub(crate) struct Decoder {
    inflate: Decompress,
    scratch: Vec<u8>,
}

impl Decoder {
    pub(crate) fn new() -> Self {
        Self {
            inflate: Decompress::new(true),
            scratch: Vec::new(),
        }
    }

    /// Takes the next whole frame off the front of `buf`; `None` until one has arrived.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, SpdyError> {
        if buf.len() < FRAME_HEADER {
            return Ok(None);
        }
        let word = be32(&buf[..4]);
        let flags = buf[4];
        let length = be32(&[0, buf[5], buf[6], buf[7]]) as usize;
        if length > MAX_FRAME {
            return Err(SpdyError::FrameTooLarge {
                length,
                limit: MAX_FRAME,
            });
        }
        if buf.len() < FRAME_HEADER + length {
            buf.reserve(FRAME_HEADER + length - buf.len());
            return Ok(None);
        }
        let mut frame = buf.split_to(FRAME_HEADER + length);
        frame.advance(FRAME_HEADER);
        let fin = flags & FLAG_FIN != 0;
        if word & 0x8000_0000 == 0 {
            let stream = word & 0x7fff_ffff;
            if stream == 0 {
                return Err(SpdyError::Malformed { frame: "DATA" });
            }
            return Ok(Some(Frame::Data {
                stream,
                fin,
                data: frame.freeze(),
            }));
        }
        let version = ((word >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(SpdyError::UnsupportedVersion { version });
        }
        let kind = (word & 0xffff) as u16;
        let body = &frame[..];
        let need = |min: usize, exact: bool, name: &'static str| {
            if body.len() < min || (exact && body.len() != min) {
                Err(SpdyError::Malformed { frame: name })
            } else {
                Ok(())
            }
        };
        let stream_id = |b: &[u8], name| match be32(b) & 0x7fff_ffff {
            0 => Err(SpdyError::Malformed { frame: name }),
            id => Ok(id),
        };
        Ok(Some(match kind {
            SYN_STREAM => {
                need(10, false, "SYN_STREAM")?;
                let stream = stream_id(body, "SYN_STREAM")?;
                let headers = self.header_block(&body[10..])?;
                Frame::SynStream {
                    stream,
                    fin,
                    headers,
                }
            }
            SYN_REPLY => {
                need(4, false, "SYN_REPLY")?;
                let stream = stream_id(body, "SYN_REPLY")?;
                let headers = self.header_block(&body[4..])?;
                Frame::SynReply {
                    stream,
                    fin,
                    headers,
                }
            }
            HEADERS => {
                need(4, false, "HEADERS")?;
                let stream = stream_id(body, "HEADERS")?;
                let headers = self.header_block(&body[4..])?;
                Frame::Headers {
                    stream,
                    fin,
                    headers,
                }
            }
            RST_STREAM => {
                need(8, true, "RST_STREAM")?;
                Frame::RstStream {
                    stream: stream_id(body, "RST_STREAM")?,
                    status: be32(&body[4..]),
                }
            }
            SETTINGS => {
                need(4, false, "SETTINGS")?;
                let entries = be32(body) as usize;
                if entries.saturating_mul(8) != body.len() - 4 {
                    return Err(SpdyError::Malformed { frame: "SETTINGS" });
                }
                Frame::Settings
            }
            PING => {
                need(4, true, "PING")?;
                Frame::Ping { id: be32(body) }
            }
            GOAWAY => {
                need(8, true, "GOAWAY")?;
                Frame::GoAway {
                    last_good: be32(body) & 0x7fff_ffff,
                    status: be32(&body[4..]),
                }
            }
            WINDOW_UPDATE => {
                need(8, true, "WINDOW_UPDATE")?;
                Frame::WindowUpdate {
                    stream: be32(body) & 0x7fff_ffff,
                    delta: be32(&body[4..]) & 0x7fff_ffff,
                }
            }
            kind => Frame::Unknown { kind },
        }))
    }

    /// Inflates one header block (the shared zlib stream, sync-flushed per block) and
    /// parses its pairs.
    fn header_block(&mut self, mut input: &[u8]) -> Result<Headers, SpdyError> {
        self.scratch.clear();
        loop {
            if self.scratch.len() > MAX_HEADER_BLOCK {
                return Err(SpdyError::HeaderBlockTooLarge {
                    limit: MAX_HEADER_BLOCK,
                });
            }
            if self.scratch.capacity() - self.scratch.len() < 1024 {
                self.scratch.reserve(4096);
            }
            let room = self.scratch.capacity() - self.scratch.len();
            let (in_before, out_before) = (self.inflate.total_in(), self.inflate.total_out());
            let result =
                self.inflate
                    .decompress_vec(input, &mut self.scratch, FlushDecompress::Sync);
            let consumed = (self.inflate.total_in() - in_before) as usize;
            let produced = (self.inflate.total_out() - out_before) as usize;
            input = input.get(consumed..).ok_or(SpdyError::BadCompression)?;
            match result {
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(DICTIONARY)
                        .map_err(|_| SpdyError::BadCompression)?;
                    continue;
                }
                Err(_) => return Err(SpdyError::BadCompression),
                Ok(_) => {}
            }
            if input.is_empty() && produced < room {
                break;
            }
            if consumed == 0 && produced == 0 {
                return Err(SpdyError::BadCompression);
            }
        }
        parse_pairs(&self.scratch)
    }
}

/// Parses an uncompressed header block: a 32-bit count, then per pair a 32-bit
/// length and the name, a 32-bit length and the value (NUL-separated values).
pub(crate) fn parse_pairs(mut b: &[u8]) -> Result<Headers, SpdyError> {
    let bad = |reason| SpdyError::BadHeaderBlock { reason };
    let take = |b: &mut &[u8]| -> Result<Vec<u8>, SpdyError> {
        if b.len() < 4 {
            return Err(bad("a length is cut off"));
        }
        let len = be32(b) as usize;
        if b.len() - 4 < len {
            return Err(bad("a name or value is longer than the block"));
        }
        let v = b[4..4 + len].to_vec();
        *b = &b[4 + len..];
        Ok(v)
    };
    if b.len() < 4 {
        return Err(bad("the pair count is cut off"));
    }
    let count = be32(b) as usize;
    b = &b[4..];
    // Each pair takes at least 8 bytes: a count beyond that is a lie.
    if count > b.len() / 8 {
        return Err(bad("more pairs announced than the block holds"));
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let name = String::from_utf8(take(&mut b)?).map_err(|_| bad("a name is not UTF-8"))?;
        if name.is_empty() {
            return Err(bad("a header name is empty"));
        }
        let value = String::from_utf8(take(&mut b)?).map_err(|_| bad("a value is not UTF-8"))?;
        let name = name.to_ascii_lowercase();
        for v in value.split('\0') {
            headers.push((name.clone(), v.to_owned()));
        }
    }
    if !b.is_empty() {
        return Err(bad("bytes follow the last pair"));
    }
    Ok(headers)
}

/// Writes an uncompressed header block.
pub(crate) fn encode_pairs(headers: &[(&str, &str)], out: &mut Vec<u8>) {
    out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    for (name, value) in headers {
        for s in [name, value] {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// Encodes frames to the server; owns the connection's header compressor.
pub(crate) struct Encoder {
    deflate: Compress,
    plain: Vec<u8>,
}

impl Encoder {
    pub(crate) fn new() -> Result<Self, SpdyError> {
        let mut deflate = Compress::new(Compression::best(), true);
        deflate
            .set_dictionary(DICTIONARY)
            .map_err(|_| SpdyError::Compress)?;
        Ok(Self {
            deflate,
            plain: Vec::new(),
        })
    }

    /// Appends the compressed header block of `headers` to `out`.
    pub(crate) fn header_block(
        &mut self,
        headers: &[(&str, &str)],
        out: &mut Vec<u8>,
    ) -> Result<(), SpdyError> {
        self.plain.clear();
        encode_pairs(headers, &mut self.plain);
        let mut input = &self.plain[..];
        loop {
            if out.capacity() - out.len() < 256 {
                out.reserve(1024);
            }
            let room = out.capacity() - out.len();
            let (in_before, out_before) = (self.deflate.total_in(), self.deflate.total_out());
            self.deflate
                .compress_vec(input, out, FlushCompress::Sync)
                .map_err(|_| SpdyError::Compress)?;
            let consumed = (self.deflate.total_in() - in_before) as usize;
            let produced = (self.deflate.total_out() - out_before) as usize;
            input = &input[consumed..];
            if input.is_empty() && produced < room {
                return Ok(());
            }
        }
    }

    /// Appends a SYN_STREAM frame.
    pub(crate) fn syn_stream(
        &mut self,
        stream: u32,
        headers: &[(&str, &str)],
        fin: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), SpdyError> {
        let start = out.len();
        control_header(out, SYN_STREAM, if fin { FLAG_FIN } else { 0 }, 0);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes()); // associated stream
        out.extend_from_slice(&[0, 0]); // priority 0, slot 0
        self.header_block(headers, out)?;
        let length = (out.len() - start - FRAME_HEADER) as u32;
        out[start + 5..start + 8].copy_from_slice(&length.to_be_bytes()[1..]);
        Ok(())
    }
}

fn control_header(out: &mut Vec<u8>, kind: u16, flags: u8, length: u32) {
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&length.to_be_bytes()[1..]);
}

/// Appends a DATA frame's header (the payload follows).
pub(crate) fn data_header(out: &mut Vec<u8>, stream: u32, fin: bool, length: usize) {
    debug_assert!(length < 1 << 24);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.push(if fin { FLAG_FIN } else { 0 });
    out.extend_from_slice(&(length as u32).to_be_bytes()[1..]);
}

/// Appends a RST_STREAM frame.
pub(crate) fn rst_stream(out: &mut Vec<u8>, stream: u32, status: u32) {
    control_header(out, RST_STREAM, 0, 8);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(&status.to_be_bytes());
}

/// Appends a PING frame.
pub(crate) fn ping(out: &mut Vec<u8>, id: u32) {
    control_header(out, PING, 0, 4);
    out.extend_from_slice(&id.to_be_bytes());
}

/// Appends a GOAWAY frame.
pub(crate) fn goaway(out: &mut Vec<u8>, last_good: u32, status: u32) {
    control_header(out, GOAWAY, 0, 8);
    out.extend_from_slice(&last_good.to_be_bytes());
    out.extend_from_slice(&status.to_be_bytes());
}

#[cfg(test)]
#[path = "spdy_tests.rs"]
mod tests;
