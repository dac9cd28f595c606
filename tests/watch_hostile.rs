//! `watch_all` against servers that misbehave in ways a real API server cannot be made
//! to on demand: every watch answered with an empty `200`, with only a bookmark, with
//! garbage lines, with one line larger than the event limit, or with a single object.
//! Each must cost a handful of requests per few seconds (the backoff schedule), never a
//! hot loop.

mod support;

use futures_util::StreamExt;
use http::Response;
use k8s_client::api::{Api, WatchAllEvent, WatchParams};
use k8s_openapi::api::core::v1::ConfigMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::server::UpFuture;
use support::server::Upstream;
use support::server::full;

/// How long each stream is driven.
const WINDOW: Duration = Duration::from_secs(3);
/// Watch requests allowed in `WINDOW`: the backoff (800 ms, 1.6 s, 3.2 s …) allows 3
/// (at 0, 0.8 and 2.4 s); the bound leaves room for slow machines. A hot loop makes
/// thousands.
const MAX_WATCHES: usize = 5;

#[derive(Default)]
struct Counts {
    lists: AtomicUsize,
    watches: AtomicUsize,
}

/// An upstream whose list is empty at version 5 and whose every watch answers `body`.
async fn server(body: Arc<Vec<u8>>) -> (Upstream, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let seen = counts.clone();
    let upstream = Upstream::start(move |req| -> UpFuture {
        let body = body.clone();
        let seen = seen.clone();
        Box::pin(async move {
            let watch = req.uri().query().unwrap_or("").contains("watch=true");
            let bytes = if watch {
                seen.watches.fetch_add(1, Ordering::SeqCst);
                body.as_ref().clone()
            } else {
                seen.lists.fetch_add(1, Ordering::SeqCst);
                br#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"5"},"items":[]}"#.to_vec()
            };
            Response::builder()
                .header("content-type", "application/json")
                .body(full(bytes))
                .unwrap()
        })
    })
    .await;
    (upstream, counts)
}

/// What a consumer saw while driving `watch_all` for `WINDOW`.
struct Outcome {
    lists: usize,
    watches: usize,
    events: Vec<WatchAllEvent<ConfigMap>>,
    errors: Vec<String>,
}

async fn drive(body: Vec<u8>, wp: WatchParams) -> Outcome {
    let (upstream, counts) = server(Arc::new(body)).await;
    let api: Api<ConfigMap> = Api::namespaced(upstream.client("t"), "default");
    let mut stream = api.watch_all(&wp);
    let mut events = Vec::new();
    let mut errors = Vec::new();
    let _ = tokio::time::timeout(WINDOW, async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => events.push(event),
                Err(e) => errors.push(k8s_client::discovery::error_chain(&e)),
            }
        }
    })
    .await;
    drop(stream);
    Outcome {
        lists: counts.lists.load(Ordering::SeqCst),
        watches: counts.watches.load(Ordering::SeqCst),
        events,
        errors,
    }
}

fn assert_bounded(what: &str, outcome: &Outcome) {
    assert!(
        (2..=MAX_WATCHES).contains(&outcome.watches),
        "{what}: {} watch requests in {WINDOW:?} (allowed 2..={MAX_WATCHES})",
        outcome.watches
    );
    assert_eq!(outcome.lists, 1, "{what}: never relists");
    assert!(
        matches!(
            outcome.events.as_slice(),
            [WatchAllEvent::ListStarted, WatchAllEvent::ListDone { resource_version }] if resource_version == "5"
        ),
        "{what}: {:?}",
        outcome.events
    );
}

#[tokio::test]
async fn watches_that_end_at_once_back_off() {
    let huge = {
        let mut line = br#"{"type":"ADDED","object":{"metadata":{"name":""#.to_vec();
        line.extend(std::iter::repeat_n(b'x', 2 << 20));
        line
    };
    let (empty, bookmark, garbage, too_large, one_object) = tokio::join!(
        drive(Vec::new(), WatchParams::default()),
        drive(
            br#"{"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"6"}}}
"#
            .to_vec(),
            WatchParams::default()
        ),
        drive(
            b"not json\n{{{{\n\xff\xfe\n".to_vec(),
            WatchParams::default()
        ),
        drive(huge, WatchParams::default().max_event_size(64 * 1024)),
        drive(
            br#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"7"}}}
"#
            .to_vec(),
            WatchParams::default()
        ),
    );

    assert_bounded("empty 200", &empty);
    assert!(empty.errors.is_empty(), "{:?}", empty.errors);

    assert_bounded("bookmark only", &bookmark);
    assert!(bookmark.errors.is_empty(), "{:?}", bookmark.errors);

    assert_bounded("garbage lines", &garbage);
    assert_eq!(garbage.errors.len(), garbage.watches, "one error per watch");
    assert!(
        garbage.errors.iter().all(|e| e.contains("decod")),
        "{:?}",
        garbage.errors
    );

    // One object per watch, then the end: progress, so no growing backoff, but still at
    // least 800 ms between watches.
    let watches = one_object.watches;
    assert!(
        (2..=MAX_WATCHES).contains(&watches),
        "one object per watch: {watches} watch requests"
    );
    assert_eq!(one_object.lists, 1);
    let added = one_object
        .events
        .iter()
        .filter(|e| matches!(e, WatchAllEvent::Added(_)))
        .count();
    assert_eq!(added, watches, "each watch's object is delivered");
    assert!(one_object.errors.is_empty(), "{:?}", one_object.errors);

    assert_bounded("one huge line", &too_large);
    assert_eq!(
        too_large.errors.len(),
        too_large.watches,
        "one error per watch"
    );
    assert!(
        too_large.errors.iter().all(|e| e.contains("65536")),
        "{:?}",
        too_large.errors
    );
}
