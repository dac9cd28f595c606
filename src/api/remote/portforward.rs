//! `pods/portforward` over WebSocket, `v4.channel.k8s.io` framing: for the i-th
//! requested port, channel `2i` carries data and `2i+1` errors; the server opens each
//! channel with the port number (2 bytes, little-endian).

use super::error::StreamError;
use super::exec::subresource_path;
use super::ws::{self, FrameReader, Message, OP_BINARY, OP_CLOSE, OP_PONG};
use crate::api::Api;
use crate::error::Error;
use k8s_openapi::api::core::v1::Pod;
use std::collections::HashMap;
use std::fmt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The port-forward subprotocol spoken over WebSocket (kubelet's and the API server's
/// `portforward.k8s.io` WebSocket framing).
pub const PORTFORWARD_PROTOCOL: &str = "v4.channel.k8s.io";
const PIPE: usize = 256 * 1024;
const CHUNK: usize = 32 * 1024;

enum Out {
    /// A data message: the channel byte, then the bytes.
    Data(Vec<u8>),
    Pong(Vec<u8>),
}

/// One port-forward connection to a pod: one byte stream per requested port.
///
/// Each stream is one TCP connection to that port inside the pod; forward another
/// connection with another [`Api::portforward`] call (as a local listener does per
/// accepted connection). Dropping the forwarder closes the connection.
pub struct Portforwarder {
    streams: HashMap<u16, PortStream>,
    done: Option<oneshot::Receiver<Result<(), StreamError>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Portforwarder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Portforwarder")
            .field("ports", &self.streams.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Drop for Portforwarder {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The byte stream to one forwarded port: [`AsyncRead`] + [`AsyncWrite`].
pub struct PortStream(DuplexStream);

impl fmt::Debug for PortStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PortStream")
    }
}

duplex_io!(read PortStream);

duplex_io!(write PortStream);

impl Portforwarder {
    /// The stream of `port` (once).
    pub fn take_stream(&mut self, port: u16) -> Option<PortStream> {
        self.streams.remove(&port)
    }

    /// Waits until the connection ends; an error the node reported for a port (for
    /// example nothing listening there) is [`StreamError::PortForward`].
    pub async fn join(mut self) -> Result<(), Error> {
        let rx = self
            .done
            .take()
            .ok_or(StreamError::NotOpen { what: "connection" })?;
        Ok(rx.await.map_err(|_| StreamError::NoStatus)??)
    }
}

impl Api<Pod> {
    /// Forwards `ports` of pod `name` (`pods/portforward`), like one connection of
    /// `kubectl port-forward`.
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
        let path = subresource_path(self, name, "portforward")?;
        let query = ports_query(ports);
        let connected = ws::connect(self.client(), &path, &query, &[PORTFORWARD_PROTOCOL]).await?;
        let (rd, wr) = tokio::io::split(connected.io);
        let (out_tx, out_rx) = mpsc::channel::<Out>(64);
        let (done_tx, done_rx) = oneshot::channel();
        let mut streams = HashMap::new();
        let mut sinks = Vec::new();
        let mut tasks = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let (user, ours) = tokio::io::duplex(PIPE);
            streams.insert(*port, PortStream(user));
            let (ours_rd, ours_wr) = tokio::io::split(ours);
            sinks.push(Some(ours_wr));
            let channel = (2 * i) as u8;
            tasks.push(tokio::spawn(pump_out(ours_rd, channel, out_tx.clone())));
        }
        tasks.push(tokio::spawn(read_loop(
            FrameReader::new(rd),
            ports.to_vec(),
            sinks,
            out_tx,
            done_tx,
        )));
        tasks.push(tokio::spawn(write_loop(wr, out_rx)));
        Ok(Portforwarder {
            streams,
            done: Some(done_rx),
            tasks,
        })
    }
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

async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, mut rx: mpsc::Receiver<Out>) {
    while let Some(msg) = rx.recv().await {
        let sent = match msg {
            Out::Data(message) => ws::write_frame(&mut wr, OP_BINARY, &message).await,
            Out::Pong(p) => ws::write_frame(&mut wr, OP_PONG, &p).await,
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
