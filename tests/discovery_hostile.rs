//! Legacy discovery against a hostile server (something a real API server never does):
//! answers naming another group version than the one requested, and group lists that
//! file a version under the wrong group. Each answer is keyed by what was requested;
//! a mismatch is a per-group-version failure and never lands in the memory snapshot or
//! the disk cache under any group version.

mod support;

use http::Response;
use k8s_client::discovery::{Discovery, DiscoveryError, DiskCache};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use support::server::UpFuture;
use support::server::Upstream;
use support::server::full;

/// An upstream answering `GET <path>` with the JSON in `docs` (404 otherwise).
async fn server(docs: HashMap<&'static str, serde_json::Value>) -> Upstream {
    let docs = Arc::new(docs);
    Upstream::start(move |req| -> UpFuture {
        let docs = docs.clone();
        Box::pin(async move {
            match docs.get(req.uri().path()) {
                Some(doc) => support::server::json(200, doc),
                None => Response::builder()
                    .status(404)
                    .body(full("404 page not found"))
                    .unwrap(),
            }
        })
    })
    .await
}

fn resource_list(group_version: &str, resource: &str) -> serde_json::Value {
    serde_json::json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [{"name": resource, "singularName": "", "namespaced": true,
                       "kind": "Thing", "verbs": ["get", "list"]}]
    })
}

fn group(name: &str, versions: &[(&str, &str)]) -> serde_json::Value {
    let versions: Vec<_> = versions
        .iter()
        .map(|(gv, v)| serde_json::json!({"groupVersion": gv, "version": v}))
        .collect();
    serde_json::json!({"name": name, "versions": versions, "preferredVersion": versions[0]})
}

/// `/apis` lists `order`; `/apis/a/v1` claims to be `b/v1` (with resource `evil`).
fn mismatching_server_docs(order: &[&str]) -> HashMap<&'static str, serde_json::Value> {
    let groups: Vec<_> = order
        .iter()
        .map(|g| group(g, &[(&format!("{g}/v1"), "v1")]))
        .collect();
    HashMap::from([
        (
            "/api",
            serde_json::json!({"kind": "APIVersions", "versions": ["v1"]}),
        ),
        (
            "/apis",
            serde_json::json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
        ),
        ("/api/v1", resource_list("v1", "pods")),
        ("/apis/a/v1", resource_list("b/v1", "evil")),
        ("/apis/b/v1", resource_list("b/v1", "widgets")),
    ])
}

fn legacy(client: k8s_client::Client, cache: &Path) -> Discovery {
    Discovery::builder(client)
        .aggregated(false)
        .concurrency(1)
        .disk_cache(DiskCache::at(cache))
        .build()
}

fn file_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn an_answer_for_another_group_version_is_a_failure_and_never_cached() {
    // Both orders: the hostile answer before and after the real b/v1 one.
    for order in [["a", "b"], ["b", "a"]] {
        let upstream = server(mismatching_server_docs(&order)).await;
        let cache = tempfile::tempdir().unwrap();
        let discovery = legacy(upstream.client("t"), cache.path());
        let snapshot = discovery.groups_and_resources().await.unwrap();

        let failure = snapshot
            .failures()
            .iter()
            .find(|f| f.group_version() == Some("a/v1"))
            .unwrap_or_else(|| panic!("{order:?}: no failure for a/v1: {:?}", snapshot.failures()));
        let text = k8s_client::discovery::error_chain(failure);
        assert!(
            text.contains("a/v1") && text.contains("b/v1"),
            "{order:?}: {text}"
        );
        assert_eq!(snapshot.failures().len(), 1, "{:?}", snapshot.failures());
        assert!(snapshot.resources_for("a/v1").is_none());
        let b = snapshot.resources_for("b/v1").expect("b/v1 discovered");
        let names: Vec<_> = b.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["widgets"], "{order:?}");
        assert!(discovery.resolve("evil").await.is_err());
        assert_eq!(discovery.resolve("widgets").await.unwrap().group, "b");

        // The disk cache: nothing for a/v1, b/v1 holds b's own document.
        let dc = discovery.disk_cache().unwrap();
        assert!(!dc.resources_path("a/v1").unwrap().exists(), "{order:?}");
        let b_file = file_text(&dc.resources_path("b/v1").unwrap());
        assert!(
            b_file.contains("widgets") && !b_file.contains("evil"),
            "{b_file}"
        );
        assert!(!file_text(&dc.groups_path()).is_empty());

        // A second discovery reading that cache asks the server for a/v1 again and
        // still refuses it.
        let again = legacy(upstream.client("t"), cache.path());
        let snapshot = again.groups_and_resources().await.unwrap();
        assert!(snapshot.resources_for("a/v1").is_none());
        assert_eq!(
            snapshot.resources_for("b/v1").unwrap().resources[0].name,
            "widgets"
        );
        assert!(!dc.resources_path("a/v1").unwrap().exists());
    }
}

#[tokio::test]
async fn resources_for_names_both_group_versions() {
    let upstream = server(mismatching_server_docs(&["a", "b"])).await;
    let discovery = Discovery::new(upstream.client("t"));
    let err = discovery.resources_for("a/v1").await.unwrap_err();
    let inner = match &err {
        k8s_client::Error::Discovery(d) => Some(d),
        _ => None,
    };
    match inner {
        Some(DiscoveryError::GroupVersionMismatch { requested, served }) => {
            assert_eq!(requested, "a/v1");
            assert_eq!(served, "b/v1");
        }
        other => panic!("unexpected {other:?} from {err:?}"),
    }
    assert!(discovery.resources_for("b/v1").await.is_ok());
}

#[tokio::test]
async fn versions_filed_under_another_group_are_not_fetched() {
    let docs = HashMap::from([
        (
            "/api",
            serde_json::json!({"kind": "APIVersions", "versions": ["v1", "b/v1"]}),
        ),
        (
            "/apis",
            serde_json::json!({"kind": "APIGroupList", "groups": [
                group("a", &[("b/v1", "v1"), ("a/v2", "v2")]),
                group("b", &[("b/v1", "v1")]),
            ]}),
        ),
        ("/api/v1", resource_list("v1", "pods")),
        ("/apis/a/v2", resource_list("a/v2", "gadgets")),
        ("/apis/b/v1", resource_list("b/v1", "widgets")),
    ]);
    let upstream = server(docs).await;
    let cache = tempfile::tempdir().unwrap();
    let discovery = legacy(upstream.client("t"), cache.path());
    let snapshot = discovery.groups_and_resources().await.unwrap();

    let a = snapshot.group("a").unwrap();
    let a_versions: Vec<_> = a
        .versions
        .iter()
        .map(|v| v.group_version.as_str())
        .collect();
    assert_eq!(a_versions, ["a/v2"]);
    assert_eq!(a.preferred_version.group_version, "a/v2");
    let core = snapshot.group("").unwrap();
    assert!(core.versions.iter().all(|v| v.group_version == "v1"));
    let mismatches: Vec<_> = snapshot
        .failures()
        .iter()
        .filter(|f| matches!(f, DiscoveryError::GroupVersionMismatch { .. }))
        .collect();
    assert_eq!(mismatches.len(), 2, "{:?}", snapshot.failures());
    assert_eq!(
        snapshot.resources_for("b/v1").unwrap().resources[0].name,
        "widgets"
    );
    assert_eq!(discovery.resolve("gadgets").await.unwrap().group, "a");
    // Every list fetched once, even though b/v1 was listed three times.
    assert_eq!(discovery.request_count(), 2 + 3);
}

#[tokio::test]
async fn a_shared_disk_cache_is_filtered_like_an_answer() {
    let cache = tempfile::tempdir().unwrap();
    let write = |rel: &str, doc: serde_json::Value| {
        let path = cache.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_vec(&doc).unwrap()).unwrap();
    };
    write(
        "servergroups.json",
        serde_json::json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            group("a", &[("b/v1", "v1"), ("a/v2", "v2")]),
            group("b", &[("b/v1", "v1")]),
        ]}),
    );
    for (gv, resource) in [("a/v2", "gadgets"), ("b/v1", "widgets")] {
        write(
            &format!("{gv}/serverresources.json"),
            resource_list(gv, resource),
        );
    }
    // Nothing is served: everything must come from the cache.
    let upstream = server(HashMap::new()).await;
    let discovery = legacy(upstream.client("t"), cache.path());
    let snapshot = discovery.groups_and_resources().await.unwrap();
    assert_eq!(
        snapshot.source(),
        k8s_client::discovery::SnapshotSource::DiskCache
    );
    assert_eq!(discovery.request_count(), 0);
    let a: Vec<_> = snapshot
        .group("a")
        .unwrap()
        .versions
        .iter()
        .map(|v| v.group_version.as_str())
        .collect();
    assert_eq!(a, ["a/v2"]);
    assert!(
        snapshot.failures().iter().any(|f| matches!(
            f,
            DiscoveryError::GroupVersionMismatch { requested, served } if requested == "a/v1" && served == "b/v1"
        )),
        "{:?}",
        snapshot.failures()
    );
    assert_eq!(discovery.resolve("widgets").await.unwrap().group, "b");
}
