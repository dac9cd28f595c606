//! Routable simulated nodes: kwok behind an authenticating TLS front on an address the
//! API server's node proxy accepts.
//!
//! kube-apiserver proxies `nodes/NAME/proxy/…` only to global unicast addresses, and
//! kwok serves its kubelet API, which runs commands, without authenticating anyone. With
//! [`TestEnvBuilder::routable_nodes`](super::TestEnvBuilder::routable_nodes) the nodes
//! advertise an address of [`ROUTABLE_RANGE`](super::ROUTABLE_RANGE) added to `lo`, on
//! which this front listens. It is reached the way a real kubelet is:
//!
//! - it serves a certificate for that address signed by the environment's CA, which the
//!   API server verifies (`--kubelet-certificate-authority`);
//! - it lets through only clients with a certificate from a CA of its own that signed
//!   exactly one certificate, the API server's `--kubelet-client-certificate`;
//! - it speaks HTTP/1.1 only (ALPN), as kwok's plain listener does, and copies the
//!   decrypted bytes both ways to kwok on `127.0.0.1`, upgrades (exec, attach,
//!   port-forward) included.

use super::TestEnvError;
use super::kubeconfig::write_private;
use super::multi::LoAddresses;
use super::pki::{KubeletTls, Pki};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The address and TLS material of routable nodes; the address leaves `lo` on drop.
pub(crate) struct RoutableNodes {
    address: LoAddresses,
    pub(crate) tls: KubeletTls,
    /// The API server's kubelet client certificate and key, written to the
    /// environment's directory.
    pub(crate) client_cert: PathBuf,
    pub(crate) client_key: PathBuf,
}

impl RoutableNodes {
    /// Adds the nodes' address to `lo`, generates the TLS material and writes the API
    /// server's side of it to `dir`.
    pub(crate) fn prepare(pki: &Pki, dir: &Path) -> Result<Self, TestEnvError> {
        let address = LoAddresses::add(1)?;
        let tls = pki.kubelet_tls(address.ips()[0])?;
        let client_cert = dir.join("kubelet-client.crt");
        let client_key = dir.join("kubelet-client.key");
        write_private(&client_cert, tls.client_cert_pem.as_bytes())?;
        write_private(&client_key, tls.client_key_pem.expose_secret())?;
        Ok(Self {
            address,
            tls,
            client_cert,
            client_key,
        })
    }

    /// The address the nodes advertise and the front listens on.
    pub(crate) fn ip(&self) -> Ipv4Addr {
        self.address.ips()[0]
    }
}

impl std::fmt::Debug for RoutableNodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutableNodes")
            .field("ip", &self.ip())
            .field("client_cert", &self.client_cert)
            .finish_non_exhaustive()
    }
}

/// The running front; stopped (listener closed, every connection dropped) on drop.
#[derive(Debug)]
pub(crate) struct KubeletFront {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KubeletFront {
    /// Listens on a free port of `ip` and forwards every authenticated connection to
    /// `upstream` (kwok's listener), on a thread of its own.
    pub(crate) fn start(
        ip: Ipv4Addr,
        upstream: SocketAddr,
        tls: &KubeletTls,
    ) -> Result<Self, TestEnvError> {
        let config = Arc::new(server_config(tls)?);
        let failed = |action: &'static str| {
            move |source| TestEnvError::KubeletFront {
                action,
                address: SocketAddr::from((ip, 0)),
                source,
            }
        };
        let listener = std::net::TcpListener::bind((ip, 0)).map_err(failed("listening on"))?;
        listener
            .set_nonblocking(true)
            .map_err(failed("configuring the listener on"))?;
        let addr = listener
            .local_addr()
            .map_err(failed("reading the port of"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(failed("starting the runtime for"))?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("testenv-kubelet-front".to_owned())
            .spawn(move || runtime.block_on(serve(listener, upstream, config, stopped)))
            .map_err(failed("starting the thread for"))?;
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The port the nodes advertise as their kubelet port.
    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for KubeletFront {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// TLS 1.2/1.3 with the serving certificate, HTTP/1.1 only, client certificates
/// required and verified against the kubelet client CA alone.
fn server_config(tls: &KubeletTls) -> Result<rustls::ServerConfig, TestEnvError> {
    const WHAT: &str = "TLS configuration of the simulated kubelet's front";
    let err = |e: rustls::Error| TestEnvError::Pki {
        what: WHAT,
        source: Box::new(e),
    };
    let pem_err = |e: rustls::pki_types::pem::Error| TestEnvError::Pki {
        what: WHAT,
        source: Box::new(e),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(tls.client_ca_pem.as_bytes()) {
        roots.add(ca.map_err(pem_err)?).map_err(err)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| TestEnvError::Pki {
        what: WHAT,
        source: Box::new(e),
    })?;
    let chain = CertificateDer::pem_slice_iter(tls.serving_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err)?;
    let key =
        PrivateKeyDer::from_pem_slice(tls.serving_key_pem.expose_secret()).map_err(pem_err)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(err)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts until `stopped` fires; each connection on a task of its own.
async fn serve(
    listener: std::net::TcpListener,
    upstream: SocketAddr,
    config: Arc<rustls::ServerConfig>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("testenv: the simulated kubelet's front cannot listen: {e}");
            return;
        }
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    tokio::spawn(forward(acceptor.clone(), tcp, upstream));
                }
                // Out of descriptors or a connection reset before accept: wait a moment
                // instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
        }
    }
}

/// Completes the handshake (an unauthenticated client fails here and is dropped), then
/// copies bytes both ways between the client and kwok until either side closes.
async fn forward(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    upstream: SocketAddr,
) {
    let _ = tcp.set_nodelay(true);
    let Ok(Ok(mut tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
    else {
        return;
    };
    let Ok(mut kwok) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    let _ = kwok.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut kwok).await;
}
