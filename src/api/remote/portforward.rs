//! `pods/portforward`: the public API ([`Api::portforward`],
//! [`Api::portforward_session`], [`PortStream`]) and the `v4.channel.k8s.io`
//! WebSocket framing (for the i-th requested port, channel `2i` carries data and
//! `2i+1` errors; the server opens each channel with the port number, 2 bytes LE).
//! Tunnelled SPDY is in `portforward_spdy.rs`.

use super::error::StreamError;
use super::exec::subresource_path;
use super::portforward_spdy::{SPDY_TUNNEL_PROTOCOL, SpdyConnection, TaskGuard};
use super::spdy::SpdyError;
use super::ws::{self, FrameReader, Message, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG};
use crate::api::Api;
use crate::error::Error;
use k8s_openapi::api::core::v1::Pod;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::sync::{mpsc, oneshot};

/// The port-forward subprotocol spoken over WebSocket (kubelet's and the API server's
/// `portforward.k8s.io` WebSocket framing).
pub const PORTFORWARD_PROTOCOL: &str = "v4.channel.k8s.io";
const PIPE: usize = 256 * 1024;
const CHUNK: usize = 32 * 1024;

/// How port-forward talks to the API server.
///
/// The default is kubectl's (≥ 1.31): SPDY/3.1 tunnelled in WebSocket, and the
/// WebSocket framing `v4.channel.k8s.io` when the server refuses it. See
/// `docs/streaming.md` for what each can do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PortforwardProtocol {
    /// SPDY/3.1 in WebSocket (`SPDY/3.1+portforward.k8s.io`); when the server does not
    /// switch to it (no 101, or another subprotocol), `v4.channel.k8s.io`.
    #[default]
    Auto,
    /// Only SPDY/3.1 in WebSocket: one connection carries every forwarded connection,
    /// each direction can end on its own.
    SpdyOverWebSocket,
    /// Only the WebSocket framing `v4.channel.k8s.io`: one WebSocket per forwarded
    /// connection, no half-close.
    WebSocket,
}

/// How one forwarded connection ended, as the connection's reader saw it.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    /// Both directions ended normally.
    Done,
    /// The node reported an error (its text).
    Node(String),
    /// The server reset the stream before its data ended (RST_STREAM status).
    Reset(u32),
    /// The connection ended first.
    Lost,
}

impl Outcome {
    fn into_error(self, port: u16) -> Option<StreamError> {
        match self {
            Outcome::Done => None,
            Outcome::Node(message) => Some(StreamError::PortForward { port, message }),
            Outcome::Reset(status) => Some(SpdyError::StreamReset { port, status }.into()),
            Outcome::Lost => Some(SpdyError::ConnectionLost { port }.into()),
        }
    }
}

/// One port-forward connection to a pod: one byte stream per requested port.
///
/// Each stream is one TCP connection to that port inside the pod. To forward many
/// connections (as a local listener does), use [`Api::portforward_session`]: with
/// tunnelled SPDY they all share one connection. The connection stays up while the
/// forwarder or any of its streams lives.
pub struct Portforwarder {
    streams: HashMap<u16, PortStream>,
    done: Option<oneshot::Receiver<Result<(), StreamError>>>,
    /// Per-port outcomes (tunnelled SPDY), read by [`Portforwarder::join`].
    outcomes: Vec<(u16, oneshot::Receiver<Outcome>)>,
    protocol: PortforwardProtocol,
    _guard: Arc<TaskGuard>,
}

impl fmt::Debug for Portforwarder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Portforwarder")
            .field("ports", &self.streams.keys().collect::<Vec<_>>())
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

/// The byte stream to one forwarded port: [`AsyncRead`] + [`AsyncWrite`].
///
/// Shutting down the write side ends the pod's input (tunnelled SPDY; the WebSocket
/// framing cannot say so). Reading returns the end of the stream when the pod side
/// closed, or an error ([`StreamError::PortForward`] inside an `io::Error`) when the
/// node could not forward (nothing listening, no such port).
pub struct PortStream {
    io: DuplexStream,
    port: u16,
    outcome: Option<oneshot::Receiver<Outcome>>,
    on_drop: Option<Box<dyn FnOnce() + Send + Sync>>,
    _guard: Option<Arc<TaskGuard>>,
}

impl Drop for PortStream {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}

impl fmt::Debug for PortStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortStream")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl PortStream {
    pub(crate) fn new(
        io: DuplexStream,
        port: u16,
        outcome: Option<oneshot::Receiver<Outcome>>,
        guard: Option<Arc<TaskGuard>>,
    ) -> Self {
        Self {
            io,
            port,
            outcome,
            on_drop: None,
            _guard: guard,
        }
    }

    /// Runs `f` when the stream is dropped.
    pub(crate) fn on_drop(&mut self, f: Box<dyn FnOnce() + Send + Sync>) {
        self.on_drop = Some(f);
    }

    /// The remote port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl AsyncRead for PortStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.io).poll_read(cx, buf))?;
        if buf.filled().len() > before || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        // The end of the data: report how the forwarded connection ended.
        let port = self.port;
        if let Some(rx) = &mut self.outcome {
            let outcome = ready!(Pin::new(rx).poll(cx)).unwrap_or(Outcome::Lost);
            self.outcome = None;
            if let Some(e) = outcome.into_error(port) {
                return Poll::Ready(Err(std::io::Error::other(e)));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for PortStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Portforwarder {
    /// The stream of `port` (once).
    pub fn take_stream(&mut self, port: u16) -> Option<PortStream> {
        self.streams.remove(&port)
    }

    /// The protocol this connection speaks ([`PortforwardProtocol::SpdyOverWebSocket`]
    /// or [`PortforwardProtocol::WebSocket`]).
    pub fn protocol(&self) -> PortforwardProtocol {
        self.protocol
    }

    /// Waits until every port's connection has ended; an error the node reported for a
    /// port (for example nothing listening there) is [`StreamError::PortForward`].
    pub async fn join(mut self) -> Result<(), Error> {
        if let Some(rx) = self.done.take() {
            return Ok(rx.await.map_err(|_| StreamError::NoStatus)??);
        }
        let mut first = None;
        for (port, rx) in std::mem::take(&mut self.outcomes) {
            let outcome = rx.await.unwrap_or(Outcome::Lost);
            if first.is_none() {
                first = outcome.into_error(port);
            }
        }
        first.map_or(Ok(()), |e| Err(e.into()))
    }
}

/// Forwarded connections to one pod, opened on demand: with tunnelled SPDY all of
/// them share one connection to the API server (as `kubectl port-forward` does), with
/// the WebSocket framing each gets its own. Cheap to clone.
#[derive(Clone)]
pub struct PortforwardSession {
    inner: Arc<SessionInner>,
}

enum SessionInner {
    Spdy(SpdyConnection),
    WebSocket { pods: Api<Pod>, name: String },
}

impl fmt::Debug for PortforwardSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortforwardSession")
            .field("protocol", &self.protocol())
            .finish_non_exhaustive()
    }
}

impl PortforwardSession {
    /// The protocol in use.
    pub fn protocol(&self) -> PortforwardProtocol {
        match &*self.inner {
            SessionInner::Spdy(_) => PortforwardProtocol::SpdyOverWebSocket,
            SessionInner::WebSocket { .. } => PortforwardProtocol::WebSocket,
        }
    }

    /// Whether new connections can still be opened (a SPDY connection that ended or
    /// got GOAWAY cannot; open a new session then).
    pub fn is_open(&self) -> bool {
        match &*self.inner {
            SessionInner::Spdy(c) => c.is_open(),
            SessionInner::WebSocket { .. } => true,
        }
    }

    /// Opens a new connection to `port` in the pod (a new SPDY stream pair with its
    /// own request id, or a new WebSocket).
    pub async fn open(&self, port: u16) -> Result<PortStream, Error> {
        match &*self.inner {
            SessionInner::Spdy(c) => Ok(c.open(port, None).await?),
            SessionInner::WebSocket { pods, name } => {
                let mut pf = pods
                    .portforward_with(name, &[port], PortforwardProtocol::WebSocket)
                    .await?;
                pf.take_stream(port).ok_or(
                    StreamError::NotOpen {
                        what: "port stream",
                    }
                    .into(),
                )
            }
        }
    }
}

/// Whether a failed tunnelled-SPDY handshake is the server refusing the protocol
/// (kubectl then falls back), not a failure to reach it.
fn refused_upgrade(e: &Error) -> bool {
    matches!(
        e,
        Error::Api(_) | Error::Stream(StreamError::NoProtocol { .. })
    )
}

impl Api<Pod> {
    /// Forwards `ports` of pod `name` (`pods/portforward`), like one connection of
    /// `kubectl port-forward`, with the default protocol ([`PortforwardProtocol::Auto`]).
    ///
    /// ```no_run
    /// # async fn demo(pods: k8s_client::Api<k8s_openapi::api::core::v1::Pod>) -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// let mut pf = pods.portforward("web", &[80]).await?;
    /// let mut stream = pf.take_stream(80).unwrap();
    /// stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
    /// let mut reply = Vec::new();
    /// stream.read_to_end(&mut reply).await?;
    /// # Ok(()) }
    /// ```
    pub async fn portforward(&self, name: &str, ports: &[u16]) -> Result<Portforwarder, Error> {
        self.portforward_with(name, ports, PortforwardProtocol::Auto)
            .await
    }

    /// [`Api::portforward`] with a chosen protocol.
    pub async fn portforward_with(
        &self,
        name: &str,
        ports: &[u16],
        protocol: PortforwardProtocol,
    ) -> Result<Portforwarder, Error> {
        if protocol != PortforwardProtocol::WebSocket {
            match self.spdy_connection(name).await {
                Ok(conn) => {
                    let mut streams = HashMap::new();
                    let mut outcomes = Vec::new();
                    for port in ports {
                        let (tx, rx) = oneshot::channel();
                        streams.insert(*port, conn.open(*port, Some(tx)).await?);
                        outcomes.push((*port, rx));
                    }
                    return Ok(Portforwarder {
                        streams,
                        done: None,
                        outcomes,
                        protocol: PortforwardProtocol::SpdyOverWebSocket,
                        _guard: conn.guard(),
                    });
                }
                Err(e) if protocol == PortforwardProtocol::Auto && refused_upgrade(&e) => {
                    tracing::debug!(error = %e, "tunnelled SPDY refused, port-forward falls back to WebSocket");
                }
                Err(e) => return Err(e),
            }
        }
        self.portforward_websocket(name, ports).await
    }

    /// A session that opens forwarded connections to pod `name` on demand; with
    /// tunnelled SPDY (the default, [`PortforwardProtocol::Auto`]) they all share one
    /// connection, as with `kubectl port-forward`.
    ///
    /// ```no_run
    /// # async fn demo(pods: k8s_client::Api<k8s_openapi::api::core::v1::Pod>) -> Result<(), Box<dyn std::error::Error>> {
    /// use k8s_client::api::PortforwardProtocol;
    ///
    /// let session = pods.portforward_session("web", PortforwardProtocol::Auto).await?;
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    /// loop {
    ///     let (mut local, _) = listener.accept().await?;
    ///     let mut remote = session.open(80).await?;
    ///     tokio::spawn(async move { tokio::io::copy_bidirectional(&mut local, &mut remote).await });
    /// }
    /// # }
    /// ```
    pub async fn portforward_session(
        &self,
        name: &str,
        protocol: PortforwardProtocol,
    ) -> Result<PortforwardSession, Error> {
        if protocol != PortforwardProtocol::WebSocket {
            match self.spdy_connection(name).await {
                Ok(conn) => {
                    return Ok(PortforwardSession {
                        inner: Arc::new(SessionInner::Spdy(conn)),
                    });
                }
                Err(e) if protocol == PortforwardProtocol::Auto && refused_upgrade(&e) => {
                    tracing::debug!(error = %e, "tunnelled SPDY refused, port-forward falls back to WebSocket");
                }
                Err(e) => return Err(e),
            }
        }
        // Fail now, as the SPDY handshake would, when the pod cannot be reached.
        subresource_path(self, name, "portforward")?;
        Ok(PortforwardSession {
            inner: Arc::new(SessionInner::WebSocket {
                pods: self.clone(),
                name: name.to_owned(),
            }),
        })
    }

    async fn spdy_connection(&self, name: &str) -> Result<SpdyConnection, Error> {
        let path = subresource_path(self, name, "portforward")?;
        let connected = ws::connect(self.client(), &path, "", &[SPDY_TUNNEL_PROTOCOL]).await?;
        Ok(SpdyConnection::start(connected.io))
    }

    async fn portforward_websocket(
        &self,
        name: &str,
        ports: &[u16],
    ) -> Result<Portforwarder, Error> {
        let path = subresource_path(self, name, "portforward")?;
        let query = ports_query(ports);
        let connected = ws::connect(self.client(), &path, &query, &[PORTFORWARD_PROTOCOL]).await?;
        let (rd, wr) = tokio::io::split(connected.io);
        let (out_tx, out_rx) = mpsc::channel::<Out>(64);
        let (done_tx, done_rx) = oneshot::channel();
        let mut users = Vec::new();
        let mut sinks = Vec::new();
        let mut outcomes = Vec::new();
        let mut tasks = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let (user, ours) = tokio::io::duplex(PIPE);
            let (tx, rx) = oneshot::channel();
            users.push((*port, user, rx));
            outcomes.push(Some(tx));
            let (ours_rd, ours_wr) = tokio::io::split(ours);
            sinks.push(Some(ours_wr));
            let channel = (2 * i) as u8;
            tasks.push(tokio::spawn(pump_out(ours_rd, channel, out_tx.clone())));
        }
        tasks.extend(ws::spawn_reader_writer(
            read_loop(
                FrameReader::new(rd),
                ports.to_vec(),
                sinks,
                outcomes,
                out_tx,
                done_tx,
            ),
            write_loop(wr, out_rx),
        ));
        let guard = Arc::new(TaskGuard(tasks));
        let streams = users
            .into_iter()
            .map(|(port, user, rx)| {
                (
                    port,
                    PortStream::new(user, port, Some(rx), Some(guard.clone())),
                )
            })
            .collect();
        Ok(Portforwarder {
            streams,
            done: Some(done_rx),
            outcomes: Vec::new(),
            protocol: PortforwardProtocol::WebSocket,
            _guard: guard,
        })
    }
}

enum Out {
    /// A data message: the channel byte, then the bytes.
    Data(Vec<u8>),
    Pong(Vec<u8>),
    Ping,
}

fn ports_query(ports: &[u16]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for p in ports {
        q.append_pair("ports", &p.to_string());
    }
    q.finish()
}

/// Reads what the caller writes to a port and queues it for the connection.
async fn pump_out<R: AsyncRead + Unpin>(mut r: R, channel: u8, out: mpsc::Sender<Out>) {
    let mut buf = vec![0u8; CHUNK + 1];
    buf[0] = channel;
    loop {
        match r.read(&mut buf[1..]).await {
            Ok(n) if n > 0 => {
                if out.send(Out::Data(buf[..=n].to_vec())).await.is_err() {
                    return;
                }
            }
            // The protocol cannot half-close a port: the caller's end of input waits
            // for the pod side to finish.
            _ => return,
        }
    }
}

/// Sends queued messages, and a ping every [`ws::STREAM_PING_PERIOD`].
async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, mut rx: mpsc::Receiver<Out>) {
    let mut ping = ws::ping_interval(ws::STREAM_PING_PERIOD);
    loop {
        let msg = tokio::select! {
            msg = rx.recv() => match msg {
                Some(msg) => msg,
                None => break,
            },
            _ = ping.tick() => Out::Ping,
        };
        let sent = match msg {
            Out::Data(message) => ws::write_frame(&mut wr, OP_BINARY, &message).await,
            Out::Pong(p) => ws::write_frame(&mut wr, OP_PONG, &p).await,
            Out::Ping => ws::write_frame(&mut wr, OP_PING, &[]).await,
        };
        if sent.is_err() {
            return;
        }
    }
    let _ = ws::write_frame(&mut wr, OP_CLOSE, &1000u16.to_be_bytes()).await;
}

/// Routes data channels to the port streams and collects the error channels.
async fn read_loop<R: AsyncRead + Unpin, S: AsyncWrite + Unpin>(
    mut frames: FrameReader<R>,
    ports: Vec<u16>,
    mut sinks: Vec<Option<S>>,
    outcomes: Vec<Option<oneshot::Sender<Outcome>>>,
    out: mpsc::Sender<Out>,
    done: oneshot::Sender<Result<(), StreamError>>,
) {
    let mut opened = vec![false; ports.len() * 2];
    let mut errors: Vec<Vec<u8>> = vec![Vec::new(); ports.len()];
    let result = loop {
        let data = match frames.next().await {
            Ok(Message::Data(d)) => d,
            Ok(Message::Ping(p)) => {
                let _ = out.send(Out::Pong(p)).await;
                continue;
            }
            Ok(Message::Close) => break Ok(()),
            Err(e) => break Err(e),
        };
        let Some((&channel, mut payload)) = data.split_first() else {
            continue;
        };
        let (index, is_error) = ((channel / 2) as usize, channel % 2 == 1);
        let Some(&port) = ports.get(index) else {
            continue;
        };
        if !opened[channel as usize] {
            if payload.len() < 2 || u16::from_le_bytes([payload[0], payload[1]]) != port {
                break Err(StreamError::PortMismatch { port });
            }
            opened[channel as usize] = true;
            payload = &payload[2..];
        }
        if is_error {
            if payload.is_empty() {
                continue;
            }
            errors[index].extend_from_slice(payload);
            // An error ends that port's stream.
            if let Some(mut sink) = sinks[index].take() {
                let _ = sink.shutdown().await;
            }
        } else if let Some(sink) = &mut sinks[index]
            && sink.write_all(payload).await.is_err()
        {
            sinks[index] = None;
        }
    };
    for sink in sinks.iter_mut().flatten() {
        let _ = sink.shutdown().await;
    }
    drop(sinks);
    for (i, tx) in outcomes.into_iter().enumerate() {
        if let Some(tx) = tx {
            let _ = tx.send(if errors[i].is_empty() {
                Outcome::Done
            } else {
                Outcome::Node(String::from_utf8_lossy(&errors[i]).trim().to_owned())
            });
        }
    }
    let reported = ports
        .iter()
        .zip(&errors)
        .find(|(_, e)| !e.is_empty())
        .map(|(port, e)| StreamError::PortForward {
            port: *port,
            message: String::from_utf8_lossy(e).trim().to_owned(),
        });
    let _ = done.send(match (reported, result) {
        (Some(e), _) => Err(e),
        (None, r) => r,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x82, payload.len() as u8];
        f.extend_from_slice(payload);
        f
    }

    #[tokio::test]
    async fn channels_carry_port_prefixed_data_and_errors() {
        let mut wire = Vec::new();
        wire.extend(server_frame(&[0, 80, 0])); // data channel of port 80 opens
        wire.extend(server_frame(&[1, 80, 0])); // error channel of port 80 opens
        wire.extend(server_frame(&[2, 0x90, 0x1f])); // port 8080 (0x1f90) opens
        wire.extend(server_frame(&[3, 0x90, 0x1f]));
        wire.extend(server_frame(b"\x00hello"));
        wire.extend(server_frame(b"\x03refused"));
        let (a_user, a_ours) = tokio::io::duplex(1024);
        let (b_user, b_ours) = tokio::io::duplex(1024);
        let (tx, _rx) = mpsc::channel(4);
        let (done_tx, done_rx) = oneshot::channel();
        read_loop(
            FrameReader::new(&wire[..]),
            vec![80, 8080],
            vec![Some(a_ours), Some(b_ours)],
            vec![None, None],
            tx,
            done_tx,
        )
        .await;
        let (mut a, mut b) = (a_user, b_user);
        let mut got = Vec::new();
        a.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello");
        got.clear();
        b.read_to_end(&mut got).await.unwrap();
        assert!(got.is_empty());
        let err = done_rx.await.unwrap().unwrap_err();
        assert!(
            matches!(&err, StreamError::PortForward { port: 8080, message } if message == "refused"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_channel_opening_with_another_port_is_refused() {
        let wire = server_frame(&[0, 81, 0]);
        let (_user, ours) = tokio::io::duplex(64);
        let (tx, _rx) = mpsc::channel(1);
        let (done_tx, done_rx) = oneshot::channel();
        read_loop(
            FrameReader::new(&wire[..]),
            vec![80],
            vec![Some(ours)],
            vec![None],
            tx,
            done_tx,
        )
        .await;
        assert!(matches!(
            done_rx.await.unwrap(),
            Err(StreamError::PortMismatch { port: 80 })
        ));
    }
}
