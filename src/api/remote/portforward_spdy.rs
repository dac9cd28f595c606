//! Port-forward over SPDY/3.1 tunnelled in WebSocket (`SPDY/3.1+portforward.k8s.io`,
//! what kubectl ≥ 1.31 speaks by default): one WebSocket upgrade, then SPDY frames
//! carried as the bytes of binary WebSocket messages (the API server unwraps them and
//! proxies SPDY to the kubelet).
//!
//! Each forwarded connection is a pair of SPDY streams with the same `requestid`: an
//! error stream (the node writes why it could not forward, then closes it) and a data
//! stream (bytes both ways, FIN for each direction's end). One SPDY connection carries
//! any number of such pairs, opened one after the other with rising stream ids.
//!
//! Flow control: the Go peer (moby/spdystream, used by the kubelet and kwok) neither
//! sends WINDOW_UPDATE nor honours it, so neither do we; back-pressure comes from the
//! TCP connection (a reader that stops reading stops the whole connection, as with
//! spdystream). A stream dropped before its pair ended resets both streams (CANCEL),
//! so the node closes the pod-side connection. PING from the server is answered, and we
//! send one every 10 s whose echo, like any byte, shows the path is up (a connection
//! silent for `STREAM_SILENCE_LIMIT` is lost); SETTINGS, WINDOW_UPDATE and HEADERS
//! are read and ignored, GOAWAY stops new forwarded connections, RST_STREAM ends its
//! pair, streams the server tries to open are refused.

use super::error::StreamError;
use super::portforward::{Outcome, PortStream};
use super::spdy::{self, Decoder, Encoder, Frame, SpdyError};
use super::ws::{self, FrameReader, Message};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, WriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The WebSocket subprotocol of tunnelled SPDY port-forward.
pub const SPDY_TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// How long the server may take to accept a new stream pair (kubectl's 30 s).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// The node's error text kept per forwarded connection.
const MAX_ERROR_MESSAGE: usize = 64 * 1024;
/// Frames queued for the wire are sent together up to this size (one WebSocket message).
const BATCH: usize = 256 * 1024;
/// Bytes read from the caller per data frame.
const CHUNK: usize = 64 * 1024;
/// Each forwarded connection's pipe between the caller and the connection.
const PIPE: usize = 256 * 1024;

/// What the connection's writer sends, in this order.
enum Out {
    /// A SYN_STREAM (compressed by the writer: the zlib stream follows the wire order).
    Syn {
        stream: u32,
        port: u16,
        request: u32,
        kind: &'static str,
    },
    Data {
        stream: u32,
        fin: bool,
        data: Bytes,
    },
    /// An encoded control frame.
    Control(Vec<u8>),
    /// The answer to a WebSocket ping.
    WsPong(Vec<u8>),
}

/// What the reader learns from the rest of the connection.
enum Control {
    /// A new pair, announced before its SYN_STREAMs go out.
    Open(Registration),
    /// The caller dropped the stream of the pair with this error stream id: if it is
    /// still running, reset it (the node then closes the pod-side connection).
    Forget(u32),
}

struct Registration {
    error_id: u32,
    port: u16,
    sink: WriteHalf<DuplexStream>,
    ready: oneshot::Sender<Result<(), SpdyError>>,
    outcome: Vec<oneshot::Sender<Outcome>>,
}

struct Shared {
    gone_away: AtomicBool,
    closed: AtomicBool,
}

/// Aborts the connection's tasks when the last handle (session or stream) is dropped.
pub(crate) struct TaskGuard(pub(crate) Vec<JoinHandle<()>>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// One SPDY connection to a pod's port-forward.
pub(crate) struct SpdyConnection {
    out: mpsc::Sender<Out>,
    register: mpsc::UnboundedSender<Control>,
    /// The next error stream id (its data stream is +2) and request id.
    next: tokio::sync::Mutex<(u32, u32)>,
    shared: Arc<Shared>,
    guard: Arc<TaskGuard>,
}

impl SpdyConnection {
    /// Starts the reader and writer over an upgraded WebSocket connection.
    pub(crate) fn start<IO>(io: IO) -> Self
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (rd, wr) = tokio::io::split(io);
        let (out_tx, out_rx) = mpsc::channel(256);
        let (reg_tx, reg_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            gone_away: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        let tasks = ws::spawn_reader_writer(
            read_loop(FrameReader::new(rd), out_tx.clone(), reg_rx, shared.clone()),
            write_loop(wr, out_rx),
        );
        Self {
            out: out_tx,
            register: reg_tx,
            next: tokio::sync::Mutex::new((1, 0)),
            shared,
            guard: Arc::new(TaskGuard(tasks.into())),
        }
    }

    /// Opens a forwarded connection to `port`; `also` receives its outcome too.
    pub(crate) async fn open(
        &self,
        port: u16,
        also: Option<oneshot::Sender<Outcome>>,
    ) -> Result<PortStream, StreamError> {
        let lost = || StreamError::Spdy(SpdyError::ConnectionLost { port });
        if self.shared.gone_away.load(Ordering::Acquire) {
            return Err(SpdyError::GoneAway.into());
        }
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(lost());
        }
        let (user, ours) = tokio::io::duplex(PIPE);
        let (ours_rd, ours_wr) = tokio::io::split(ours);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (outcome_tx, outcome_rx) = oneshot::channel();
        let mut outcome = vec![outcome_tx];
        outcome.extend(also);
        let (error_id, data_id) = {
            let mut next = self.next.lock().await;
            let (error_id, request) = *next;
            let data_id = error_id + 2;
            if data_id > 0x7fff_ffff {
                return Err(SpdyError::GoneAway.into());
            }
            *next = (error_id + 4, request + 1);
            self.register
                .send(Control::Open(Registration {
                    error_id,
                    port,
                    sink: ours_wr,
                    ready: ready_tx,
                    outcome,
                }))
                .map_err(|_| lost())?;
            for (stream, kind) in [(error_id, "error"), (data_id, "data")] {
                self.out
                    .send(Out::Syn {
                        stream,
                        port,
                        request,
                        kind,
                    })
                    .await
                    .map_err(|_| lost())?;
            }
            (error_id, data_id)
        };
        match tokio::time::timeout(REPLY_TIMEOUT, ready_rx).await {
            Err(_) => {
                for stream in [error_id, data_id] {
                    let mut frame = Vec::new();
                    spdy::rst_stream(&mut frame, stream, spdy::CANCEL);
                    let _ = self.out.send(Out::Control(frame)).await;
                }
                return Err(SpdyError::NoReply {
                    port,
                    seconds: REPLY_TIMEOUT.as_secs(),
                }
                .into());
            }
            Ok(Err(_)) => return Err(lost()),
            Ok(Ok(Err(e))) => return Err(e.into()),
            Ok(Ok(Ok(()))) => {}
        }
        // Nothing is ever written to the error stream: its half ends at once (kubectl).
        self.out
            .send(Out::Data {
                stream: error_id,
                fin: true,
                data: Bytes::new(),
            })
            .await
            .map_err(|_| lost())?;
        tokio::spawn(pump(ours_rd, data_id, self.out.clone()));
        let register = self.register.clone();
        let mut stream = PortStream::new(user, port, Some(outcome_rx), Some(self.guard.clone()));
        stream.on_drop(Box::new(move || {
            let _ = register.send(Control::Forget(error_id));
        }));
        Ok(stream)
    }

    /// Keeps the connection up while held.
    pub(crate) fn guard(&self) -> Arc<TaskGuard> {
        self.guard.clone()
    }

    /// Whether the connection still takes new forwarded connections.
    pub(crate) fn is_open(&self) -> bool {
        !self.shared.gone_away.load(Ordering::Acquire)
            && !self.shared.closed.load(Ordering::Acquire)
    }
}

/// Sends what the caller writes as data frames; its end of input ends our half.
async fn pump<R: AsyncRead + Unpin>(mut r: R, stream: u32, out: mpsc::Sender<Out>) {
    let mut buf = BytesMut::with_capacity(CHUNK);
    loop {
        if buf.capacity() < CHUNK {
            buf.reserve(CHUNK);
        }
        match r.read_buf(&mut buf).await {
            Ok(n) if n > 0 => {
                let data = buf.split().freeze();
                if out
                    .send(Out::Data {
                        stream,
                        fin: false,
                        data,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            _ => break,
        }
    }
    let _ = out
        .send(Out::Data {
            stream,
            fin: true,
            data: Bytes::new(),
        })
        .await;
}

fn encode(enc: &mut Encoder, out: Out, msg: &mut Vec<u8>) -> Result<(), SpdyError> {
    match out {
        Out::Syn {
            stream,
            port,
            request,
            kind,
        } => {
            let (port, request) = (port.to_string(), request.to_string());
            let headers = [
                ("streamtype", kind),
                ("port", port.as_str()),
                ("requestid", request.as_str()),
            ];
            enc.syn_stream(stream, &headers, false, msg)
        }
        Out::Data { stream, fin, data } => {
            spdy::data_header(msg, stream, fin, data.len());
            msg.extend_from_slice(&data);
            Ok(())
        }
        Out::Control(frame) => {
            msg.extend_from_slice(&frame);
            Ok(())
        }
        Out::WsPong(_) => Ok(()),
    }
}

/// Writes queued frames, several per WebSocket message when they are waiting, and a
/// SPDY PING every two [`ws::STREAM_PING_PERIOD`]s (client-go's 10 s): it crosses the API
/// server to the node and back, so its answer shows the whole path is up.
async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, mut rx: mpsc::Receiver<Out>) {
    let Ok(mut enc) = Encoder::new() else {
        return;
    };
    let mut msg: Vec<u8> = Vec::with_capacity(BATCH + CHUNK + 64);
    let mut ping = ws::ping_interval(2 * ws::STREAM_PING_PERIOD);
    // Our PING ids are odd (the initiator's parity); the server echoes them.
    let mut ping_id: u32 = 1;
    loop {
        let first = tokio::select! {
            item = rx.recv() => match item {
                Some(item) => item,
                None => break,
            },
            _ = ping.tick() => {
                let mut frame = Vec::with_capacity(spdy::FRAME_HEADER + 4);
                spdy::ping(&mut frame, ping_id);
                ping_id = ping_id.wrapping_add(2);
                Out::Control(frame)
            }
        };
        msg.clear();
        msg.resize(ws::HEADROOM, 0);
        let mut next = Some(first);
        while let Some(item) = next.take() {
            if let Out::WsPong(payload) = &item {
                if ws::write_frame(&mut wr, ws::OP_PONG, payload)
                    .await
                    .is_err()
                {
                    return;
                }
            } else if encode(&mut enc, item, &mut msg).is_err() {
                return;
            }
            if msg.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if msg.len() > ws::HEADROOM && ws::send_in_place(&mut wr, &mut msg).await.is_err() {
            return;
        }
    }
    // Every handle is gone: say goodbye (GOAWAY, last good stream 0: we accept none).
    msg.clear();
    msg.resize(ws::HEADROOM, 0);
    spdy::goaway(&mut msg, 0, 0);
    let _ = ws::send_in_place(&mut wr, &mut msg).await;
    let _ = ws::write_frame(&mut wr, ws::OP_CLOSE, &1000u16.to_be_bytes()).await;
}

/// A pair of streams as the reader tracks it.
struct Pair {
    port: u16,
    sink: Option<WriteHalf<DuplexStream>>,
    message: Vec<u8>,
    replied: [bool; 2],
    ready: Option<oneshot::Sender<Result<(), SpdyError>>>,
    /// Whether the server ended the error and the data stream.
    done: [bool; 2],
    reset: Option<u32>,
    outcome: Vec<oneshot::Sender<Outcome>>,
}

impl Pair {
    fn outcome(&self) -> Outcome {
        if !self.message.is_empty() {
            Outcome::Node(String::from_utf8_lossy(&self.message).trim().to_owned())
        } else if let Some(status) = self.reset {
            Outcome::Reset(status)
        } else if self.done == [true, true] {
            Outcome::Done
        } else {
            Outcome::Lost
        }
    }

    async fn end_data(&mut self) {
        if let Some(mut sink) = self.sink.take() {
            let _ = sink.shutdown().await;
        }
    }

    async fn settle(mut self) {
        self.end_data().await;
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(Err(SpdyError::ConnectionLost { port: self.port }));
        }
        let outcome = self.outcome();
        for tx in self.outcome.drain(..) {
            let _ = tx.send(outcome.clone());
        }
    }
}

/// The reader's view of the connection: the open pairs, keyed by error stream id.
struct Streams {
    pairs: HashMap<u32, Pair>,
    /// The highest stream id we opened, and the highest the server tried to open.
    ours: u32,
    theirs: u32,
}

impl Streams {
    /// The pair a stream id belongs to, and whether it is the data stream; ids of
    /// pairs already over are `Ok(None)`, ids never opened an error.
    fn find(&mut self, stream: u32) -> Result<Option<(u32, usize)>, SpdyError> {
        if stream.is_multiple_of(2) {
            return if stream <= self.theirs {
                Ok(None)
            } else {
                Err(SpdyError::UnknownStream { stream })
            };
        }
        if stream > self.ours {
            return Err(SpdyError::UnknownStream { stream });
        }
        let (key, side) = if stream % 4 == 1 {
            (stream, 0)
        } else {
            (stream - 2, 1)
        };
        Ok(self.pairs.contains_key(&key).then_some((key, side)))
    }

    async fn settle_if_done(&mut self, key: u32) {
        let over = self.pairs.get(&key).is_some_and(|p| p.done == [true, true]);
        if over && let Some(pair) = self.pairs.remove(&key) {
            pair.settle().await;
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut frames: FrameReader<R>,
    out: mpsc::Sender<Out>,
    mut registrations: mpsc::UnboundedReceiver<Control>,
    shared: Arc<Shared>,
) {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::with_capacity(128 * 1024);
    let mut streams = Streams {
        pairs: HashMap::new(),
        ours: 0,
        theirs: 0,
    };
    let mut controls_open = true;
    let result: Result<(), StreamError> = 'conn: loop {
        loop {
            while let Ok(control) = registrations.try_recv() {
                apply(control, &mut streams, &out).await;
            }
            let frame = match decoder.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => break 'conn Err(e.into()),
            };
            if let Err(e) = handle(frame, &mut streams, &out, &shared).await {
                break 'conn Err(e.into());
            }
        }
        // Dropped streams are reset without waiting for the server to send something
        // (`FrameReader::next` keeps a partly read frame across the select).
        let message = tokio::select! {
            control = registrations.recv(), if controls_open => {
                match control {
                    Some(control) => apply(control, &mut streams, &out).await,
                    None => controls_open = false,
                }
                continue;
            }
            message = frames.next() => message,
        };
        match message {
            Ok(Message::Data(d)) => buf.extend_from_slice(&d),
            Ok(Message::Ping(p)) => {
                let _ = out.send(Out::WsPong(p)).await;
            }
            Ok(Message::Close) if buf.is_empty() => break Ok(()),
            Ok(Message::Close) => break Err(StreamError::Truncated),
            Err(e) => break Err(e),
        }
    };
    shared.closed.store(true, Ordering::Release);
    if let Err(e) = &result {
        tracing::debug!(error = %e, "port-forward SPDY connection ended");
    }
    // Pairs still being registered end too.
    registrations.close();
    while let Ok(control) = registrations.try_recv() {
        if let Control::Open(r) = control {
            let _ = r
                .ready
                .send(Err(SpdyError::ConnectionLost { port: r.port }));
        }
    }
    for (_, pair) in streams.pairs.drain() {
        pair.settle().await;
    }
}

/// A new pair to track, or a dropped stream whose running pair is reset.
async fn apply(control: Control, streams: &mut Streams, out: &mpsc::Sender<Out>) {
    match control {
        Control::Open(r) => {
            streams.ours = r.error_id + 2;
            streams.pairs.insert(
                r.error_id,
                Pair {
                    port: r.port,
                    sink: Some(r.sink),
                    message: Vec::new(),
                    replied: [false; 2],
                    ready: Some(r.ready),
                    done: [false; 2],
                    reset: None,
                    outcome: r.outcome,
                },
            );
        }
        Control::Forget(key) => {
            if let Some(mut pair) = streams.pairs.remove(&key) {
                for stream in [key, key + 2] {
                    let mut frame = Vec::new();
                    spdy::rst_stream(&mut frame, stream, spdy::CANCEL);
                    let _ = out.send(Out::Control(frame)).await;
                }
                pair.done = [true, true];
                pair.settle().await;
            }
        }
    }
}

async fn handle(
    frame: Frame,
    streams: &mut Streams,
    out: &mpsc::Sender<Out>,
    shared: &Shared,
) -> Result<(), SpdyError> {
    match frame {
        Frame::SynReply { stream, fin, .. } => {
            let Some((key, side)) = streams.find(stream)? else {
                return Ok(());
            };
            let pair = streams.pairs.get_mut(&key).expect("found");
            pair.replied[side] = true;
            if pair.replied == [true, true]
                && let Some(ready) = pair.ready.take()
            {
                let _ = ready.send(Ok(()));
            }
            if fin {
                finish(streams, key, side).await;
            }
        }
        Frame::Data { stream, fin, data } => {
            let Some((key, side)) = streams.find(stream)? else {
                return Ok(());
            };
            let pair = streams.pairs.get_mut(&key).expect("found");
            if side == 0 {
                let room = MAX_ERROR_MESSAGE.saturating_sub(pair.message.len());
                pair.message
                    .extend_from_slice(&data[..data.len().min(room)]);
            } else if let Some(sink) = &mut pair.sink
                && !data.is_empty()
                && sink.write_all(&data).await.is_err()
            {
                // The caller dropped its stream: the rest is discarded.
                pair.sink = None;
            }
            if fin {
                finish(streams, key, side).await;
            }
        }
        Frame::RstStream { stream, status } => {
            let Some((key, _)) = streams.find(stream)? else {
                return Ok(());
            };
            if let Some(mut pair) = streams.pairs.remove(&key) {
                if let Some(ready) = pair.ready.take() {
                    let _ = ready.send(Err(SpdyError::StreamReset {
                        port: pair.port,
                        status,
                    }));
                }
                // A reset after the data stream ended loses nothing.
                if !pair.done[1] {
                    pair.reset = Some(status);
                }
                pair.done = [true, true];
                pair.settle().await;
            }
        }
        Frame::SynStream { stream, .. } => {
            if !stream.is_multiple_of(2) || stream <= streams.theirs {
                return Err(SpdyError::Malformed {
                    frame: "SYN_STREAM",
                });
            }
            streams.theirs = stream;
            let mut frame = Vec::new();
            spdy::rst_stream(&mut frame, stream, spdy::REFUSED_STREAM);
            let _ = out.send(Out::Control(frame)).await;
        }
        Frame::Ping { id } => {
            // Even ids are the server's: echo them; odd ones would answer ours.
            if id.is_multiple_of(2) {
                let mut frame = Vec::new();
                spdy::ping(&mut frame, id);
                let _ = out.send(Out::Control(frame)).await;
            }
        }
        Frame::GoAway { .. } => shared.gone_away.store(true, Ordering::Release),
        Frame::Headers { stream, .. } => {
            streams.find(stream)?;
        }
        Frame::Settings | Frame::WindowUpdate { .. } | Frame::Unknown { .. } => {}
    }
    Ok(())
}

/// The server ended one stream of a pair (`side` 0: error, 1: data).
async fn finish(streams: &mut Streams, key: u32, side: usize) {
    if let Some(pair) = streams.pairs.get_mut(&key) {
        pair.done[side] = true;
        if side == 1 {
            pair.end_data().await;
        }
    }
    streams.settle_if_done(key).await;
}

#[cfg(test)]
#[path = "portforward_spdy_tests.rs"]
mod tests;
