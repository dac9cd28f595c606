//! Pagination against the real API server: 1,200 ConfigMaps listed with `limit=100`
//! exactly once each, and `list_stream` holding at most one page.

mod support;

use futures_util::{StreamExt, TryStreamExt};
use k8s_client::api::{Api, ListParams, PostParams, VersionMatch};
use k8s_openapi::api::core::v1::ConfigMap;
use std::collections::BTreeMap;
use support::api::setup;

const COUNT: usize = 1200;

async fn fill(api: &Api<ConfigMap>) {
    futures_util::stream::iter(0..COUNT)
        .map(|i| async move {
            let mut cm = ConfigMap::default();
            cm.metadata.name = Some(format!("cm-{i:04}"));
            cm.data = Some([("i".to_owned(), i.to_string())].into());
            // Selected by label: the controller-manager adds `kube-root-ca.crt` too.
            cm.metadata.labels = Some([("test".to_owned(), "list".to_owned())].into());
            api.create(&PostParams::default(), &cm).await.map(|_| ())
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .expect("creating the ConfigMaps");
}

fn expect_each_once(counts: &BTreeMap<String, usize>) {
    assert_eq!(counts.len(), COUNT, "distinct objects");
    let dupes: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dupes.is_empty(), "listed more than once: {dupes:?}");
    assert!((0..COUNT).all(|i| counts.contains_key(&format!("cm-{i:04}"))));
}

#[tokio::test]
async fn pagination_and_list_stream_see_every_object_exactly_once() {
    let Some((_, client, ns)) = setup("list").await else {
        return;
    };
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    let t = std::time::Instant::now();
    fill(&api).await;
    eprintln!(
        "created {COUNT} ConfigMaps (16 in flight) in {:?}",
        t.elapsed()
    );
    let t = std::time::Instant::now();

    // Manual pages of 100, following continue tokens.
    let mut counts = BTreeMap::<String, usize>::new();
    let mut lp = ListParams::default().labels("test=list").limit(100);
    let mut pages = 0;
    let mut first_rv = None;
    loop {
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 100);
        let rv = page.resource_version().unwrap().to_owned();
        // Every page is a snapshot at the first page's resourceVersion.
        assert_eq!(first_rv.get_or_insert_with(|| rv.clone()), &rv);
        for cm in &page.items {
            *counts.entry(cm.metadata.name.clone().unwrap()).or_default() += 1;
        }
        match page.continue_token() {
            Some(token) => lp = lp.continue_token(token),
            None => break,
        }
    }
    assert!((12..=13).contains(&pages), "{pages} pages");
    expect_each_once(&counts);
    eprintln!(
        "listed {COUNT} in {pages} pages of 100 in {:?}",
        t.elapsed()
    );

    // The same with list_stream: the next page is fetched only once the current one is
    // used up, so the stream never holds more than one page.
    let mut stream = api.list_stream(&ListParams::default().labels("test=list").limit(100));
    let mut counts = BTreeMap::<String, usize>::new();
    let mut max_held = 0;
    while let Some(cm) = stream.try_next().await.unwrap() {
        max_held = max_held.max(stream.held());
        assert!(stream.held() < 100);
        // Objects yielded so far + still buffered = pages fetched × 100 (all full pages).
        assert_eq!(
            counts.values().sum::<usize>() + 1 + stream.held(),
            stream.pages() * 100
        );
        *counts.entry(cm.metadata.name.unwrap()).or_default() += 1;
    }
    assert_eq!(max_held, 99);
    assert!((12..=13).contains(&stream.pages()));
    expect_each_once(&counts);

    // A paginated stream started at a version (served from the cache, pages of 500):
    // later pages carry only the continue token.
    let rv = first_rv.clone().unwrap();
    let from_cache = api
        .list_stream(
            &ListParams::default()
                .labels("test=list")
                .limit(500)
                .at(&rv, VersionMatch::NotOlderThan),
        )
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert_eq!(from_cache.len(), COUNT);

    // resourceVersion semantics: an exact read at the list's version sees the same data;
    // "any version" (from the cache) is answered too.
    let rv = first_rv.unwrap();
    let exact = api
        .list(
            &ListParams::default()
                .labels("test=list")
                .limit(5)
                .at(&rv, VersionMatch::Exact),
        )
        .await
        .unwrap();
    assert_eq!(exact.resource_version(), Some(rv.as_str()));
    assert_eq!(exact.items.len(), 5);
    let cached = api
        .list(&ListParams::default().labels("test=list").any_version())
        .await
        .unwrap();
    assert_eq!(cached.items.len(), COUNT);

    // Label selection on the server side.
    let one = api
        .list(
            &ListParams::default()
                .labels("test=list")
                .fields("metadata.name=cm-0042"),
        )
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
}
