//! TLS details a kube-apiserver cannot show: which SNI name the client sent, and a
//! server on the IPv6 loopback (testenv binds IPv4 only). A small rustls server records
//! the handshake.

mod support;

use k8s_client::config::PemSource;
use k8s_client::transport::{ProxyEnv, TransportError};
use k8s_client::{Client, Config, Error};
use rcgen::SanType;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use support::server::{Leaf, TestCa};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A CA and a server certificate for `sans` signed by it.
struct Pki {
    ca_pem: String,
    leaf: Leaf,
}

fn pki(sans: Vec<SanType>) -> Pki {
    let ca = TestCa::new("tls-test-ca");
    let leaf = ca.leaf(sans);
    Pki {
        ca_pem: ca.pem,
        leaf,
    }
}

type Snis = Arc<Mutex<Vec<Option<String>>>>;

/// An HTTPS server on `bind` answering `{}` to every request and recording each SNI.
async fn serve(bind: &str, pki: &Pki) -> std::io::Result<(SocketAddr, Snis)> {
    let config = pki.leaf.server_config();
    let config = Arc::new(config);
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let snis = Snis::default();
    let seen = snis.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let config = config.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let start =
                    tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp)
                        .await;
                let Ok(start) = start else { return };
                seen.lock()
                    .unwrap()
                    .push(start.client_hello().server_name().map(str::to_owned));
                let Ok(mut tls) = start.into_stream(config).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Ok((addr, snis))
}

fn client(url: String, pki: &Pki, tls_server_name: Option<&str>) -> Client {
    let mut config = Config::new(url.parse().unwrap());
    config.tls.ca = Some(PemSource::Data(pki.ca_pem.clone().into_bytes()));
    config.tls.tls_server_name = tls_server_name.map(str::to_owned);
    Client::builder(config)
        .proxy_env(ProxyEnv::none())
        .build()
        .unwrap()
}

fn get() -> http::Request<Vec<u8>> {
    http::Request::get("/version").body(Vec::new()).unwrap()
}

#[tokio::test]
async fn tls_server_name_is_sent_as_sni_and_verified() {
    let pki = pki(vec![SanType::DnsName(
        "apiserver.internal".try_into().unwrap(),
    )]);
    let (addr, snis) = serve("127.0.0.1:0", &pki).await.unwrap();
    let url = format!("https://{addr}");

    let _: serde_json::Value = client(url.clone(), &pki, Some("apiserver.internal"))
        .request(get())
        .await
        .unwrap();
    assert_eq!(
        snis.lock().unwrap().last().cloned().flatten().as_deref(),
        Some("apiserver.internal")
    );

    // An environment proxy does not apply to the cluster (loopback here), so neither may
    // it to the same request addressed to the server name for SNI.
    let mut config = Config::new(url.parse().unwrap());
    config.tls.ca = Some(PemSource::Data(pki.ca_pem.clone().into_bytes()));
    config.tls.tls_server_name = Some("apiserver.internal".to_owned());
    let unreachable_proxy =
        ProxyEnv::from_lookup(|n| (n == "HTTPS_PROXY").then(|| "http://127.0.0.1:9".to_owned()));
    let proxied = Client::builder(config)
        .proxy_env(unreachable_proxy)
        .build()
        .unwrap();
    let _: serde_json::Value = proxied.request(get()).await.unwrap();

    // Without it: no SNI for an IP address, and the certificate does not name the IP.
    let err = client(url, &pki, None)
        .request::<serde_json::Value>(get())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Transport(TransportError::Tls { .. })),
        "{err:?}"
    );
    assert_eq!(snis.lock().unwrap().last().cloned(), Some(None));
}

#[tokio::test]
async fn ipv6_literal_servers_are_verified_by_ip_san() {
    let pki = pki(vec![SanType::IpAddress("::1".parse().unwrap())]);
    let (addr, _) = match serve("[::1]:0", &pki).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "skipping ipv6_literal_servers_are_verified_by_ip_san: no IPv6 loopback ({e})"
            );
            return;
        }
    };
    let url = format!("https://[::1]:{}", addr.port());
    let v: serde_json::Value = client(url, &pki, None).request(get()).await.unwrap();
    assert_eq!(v, serde_json::json!({}));
}
