//! 410 Gone against a real API server that forgets old versions quickly: etcd compacted
//! every second and no watch cache, so a very old `resourceVersion` or continue token
//! really is expired (on a fresh server with a watch cache, version "1" is still served).
//! Checks the typed error on `watch`, on a continued `list`, and that `watch_all` relists
//! and goes on without losing an object.

mod support;

use futures_util::StreamExt;
use k8s_client::Error;
use k8s_client::api::{
    Api, DeleteParams, ListParams, PostParams, WatchAllEvent, WatchEvent, WatchParams,
};
use k8s_openapi::api::core::v1::ConfigMap;
use std::time::Duration;
use support::api::SELECTOR;
use support::api::labelled_cm;
use support::api::name_of;
use support::eventually;

const DEADLINE: Duration = Duration::from_secs(120);

/// The first error of a watch from `rv` (an HTTP status or an `ERROR` event), or `None`
/// when the server still serves that version.
async fn watch_error(api: &Api<ConfigMap>, rv: &str) -> Option<Error> {
    let mut events = match api
        .watch(&WatchParams::default().labels(SELECTOR).timeout(1), rv)
        .await
    {
        Err(e) => return Some(e),
        Ok(events) => events,
    };
    match tokio::time::timeout(DEADLINE, events.next()).await.unwrap() {
        Some(Err(e)) => Some(e),
        Some(Ok(WatchEvent::Error(s))) => panic!("unexpected ERROR event {s:?}"),
        // An event, or the end of the watch: the version is still served.
        Some(Ok(_)) | None => None,
    }
}

#[tokio::test]
async fn expired_versions_are_gone_and_watch_all_recovers() {
    let Some(binaries) = support::env::binaries() else {
        return;
    };
    let env = support::env::compacting_control_plane(binaries).await;
    let ns = support::env::unique_namespace(&env, "gone").await;
    let api: Api<ConfigMap> = Api::namespaced(support::env::admin_client(&env), &ns);
    for name in ["a", "b", "c"] {
        api.create(&PostParams::default(), &labelled_cm(name))
            .await
            .unwrap();
    }

    // A continue token outlives its snapshot once etcd compacted past it: 410 Expired.
    let first = api
        .list(&ListParams::default().labels(SELECTOR).limit(1))
        .await
        .unwrap();
    let token = first.continue_token().expect("more pages").to_owned();
    let (api_ref, token_ref) = (&api, token.as_str());
    let err = eventually("the continue token to expire", DEADLINE, || async move {
        // Writes move the revision on, so the compactor passes the token's snapshot.
        api_ref
            .create(&PostParams::default(), &labelled_cm("tick"))
            .await
            .unwrap();
        api_ref
            .delete("tick", &DeleteParams::default())
            .await
            .unwrap();
        let lp = ListParams::default()
            .labels(SELECTOR)
            .limit(1)
            .continue_token(token_ref);
        api_ref.list(&lp).await.err()
    })
    .await;
    assert!(err.is_gone(), "{err}");
    assert_eq!(err.reason(), Some("Expired"));

    // A watch from version 1: 410 Gone.
    let err = eventually("version 1 to be compacted", DEADLINE, || async move {
        watch_error(api_ref, "1").await
    })
    .await;
    assert!(err.is_gone(), "{err}");
    assert_eq!(err.code(), Some(410));

    // watch_all from that version: relists (a, b, c), then follows new changes.
    let mut all = api.watch_all_from(&WatchParams::default().labels(SELECTOR), "1");
    let mut next = async || support::api::next_ok(&mut all).await;
    assert_eq!(next().await, WatchAllEvent::ListStarted);
    let mut listed = Vec::new();
    let rv = loop {
        match next().await {
            WatchAllEvent::Listed(o) => listed.push(name_of(&o)),
            WatchAllEvent::ListDone { resource_version } => break resource_version,
            other => panic!("unexpected {other:?}"),
        }
    };
    listed.sort();
    assert_eq!(listed, ["a", "b", "c"]);
    assert!(!rv.is_empty());
    api.create(&PostParams::default(), &labelled_cm("d"))
        .await
        .unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();
    match next().await {
        WatchAllEvent::Added(o) => assert_eq!(name_of(&o), "d"),
        other => panic!("expected Added(d), got {other:?}"),
    }
    match next().await {
        WatchAllEvent::Deleted(o) => assert_eq!(name_of(&o), "a"),
        other => panic!("expected Deleted(a), got {other:?}"),
    }
}
