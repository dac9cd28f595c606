//! Watch against the real API server: 1,500 events of 500 objects in order, resume from a
//! bookmark, 410 Gone as a typed error, `watch_all` recovering from it, and the bounded
//! event size.

mod support;

use futures_util::StreamExt;
use k8s_client::Error;
use k8s_client::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, RequestError, WatchAllEvent,
    WatchEvent, WatchParams,
};
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::json;
use std::time::Duration;
use support::api::SELECTOR;
use support::api::labelled_cm;
use support::api::name_of;
use support::api::setup;

/// Bounds every wait on the server (a deadline, not a synchronisation).
const DEADLINE: Duration = Duration::from_secs(120);

async fn current_rv(api: &Api<ConfigMap>) -> String {
    let list = api
        .list(&ListParams::default().labels(SELECTOR).limit(1))
        .await
        .unwrap();
    list.resource_version().unwrap().to_owned()
}

#[tokio::test]
async fn every_event_arrives_in_order() {
    let Some((_, client, ns)) = setup("watch-order").await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    const N: usize = 500;
    let rv = current_rv(&api).await;
    let mut events = api
        .watch(&WatchParams::default().labels(SELECTOR), &rv)
        .await
        .unwrap();
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while seen.len() < 3 * N {
            match events.next().await {
                Some(Ok(WatchEvent::Added(o))) => seen.push(("ADDED", name_of(&o))),
                Some(Ok(WatchEvent::Modified(o))) => seen.push(("MODIFIED", name_of(&o))),
                Some(Ok(WatchEvent::Deleted(o))) => seen.push(("DELETED", name_of(&o))),
                Some(Ok(WatchEvent::Bookmark(_))) => {}
                other => panic!("unexpected {other:?} after {} events", seen.len()),
            }
        }
        seen
    });
    let mut expected = Vec::new();
    let t = std::time::Instant::now();
    for i in 0..N {
        let name = format!("w-{i:03}");
        api.create(&PostParams::default(), &labelled_cm(&name))
            .await
            .unwrap();
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"n": "1"}})),
        )
        .await
        .unwrap();
        api.delete(&name, &DeleteParams::default()).await.unwrap();
        expected.extend([
            ("ADDED", name.clone()),
            ("MODIFIED", name.clone()),
            ("DELETED", name),
        ]);
    }
    let seen = tokio::time::timeout(DEADLINE, reader)
        .await
        .unwrap()
        .unwrap();
    eprintln!(
        "{} writes and their watch events in {:?}",
        3 * N,
        t.elapsed()
    );
    assert_eq!(seen.len(), expected.len());
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn resume_from_a_bookmark() {
    let Some((_, client, ns)) = setup("watch-bookmark").await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    api.create(&PostParams::default(), &labelled_cm("before"))
        .await
        .unwrap();
    // With timeoutSeconds the server sends a bookmark shortly before it ends the watch.
    let rv = current_rv(&api).await;
    let wp = WatchParams::default().labels(SELECTOR).timeout(4);
    let mut events = api.watch(&wp, &rv).await.unwrap();
    let mut bookmark = None;
    while let Some(ev) = tokio::time::timeout(DEADLINE, events.next()).await.unwrap() {
        match ev.unwrap() {
            WatchEvent::Bookmark(b) => bookmark = Some(b.metadata.resource_version),
            other => panic!("no change was made, got {other:?}"),
        }
    }
    let bookmark = bookmark.expect("a BOOKMARK event before the watch timed out");
    assert!(bookmark.parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap());

    api.create(&PostParams::default(), &labelled_cm("after"))
        .await
        .unwrap();
    let mut events = api
        .watch(&WatchParams::default().labels(SELECTOR), &bookmark)
        .await
        .unwrap();
    let first = loop {
        match tokio::time::timeout(DEADLINE, events.next()).await.unwrap() {
            Some(Ok(WatchEvent::Bookmark(_))) => continue,
            other => break other,
        }
    };
    match first {
        Some(Ok(WatchEvent::Added(o))) => assert_eq!(name_of(&o), "after"),
        other => panic!("expected ADDED after, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_all_resumes_across_server_timeouts_without_losing_events() {
    let Some((_, client, ns)) = setup("watch-all").await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    api.create(&PostParams::default(), &labelled_cm("x"))
        .await
        .unwrap();
    // The server ends each watch after 2 s; watch_all must resume from the last version.
    let mut all = api.watch_all(&WatchParams::default().labels(SELECTOR).timeout(2));
    let mut next = async || support::api::next_ok(&mut all).await;
    assert_eq!(next().await, WatchAllEvent::ListStarted);
    assert!(matches!(next().await, WatchAllEvent::Listed(o) if name_of(&o) == "x"));
    assert!(matches!(next().await, WatchAllEvent::ListDone { .. }));
    // Changes spread over several server-side watch timeouts (7 s of traffic, a 2 s
    // timeout): each arrives exactly once, in order, across the re-opened watches.
    let start = std::time::Instant::now();
    let mut i = 0;
    while start.elapsed() < Duration::from_secs(7) {
        let name = format!("y{i}");
        api.create(&PostParams::default(), &labelled_cm(&name))
            .await
            .unwrap();
        match next().await {
            WatchAllEvent::Added(o) => assert_eq!(name_of(&o), name),
            other => panic!("expected Added({name}), got {other:?}"),
        }
        i += 1;
    }
    assert!(i > 3);
}

#[tokio::test]
async fn an_event_larger_than_the_limit_is_a_clear_error() {
    let Some((_, client, ns)) = setup("watch-size").await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    let mut big = labelled_cm("big");
    big.data = Some([("blob".to_owned(), "x".repeat(10_000))].into());
    api.create(&PostParams::default(), &big).await.unwrap();
    let mut events = api
        .watch(
            &WatchParams::default().labels(SELECTOR).max_event_size(4096),
            "",
        )
        .await
        .unwrap();
    let err = tokio::time::timeout(DEADLINE, events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Request(RequestError::EventTooLarge { limit: 4096, .. })
        ),
        "{err:?}"
    );
    assert!(
        events.next().await.is_none(),
        "the stream ends after the error"
    );
}

#[tokio::test]
async fn streaming_list_sends_the_state_then_a_marked_bookmark() {
    let Some((_, client, ns)) = setup("watch-initial").await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    for name in ["s1", "s2", "s3"] {
        api.create(&PostParams::default(), &labelled_cm(name))
            .await
            .unwrap();
    }
    let wp = WatchParams::default().labels(SELECTOR).initial_events();
    let mut events = api.watch(&wp, "").await.unwrap();
    let mut initial = Vec::new();
    let end = loop {
        match support::api::next_ok(&mut events).await {
            WatchEvent::Added(o) => initial.push(name_of(&o)),
            WatchEvent::Bookmark(b) if b.is_initial_events_end() => break b,
            WatchEvent::Bookmark(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    initial.sort();
    assert_eq!(initial, ["s1", "s2", "s3"]);
    assert!(!end.resource_version().is_empty());
    // Then changes, on the same watch.
    api.create(&PostParams::default(), &labelled_cm("s4"))
        .await
        .unwrap();
    loop {
        match support::api::next_ok(&mut events).await {
            WatchEvent::Added(o) => break assert_eq!(name_of(&o), "s4"),
            WatchEvent::Bookmark(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}
