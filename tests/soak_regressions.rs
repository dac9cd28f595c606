//! Defects the soak suite found, each pinned by a fast test against a local server:
//! a GET whose answer breaks off mid-body is sent again (a write is not), and the
//! request timeout bounds the wait for a credential from a hanging provider.

mod support;

use bytes::Bytes;
use http::Response;
use k8s_client::Client;
use k8s_client::auth::{AuthError, AuthProvider, BoxFuture, Credential};
use k8s_client::transport::TransportError;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::server::UpFuture;
use support::server::Upstream;
use support::server::channel_body;
use support::server::full;

/// Answers the first request with a body that breaks off (Content-Length 100, 10 bytes
/// sent, connection closed), then whole JSON bodies; counts requests.
async fn breaking_upstream() -> (Upstream, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let upstream = Upstream::start(move |_req| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if n == 0 {
                let (tx, body) = channel_body();
                tokio::spawn(async move {
                    let _ = tx.send(Bytes::from_static(b"{\"kind\":\"")).await;
                    // Dropping the sender ends the body 90 bytes short.
                });
                Response::builder()
                    .header("content-type", "application/json")
                    .header("content-length", "100")
                    .body(body)
                    .unwrap()
            } else {
                Response::builder()
                    .header("content-type", "application/json")
                    .body(full(r#"{"kind":"Namespace"}"#))
                    .unwrap()
            }
        }) as UpFuture
    })
    .await;
    (upstream, count)
}

#[tokio::test]
async fn a_get_whose_body_breaks_off_is_sent_again() {
    let (upstream, count) = breaking_upstream().await;
    let client = upstream.client("t");
    let req = http::Request::get("/api/v1/namespaces/default")
        .body(Vec::new())
        .unwrap();
    let ns: serde_json::Value = client.request(req).await.unwrap();
    assert_eq!(ns["kind"], "Namespace");
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_write_whose_body_breaks_off_is_not_sent_again() {
    let (upstream, count) = breaking_upstream().await;
    let client = upstream.client("t");
    let req = http::Request::post("/api/v1/namespaces")
        .body(b"{}".to_vec())
        .unwrap();
    let err = client.request::<serde_json::Value>(req).await.unwrap_err();
    assert!(
        matches!(
            err,
            k8s_client::Error::Transport(TransportError::ResponseBody { .. })
        ),
        "{err:?}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

/// A provider that never answers.
#[derive(Debug)]
struct Hanging;

impl AuthProvider for Hanging {
    fn name(&self) -> &str {
        "hanging"
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Credential, AuthError>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn the_request_timeout_bounds_the_wait_for_a_credential() {
    let upstream = Upstream::start(|_req| {
        Box::pin(async { Response::builder().body(full("{}")).unwrap() }) as UpFuture
    })
    .await;
    let config = k8s_client::Config::new(format!("http://{}", upstream.addr).parse().unwrap());
    let client = Client::builder(config)
        .auth_provider(Arc::new(Hanging))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let req = http::Request::get("/api").body(Vec::new()).unwrap();
    let err = client.request::<serde_json::Value>(req).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    match &err {
        k8s_client::Error::Transport(TransportError::CredentialTimeout { provider, .. }) => {
            assert_eq!(provider, "hanging");
        }
        other => panic!("{other:?}"),
    }
    let message = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        message.contains("waiting for a credential from hanging"),
        "{message}"
    );
}
