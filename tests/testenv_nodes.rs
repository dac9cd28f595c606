//! The control plane with simulated nodes: pods are scheduled and run, and the
//! kubelet endpoints behind exec, logs and port-forward are real.

mod support;

use k8s_client::api::Api;
use k8s_openapi::api::core::v1::{Node, Pod};

#[tokio::test]
async fn pods_are_scheduled_onto_ready_simulated_nodes() {
    let Some(env) = support::env::nodes_env() else {
        return;
    };
    let client = support::env::admin_client(env);
    let nodes: Api<Node> = Api::all(client.clone());
    let names = env.node_names();
    assert_eq!(names, ["kwok-node-0", "kwok-node-1"]);
    for name in &names {
        let node = nodes.get(name).await.expect("node exists");
        let ready = node
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        assert!(ready, "{name} is Ready");
    }
    let ns = support::env::unique_namespace(env, "nodes").await;
    let pod = support::streams::running_pod(
        &client,
        &ns,
        support::streams::pod("web", &["app"], &[], &[]),
    )
    .await;
    let node = pod.spec.and_then(|s| s.node_name).expect("scheduled");
    assert!(names.contains(&node), "scheduled onto {node}");
    let _: Api<Pod> = Api::namespaced(client, &ns);
}

#[tokio::test]
async fn kubectl_exec_runs_a_local_command_in_the_exec_dir() {
    let Some(env) = support::env::nodes_env() else {
        return;
    };
    let client = support::env::admin_client(env);
    let ns = support::env::unique_namespace(env, "nodes-exec").await;
    support::streams::running_pod(
        &client,
        &ns,
        support::streams::pod("sh", &["main"], &[], &[]),
    )
    .await;
    let out = support::kubectl::admin(
        env,
        &[
            "-n",
            &ns,
            "exec",
            "sh",
            "--",
            "sh",
            "-c",
            "pwd; echo err >&2; exit 3",
        ],
        b"",
    )
    .await;
    // kwok reports a non-zero exit as an internal error naming the exit status, not as
    // the kubelet's NonZeroExitCode: kubectl exits 1.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim_end(),
        env.exec_dir().unwrap().display().to_string()
    );
    let stderr = support::kubectl::without_log_lines(&out.stderr);
    let stderr = String::from_utf8_lossy(&stderr);
    assert!(stderr.starts_with("err\n"), "{stderr}");
    assert!(stderr.contains("exit status 3"), "{stderr}");
}

#[tokio::test]
async fn logs_come_from_the_pod_log_file() {
    let Some(env) = support::env::nodes_env() else {
        return;
    };
    let client = support::env::admin_client(env);
    let (ns, marker) = logger_with_marker(env, &client, "nodes-logs").await;
    let out = support::kubectl::admin(env, &["-n", &ns, "logs", "logger"], b"").await;
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&marker),
        "{out:?}"
    );
}

/// A running pod `logger` in a fresh namespace, and a marker line appended to the pod
/// log file every container reads: the namespace and the marker.
async fn logger_with_marker(
    env: &k8s_client::testenv::TestEnv,
    client: &k8s_client::Client,
    prefix: &str,
) -> (String, String) {
    let ns = support::env::unique_namespace(env, prefix).await;
    support::streams::running_pod(
        client,
        &ns,
        support::streams::pod("logger", &["main"], &[], &[]),
    )
    .await;
    let marker = format!("{prefix}-marker-{}", std::process::id());
    env.append_pod_log(false, false, &marker).unwrap();
    (ns, marker)
}

/// A GET through the node proxy: its status and whole body.
async fn proxied(
    proxy: &k8s_client::api::ApiserverProxy,
    path: &str,
) -> (http::StatusCode, bytes::Bytes) {
    let res = proxy.get(path).await.expect("node proxy");
    let status = res.status();
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, body)
}

/// kube-apiserver 1.37 proxies `nodes/NAME/proxy` only to global unicast addresses,
/// and by default the simulated kubelets listen on loopback (they run commands for
/// anyone who reaches them; `routable_nodes` puts them behind an authenticating front):
/// the server refuses, and our node proxy sees exactly the answer kubectl does.
#[tokio::test]
async fn node_proxy_gets_the_same_answer_as_kubectl_get_raw() {
    let Some(env) = support::env::nodes_env() else {
        return;
    };
    let client = support::env::admin_client(env);
    let node = &env.node_names()[0];
    let proxy =
        k8s_client::api::ApiserverProxy::new(client, k8s_client::api::ProxyTarget::node(node));
    for path in ["/healthz", "/metrics"] {
        let (status, body) = proxied(&proxy, path).await;
        let answer: serde_json::Value = serde_json::from_slice(&body).expect("a Status");
        let raw = format!("/api/v1/nodes/{node}/proxy{path}");
        let k = support::kubectl::admin(env, &["get", "--raw", &raw], b"").await;
        assert!(!k.status.success(), "{k:?}");
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(
            String::from_utf8_lossy(&k.stderr).trim(),
            format!(
                "Error from server ({}): {}",
                answer["reason"].as_str().unwrap(),
                answer["message"].as_str().unwrap()
            )
        );
        assert_eq!(answer["message"], "address not allowed");
    }
}

/// With routable nodes the API server reaches the simulated kubelet through its TLS
/// front, as it reaches a real kubelet (serving certificate verified, kubelet client
/// certificate presented): our node proxy gets the same status and bytes as
/// `kubectl get --raw`, for kwok's health check and for a container's log, and the
/// front lets no other client in. Needs root (the address is added to `lo`).
#[tokio::test]
async fn node_proxy_reaches_routable_nodes_like_kubectl() {
    let Some(binaries) = support::env::binaries() else {
        return;
    };
    let env = support::env::blocking(move || {
        k8s_client::testenv::TestEnv::builder()
            .binaries(binaries)
            .nodes(1)
            .routable_nodes(true)
            .start()
            .unwrap_or_else(|e| {
                panic!(
                    "the control plane with routable nodes did not start: {}",
                    support::chain(&e)
                )
            })
    })
    .await;
    let client = support::env::admin_client(&env);
    let node_name = env.node_names()[0].clone();
    let node = Api::<Node>::all(client.clone())
        .get(&node_name)
        .await
        .expect("node");
    let status = node.status.expect("node status");
    let ip = status
        .addresses
        .unwrap_or_default()
        .into_iter()
        .find(|a| a.type_ == "InternalIP")
        .expect("an InternalIP")
        .address;
    assert!(ip.starts_with("198.51.100."), "node address {ip}");
    let port = status
        .daemon_endpoints
        .and_then(|d| d.kubelet_endpoint)
        .expect("kubelet endpoint")
        .port;

    let (ns, marker) = logger_with_marker(&env, &client, "nodeproxy").await;

    let proxy = k8s_client::api::ApiserverProxy::new(
        client,
        k8s_client::api::ProxyTarget::node(&node_name),
    );
    let mut logs = Vec::new();
    for path in [
        "/healthz".to_owned(),
        format!("/containerLogs/{ns}/logger/main"),
    ] {
        let (status, body) = proxied(&proxy, &path).await;
        let raw = format!("/api/v1/nodes/{node_name}/proxy{path}");
        let k = support::kubectl::admin(&env, &["get", "--raw", &raw], b"").await;
        assert!(k.status.success(), "{path}: {k:?}");
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        assert_eq!(body, k.stdout, "{path}: ours and kubectl's bytes");
        logs = body.to_vec();
    }
    assert!(
        String::from_utf8_lossy(&logs).contains(&marker),
        "the log through the node proxy: {}",
        String::from_utf8_lossy(&logs)
    );

    // Straight to the front: the admin certificate (the environment's CA) and no
    // certificate are both refused during the handshake; nothing reaches kwok.
    let url = format!("https://{ip}:{port}/healthz");
    let anonymous =
        support::env::raw_client(env.ca_pem().as_bytes(), support::env::Auth::Anonymous);
    // rustls's alerts: the admin certificate's CA is unknown to the front, and a client
    // without a certificate is told one is required.
    for (client, alert) in [
        (support::env::raw_admin(&env), "UnknownCA"),
        (anonymous, "CertificateRequired"),
    ] {
        let err = client
            .get(&url)
            .send()
            .await
            .expect_err("the front lets only the API server in");
        assert!(format!("{err:?}").contains(alert), "{alert}: {err:?}");
    }
}
