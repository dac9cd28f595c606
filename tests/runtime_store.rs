//! The runtime's store and indexes, and object keys: pure, no server.

use k8s_client::runtime::{ObjectKey, Store, indexers};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, OwnerReference};
use proptest::prelude::*;
use std::sync::Arc;

fn cm(ns: &str, name: &str, rv: &str, app: Option<&str>, owner: Option<&str>) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.namespace = Some(ns.into());
    cm.metadata.name = Some(name.into());
    cm.metadata.resource_version = Some(rv.into());
    cm.metadata.labels = app.map(|a| [("app".to_owned(), a.to_owned())].into());
    cm.metadata.owner_references = owner.map(|uid| {
        vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "d".into(),
            uid: uid.into(),
            ..OwnerReference::default()
        }]
    });
    cm.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
    cm
}

fn names(objs: &[Arc<ConfigMap>]) -> Vec<String> {
    let mut v: Vec<_> = objs
        .iter()
        .map(|o| ObjectKey::of(&**o).to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn indexes_follow_inserts_updates_and_removes() {
    let store: Store<ConfigMap> = Store::new()
        .with_default_indexes()
        .with_indexer("app", indexers::label("app"));
    let reader = store.reader();
    store.insert(cm("a", "x", "1", Some("web"), Some("u1")));
    store.insert(cm("a", "y", "1", Some("db"), Some("u1")));
    store.insert(cm("b", "x", "1", Some("web"), None));
    assert_eq!(
        names(&reader.by_index("app", "web").unwrap()),
        ["a/x", "b/x"]
    );
    assert_eq!(
        names(&reader.by_index(indexers::NAMESPACE, "a").unwrap()),
        ["a/x", "a/y"]
    );
    assert_eq!(
        names(&reader.by_index(indexers::OWNER, "u1").unwrap()),
        ["a/x", "a/y"]
    );

    // An update moves the object between index values.
    let old = store.insert(cm("a", "x", "2", Some("db"), None)).unwrap();
    assert_eq!(old.metadata.resource_version.as_deref(), Some("1"));
    assert_eq!(names(&reader.by_index("app", "web").unwrap()), ["b/x"]);
    assert_eq!(
        names(&reader.by_index("app", "db").unwrap()),
        ["a/x", "a/y"]
    );
    assert_eq!(
        names(&reader.by_index(indexers::OWNER, "u1").unwrap()),
        ["a/y"]
    );

    store.remove(&ObjectKey::namespaced("a", "y"));
    assert_eq!(names(&reader.by_index("app", "db").unwrap()), ["a/x"]);
    assert!(reader.by_index(indexers::OWNER, "u1").unwrap().is_empty());
    assert_eq!(reader.index_values("app").unwrap(), ["db", "web"]);
    assert_eq!(
        reader.by_index("nope", "x").unwrap_err().to_string(),
        "no index named \"nope\" in this store"
    );

    // An index added later covers what is already there.
    store.add_indexer("late", indexers::label("app"));
    assert_eq!(names(&reader.by_index("late", "web").unwrap()), ["b/x"]);
}

#[test]
fn readers_share_objects_without_copying_and_the_transform_runs_first() {
    let store: Store<ConfigMap> =
        Store::new().with_transform(|cm: &mut ConfigMap| cm.metadata.managed_fields = None);
    store.insert(cm("a", "x", "1", None, None));
    let r1 = store.reader();
    let r2 = r1.clone();
    let key = ObjectKey::namespaced("a", "x");
    let (o1, o2) = (r1.get(&key).unwrap(), r2.get(&key).unwrap());
    assert!(Arc::ptr_eq(&o1, &o2));
    assert_eq!(o1.metadata.managed_fields, None);
    assert_eq!(r1.len(), 1);
    assert_eq!(r1.keys(), [key]);
}

#[test]
fn replace_reports_added_updated_and_removed() {
    let store: Store<ConfigMap> = Store::new().with_indexer("app", indexers::label("app"));
    store.insert(cm("a", "keep", "1", Some("web"), None));
    store.insert(cm("a", "gone", "1", Some("web"), None));
    let diff = store.replace(vec![
        cm("a", "keep", "2", Some("web"), None),
        cm("a", "new", "3", Some("web"), None),
    ]);
    assert_eq!(names(&diff.added), ["a/new"]);
    assert_eq!(diff.updated.len(), 1);
    assert_eq!(
        diff.updated[0].0.metadata.resource_version.as_deref(),
        Some("1")
    );
    assert_eq!(names(&diff.removed), ["a/gone"]);
    assert_eq!(
        names(&store.reader().by_index("app", "web").unwrap()),
        ["a/keep", "a/new"]
    );
}

#[tokio::test]
async fn synced_signal() {
    let store: Store<ConfigMap> = Store::new();
    let reader = store.reader();
    assert!(!reader.has_synced());
    let waiter = tokio::spawn({
        let reader = reader.clone();
        async move { reader.wait_until_synced().await }
    });
    store.mark_synced();
    assert!(waiter.await.unwrap());
    assert!(reader.has_synced());

    // A store whose writer is gone before syncing never syncs: the wait says so.
    let lonely = Store::<ConfigMap>::new();
    let reader = lonely.reader();
    drop(lonely);
    assert!(!reader.wait_until_synced().await);
}

#[test]
fn keys_parse_and_print() {
    assert_eq!(
        "ns/n".parse::<ObjectKey>().unwrap(),
        ObjectKey::namespaced("ns", "n")
    );
    assert_eq!("n".parse::<ObjectKey>().unwrap(), ObjectKey::cluster("n"));
    for bad in ["", "/n", "ns/", "a/b/c"] {
        assert!(bad.parse::<ObjectKey>().is_err(), "{bad}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// After any sequence of inserts and removes, every index equals one computed from
    /// scratch over the remaining objects.
    #[test]
    fn indexes_match_a_recomputation(ops in proptest::collection::vec((0u8..6, 0u8..3, any::<bool>()), 0..60)) {
        let store: Store<ConfigMap> = Store::new().with_indexer("app", indexers::label("app"));
        let apps = ["web", "db", "cache"];
        for (name, app, insert) in ops {
            let name = format!("o{name}");
            if insert {
                store.insert(cm("ns", &name, "1", Some(apps[app as usize]), None));
            } else {
                store.remove(&ObjectKey::namespaced("ns", &name));
            }
        }
        let reader = store.reader();
        for app in apps {
            let expected: Vec<_> = {
                let mut v: Vec<_> = reader
                    .list()
                    .into_iter()
                    .filter(|o| o.metadata.labels.as_ref().and_then(|l| l.get("app")).map(String::as_str) == Some(app))
                    .map(|o| ObjectKey::of(&*o).to_string())
                    .collect();
                v.sort();
                v
            };
            prop_assert_eq!(names(&reader.by_index("app", app).unwrap()), expected);
        }
    }
}
