//! TLS details a kube-apiserver cannot show: which SNI name the client sent, and a
//! server on the IPv6 loopback (testenv binds IPv4 only). A small rustls server records
//! the handshake.

use k8s_client::config::PemSource;
use k8s_client::transport::{ProxyEnv, TransportError};
use k8s_client::{Client, Config, Error};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct Pki {
    ca_pem: String,
    cert_der: rustls::pki_types::CertificateDer<'static>,
    key_der: rustls::pki_types::PrivateKeyDer<'static>,
}

fn pki(sans: Vec<SanType>) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "tls-test-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = sans;
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert_der: cert.der().clone(),
        key_der: rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    }
}

type Snis = Arc<Mutex<Vec<Option<String>>>>;

/// An HTTPS server on `bind` answering `{}` to every request and recording each SNI.
async fn serve(bind: &str, pki: &Pki) -> std::io::Result<(SocketAddr, Snis)> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![pki.cert_der.clone()], pki.key_der.clone_key())
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
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
