//! Pods for the streaming tests (exec, attach, logs, port-forward, cp) on the control
//! plane with simulated nodes ([`nodes_env`](crate::support::env::nodes_env)).

use crate::support::eventually;
use k8s_client::Client;
use k8s_client::api::{Api, PostParams};
use k8s_openapi::api::core::v1::Pod;
use std::time::Duration;

/// A running pod `box` with `containers` and container `ports`, in a fresh namespace
/// of the control plane with nodes: the environment, the namespace's pods and its name;
/// `None` when there are no nodes (see [`nodes_env`](crate::support::env::nodes_env)).
pub async fn box_pod(
    prefix: &str,
    containers: &[&str],
    ports: &[u16],
) -> Option<(&'static k8s_client::testenv::TestEnv, Api<Pod>, String)> {
    let env = crate::support::env::nodes_env()?;
    let client = crate::support::env::admin_client(env);
    let ns = crate::support::env::unique_namespace(env, prefix).await;
    running_pod(&client, &ns, pod("box", containers, &[], ports)).await;
    Some((env, Api::namespaced(client, &ns), ns))
}

/// A pod spec with the given containers (names), labels and container ports.
pub fn pod(name: &str, containers: &[&str], labels: &[(&str, &str)], ports: &[u16]) -> Pod {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
    let ports: Vec<serde_json::Value> = ports
        .iter()
        .map(|p| serde_json::json!({"containerPort": p, "name": format!("p{p}")}))
        .collect();
    let containers: Vec<serde_json::Value> = containers
        .iter()
        .map(|c| serde_json::json!({"name": c, "image": "example.invalid/app:1", "ports": ports}))
        .collect();
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": containers},
    }))
    .expect("pod")
}

/// Creates the pod and waits until it runs on a simulated node.
pub async fn running_pod(client: &Client, ns: &str, pod: Pod) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let name = pod.metadata.name.clone().expect("pod name");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create pod");
    wait_running(&pods, &name).await
}

/// Polls until the pod's phase is `Running` (60 s deadline).
pub async fn wait_running(pods: &Api<Pod>, name: &str) -> Pod {
    eventually(
        &format!("pod {name} to be Running"),
        Duration::from_secs(60),
        || async {
            let p = pods.get(name).await.expect("get pod");
            let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
            running.then_some(p)
        },
    )
    .await
}
