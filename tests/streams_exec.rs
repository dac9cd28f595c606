//! exec and attach over WebSocket against a real API server and kwok's kubelet,
//! compared byte for byte with `kubectl exec` on the same pods.

mod support;

use k8s_client::api::{Api, AttachParams, PROTOCOL_V5, StreamError};
use k8s_openapi::api::core::v1::Pod;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

async fn read_all(r: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(mut r) = r {
        r.read_to_end(&mut out).await.expect("read stream");
    }
    out
}

fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

async fn pod_api(prefix: &str) -> Option<(&'static k8s_client::testenv::TestEnv, Api<Pod>)> {
    let (env, pods, _) = support::streams::box_pod(prefix, &["main", "side"], &[]).await?;
    Some((env, pods))
}

#[tokio::test]
async fn exec_output_and_exit_match_kubectl() {
    let Some((env, pods)) = pod_api("exec-out").await else {
        return;
    };
    let ns = pods.namespace().unwrap().to_owned();
    let script = "printf 'out\\n'; printf 'err\\n' >&2; printf 'tail'";
    let mut p = pods
        .exec(
            "box",
            ["sh", "-c", script],
            &AttachParams::default().container("main"),
        )
        .await
        .expect("exec");
    assert_eq!(p.protocol(), PROTOCOL_V5);
    let (stdout, stderr) = (p.stdout(), p.stderr());
    let (out, err) = tokio::join!(read_all(stdout), read_all(stderr));
    let status = p.status().await.expect("status");
    assert!(status.success());
    let k = support::kubectl::admin(
        env,
        &[
            "-n", &ns, "exec", "box", "-c", "main", "--", "sh", "-c", script,
        ],
        b"",
    )
    .await;
    assert_eq!(k.status.code(), Some(0));
    assert_eq!(out, k.stdout);
    assert_eq!(err, support::kubectl::without_log_lines(&k.stderr));
    assert_eq!(out, b"out\ntail");
    assert_eq!(err, b"err\n");
}

#[test]
fn kubectl_log_lines_are_told_apart_from_remote_output() {
    let stderr = b"E1205 01:43:19.455613   31022 websocket.go:296] Unknown stream id 1, discarding message\nerr\nW0101 00:00:00.000000 1 x.go:1] w\nE1234 foo] bar\nI1205 01:43:19.455613 12 no-line-number] x\n";
    assert_eq!(
        support::kubectl::without_log_lines(stderr),
        b"err\nE1234 foo] bar\nI1205 01:43:19.455613 12 no-line-number] x\n"
    );
    assert_eq!(support::kubectl::without_log_lines(b"err\n"), b"err\n");
}

#[tokio::test]
async fn failing_command_reports_the_servers_status_like_kubectl() {
    let Some((env, pods)) = pod_api("exec-fail").await else {
        return;
    };
    let ns = pods.namespace().unwrap().to_owned();
    let p = pods
        .exec(
            "box",
            ["sh", "-c", "exit 3"],
            &AttachParams::default().container("main"),
        )
        .await
        .expect("exec");
    let err = p.status().await.expect_err("non-zero exit");
    let k8s_client::Error::Stream(StreamError::Failed(status)) = &err else {
        panic!("{err:?}");
    };
    let message = status.message.clone().unwrap_or_default();
    assert!(message.contains("exit status 3"), "{message}");
    let k = support::kubectl::admin(
        env,
        &[
            "-n", &ns, "exec", "box", "-c", "main", "--", "sh", "-c", "exit 3",
        ],
        b"",
    )
    .await;
    assert_eq!(k.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&k.stderr).contains(&message),
        "kubectl: {:?}, ours: {message}",
        String::from_utf8_lossy(&k.stderr)
    );
}

#[tokio::test]
async fn missing_pod_and_container_fail_with_kubectls_messages() {
    let Some((env, pods)) = pod_api("exec-missing").await else {
        return;
    };
    let ns = pods.namespace().unwrap().to_owned();
    let err = pods
        .exec("nope", ["true"], &AttachParams::default())
        .await
        .expect_err("no such pod");
    let api = err.api().expect("API error");
    assert_eq!(api.code, 404);
    let message = api.status.as_ref().and_then(|s| s.message.clone()).unwrap();
    let k = support::kubectl::admin(env, &["-n", &ns, "exec", "nope", "--", "true"], b"").await;
    assert_eq!(k.status.code(), Some(1));
    let k_err = String::from_utf8_lossy(&k.stderr);
    assert!(
        k_err.contains(&message),
        "kubectl: {k_err}, ours: {message}"
    );
    assert!(!format!("{err:?}{err}").contains("command="), "{err:?}");

    let err = pods
        .exec("box", ["true"], &AttachParams::default().container("ghost"))
        .await
        .expect_err("no such container");
    let api = err.api().expect("API error");
    assert_eq!(api.code, 400);
    let message = api.status.as_ref().and_then(|s| s.message.clone()).unwrap();
    let k = support::kubectl::admin(
        env,
        &["-n", &ns, "exec", "box", "-c", "ghost", "--", "true"],
        b"",
    )
    .await;
    assert_eq!(k.status.code(), Some(1));
    let k_err = String::from_utf8_lossy(&k.stderr);
    assert!(
        k_err.contains(&message),
        "kubectl: {k_err}, ours: {message}"
    );
}

#[tokio::test]
async fn fifty_megabytes_in_and_out_arrive_intact() {
    let Some((env, pods)) = pod_api("exec-big").await else {
        return;
    };
    const SIZE: usize = 50 * 1024 * 1024;
    let data: Vec<u8> = (0..SIZE as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let expected = sha256(&data);
    // In: stdin → the process writes what it read to a file (then we hash the file).
    // kwok never closes a process's stdin pipe, so the command reads a known length
    // (the close signal itself is covered by the unit tests of the writer).
    let target = env
        .exec_dir()
        .unwrap()
        .join(format!("big-{}", std::process::id()));
    let mut p = pods
        .exec(
            "box",
            [
                "sh",
                "-c",
                &format!("head -c {SIZE} > '{}'", target.display()),
            ],
            &AttachParams::default().container("main").stdin(true),
        )
        .await
        .expect("exec");
    let mut stdin = p.stdin().unwrap();
    let writer = async {
        stdin.write_all(&data).await.expect("write stdin");
        stdin.shutdown().await.expect("close stdin");
    };
    let (_, out, err) = tokio::join!(writer, read_all(p.stdout()), read_all(p.stderr()));
    assert!(out.is_empty() && err.is_empty());
    assert!(p.status().await.expect("status").success());
    assert_eq!(sha256(&std::fs::read(&target).unwrap()), expected);
    // Out: the process prints the file.
    let mut p = pods
        .exec(
            "box",
            ["cat", &target.display().to_string()],
            &AttachParams::default(),
        )
        .await
        .expect("exec");
    let out = read_all(p.stdout()).await;
    assert!(p.status().await.expect("status").success());
    assert_eq!(out.len(), SIZE);
    assert_eq!(sha256(&out), expected);
    std::fs::remove_file(&target).unwrap();
}

#[tokio::test]
async fn tty_resize_reaches_the_process() {
    let Some((_env, pods)) = pod_api("exec-tty").await else {
        return;
    };
    let ap = AttachParams::default().stdin(true).tty(true);
    assert!(!ap.stderr, "a TTY has one output stream");
    let mut p = pods
        // kwok closes the pty as soon as the process exits, dropping unsent output:
        // the process waits for a second line before it ends.
        .exec("box", ["sh", "-c", "read x; stty size; read y"], &ap)
        .await
        .expect("exec");
    p.resize(123, 45).await.expect("resize");
    let mut stdin = p.stdin().unwrap();
    let mut stdout = p.stdout().unwrap();
    // The resize message precedes the newline on the connection.
    stdin.write_all(b"\n").await.unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(&out).contains("45 123") {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            String::from_utf8_lossy(&out)
        );
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(30), stdout.read(&mut buf))
            .await
            .expect("output in time")
            .unwrap();
        assert!(n > 0, "ended early: {:?}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..n]);
    }
    stdin.write_all(b"\n").await.unwrap();
    assert!(p.status().await.expect("status").success());
}

#[tokio::test]
async fn resize_without_tty_is_refused_and_debug_hides_the_command() {
    let Some((_env, pods)) = pod_api("exec-notty").await else {
        return;
    };
    let mut p = pods
        .exec("box", ["echo", "s3cr3t-arg"], &AttachParams::default())
        .await
        .expect("exec");
    assert!(matches!(
        p.resize(1, 1).await,
        Err(k8s_client::Error::Stream(StreamError::NotOpen { .. }))
    ));
    assert!(!format!("{p:?}").contains("s3cr3t"), "{p:?}");
    assert_eq!(read_all(p.stdout()).await, b"s3cr3t-arg\n");
    assert!(p.status().await.unwrap().success());
}

#[tokio::test]
async fn exec_works_with_a_bearer_token_client() {
    let Some((env, pods)) = pod_api("exec-token").await else {
        return;
    };
    let ns = pods.namespace().unwrap().to_owned();
    let pods: Api<Pod> = Api::namespaced(support::env::token_client(env), &ns);
    let mut p = pods
        .exec("box", ["echo", "via-token"], &AttachParams::default())
        .await
        .expect("exec");
    assert_eq!(read_all(p.stdout()).await, b"via-token\n");
    assert!(p.status().await.unwrap().success());
}

#[tokio::test]
async fn attach_streams_what_the_container_writes() {
    let Some((env, pods)) = pod_api("attach").await else {
        return;
    };
    let mut p = pods
        .attach("box", &AttachParams::default().stderr(false))
        .await
        .expect("attach");
    let mut stdout = p.stdout().unwrap();
    let marker = format!("attached-{}", std::process::id());
    env.append_pod_log(false, false, &marker).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(&out).contains(&marker) {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            String::from_utf8_lossy(&out)
        );
        // The writer may have appended before kwok started following: append again.
        env.append_pod_log(false, false, &marker).unwrap();
        let mut buf = [0u8; 4096];
        if let Ok(n) = tokio::time::timeout(Duration::from_secs(1), stdout.read(&mut buf)).await {
            let n = n.unwrap();
            assert!(n > 0, "attach ended: {:?}", String::from_utf8_lossy(&out));
            out.extend_from_slice(&buf[..n]);
        }
    }
}

/// A client whose credentials come from an exec plugin that prints `credential` (an
/// `ExecCredential` status) from a file.
fn exec_plugin_client(
    env: &k8s_client::testenv::TestEnv,
    dir: &std::path::Path,
    credential: serde_json::Value,
) -> k8s_client::Client {
    let cred = dir.join("credential.json");
    let body = serde_json::json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": credential,
    });
    std::fs::write(&cred, body.to_string()).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": env.server_url(), "certificate-authority": env.ca_path()}}],
        "users": [{"name": "u", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "cat", "args": [cred], "interactiveMode": "Never"}}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    });
    std::fs::write(&kubeconfig, config.to_string()).unwrap();
    let mut options = k8s_client::config::KubeconfigOptions::default();
    options.kubeconfig = Some(kubeconfig);
    k8s_client::Client::try_from(k8s_client::Config::from_kubeconfig(&options).expect("kubeconfig"))
        .expect("client")
}

#[tokio::test]
async fn exec_works_with_exec_plugin_tokens_and_certificates() {
    let Some((env, pods)) = pod_api("exec-plugin").await else {
        return;
    };
    let ns = pods.namespace().unwrap().to_owned();
    let token = env.admin_token().expose_secret().to_owned();
    let key = String::from_utf8(env.admin_key_pem().expose_secret().to_vec()).unwrap();
    let credentials = [
        serde_json::json!({"token": token}),
        serde_json::json!({"clientCertificateData": env.admin_cert_pem(), "clientKeyData": key}),
    ];
    for credential in credentials {
        let dir = tempfile::tempdir().unwrap();
        let client = exec_plugin_client(env, dir.path(), credential);
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        let mut p = pods
            .exec("box", ["cat"], &AttachParams::default().stdin(true))
            .await
            .expect("exec");
        assert_eq!(p.protocol(), PROTOCOL_V5);
        let mut stdin = p.stdin().unwrap();
        stdin.write_all(b"through the plugin\n").await.unwrap();
        stdin.shutdown().await.unwrap();
        drop(stdin);
        let out = p.stdout();
        let debug = format!("{p:?}");
        assert!(
            !debug.contains(&token) && !debug.contains("PRIVATE KEY"),
            "{debug}"
        );
        // kwok does not pass stdin's end on: read the echoed line, then stop the process.
        let mut out = out.unwrap();
        let mut got = vec![0u8; 19];
        out.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"through the plugin\n");
    }
}
