//! Shared informers against the shared test API server, through a counting relay: many
//! handlers and two factory requests for one type make exactly one list and one watch;
//! late handlers get the cache first; metadata-only and dynamic informers work.

mod support;

use k8s_client::api::{Api, ApiResource, DeleteParams, DynamicObject, PostParams};
use k8s_client::runtime::{HandlerFns, InformerFactory, ObjectKey, ReflectorConfig};
use k8s_openapi::api::core::v1::ConfigMap;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::eventually;
use support::runtime::Relay;

const DEADLINE: Duration = Duration::from_secs(30);
const HANDLERS: usize = 5;

type Seen = Arc<Mutex<BTreeSet<String>>>;

fn recorder(seen: &Seen) -> HandlerFns<ConfigMap> {
    let (a, d) = (seen.clone(), seen.clone());
    HandlerFns::new()
        .on_add(move |o: &Arc<ConfigMap>| {
            a.lock()
                .unwrap()
                .insert(format!("+{}", o.metadata.name.clone().unwrap()));
        })
        .on_delete(move |del| {
            d.lock()
                .unwrap()
                .insert(format!("-{}", del.object().metadata.name.clone().unwrap()));
        })
}

#[tokio::test]
async fn many_handlers_share_one_list_and_one_watch() {
    let Some((env, admin, ns)) = support::api::setup("informer").await else {
        return;
    };
    let _ = env;
    let relay = Relay::start(admin.clone()).await;
    let direct: Api<ConfigMap> = Api::namespaced(admin, &ns);
    direct
        .create(&PostParams::default(), &support::api::labelled_cm("before"))
        .await
        .unwrap();

    let factory = InformerFactory::new();
    let config = ReflectorConfig::default().labels(support::api::SELECTOR);
    let first = factory.informer(
        Api::<ConfigMap>::namespaced(relay.client(), &ns),
        config.clone(),
    );
    let second = factory.informer(Api::<ConfigMap>::namespaced(relay.client(), &ns), config);
    let seen: Vec<Seen> = (0..HANDLERS).map(|_| Seen::default()).collect();
    for (i, s) in seen.iter().enumerate() {
        let informer = if i % 2 == 0 { &first } else { &second };
        informer.add_handler(recorder(s));
    }
    factory.start();
    assert!(
        tokio::time::timeout(DEADLINE, factory.wait_for_cache_sync())
            .await
            .unwrap()
    );

    direct
        .create(&PostParams::default(), &support::api::labelled_cm("after"))
        .await
        .unwrap();
    direct
        .delete("before", &DeleteParams::default())
        .await
        .unwrap();
    for s in &seen {
        eventually("every handler to see the changes", DEADLINE, || {
            let s = s.lock().unwrap();
            s.contains("+before") && s.contains("+after") && s.contains("-before")
        })
        .await;
    }
    // A handler added after sync gets the cache as adds first.
    let late = Seen::default();
    second.add_handler(recorder(&late));
    eventually("the late handler to get the cache", DEADLINE, || {
        late.lock().unwrap().contains("+after")
    })
    .await;
    assert!(
        !late.lock().unwrap().contains("+before"),
        "a deleted object is not replayed"
    );
    assert_eq!(
        relay.watches(),
        1,
        "one watch for {} handlers",
        HANDLERS + 1
    );
    assert_eq!(relay.lists(), 1, "one list for {} handlers", HANDLERS + 1);
    assert_eq!(first.reader().len(), 1);
}

#[tokio::test]
async fn metadata_and_dynamic_informers_follow_the_server() {
    let Some((_env, admin, ns)) = support::api::setup("informer-kinds").await else {
        return;
    };
    let direct: Api<ConfigMap> = Api::namespaced(admin.clone(), &ns);
    let factory = InformerFactory::new();
    let config = ReflectorConfig::default().labels(support::api::SELECTOR);
    let meta = factory.metadata_informer(
        Api::<ConfigMap>::namespaced(admin.clone(), &ns),
        config.clone(),
    );
    let resource = ApiResource::of::<ConfigMap>();
    let dynamic = factory.informer(
        Api::<DynamicObject>::namespaced_with(admin, &ns, &resource),
        config,
    );
    factory.start();
    assert!(
        tokio::time::timeout(DEADLINE, factory.wait_for_cache_sync())
            .await
            .unwrap()
    );
    let mut cm = support::api::labelled_cm("m");
    cm.data = Some([("k".to_owned(), "v".to_owned())].into());
    direct.create(&PostParams::default(), &cm).await.unwrap();
    let key = ObjectKey::namespaced(&ns, "m");
    eventually("both caches to hold the object", DEADLINE, || {
        meta.reader().get(&key).is_some() && dynamic.reader().get(&key).is_some()
    })
    .await;
    let m = meta.reader().get(&key).unwrap();
    assert_eq!(m.kind, "PartialObjectMetadata");
    assert_eq!(m.metadata.labels.as_ref().unwrap()["test"], "api");
    let d = dynamic.reader().get(&key).unwrap();
    assert_eq!(d.data["data"]["k"], "v");
    direct.delete("m", &DeleteParams::default()).await.unwrap();
    eventually("both caches to drop the object", DEADLINE, || {
        meta.reader().get(&key).is_none() && dynamic.reader().get(&key).is_none()
    })
    .await;
}

#[tokio::test]
async fn streaming_list_fills_the_cache_without_a_list_request() {
    let Some((_env, admin, ns)) = support::api::setup("informer-stream").await else {
        return;
    };
    let direct: Api<ConfigMap> = Api::namespaced(admin.clone(), &ns);
    for name in ["s1", "s2", "s3"] {
        direct
            .create(&PostParams::default(), &support::api::labelled_cm(name))
            .await
            .unwrap();
    }
    let relay = Relay::start(admin).await;
    let informer = k8s_client::runtime::SharedInformer::new(
        Api::<ConfigMap>::namespaced(relay.client(), &ns),
        ReflectorConfig::default()
            .labels(support::api::SELECTOR)
            .streaming_list(),
    );
    informer.start();
    assert!(
        tokio::time::timeout(DEADLINE, informer.wait_until_synced())
            .await
            .unwrap()
    );
    let mut keys: Vec<_> = informer
        .reader()
        .keys()
        .into_iter()
        .map(|k| k.name)
        .collect();
    keys.sort();
    assert_eq!(keys, ["s1", "s2", "s3"]);
    assert_eq!(relay.lists(), 0, "the initial state came through the watch");
    assert_eq!(relay.watches(), 1);
    // The same watch goes on with live changes.
    direct
        .create(&PostParams::default(), &support::api::labelled_cm("s4"))
        .await
        .unwrap();
    eventually("the live change", DEADLINE, || {
        informer
            .reader()
            .get(&ObjectKey::namespaced(&ns, "s4"))
            .is_some()
    })
    .await;
    assert_eq!(relay.watches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_or_panicking_handler_does_not_hold_up_the_others_and_resync_redelivers() {
    let Some((_env, admin, ns)) = support::api::setup("informer-slow").await else {
        return;
    };
    const OBJECTS: usize = 5;
    let direct: Api<ConfigMap> = Api::namespaced(admin.clone(), &ns);
    let informer = k8s_client::runtime::SharedInformer::new(
        Api::<ConfigMap>::namespaced(admin, &ns),
        ReflectorConfig::default()
            .labels(support::api::SELECTOR)
            .resync(Duration::from_millis(300)),
    );
    // The slow handler blocks on its first event until released.
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = Mutex::new(Some(gate));
    let slow_seen = Arc::new(Mutex::new(0usize));
    let s = slow_seen.clone();
    informer.add_handler(HandlerFns::<ConfigMap>::new().on_add(move |_| {
        if let Some(gate) = gate.lock().unwrap().take() {
            gate.recv().unwrap();
        }
        *s.lock().unwrap() += 1;
    }));
    informer.add_handler(HandlerFns::<ConfigMap>::new().on_add(|_| panic!("a handler bug")));
    let fast = Seen::default();
    informer.add_handler(recorder(&fast));
    let resyncs = Arc::new(Mutex::new(0usize));
    let r = resyncs.clone();
    informer.add_handler(HandlerFns::<ConfigMap>::new().on_update(move |old, new| {
        if Arc::ptr_eq(old, new) {
            *r.lock().unwrap() += 1;
        }
    }));
    informer.start();
    assert!(
        tokio::time::timeout(DEADLINE, informer.wait_until_synced())
            .await
            .unwrap()
    );
    for i in 0..OBJECTS {
        direct
            .create(
                &PostParams::default(),
                &support::api::labelled_cm(&format!("c{i}")),
            )
            .await
            .unwrap();
    }
    eventually("the fast handler to see every object", DEADLINE, || {
        fast.lock().unwrap().len() == OBJECTS
    })
    .await;
    assert_eq!(
        *slow_seen.lock().unwrap(),
        0,
        "the slow handler is still stuck"
    );
    release.send(()).unwrap();
    eventually("the slow handler to catch up", DEADLINE, || {
        *slow_seen.lock().unwrap() == OBJECTS
    })
    .await;
    eventually("a periodic resync", DEADLINE, || {
        *resyncs.lock().unwrap() >= OBJECTS
    })
    .await;
}
