//! A TCP relay between the client and an API server whose path the test breaks:
//! connection resets (RST both ways), black holes (bytes dropped, no FIN, for every
//! connection open while the hole lasts, also after the path is back, as a dead NAT
//! entry would), and slow reads (small chunks with a delay).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the relay does with the bytes it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Forwards everything.
    Pass = 0,
    /// Drops every byte of every open and new connection, never closes them.
    BlackHole = 1,
    /// Forwards in 256-byte chunks, each after a 10 ms pause.
    Slow = 2,
}

struct Shared {
    mode: AtomicU8,
    upstream: SocketAddr,
    accepted: AtomicUsize,
    resets: watch::Sender<u64>,
}

impl Shared {
    fn mode(&self) -> Mode {
        match self.mode.load(Ordering::SeqCst) {
            1 => Mode::BlackHole,
            2 => Mode::Slow,
            _ => Mode::Pass,
        }
    }
}

/// A running relay; stops with the runtime.
pub struct Relay {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Relay {
    /// Listens on `127.0.0.1:<free port>` and relays to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            mode: AtomicU8::new(Mode::Pass as u8),
            upstream,
            accepted: AtomicUsize::new(0),
            resets: watch::channel(0).0,
        });
        let s = shared.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                s.accepted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(connection(client, s.clone()));
            }
        });
        Relay { addr, shared }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections the relay accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Sets the mode for every open and future connection (a black hole latches).
    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Resets every open connection (RST to both peers).
    pub fn reset_all(&self) {
        self.shared.resets.send_modify(|n| *n += 1);
    }
}

async fn connection(client: TcpStream, shared: Arc<Shared>) {
    let Ok(upstream) = TcpStream::connect(shared.upstream).await else {
        rst(&client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let dead = Arc::new(AtomicBool::new(false));
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let a = tokio::spawn(pump(cr, uw, shared.clone(), dead.clone()));
    let b = tokio::spawn(pump(ur, cw, shared, dead));
    let _ = tokio::join!(a, b);
}

/// Copies `from` to `to` under the relay's mode until EOF, an error or a reset.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    shared: Arc<Shared>,
    dead: Arc<AtomicBool>,
) {
    let mut resets = shared.resets.subscribe();
    resets.mark_unchanged();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = resets.changed() => {
                // SO_LINGER 0: closing sends RST instead of FIN.
                rst(from.as_ref());
                return;
            }
        };
        let mode = shared.mode();
        if mode == Mode::BlackHole {
            dead.store(true, Ordering::SeqCst);
        }
        if dead.load(Ordering::SeqCst) {
            continue;
        }
        let ok = if mode == Mode::Slow {
            let mut ok = true;
            for chunk in buf[..n].chunks(256) {
                tokio::time::sleep(Duration::from_millis(10)).await;
                if to.write_all(chunk).await.is_err() {
                    ok = false;
                    break;
                }
            }
            ok
        } else {
            to.write_all(&buf[..n]).await.is_ok()
        };
        if !ok {
            return;
        }
    }
    if dead.load(Ordering::SeqCst) {
        // A black hole never closes: keep the socket open until a reset.
        let _ = resets.changed().await;
        rst(from.as_ref());
        return;
    }
    let _ = to.shutdown().await;
}

/// SO_LINGER 0: closing the socket sends RST instead of FIN. (tokio deprecates
/// `set_linger` because a non-zero linger blocks on drop; zero never blocks.)
#[allow(deprecated)]
fn rst(socket: &TcpStream) {
    let _ = socket.set_linger(Some(Duration::ZERO));
}
