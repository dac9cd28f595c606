//! Credential faults under load: a token file rotated (old tokens revoked), an exec
//! plugin whose tokens expire every few seconds, that then fails and hangs, and a CA
//! bundle rewritten on disk.

use crate::soak::kit::{Report, config, pick};
use k8s_client::Client;
use k8s_client::testenv::TestEnv;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(5);
/// Lifetime of the exec plugin's tokens.
const EXEC_LIFETIME_SECS: u32 = 4;

/// A token for `sa` bound to a new Secret `bind-<n>` (deleting it revokes the token).
async fn bound_token(env: &TestEnv, ns: &str, n: usize) -> String {
    let admin = crate::support::env::raw_admin(env);
    let url = env.server_url();
    let secret = crate::support::env::send_json(
        admin
            .post(format!("{url}/api/v1/namespaces/{ns}/secrets"))
            .header("content-type", "application/json")
            .body(serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("bind-{n}")}}).to_string()),
    )
    .await;
    let body = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600, "boundObjectRef": {
            "kind": "Secret", "apiVersion": "v1", "name": format!("bind-{n}"), "uid": secret["metadata"]["uid"]}},
    });
    let answer = crate::support::env::send_json(
        admin
            .post(format!(
                "{url}/api/v1/namespaces/{ns}/serviceaccounts/soak/token"
            ))
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await;
    answer["status"]["token"].as_str().unwrap().to_owned()
}

async fn revoke(env: &TestEnv, ns: &str, n: usize) {
    crate::support::env::raw_admin(env)
        .delete(format!(
            "{}/api/v1/namespaces/{ns}/secrets/bind-{n}",
            env.server_url()
        ))
        .send()
        .await
        .unwrap();
}

/// Replaces `path` atomically (as the kubelet updates projected tokens).
fn write_atomic(path: &Path, data: &[u8]) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, data).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn kubeconfig(dir: &Path, name: &str, server: &str, ca: &Path, user: &str) -> PathBuf {
    let path = dir.join(name);
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority: {}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user:\n{user}",
        ca.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// (start, elapsed, error) of every failed GET of one client.
type Failures = Arc<Mutex<Vec<(Instant, Duration, String)>>>;

fn load(
    client: Client,
    stop: Arc<AtomicBool>,
    failures: Failures,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut sent = 0;
        while !stop.load(Ordering::SeqCst) {
            sent += 1;
            let req = http::Request::get("/api/v1/namespaces/default")
                .body(Vec::new())
                .unwrap();
            let start = Instant::now();
            if let Err(e) = client.request::<serde_json::Value>(req).await {
                failures
                    .lock()
                    .unwrap()
                    .push((start, start.elapsed(), crate::support::chain(&e)));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        sent
    })
}

/// Rotated token files, short-lived exec tokens and a rewritten CA bundle fail no
/// request; a failing or hanging plugin gives clear errors within the deadline, and the
/// plugin runs about once per half lifetime, not once per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "soak: run by cargo xtask soak"]
async fn rotated_and_expiring_credentials_fail_no_request() {
    let Some(env) = crate::support::env::control_plane() else {
        return;
    };
    let ns = crate::support::env::unique_namespace(env, "soak-creds").await;
    let admin = crate::support::env::raw_admin(env);
    let url = env.server_url();
    for (path, body) in [
        (
            format!("/api/v1/namespaces/{ns}/serviceaccounts"),
            serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "soak"}}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings".to_owned(),
            serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": format!("soak-{ns}")},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": "soak", "namespace": ns}],
            }),
        ),
    ] {
        crate::support::env::send_json(
            admin
                .post(format!("{url}{path}"))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let token_file = d.join("token");
    let exec_token = d.join("exec-token");
    let runs = d.join("runs");
    let first = bound_token(env, &ns, 0).await;
    write_atomic(&token_file, first.as_bytes());
    write_atomic(&exec_token, first.as_bytes());
    let script = d.join("plugin.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho run >> {runs}\n[ -e {d}/fail ] && exit 1\n[ -e {d}/hang ] && sleep 30\n\
             exp=$(date -u -d \"+{EXEC_LIFETIME_SECS} seconds\" +%Y-%m-%dT%H:%M:%SZ)\n\
             printf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"%s\",\"expirationTimestamp\":\"%s\"}}}}' \"$(cat {tok})\" \"$exp\"\n",
            runs = runs.display(),
            d = d.display(),
            tok = exec_token.display(),
        ),
    )
    .unwrap();
    // The CA bundle the CA-rotation client reads; rewritten in place (not atomically).
    let ca = d.join("ca.crt");
    let other_ca = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/merge-two/a/ca.crt"
    ))
    .unwrap();
    std::fs::write(&ca, env.ca_pem()).unwrap();

    let env_ca = env.ca_path();
    let file_client = Client::builder(config(&kubeconfig(
        d,
        "file",
        url,
        env_ca,
        &format!("    tokenFile: {}\n", token_file.display()),
    )))
    .timeout(TIMEOUT)
    .build()
    .unwrap();
    let exec_user = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [\"{}\"]\n      interactiveMode: Never\n",
        script.display()
    );
    let exec_client = Client::builder(config(&kubeconfig(d, "exec", url, env_ca, &exec_user)))
        .timeout(TIMEOUT)
        .build()
        .unwrap();
    let cert = d.join("admin.crt");
    let key = d.join("admin.key");
    std::fs::write(&cert, env.admin_cert_pem()).unwrap();
    std::fs::write(&key, env.admin_key_pem().expose_secret()).unwrap();
    let cert_user = format!(
        "    client-certificate: {}\n    client-key: {}\n",
        cert.display(),
        key.display()
    );
    let ca_client = Client::builder(config(&kubeconfig(d, "ca", url, &ca, &cert_user)))
        .timeout(TIMEOUT)
        .build()
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let failures: [Failures; 3] = Default::default();
    let mut tasks = Vec::new();
    for (client, f) in [&file_client, &exec_client, &ca_client]
        .into_iter()
        .zip(&failures)
    {
        for _ in 0..3 {
            tasks.push(load(client.clone(), stop.clone(), f.clone()));
        }
    }
    let duration = pick(Duration::from_secs(24), Duration::from_secs(120));
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(2)).await;
        n += 1;
        let token = bound_token(env, &ns, n).await;
        write_atomic(&token_file, token.as_bytes());
        write_atomic(&exec_token, token.as_bytes());
        if n >= 2 {
            revoke(env, &ns, n - 2).await;
        }
        let bundle = if n.is_multiple_of(2) {
            [other_ca.as_slice(), env.ca_pem().as_bytes()].concat()
        } else {
            env.ca_pem().as_bytes().to_vec()
        };
        std::fs::write(&ca, bundle).unwrap();
    }
    let runs_in_load = std::fs::read_to_string(&runs).unwrap().lines().count();
    let load_elapsed = started.elapsed();

    // The plugin fails, then hangs, for 3 s each.
    let faults_from = Instant::now();
    for flag in ["fail", "hang"] {
        std::fs::write(d.join(flag), b"").unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        std::fs::remove_file(d.join(flag)).unwrap();
    }
    let faults_to = Instant::now();
    tokio::time::sleep(Duration::from_secs(EXEC_LIFETIME_SECS.into())).await;
    stop.store(true, Ordering::SeqCst);
    let mut sent = 0;
    for t in tasks {
        sent += t.await.unwrap();
    }
    let [file_f, exec_f, ca_f] = failures.map(|f| f.lock().unwrap().clone());
    let exec_in_load: Vec<_> = exec_f.iter().filter(|(s, _, _)| *s < faults_from).collect();
    let exec_after: Vec<_> = exec_f
        .iter()
        .filter(|(s, _, _)| *s > faults_to + Duration::from_secs(6))
        .collect();

    let mut r = Report::default();
    r.add("duration under rotation", format!("{load_elapsed:.1?}"));
    r.add("token rotations (old token revoked)", n);
    r.add("GETs in all", sent);
    r.add("failed: token file", file_f.len());
    r.add("failed: exec (under rotation)", exec_in_load.len());
    r.add("failed: CA bundle rewritten", ca_f.len());
    r.add(
        "exec plugin runs under rotation",
        format!("{runs_in_load} in {load_elapsed:.0?} (token lifetime {EXEC_LIFETIME_SECS} s)"),
    );
    r.add(
        "failed while the plugin failed or hung",
        exec_f.len() - exec_in_load.len(),
    );
    r.print("credential faults");

    assert!(file_f.is_empty(), "{:?}", file_f.first());
    assert!(ca_f.is_empty(), "{:?}", ca_f.first());
    assert!(exec_in_load.is_empty(), "{:?}", exec_in_load.first());
    assert!(
        exec_after.is_empty(),
        "no recovery after the plugin was fixed: {:?}",
        exec_after.first()
    );
    for (_, took, e) in &exec_f {
        assert!(*took <= TIMEOUT + Duration::from_secs(1), "{took:?}: {e}");
        assert!(!e.contains(&first), "an error shows a token");
    }
    assert!(
        runs_in_load as u64 <= load_elapsed.as_secs() + 2,
        "the plugin ran {runs_in_load} times in {load_elapsed:?}"
    );
}
