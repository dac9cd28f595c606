//! Reflector behaviour a real API server does not show on demand, against a local
//! stand-in: a watch that ends at once without any event ("very short watch"), or with
//! an `ERROR` event, is a failure and waits the backoff instead of reconnecting in a hot
//! loop.

mod support;

use k8s_client::api::Api;
use k8s_client::runtime::{Backoff, ObjectKey, Reflector, ReflectorConfig, Store};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::server::UpFuture;
use support::server::Upstream;
use support::server::full;

const LIST: &str = r#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"5"},
"items":[{"metadata":{"name":"a","namespace":"ns","resourceVersion":"4"}}]}"#;

#[tokio::test]
async fn very_short_watches_back_off() {
    watches_back_off("").await;
}

#[tokio::test]
async fn error_events_back_off() {
    watches_back_off(
        "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500,\"reason\":\"InternalError\"}}\n",
    )
    .await;
}

/// Watches that answer `watch_body` and end: about five in 1.5 s with a 100 ms → 400 ms
/// backoff, not hundreds.
async fn watches_back_off(watch_body: &'static str) {
    let watches = Arc::new(AtomicUsize::new(0));
    let w = watches.clone();
    let upstream = Upstream::start(move |req| {
        let is_watch = req.uri().query().is_some_and(|q| q.contains("watch=true"));
        if is_watch {
            w.fetch_add(1, Ordering::SeqCst);
        }
        Box::pin(async move {
            let body = if is_watch { watch_body } else { LIST };
            http::Response::builder()
                .header("content-type", "application/json")
                .body(full(body))
                .unwrap()
        }) as UpFuture
    })
    .await;
    let store = Store::<ConfigMap>::new();
    let reader = store.reader();
    let config = ReflectorConfig::default()
        .backoff(Backoff::new(Duration::from_millis(100), Duration::from_millis(400)).jitter(0.0));
    let reflector = Reflector::new(
        Api::<ConfigMap>::namespaced(upstream.client("t"), "ns"),
        store,
        config,
    );
    let task = tokio::spawn(reflector.run());
    tokio::time::timeout(Duration::from_secs(5), reader.wait_until_synced())
        .await
        .unwrap();
    assert!(reader.get(&ObjectKey::namespaced("ns", "a")).is_some());
    let start = std::time::Instant::now();
    let before = watches.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let made = watches.load(Ordering::SeqCst) - before;
    task.abort();
    // 100, 200, 400, 400, … ms apart: about five watches in 1.5 s, not hundreds.
    assert!(
        (2..=8).contains(&made),
        "{made} watches in {:?}",
        start.elapsed()
    );
}

#[test]
fn debug_output_never_shows_cached_objects() {
    let store = Store::<Secret>::new();
    let mut s = Secret::default();
    s.metadata.namespace = Some("ns".into());
    s.metadata.name = Some("creds".into());
    s.string_data = Some([("password".to_owned(), "hunter2-secret".to_owned())].into());
    store.insert(s);
    let shown = format!("{store:?} {:?}", store.reader());
    assert!(shown.contains("len: 1"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("creds"), "{shown}");
}
