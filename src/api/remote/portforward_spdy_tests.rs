//! The SPDY connection against a scripted server over an in-memory pipe: the server
//! side reads the client's masked WebSocket frames and answers with SPDY frames in
//! unmasked ones, as the API server's tunnel does.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// The server's end: decodes the client's frames, sends its own.
struct Server {
    io: DuplexStream,
    buf: BytesMut,
    decoder: Decoder,
    encoder: Encoder,
}

impl Server {
    fn new(io: DuplexStream) -> Self {
        Self {
            io,
            buf: BytesMut::new(),
            decoder: Decoder::new(),
            encoder: Encoder::new().unwrap(),
        }
    }

    /// Reads one masked client WebSocket frame's payload.
    async fn ws_message(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut head = [0u8; 2];
        self.io.read_exact(&mut head).await.ok()?;
        assert!(head[1] & 0x80 != 0, "client frames are masked");
        let len = match head[1] & 0x7f {
            126 => self.io.read_u16().await.ok()? as usize,
            127 => self.io.read_u64().await.ok()? as usize,
            n => n as usize,
        };
        let mut mask = [0u8; 4];
        self.io.read_exact(&mut mask).await.ok()?;
        let mut payload = vec![0u8; len];
        self.io.read_exact(&mut payload).await.ok()?;
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
        Some((head[0] & 0x0f, payload))
    }

    /// The next SPDY frame from the client.
    async fn frame(&mut self) -> Frame {
        loop {
            if let Some(f) = self.decoder.decode(&mut self.buf).unwrap() {
                return f;
            }
            let (op, payload) = self.ws_message().await.expect("client frame");
            if op == ws::OP_BINARY {
                self.buf.extend_from_slice(&payload);
            }
        }
    }

    async fn send(&mut self, spdy: &[u8]) {
        let mut frame = vec![0x82u8];
        if spdy.len() < 126 {
            frame.push(spdy.len() as u8);
        } else {
            frame.push(126);
            frame.extend_from_slice(&(spdy.len() as u16).to_be_bytes());
        }
        frame.extend_from_slice(spdy);
        self.io.write_all(&frame).await.unwrap();
    }

    async fn reply(&mut self, stream: u32, fin: bool) {
        let mut body = stream.to_be_bytes().to_vec();
        self.encoder.header_block(&[], &mut body).unwrap();
        let mut frame = vec![0x80, 3, 0, spdy::SYN_REPLY as u8, u8::from(fin)];
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        frame.extend_from_slice(&body);
        self.send(&frame).await;
    }

    async fn data(&mut self, stream: u32, fin: bool, data: &[u8]) {
        let mut frame = Vec::new();
        spdy::data_header(&mut frame, stream, fin, data.len());
        frame.extend_from_slice(data);
        self.send(&frame).await;
    }

    /// Accepts the next pair: checks its SYN_STREAMs and replies; returns the ids.
    async fn accept(&mut self, port: u16, request: u32) -> (u32, u32) {
        let mut ids = Vec::new();
        for kind in ["error", "data"] {
            let Frame::SynStream {
                stream, headers, ..
            } = self.frame().await
            else {
                panic!("SYN_STREAM expected");
            };
            let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            assert_eq!(get("streamtype").as_deref(), Some(kind));
            assert_eq!(get("port"), Some(port.to_string()));
            assert_eq!(get("requestid"), Some(request.to_string()));
            ids.push(stream);
        }
        for id in &ids {
            self.reply(*id, false).await;
        }
        // The client ends its half of the error stream at once.
        assert_eq!(
            self.frame().await,
            Frame::Data {
                stream: ids[0],
                fin: true,
                data: Bytes::new()
            }
        );
        (ids[0], ids[1])
    }
}

fn pair() -> (SpdyConnection, Server) {
    let (client, server) = tokio::io::duplex(1 << 20);
    (SpdyConnection::start(client), Server::new(server))
}

#[tokio::test]
async fn pairs_share_one_connection_and_carry_bytes_both_ways() {
    let (conn, mut server) = pair();
    let conn = Arc::new(conn);
    let c = conn.clone();
    let first = tokio::spawn(async move { c.open(80, None).await });
    let (e1, d1) = server.accept(80, 0).await;
    let mut first = first.await.unwrap().unwrap();
    let c = conn.clone();
    let second = tokio::spawn(async move { c.open(81, None).await });
    let (e2, d2) = server.accept(81, 1).await;
    let mut second = second.await.unwrap().unwrap();
    assert_eq!((e1, d1, e2, d2), (1, 3, 5, 7), "rising odd stream ids");

    first.write_all(b"to eighty").await.unwrap();
    second.write_all(b"to eighty-one").await.unwrap();
    let mut got = HashMap::new();
    while got.len() < 2 {
        if let Frame::Data { stream, data, .. } = server.frame().await {
            got.insert(stream, data);
        }
    }
    assert_eq!(&got[&d1][..], b"to eighty");
    assert_eq!(&got[&d2][..], b"to eighty-one");

    // Half-close: our end of input is a FIN on the data stream only.
    first.shutdown().await.unwrap();
    assert_eq!(
        server.frame().await,
        Frame::Data {
            stream: d1,
            fin: true,
            data: Bytes::new()
        }
    );
    // The pod side answers after our FIN, then ends both streams.
    server.data(d1, false, b"reply").await;
    server.data(d1, true, b"").await;
    server.data(e1, true, b"").await;
    let mut reply = Vec::new();
    first.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"reply");
    // The other connection is untouched.
    server.data(d2, false, b"still here").await;
    let mut buf = [0u8; 10];
    second.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"still here");
}

#[tokio::test]
async fn a_node_error_ends_the_stream_with_its_text() {
    let (conn, mut server) = pair();
    let conn = Arc::new(conn);
    let c = conn.clone();
    let open = tokio::spawn(async move { c.open(7777, None).await });
    let (e, d) = server.accept(7777, 0).await;
    let mut stream = open.await.unwrap().unwrap();
    server
        .data(e, false, b"error forwarding port 7777 to pod x: refused")
        .await;
    server.data(e, true, b"").await;
    server.data(d, true, b"").await;
    let mut got = Vec::new();
    let err = stream.read_to_end(&mut got).await.unwrap_err();
    let inner = err.into_inner().unwrap().downcast::<StreamError>().unwrap();
    assert!(
        matches!(&*inner, StreamError::PortForward { port: 7777, message } if message == "error forwarding port 7777 to pod x: refused"),
        "{inner:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_pings_the_node_and_a_silent_one_is_lost() {
    let start = tokio::time::Instant::now();
    let (conn, mut server) = pair();
    let conn = Arc::new(conn);
    let c = conn.clone();
    let opening = tokio::spawn(async move { c.open(80, None).await });
    server.accept(80, 0).await;
    let mut stream = opening.await.unwrap().expect("the pair opens");
    // Our pings: odd ids, every 10 s; the server answering them keeps the connection.
    for (k, id) in [(1u32, 1u32), (2, 3), (3, 5)] {
        assert_eq!(server.frame().await, Frame::Ping { id });
        assert_eq!(start.elapsed(), 2 * ws::STREAM_PING_PERIOD * k);
        let mut echo = Vec::new();
        spdy::ping(&mut echo, id);
        server.send(&echo).await;
    }
    tokio::time::sleep(ws::STREAM_SILENCE_LIMIT / 2).await;
    assert!(conn.is_open(), "answered pings keep the connection");
    // Then the server goes quiet (it still reads what we send): once the limit has
    // passed since its last byte the connection is lost.
    let drain = tokio::spawn(async move { while server.ws_message().await.is_some() {} });
    let last_heard = start + 6 * ws::STREAM_PING_PERIOD;
    tokio::time::sleep_until(last_heard + ws::STREAM_SILENCE_LIMIT - Duration::from_secs(1)).await;
    assert!(conn.is_open(), "not before the limit");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !conn.is_open(),
        "a server silent for the limit loses the connection"
    );
    // The forwarded stream ends with the connection: reading ends, and writing fails
    // instead of waiting on a connection that takes nothing any more.
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
    assert!(stream.write_all(&[0u8; 1 << 20]).await.is_err());
    drain.abort();
}

#[tokio::test]
async fn the_servers_pings_are_echoed_and_its_streams_refused() {
    let (_conn, mut server) = pair();
    let mut frame = Vec::new();
    spdy::ping(&mut frame, 2);
    server.send(&frame).await;
    assert_eq!(server.frame().await, Frame::Ping { id: 2 });
    let mut syn = Vec::new();
    server
        .encoder
        .syn_stream(2, &[("streamtype", "data")], false, &mut syn)
        .unwrap();
    server.send(&syn).await;
    assert_eq!(
        server.frame().await,
        Frame::RstStream {
            stream: 2,
            status: spdy::REFUSED_STREAM
        }
    );
}

#[tokio::test]
async fn goaway_stops_new_connections_and_a_reset_before_the_reply_fails_the_open() {
    let (conn, mut server) = pair();
    let conn = Arc::new(conn);
    let c = conn.clone();
    let open = tokio::spawn(async move { c.open(80, None).await });
    let Frame::SynStream { stream, .. } = server.frame().await else {
        panic!("SYN_STREAM");
    };
    let mut rst = Vec::new();
    spdy::rst_stream(&mut rst, stream, spdy::REFUSED_STREAM);
    server.send(&rst).await;
    let err = open.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            StreamError::Spdy(SpdyError::StreamReset {
                port: 80,
                status: 3
            })
        ),
        "{err:?}"
    );
    let mut goaway = Vec::new();
    spdy::goaway(&mut goaway, 0, 0);
    server.send(&goaway).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while conn.is_open() {
        assert!(tokio::time::Instant::now() < deadline, "GOAWAY not seen");
        tokio::task::yield_now().await;
    }
    assert!(matches!(
        conn.open(80, None).await,
        Err(StreamError::Spdy(SpdyError::GoneAway))
    ));
}

#[tokio::test]
async fn a_frame_for_a_stream_never_opened_ends_the_connection() {
    let (conn, mut server) = pair();
    let conn = Arc::new(conn);
    let c = conn.clone();
    let open = tokio::spawn(async move { c.open(80, None).await });
    let (_, _) = server.accept(80, 0).await;
    let mut stream = open.await.unwrap().unwrap();
    server.data(99, false, b"who?").await;
    let mut got = Vec::new();
    let err = stream.read_to_end(&mut got).await.unwrap_err();
    let inner = err.into_inner().unwrap().downcast::<StreamError>().unwrap();
    assert!(
        matches!(
            &*inner,
            StreamError::Spdy(SpdyError::ConnectionLost { port: 80 })
        ),
        "{inner:?}"
    );
    assert!(!conn.is_open());
    assert!(conn.open(80, None).await.is_err());
}

#[tokio::test]
async fn a_corrupt_header_block_ends_the_connection_without_a_panic() {
    let (conn, mut server) = pair();
    let conn = Arc::new(conn);
    let c = conn.clone();
    let open = tokio::spawn(async move { c.open(80, None).await });
    let Frame::SynStream { stream, .. } = server.frame().await else {
        panic!("SYN_STREAM");
    };
    let mut frame = vec![0x80, 3, 0, 2, 0, 0, 0, 10];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(&[0x78, 0xbb, 1, 2, 3, 4]);
    server.send(&frame).await;
    let err = open.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            StreamError::Spdy(SpdyError::ConnectionLost { port: 80 })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_stream_dropped_while_running_resets_its_pair() {
    let (conn, mut server) = pair();
    let conn = Arc::new(conn);
    let c = conn.clone();
    let open = tokio::spawn(async move { c.open(80, None).await });
    let (e, d) = server.accept(80, 0).await;
    drop(open.await.unwrap().unwrap());
    let mut resets = Vec::new();
    while resets.len() < 2 {
        match server.frame().await {
            Frame::RstStream { stream, status } => resets.push((stream, status)),
            // Our end of input (the pump sees the dropped pipe) may come first.
            Frame::Data {
                stream, fin: true, ..
            } if stream == d => {}
            f => panic!("{f:?}"),
        }
    }
    resets.sort();
    assert_eq!(resets, [(e, spdy::CANCEL), (d, spdy::CANCEL)]);
    assert!(conn.is_open(), "the connection itself stays");
}
