//! The reflector against a real API server that forgets old versions quickly (etcd
//! compacted every second, no watch cache): after many creates, updates and deletes with
//! the watch cut several times and a forced 410 Gone, the cache equals a fresh list, and
//! a deletion missed while disconnected arrives as a tombstone.

mod support;

use k8s_client::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use k8s_client::runtime::{Backoff, HandlerFns, ObjectKey, ReflectorConfig, SharedInformer};
use k8s_openapi::api::core::v1::ConfigMap;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::eventually;
use support::runtime::Relay;

/// Writes in the churn phase (creates, updates and deletes).
const OPERATIONS: usize = 10_000;
/// Distinct object names the churn works on.
const NAMES: usize = 200;
/// Concurrent writers.
const WRITERS: usize = 8;
const DEADLINE: Duration = Duration::from_secs(45);

fn cm(name: &str, value: usize) -> ConfigMap {
    let mut cm = support::api::labelled_cm(name);
    cm.data = Some([("v".to_owned(), value.to_string())].into());
    cm
}

/// One write of the churn: create, update or delete object `i % NAMES`, whatever its
/// state (conflicts and misses are part of the game).
async fn churn_step(api: &Api<ConfigMap>, i: usize) {
    let name = format!("o{}", (i * 7919) % NAMES);
    match i % 5 {
        0 | 1 => {
            let _ = api.create(&PostParams::default(), &cm(&name, i)).await;
        }
        2 | 3 => {
            let patch = serde_json::json!({"data": {"v": i.to_string()}});
            let _ = api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await;
        }
        _ => {
            let _ = api.delete(&name, &DeleteParams::default()).await;
        }
    }
}

/// name → resourceVersion of a fresh list.
async fn fresh(api: &Api<ConfigMap>) -> BTreeMap<String, String> {
    api.list(&ListParams::default().labels(support::api::SELECTOR))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|o| {
            (
                o.metadata.name.unwrap(),
                o.metadata.resource_version.unwrap(),
            )
        })
        .collect()
}

fn cached(informer: &SharedInformer<ConfigMap>) -> BTreeMap<String, String> {
    informer
        .reader()
        .list()
        .iter()
        .map(|o| {
            (
                o.metadata.name.clone().unwrap(),
                o.metadata.resource_version.clone().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn cache_equals_a_fresh_list_after_cuts_and_a_forced_relist() {
    let Some(binaries) = support::env::binaries() else {
        return;
    };
    let env = support::env::compacting_control_plane(binaries).await;
    let ns = support::env::unique_namespace(&env, "reflector").await;
    let admin: Api<ConfigMap> = Api::namespaced(support::env::admin_client(&env), &ns);
    let relay = Relay::start(support::env::admin_client(&env)).await;
    let through_relay: Api<ConfigMap> = Api::namespaced(relay.client(), &ns);

    let tombstones = Arc::new(Mutex::new(Vec::<String>::new()));
    let config = ReflectorConfig::default()
        .labels(support::api::SELECTOR)
        .page_size(50)
        .backoff(Backoff::new(
            Duration::from_millis(20),
            Duration::from_millis(400),
        ));
    let informer = SharedInformer::new(through_relay, config);
    informer.add_handler(HandlerFns::<ConfigMap>::new().on_delete({
        let tombstones = tombstones.clone();
        move |d| {
            if d.is_tombstone() {
                tombstones
                    .lock()
                    .unwrap()
                    .push(d.object().metadata.name.clone().unwrap());
            }
        }
    }));
    // Some objects before the start: the first list is paginated (page size 50).
    for i in 0..120 {
        admin
            .create(&PostParams::default(), &cm(&format!("o{i}"), i))
            .await
            .unwrap();
    }
    informer.start();
    tokio::time::timeout(DEADLINE, informer.wait_until_synced())
        .await
        .unwrap();
    assert_eq!(cached(&informer), fresh(&admin).await);
    assert!(
        relay.lists() >= 3,
        "120 objects in pages of 50: {} lists",
        relay.lists()
    );

    // Churn with the watch cut every so often.
    let started = std::time::Instant::now();
    let per_writer = OPERATIONS / WRITERS;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let api = admin.clone();
        writers.push(tokio::spawn(async move {
            for j in 0..per_writer {
                churn_step(&api, w * per_writer + j).await;
            }
        }));
    }
    let mut cuts = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        relay.cut();
        cuts += 1;
    }
    for w in writers {
        w.await.unwrap();
    }
    eprintln!(
        "{OPERATIONS} writes in {:?} with {cuts} cuts",
        started.elapsed()
    );
    assert!(cuts >= 3, "only {cuts} cuts during the churn");
    let want = fresh(&admin).await;
    eventually(
        "the cache to equal a fresh list after the cuts",
        DEADLINE,
        || cached(&informer) == want,
    )
    .await;

    // A forced 410 with a deletion in between: the relist turns it into a tombstone.
    let lists_before = relay.lists();
    relay.hold_watches(true);
    relay.gone_next_watch();
    relay.cut();
    eventually("the next watch to be held", DEADLINE, || relay.held() == 1).await;
    let victim = want.keys().next().unwrap().clone();
    admin
        .delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    admin
        .create(&PostParams::default(), &cm("late", 0))
        .await
        .unwrap();
    relay.hold_watches(false);
    let want = fresh(&admin).await;
    eventually(
        "the cache to equal a fresh list after the relist",
        DEADLINE,
        || cached(&informer) == want,
    )
    .await;
    assert!(
        relay.lists() > lists_before,
        "410 Gone made the reflector relist"
    );
    assert!(
        tombstones.lock().unwrap().contains(&victim),
        "{victim} deleted while disconnected arrives as a tombstone: {:?}",
        tombstones.lock().unwrap()
    );
    assert!(
        informer
            .reader()
            .get(&ObjectKey::namespaced(&ns, "late"))
            .is_some()
    );
}
