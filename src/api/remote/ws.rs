//! The client side of RFC 6455 WebSocket, as much as the Kubernetes streaming
//! protocols use: the opening handshake over [`Client::send_upgrade`], binary messages
//! (masked, as a client must), ping/pong and close.
//!
//! Written here rather than taken from a WebSocket crate because the connection comes
//! from our own authenticated HTTP/1.1 upgrade (every auth provider, TLS setting and
//! proxy of [`Client`]), and the subset needed is a few hundred lines.

use super::error::StreamError;
use crate::Client;
use crate::client::{Body, UpgradeOutcome, Upgraded};
use crate::error::{ApiError, Error, Status};
use base64::Engine as _;
use bytes::{Buf, BytesMut};
use futures_util::StreamExt;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, Interval, MissedTickBehavior, Sleep};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The largest message accepted from the server (the streaming protocols send at most
/// a few tens of KiB per frame).
pub(crate) const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// Error bodies of a refused upgrade are read up to this size.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// How often exec and attach ping the server over their WebSocket (client-go's
/// heartbeat period), and twice that is how often port-forward pings the node through
/// its tunnel: a stream that carries nothing for a long time is still known to be up,
/// and proxies and load balancers that end idle connections see traffic.
pub const STREAM_PING_PERIOD: Duration = Duration::from_secs(5);

/// How long exec, attach and port-forward wait without a single byte from the server
/// (the answers to their pings included) before the connection counts as lost
/// ([`StreamError::Silent`]): client-go's read deadline, twelve ping periods and a
/// second. client-go only counts pongs; any byte counts here, so a busy stream whose
/// pongs queue behind its data is not cut off.
pub const STREAM_SILENCE_LIMIT: Duration = Duration::from_secs(61);

/// A ticker for pings: the first after one `period`, later ones `period` apart, a
/// late tick not made up for.
pub(crate) fn ping_interval(period: Duration) -> Interval {
    let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker
}

/// Spawns a connection's reader and writer. When the reader ends (the server closed the
/// connection, it broke, or it went silent) the writer is stopped too: nothing more can
/// be delivered, and a caller writing to a stream then gets an error instead of waiting
/// on a dead connection.
pub(crate) fn spawn_reader_writer<R, W>(reader: R, writer: W) -> [tokio::task::JoinHandle<()>; 2]
where
    R: std::future::Future<Output = ()> + Send + 'static,
    W: std::future::Future<Output = ()> + Send + 'static,
{
    let writer = tokio::spawn(writer);
    let stop = writer.abort_handle();
    let reader = tokio::spawn(async move {
        reader.await;
        stop.abort();
    });
    [reader, writer]
}

pub(crate) const OP_CONTINUATION: u8 = 0x0;
pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_BINARY: u8 = 0x2;
pub(crate) const OP_CLOSE: u8 = 0x8;
pub(crate) const OP_PING: u8 = 0x9;
pub(crate) const OP_PONG: u8 = 0xA;

/// An established WebSocket connection and the subprotocol the server chose.
pub(crate) struct Connected {
    pub(crate) io: Upgraded,
    pub(crate) protocol: String,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], StreamError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| StreamError::Random)?;
    Ok(bytes)
}

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2).
pub(crate) fn accept_for(key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}{GUID}").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// Opens a WebSocket to `path?query` offering `protocols` (in preference order).
/// A refused upgrade becomes [`Error::Api`] carrying the server's `Status`. Errors name
/// the path only: the query may hold a command line.
pub(crate) async fn connect(
    client: &Client,
    path: &str,
    query: &str,
    protocols: &[&str],
) -> Result<Connected, Error> {
    let path_and_query = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let key = base64::engine::general_purpose::STANDARD.encode(random_bytes::<16>()?);
    let req = http::Request::get(&path_and_query)
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "websocket")
        .header(http::header::SEC_WEBSOCKET_VERSION, "13")
        .header(http::header::SEC_WEBSOCKET_KEY, &key)
        .header(http::header::SEC_WEBSOCKET_PROTOCOL, protocols.join(", "))
        .body(Body::empty())
        .map_err(|_| StreamError::InvalidPath {
            path: path.to_owned(),
        })?;
    match client.send_upgrade(req).await? {
        UpgradeOutcome::Upgraded { response, io } => {
            let header = |name: http::header::HeaderName| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            if header(http::header::SEC_WEBSOCKET_ACCEPT).as_deref() != Some(&accept_for(&key)) {
                return Err(StreamError::BadAccept {
                    path: path.to_owned(),
                }
                .into());
            }
            let protocol = header(http::header::SEC_WEBSOCKET_PROTOCOL).unwrap_or_default();
            if !protocols.contains(&protocol.as_str()) {
                return Err(StreamError::NoProtocol {
                    path: path.to_owned(),
                    offered: protocols.join(", "),
                    chosen: protocol,
                }
                .into());
            }
            Ok(Connected { io, protocol })
        }
        UpgradeOutcome::Response(response) => Err(refused(path, response).await),
    }
}

/// The server's answer to a refused upgrade as an [`ApiError`].
async fn refused(path: &str, response: http::Response<Body>) -> Error {
    let code = response.status().as_u16();
    let mut body = Vec::new();
    let mut stream = response.into_body().into_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = MAX_ERROR_BODY.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    let status = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .filter(|v| v.get("kind").and_then(|k| k.as_str()) == Some("Status"))
        .and_then(|v| serde_json::from_value::<Status>(v).ok());
    let text = status
        .is_none()
        .then(|| String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned())
        .filter(|t| !t.is_empty());
    Error::Api(Box::new(ApiError {
        method: http::Method::GET,
        url: path.to_owned(),
        code,
        status,
        body: text,
    }))
}

/// Writes one complete (FIN) frame with a fresh mask.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    opcode: u8,
    payload: &[u8],
) -> Result<(), StreamError> {
    let mask = random_bytes::<4>()?;
    let frame = encode_frame(opcode, payload, mask);
    w.write_all(&frame).await.map_err(StreamError::Write)?;
    w.flush().await.map_err(StreamError::Write)
}

/// Room left in front of a message built for [`send_in_place`]: the longest client
/// frame header (2 + 8 length bytes + 4 mask bytes).
pub(crate) const HEADROOM: usize = 14;

/// Sends `msg[HEADROOM..]` as one masked binary message, framed and masked in place
/// (no copy of the payload).
pub(crate) async fn send_in_place<W: AsyncWrite + Unpin>(
    w: &mut W,
    msg: &mut [u8],
) -> Result<(), StreamError> {
    let mask = random_bytes::<4>()?;
    let len = msg.len() - HEADROOM;
    let mut head = [0u8; HEADROOM];
    head[0] = 0x80 | OP_BINARY;
    let n = if len < 126 {
        head[1] = 0x80 | len as u8;
        2
    } else if len <= u16::MAX as usize {
        head[1] = 0x80 | 126;
        head[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        head[1] = 0x80 | 127;
        head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    head[n..n + 4].copy_from_slice(&mask);
    let start = HEADROOM - (n + 4);
    msg[start..HEADROOM].copy_from_slice(&head[..n + 4]);
    apply_mask(&mut msg[HEADROOM..], mask);
    w.write_all(&msg[start..])
        .await
        .map_err(StreamError::Write)?;
    w.flush().await.map_err(StreamError::Write)
}

/// A masked client frame.
pub(crate) fn encode_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        frame.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        frame.push(0x80 | 127);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    frame.extend_from_slice(&mask);
    let start = frame.len();
    frame.extend_from_slice(payload);
    apply_mask(&mut frame[start..], mask);
    frame
}

/// XORs `data` with the repeated 4-byte `mask`, eight bytes at a time.
fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // The tail starts at a multiple of 8, so at mask offset 0.
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

/// One message (or control frame) from the server.
#[derive(Debug, PartialEq)]
pub(crate) enum Message {
    /// A binary or text message, reassembled from its fragments.
    Data(Vec<u8>),
    Ping(Vec<u8>),
    /// The server closed the connection (or the connection ended).
    Close,
}

/// Reads server frames, reassembling fragmented messages; a server silent for
/// [`STREAM_SILENCE_LIMIT`] is an error.
pub(crate) struct FrameReader<R> {
    r: R,
    buf: BytesMut,
    partial: Option<Vec<u8>>,
    /// When a byte last arrived (or the reader was made).
    heard: Instant,
    /// Fires at the earliest moment the silence limit can be reached; re-armed from
    /// `heard` when it fires early, so reads only note the time.
    silence: Pin<Box<Sleep>>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(r: R) -> Self {
        let heard = Instant::now();
        Self {
            r,
            buf: BytesMut::with_capacity(64 * 1024),
            partial: None,
            heard,
            silence: Box::pin(tokio::time::sleep_until(heard + STREAM_SILENCE_LIMIT)),
        }
    }

    async fn fill(&mut self, need: usize) -> Result<bool, StreamError> {
        while self.buf.len() < need {
            if self.buf.capacity() - self.buf.len() < 8192 {
                self.buf.reserve(64 * 1024);
            }
            let n = tokio::select! {
                biased;
                read = self.r.read_buf(&mut self.buf) => read.map_err(StreamError::Read)?,
                () = &mut self.silence => {
                    let due = self.heard + STREAM_SILENCE_LIMIT;
                    if Instant::now() < due {
                        self.silence.as_mut().reset(due);
                        continue;
                    }
                    return Err(StreamError::Silent { limit: STREAM_SILENCE_LIMIT });
                }
            };
            self.heard = Instant::now();
            if n == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The next message; [`Message::Close`] at the end of the connection. Cancel-safe:
    /// a frame partly read stays buffered for the next call.
    pub(crate) async fn next(&mut self) -> Result<Message, StreamError> {
        loop {
            if !self.fill(2).await? {
                return if self.buf.is_empty() && self.partial.is_none() {
                    Ok(Message::Close)
                } else {
                    Err(StreamError::Truncated)
                };
            }
            let (fin, opcode) = (self.buf[0] & 0x80 != 0, self.buf[0] & 0x0f);
            if self.buf[1] & 0x80 != 0 {
                return Err(StreamError::Protocol("the server masked a frame"));
            }
            let (header, len) = match self.buf[1] & 0x7f {
                126 => {
                    if !self.fill(4).await? {
                        return Err(StreamError::Truncated);
                    }
                    (4, u16::from_be_bytes([self.buf[2], self.buf[3]]) as u64)
                }
                127 => {
                    if !self.fill(10).await? {
                        return Err(StreamError::Truncated);
                    }
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&self.buf[2..10]);
                    (10, u64::from_be_bytes(b))
                }
                n => (2, n as u64),
            };
            let sofar = self.partial.as_ref().map_or(0, Vec::len) as u64;
            if len + sofar > MAX_MESSAGE as u64 {
                return Err(StreamError::MessageTooLarge { limit: MAX_MESSAGE });
            }
            let len = len as usize;
            if !self.fill(header + len).await? {
                return Err(StreamError::Truncated);
            }
            self.buf.advance(header);
            let payload = self.buf.split_to(len).to_vec();
            match opcode {
                OP_CLOSE => return Ok(Message::Close),
                OP_PING => return Ok(Message::Ping(payload)),
                OP_PONG => continue,
                OP_TEXT | OP_BINARY if self.partial.is_none() => {
                    if fin {
                        return Ok(Message::Data(payload));
                    }
                    self.partial = Some(payload);
                }
                OP_CONTINUATION if self.partial.is_some() => {
                    let mut whole = self.partial.take().unwrap_or_default();
                    whole.extend_from_slice(&payload);
                    if fin {
                        return Ok(Message::Data(whole));
                    }
                    self.partial = Some(whole);
                }
                _ => return Err(StreamError::Protocol("unexpected frame opcode")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_matches_rfc_example() {
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    fn unmasked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let len = payload.len();
        if len < 126 {
            f.push(len as u8);
        } else if len <= 65535 {
            f.push(126);
            f.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            f.push(127);
            f.extend_from_slice(&(len as u64).to_be_bytes());
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn encoded_frames_unmask_to_the_payload() {
        for len in [0usize, 5, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mask = [1, 2, 3, 4];
            let f = encode_frame(OP_BINARY, &payload, mask);
            assert_eq!(f[0], 0x82);
            assert!(f[1] & 0x80 != 0);
            let header = match len {
                0..=125 => 2,
                126..=65535 => 4,
                _ => 10,
            };
            let m = &f[header..header + 4];
            let body: Vec<u8> = f[header + 4..]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ m[i % 4])
                .collect();
            assert_eq!(body, payload, "len {len}");
        }
    }

    #[tokio::test]
    async fn reader_reassembles_fragments_and_sees_control_frames() {
        let mut wire = Vec::new();
        wire.extend(unmasked(OP_BINARY, false, b"ab"));
        wire.extend(unmasked(OP_PING, true, b"p"));
        wire.extend(unmasked(OP_CONTINUATION, true, b"cd"));
        wire.extend(unmasked(OP_BINARY, true, &vec![7u8; 70000]));
        wire.extend(unmasked(OP_CLOSE, true, b""));
        let mut r = FrameReader::new(&wire[..]);
        assert_eq!(r.next().await.unwrap(), Message::Ping(b"p".to_vec()));
        assert_eq!(r.next().await.unwrap(), Message::Data(b"abcd".to_vec()));
        assert_eq!(r.next().await.unwrap(), Message::Data(vec![7u8; 70000]));
        assert_eq!(r.next().await.unwrap(), Message::Close);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_server_is_an_error_after_the_limit_and_any_byte_keeps_it_alive() {
        let (mut server, client) = tokio::io::duplex(1024);
        let start = Instant::now();
        let mut r = FrameReader::new(client);
        // A pong every 30 s (which the reader consumes) keeps a quiet stream alive
        // well past the limit; then a message still arrives.
        let talk = tokio::spawn(async move {
            for _ in 0..6 {
                tokio::time::sleep(Duration::from_secs(30)).await;
                server
                    .write_all(&unmasked(OP_PONG, true, b""))
                    .await
                    .unwrap();
            }
            server
                .write_all(&unmasked(OP_BINARY, true, b"late"))
                .await
                .unwrap();
            server
        });
        assert_eq!(r.next().await.unwrap(), Message::Data(b"late".to_vec()));
        assert_eq!(start.elapsed(), Duration::from_secs(180));
        // Then nothing at all: the read fails once the limit has passed since the last
        // byte, not earlier.
        let _server = talk.await.unwrap();
        let quiet = Instant::now();
        match r.next().await {
            Err(StreamError::Silent { limit }) => assert_eq!(limit, STREAM_SILENCE_LIMIT),
            other => panic!("expected Silent, got {other:?}"),
        }
        assert_eq!(quiet.elapsed(), STREAM_SILENCE_LIMIT);
    }

    #[tokio::test(start_paused = true)]
    async fn pings_tick_one_period_apart_starting_one_period_in() {
        let start = Instant::now();
        let mut ticker = ping_interval(STREAM_PING_PERIOD);
        for k in 1..=3u32 {
            ticker.tick().await;
            assert_eq!(start.elapsed(), STREAM_PING_PERIOD * k);
        }
    }

    #[tokio::test]
    async fn reader_rejects_masked_truncated_and_oversized_frames() {
        let masked = [0x82u8, 0x81, 0, 0, 0, 0, 1];
        assert!(matches!(
            FrameReader::new(&masked[..]).next().await,
            Err(StreamError::Protocol(_))
        ));
        let truncated = [0x82u8, 10, 1, 2];
        assert!(matches!(
            FrameReader::new(&truncated[..]).next().await,
            Err(StreamError::Truncated)
        ));
        let mut huge = vec![0x82u8, 127];
        huge.extend_from_slice(&(u64::MAX).to_be_bytes());
        assert!(matches!(
            FrameReader::new(&huge[..]).next().await,
            Err(StreamError::MessageTooLarge { .. })
        ));
        let stray = unmasked(OP_CONTINUATION, true, b"x");
        assert!(matches!(
            FrameReader::new(&stray[..]).next().await,
            Err(StreamError::Protocol(_))
        ));
    }
}
