//! Proxies between the client and a real kube-apiserver (testenv): an HTTP CONNECT proxy
//! and a SOCKS5 proxy started by the test relay to it; environment proxies skip
//! loopback targets (Go's rule). `NO_PROXY` matching is unit-tested in
//! `transport::proxy`: a bypassed request to a name only a proxy can resolve would need
//! a DNS lookup, and these tests send no traffic beyond loopback.
#![cfg(feature = "testenv")]

mod support;

use k8s_client::config::{AuthConfig, PemSource};
use k8s_client::testenv::TestEnv;
use k8s_client::transport::ProxyEnv;
use k8s_client::{Client, Config};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn config(env: &TestEnv, server: &str) -> Config {
    let mut c = Config::new(server.parse().unwrap());
    c.tls.ca = Some(PemSource::File(env.ca_path().to_owned()));
    c.auth = AuthConfig::Token(env.admin_token().clone());
    c
}

/// Which targets a proxy was asked to reach, in order.
type Targets = Arc<Mutex<Vec<String>>>;

/// Names the proxies resolve themselves: the in-cluster name of the API server maps to
/// loopback, so a client can only reach it through a proxy.
fn resolve(host: &str) -> String {
    if host == "kubernetes.default.svc" {
        "127.0.0.1".to_owned()
    } else {
        host.to_owned()
    }
}

/// Serves a proxy on a loopback port: `handle` runs for each connection and records the
/// targets it is asked for. Returns `<scheme>://<address>` and those targets.
async fn serve_proxy<F, Fut>(scheme: &str, handle: F) -> (String, Targets)
where
    F: Fn(TcpStream, Targets) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let targets = Targets::default();
    let seen = targets.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(handle(conn, seen.clone()));
        }
    });
    (format!("{scheme}://{addr}"), targets)
}

/// A minimal HTTP CONNECT proxy.
async fn connect_proxy() -> (String, Targets) {
    serve_proxy("http", |mut conn, seen| async move {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if conn.read(&mut byte).await.unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut words = head.split_whitespace();
        if words.next() != Some("CONNECT") {
            let _ = conn
                .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
                .await;
            return;
        }
        let target = words.next().unwrap_or_default().to_owned();
        seen.lock().unwrap().push(target.clone());
        let (host, port) = target.rsplit_once(':').unwrap();
        let Ok(mut upstream) =
            TcpStream::connect((resolve(host), port.parse::<u16>().unwrap())).await
        else {
            let _ = conn
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                .await;
            return;
        };
        conn.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .unwrap();
        let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
    })
    .await
}

/// A minimal SOCKS5 proxy (no authentication, CONNECT only).
async fn socks5_proxy() -> (String, Targets) {
    serve_proxy("socks5", |mut conn, seen| async move {
        let mut greeting = [0u8; 2];
        conn.read_exact(&mut greeting).await.unwrap();
        assert_eq!(greeting[0], 5);
        let mut methods = vec![0u8; greeting[1] as usize];
        conn.read_exact(&mut methods).await.unwrap();
        assert!(methods.contains(&0), "no-auth offered");
        conn.write_all(&[5, 0]).await.unwrap();
        let mut req = [0u8; 4];
        conn.read_exact(&mut req).await.unwrap();
        assert_eq!(&req[..3], &[5, 1, 0], "CONNECT");
        let host = match req[3] {
            1 => {
                let mut ip = [0u8; 4];
                conn.read_exact(&mut ip).await.unwrap();
                std::net::Ipv4Addr::from(ip).to_string()
            }
            3 => {
                let len = conn.read_u8().await.unwrap();
                let mut name = vec![0u8; len as usize];
                conn.read_exact(&mut name).await.unwrap();
                String::from_utf8(name).unwrap()
            }
            4 => {
                let mut ip = [0u8; 16];
                conn.read_exact(&mut ip).await.unwrap();
                std::net::Ipv6Addr::from(ip).to_string()
            }
            other => panic!("address type {other}"),
        };
        let port = conn.read_u16().await.unwrap();
        seen.lock().unwrap().push(format!("{host}:{port}"));
        let mut upstream = TcpStream::connect((resolve(&host), port)).await.unwrap();
        conn.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])
            .await
            .unwrap();
        let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
    })
    .await
}

async fn list_namespaces(client: &Client) -> Value {
    client
        .request(
            http::Request::get("/api/v1/namespaces")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap()
}

/// Lists namespaces of `server` with `proxy` as the cluster's `proxy-url`.
async fn through_proxy_url(env: &TestEnv, proxy: &str, server: &str) -> Value {
    let mut config = config(env, server);
    config.proxy_url = Some(proxy.parse().unwrap());
    let client = Client::builder(config)
        .proxy_env(ProxyEnv::none())
        .build()
        .unwrap();
    list_namespaces(&client).await
}

#[tokio::test]
async fn proxy_url_with_http_connect() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let (proxy, targets) = connect_proxy().await;
    assert_eq!(
        through_proxy_url(env, &proxy, env.server_url()).await["kind"],
        "NamespaceList"
    );
    // A proxy-url applies even to loopback servers (as in client-go).
    assert_eq!(
        targets.lock().unwrap().first().cloned(),
        Some(format!("127.0.0.1:{}", support::env::apiserver_port(env)))
    );
}

#[tokio::test]
async fn proxy_url_with_socks5_resolves_names_at_the_proxy() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let (proxy, targets) = socks5_proxy().await;
    // Only the proxy knows this name; TLS still verifies it (it is in the certificate).
    let server = format!(
        "https://kubernetes.default.svc:{}",
        support::env::apiserver_port(env)
    );
    assert_eq!(
        through_proxy_url(env, &proxy, &server).await["kind"],
        "NamespaceList"
    );
    assert_eq!(
        targets.lock().unwrap().first().cloned(),
        Some(format!(
            "kubernetes.default.svc:{}",
            support::env::apiserver_port(env)
        ))
    );
}

#[tokio::test]
async fn https_proxy_from_the_environment() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let (proxy, targets) = connect_proxy().await;
    let server = format!(
        "https://kubernetes.default.svc:{}",
        support::env::apiserver_port(env)
    );
    let proxy_env = ProxyEnv::from_lookup(|name| (name == "HTTPS_PROXY").then(|| proxy.clone()));
    let client = Client::builder(config(env, &server))
        .proxy_env(proxy_env)
        .build()
        .unwrap();
    assert_eq!(list_namespaces(&client).await["kind"], "NamespaceList");
    assert_eq!(targets.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn environment_proxy_skips_loopback_servers() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let (proxy, targets) = connect_proxy().await;
    // Loopback servers never go through an environment proxy (Go's rule).
    let lookup = {
        let proxy = proxy.clone();
        move |name: &str| (name == "HTTPS_PROXY").then(|| proxy.clone())
    };
    let client = Client::builder(config(env, env.server_url()))
        .proxy_env(ProxyEnv::from_lookup(lookup))
        .build()
        .unwrap();
    assert_eq!(list_namespaces(&client).await["kind"], "NamespaceList");
    assert!(targets.lock().unwrap().is_empty());
}
