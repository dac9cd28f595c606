//! Discovery against a real kube-apiserver (testenv) when an aggregated API server is
//! down: the result is partial, the failing group version is reported (Stale in
//! aggregated discovery, 503 in legacy discovery), and everything else still resolves.
#![cfg(feature = "testenv")]

mod support;

use k8s_client::discovery::{Discovery, DiscoveryError, DiscoverySnapshot, error_chain};
use std::sync::Arc;
use std::time::Duration;
use support::eventually;
use support::requests::create;
use support::requests::delete;

/// Refreshes until `group_version` is among the failures (the aggregator notices a new
/// APIService asynchronously); the call itself must keep succeeding.
async fn failing(discovery: &Discovery, group_version: &str) -> Arc<DiscoverySnapshot> {
    eventually(
        &format!("{group_version} failing"),
        Duration::from_secs(60),
        || async {
            let snapshot = discovery
                .refresh()
                .await
                .expect("discovery succeeds partially");
            snapshot
                .failures()
                .iter()
                .any(|f| f.group_version() == Some(group_version))
                .then_some(snapshot)
        },
    )
    .await
}

fn failure_of<'a>(snapshot: &'a DiscoverySnapshot, group_version: &str) -> &'a DiscoveryError {
    snapshot
        .failures()
        .iter()
        .find(|f| f.group_version() == Some(group_version))
        .expect("the failure")
}

#[tokio::test]
async fn unreachable_aggregated_api_gives_a_partial_result() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let client =
        support::auth::direct_client(support::kubeconfig_config(env.admin_kubeconfig(), |_| {}));
    let namespace = support::env::unique_namespace(env, "disc-apiservice").await;
    let group = format!("down{}.example.com", std::process::id());
    let group_version = format!("{group}/v1");
    create(
        &client,
        &format!("/api/v1/namespaces/{namespace}/services"),
        serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "unreachable"},
            "spec": {"ports": [{"port": 443, "targetPort": 8443}]},
        }),
    )
    .await;
    create(
        &client,
        "/apis/apiregistration.k8s.io/v1/apiservices",
        serde_json::json!({
            "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": format!("v1.{group}")},
            "spec": {
                "group": group, "version": "v1",
                "service": {"namespace": namespace, "name": "unreachable", "port": 443},
                "insecureSkipTLSVerify": true, "groupPriorityMinimum": 1000, "versionPriority": 15,
            },
        }),
    )
    .await;

    // Aggregated: the version is marked Stale; everything else is there.
    let aggregated = Discovery::new(client.clone());
    let partial = failing(&aggregated, &group_version).await;
    assert!(!partial.is_complete());
    assert!(partial.resources_for("apps/v1").is_some());
    assert!(partial.resources_for(&group_version).is_none());
    let failure = failure_of(&partial, &group_version);
    assert!(
        matches!(failure, DiscoveryError::StaleGroupVersion { .. }),
        "{failure:?}"
    );
    assert_eq!(
        failure.to_string(),
        format!("discovery of {group_version} is stale: its API service is not available")
    );
    assert_eq!(
        aggregated.resolve("deploy").await.unwrap().resource,
        "deployments"
    );

    // Legacy: /apis lists the group, its resources answer 503.
    let legacy = Discovery::builder(client.clone()).aggregated(false).build();
    let partial = failing(&legacy, &group_version).await;
    let failure = failure_of(&partial, &group_version);
    let DiscoveryError::GroupVersion { source, .. } = failure else {
        panic!("{failure:?}")
    };
    assert_eq!(source.code(), Some(503), "{}", error_chain(failure));
    assert!(partial.resources_for("v1").is_some());
    let json = serde_json::to_value(&*partial).unwrap();
    assert!(
        json["failures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["groupVersion"] == group_version.as_str())
    );

    delete(
        &client,
        &format!("/apis/apiregistration.k8s.io/v1/apiservices/v1.{group}"),
    )
    .await;
}
