//! `Client::discovery()` shares one cache per client: however often it is called, on
//! the client or its clones, discovery is fetched once until invalidated. The server
//! counts the requests it receives (a real API server cannot report that per client).

mod support;

use http::Response;
use k8s_client::discovery::Discovery;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::server::UpFuture;
use support::server::Upstream;
use support::server::full;

/// A legacy-discovery server (core `v1` with pods, `apps/v1` with deployments) that
/// counts every request.
async fn counting_server() -> (Upstream, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let up = Upstream::start(move |req| -> UpFuture {
        seen.fetch_add(1, Ordering::SeqCst);
        let doc = match req.uri().path() {
            "/api" => Some(serde_json::json!({"kind": "APIVersions", "versions": ["v1"]})),
            "/apis" => Some(serde_json::json!({
                "kind": "APIGroupList", "apiVersion": "v1",
                "groups": [{"name": "apps",
                            "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                            "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]
            })),
            "/api/v1" => Some(resources("v1", "pods", "Pod", &["po"])),
            "/apis/apps/v1" => Some(resources(
                "apps/v1",
                "deployments",
                "Deployment",
                &["deploy"],
            )),
            _ => None,
        };
        Box::pin(async move {
            match doc {
                Some(doc) => Response::builder()
                    .header("content-type", "application/json")
                    .body(full(serde_json::to_vec(&doc).unwrap()))
                    .unwrap(),
                None => Response::builder().status(404).body(full("404")).unwrap(),
            }
        })
    })
    .await;
    (up, count)
}

fn resources(gv: &str, plural: &str, kind: &str, short: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
        "resources": [{"name": plural, "singularName": "", "namespaced": true, "kind": kind,
                       "shortNames": short, "verbs": ["get", "list"]}]
    })
}

#[tokio::test]
async fn one_discovery_cache_per_client_and_its_clones() {
    let (up, count) = counting_server().await;
    let client = up.client("t");

    let pods = client.discovery().resolve("po").await.unwrap();
    assert_eq!(pods.resource, "pods");
    let cold = count.load(Ordering::SeqCst);
    assert!(
        cold >= 4,
        "a cold cache fetches /api, /apis and each group version: {cold}"
    );

    // README's pattern: a fresh handle per call, on the client and on clones.
    for _ in 0..3 {
        let deploy = client.discovery().resolve("deploy").await.unwrap();
        assert_eq!(deploy.group, "apps");
        let snapshot = client
            .clone()
            .discovery()
            .groups_and_resources()
            .await
            .unwrap();
        assert!(snapshot.failures().is_empty());
    }
    assert_eq!(
        count.load(Ordering::SeqCst),
        cold,
        "warm handles sent requests"
    );
    // The handles share one request counter too.
    assert_eq!(client.clone().discovery().request_count(), cold as u64);

    // Invalidating through one handle clears the cache for every handle.
    client.clone().discovery().invalidate();
    client.discovery().groups_and_resources().await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 2 * cold);

    // `Discovery::new` is a separate cache; so is another client's.
    Discovery::new(client.clone())
        .groups_and_resources()
        .await
        .unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 3 * cold);
    up.client("t").discovery().resolve("po").await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 4 * cold);
    client.discovery().resolve("po").await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 4 * cold);
}
