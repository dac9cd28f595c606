//! Shared pieces of the streaming tests: the control plane with simulated nodes, a
//! client for it, pods that reach `Running`, and kubectl against the same cluster.
#![allow(dead_code)]

use k8s_client::api::{Api, PostParams};
use k8s_client::config::KubeconfigOptions;
use k8s_client::testenv::{self, TestEnv};
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::Pod;
use std::process::Output;
use std::time::{Duration, Instant};

/// The per-process control plane with two simulated nodes, or `None` (with a skip
/// line) when the binaries are missing and `K8S_CLIENT_TESTENV_REQUIRED` is not `1`.
pub fn nodes_env() -> Option<&'static TestEnv> {
    let required = std::env::var("K8S_CLIENT_TESTENV_REQUIRED").is_ok_and(|v| v == "1");
    match testenv::shared_with_nodes() {
        Ok(env) => Some(env),
        Err(e) if !required && binaries_missing(e) => {
            eprintln!("skipping: {e} (set K8S_CLIENT_TESTENV_REQUIRED=1 to fail instead)");
            None
        }
        Err(e) => panic!("the control plane with nodes did not start: {}", chain(e)),
    }
}

fn binaries_missing(e: &testenv::TestEnvError) -> bool {
    matches!(
        e,
        testenv::TestEnvError::NotInstalled { .. }
            | testenv::TestEnvError::AssetsIncomplete { .. }
            | testenv::TestEnvError::MissingBinary { .. }
    )
}

/// The error and its sources, one per line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!("\n  caused by: {c}"));
        cur = c.source();
    }
    s
}

/// A client from the admin kubeconfig (client certificate).
pub fn client(env: &TestEnv) -> Client {
    let mut options = KubeconfigOptions::default();
    options.kubeconfig = Some(env.admin_kubeconfig().to_owned());
    Client::try_from(Config::from_kubeconfig(&options).expect("kubeconfig")).expect("client")
}

/// A client from the bearer-token kubeconfig.
pub fn token_client(env: &TestEnv) -> Client {
    let mut options = KubeconfigOptions::default();
    options.kubeconfig = Some(env.token_kubeconfig().to_owned());
    Client::try_from(Config::from_kubeconfig(&options).expect("kubeconfig")).expect("client")
}

/// A fresh namespace whose name starts with `prefix`.
pub async fn namespace(env: &TestEnv, prefix: &str) -> String {
    use k8s_openapi::api::core::v1::Namespace;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("namespace");
    Api::<Namespace>::all(client(env))
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    name
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
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = pods.get(name).await.expect("get pod");
        if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "pod {name} not Running within 60 s: {:?}",
            p.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs kubectl against the environment (admin kubeconfig) with `stdin` as input.
pub async fn kubectl(env: &TestEnv, args: &[&str], stdin: &[u8]) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("kubectl")
        .arg(format!("--kubeconfig={}", env.admin_kubeconfig().display()))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl on PATH");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = tokio::spawn(async move {
        let _ = input.write_all(&data).await;
        drop(input);
    });
    let out = child.wait_with_output().await.expect("kubectl ran");
    let _ = writer.await;
    out
}
