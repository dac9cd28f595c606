//! Acceptance tests of `k8s_client::testenv` against the real control plane it starts.

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_client::testenv::versions::KUBERNETES_VERSION;
use k8s_client::testenv::{Binaries, TOKEN_USER, TestEnv, TestEnvError};
use std::path::Path;
use std::time::Duration;
use support::env::Auth;
use support::env::raw_admin;
use support::env::raw_client;

/// The server URL, CA and credentials of a kubeconfig's current context, read with
/// serde_yaml_ng directly (the real loader is tested in the config module).
struct Kubeconfig {
    server: String,
    ca: Vec<u8>,
    cert: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    token: Option<String>,
}

fn read_kubeconfig(path: &Path) -> Kubeconfig {
    let text = std::fs::read_to_string(path).expect("kubeconfig is readable");
    let v: serde_json::Value = serde_yaml_ng::from_str(&text).expect("kubeconfig is YAML");
    let current = v["current-context"].as_str().expect("current-context");
    let named = |list: &str, name: &str| {
        v[list]
            .as_array()
            .expect(list)
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{list} has {name}"))
            .clone()
    };
    let context = &named("contexts", current)["context"];
    let cluster = &named("clusters", context["cluster"].as_str().unwrap())["cluster"];
    let user = &named("users", context["user"].as_str().unwrap())["user"];
    let data = |v: &serde_json::Value| v.as_str().map(|s| STANDARD.decode(s).expect("base64"));
    Kubeconfig {
        server: cluster["server"].as_str().unwrap().to_owned(),
        ca: data(&cluster["certificate-authority-data"]).expect("CA data"),
        cert: data(&user["client-certificate-data"]),
        key: data(&user["client-key-data"]),
        token: user["token"].as_str().map(str::to_owned),
    }
}

fn client_for(kc: &Kubeconfig) -> reqwest::Client {
    let auth = match (&kc.cert, &kc.key, &kc.token) {
        (Some(cert), Some(key), _) => Auth::ClientCert {
            cert_pem: cert,
            key_pem: key,
        },
        (_, _, Some(token)) => Auth::Bearer(token),
        _ => Auth::Anonymous,
    };
    raw_client(&kc.ca, auth)
}

#[tokio::test]
async fn version_is_the_pinned_release() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let version =
        support::env::send_json(raw_admin(env).get(format!("{}/version", env.server_url()))).await;
    assert_eq!(version["gitVersion"], KUBERNETES_VERSION);
}

#[tokio::test]
async fn api_answers_each_kubeconfig() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    for path in [
        env.admin_kubeconfig(),
        env.token_kubeconfig(),
        env.noperm_kubeconfig(),
    ] {
        let kc = read_kubeconfig(path);
        assert_eq!(kc.server, env.server_url());
        let response = client_for(&kc)
            .get(format!("{}/api", kc.server))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET /api with {}", path.display());
        let api: serde_json::Value = support::env::json(response).await;
        assert_eq!(api["kind"], "APIVersions");
        assert_eq!(api["versions"][0], "v1");
        let address = api["serverAddressByClientCIDRs"][0]["serverAddress"]
            .as_str()
            .expect("serverAddressByClientCIDRs");
        assert!(address.starts_with("127.0.0.1:"), "{address}");
    }
}

#[tokio::test]
async fn wrong_token_is_unauthorized() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let response = raw_client(env.ca_pem().as_bytes(), Auth::Bearer("not-a-valid-token"))
        .get(format!("{}/api", env.server_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let status: serde_json::Value = support::env::json(response).await;
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Unauthorized");
}

#[tokio::test]
async fn noperm_user_is_forbidden_and_token_admin_is_not() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let url = format!("{}/api/v1/namespaces", env.server_url());
    let noperm = client_for(&read_kubeconfig(env.noperm_kubeconfig()));
    let response = noperm.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let status: serde_json::Value = support::env::json(response).await;
    assert_eq!(status["reason"], "Forbidden");
    let message = status["message"].as_str().unwrap();
    assert!(message.contains("\"noperm\""), "{message}");

    let admin = client_for(&read_kubeconfig(env.token_kubeconfig()));
    let response = admin.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // The token user is who the token file says.
    assert_eq!(user_info(env, &admin).await["username"], TOKEN_USER);
}

/// Polls `GET url` as admin until it answers 200 and `done` holds for the body.
async fn poll_until(
    client: &reqwest::Client,
    url: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let done = &done;
    support::eventually(
        &format!("GET {url}"),
        Duration::from_secs(60),
        || async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status();
            if status != 200 {
                assert_eq!(status, 404, "GET {url}");
                return None;
            }
            let body = support::env::json(response).await;
            done(&body).then_some(body)
        },
    )
    .await
}

#[tokio::test]
async fn controller_manager_creates_service_accounts_and_their_tokens() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    if !env.has_controller_manager() {
        eprintln!("skipping: the binaries have no kube-controller-manager");
        return;
    }
    let ns = support::env::unique_namespace(env, "testenv-sa").await;
    let client = raw_admin(env);
    let base = format!("{}/api/v1/namespaces/{ns}", env.server_url());
    // The serviceaccount controller creates `default` in every namespace.
    poll_until(&client, &format!("{base}/serviceaccounts/default"), |_| {
        true
    })
    .await;

    // The token controller fills a service-account-token Secret, signed with the
    // service-account key that kube-apiserver verifies.
    let secret = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "default-token",
            "annotations": { "kubernetes.io/service-account.name": "default" },
        },
        "type": "kubernetes.io/service-account-token",
    });
    support::env::send_json(
        client
            .post(format!("{base}/secrets"))
            .header("content-type", "application/json")
            .body(secret.to_string()),
    )
    .await;
    let filled = poll_until(&client, &format!("{base}/secrets/default-token"), |s| {
        s["data"]["token"].is_string()
    })
    .await;
    let token = STANDARD
        .decode(filled["data"]["token"].as_str().unwrap())
        .unwrap();
    let token = String::from_utf8(token).unwrap();
    let sa_client = raw_client(env.ca_pem().as_bytes(), Auth::Bearer(&token));
    let review = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "SelfSubjectReview",
    });
    let me = support::env::send_json(
        sa_client
            .post(format!(
                "{}/apis/authentication.k8s.io/v1/selfsubjectreviews",
                env.server_url()
            ))
            .header("content-type", "application/json")
            .body(review.to_string()),
    )
    .await;
    assert_eq!(
        me["status"]["userInfo"]["username"],
        format!("system:serviceaccount:{ns}:default")
    );
}

#[test]
fn debug_output_shows_no_secrets() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let debug = format!("{env:?}");
    assert!(debug.contains(env.server_url()));
    assert!(!debug.contains(env.admin_token().expose_secret()));
    assert!(!debug.contains(env.noperm_token().expose_secret()));
    assert_eq!(format!("{:?}", env.admin_token()), "<redacted>");
}

fn processes_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmd| cmd.contains(needle))
        .collect()
}

#[test]
fn dropping_an_env_stops_every_process_and_removes_its_dir() {
    let Some(binaries) = support::env::binaries() else {
        return;
    };
    let env = TestEnv::builder()
        .binaries(binaries)
        .controller_manager(false)
        .start()
        .unwrap_or_else(|e| panic!("{}", support::chain(&e)));
    let dir = env.dir().to_owned();
    let pids = env.process_ids();
    assert_eq!(pids.len(), 2, "etcd and kube-apiserver");
    let needle = dir.to_string_lossy().into_owned();
    assert_eq!(processes_mentioning(&needle).len(), 2);
    drop(env);
    assert!(processes_mentioning(&needle).is_empty());
    for pid in pids {
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "pid {pid}");
    }
    assert!(!dir.exists(), "{} was not removed", dir.display());
}

fn fake_binaries(etcd_script: &str) -> (tempfile::TempDir, Binaries) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    for (name, script) in [
        ("etcd", etcd_script),
        ("kube-apiserver", "#!/bin/sh\nexit 1\n"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let binaries = Binaries::from_dir(dir.path()).unwrap();
    (dir, binaries)
}

#[test]
fn crashing_etcd_is_reported_with_command_line_and_log_tail() {
    let script = "#!/bin/sh\nfor i in $(seq 1 30); do echo \"fake etcd line $i\"; done\nexit 3\n";
    let (_bins, binaries) = fake_binaries(script);
    let err = TestEnv::builder()
        .binaries(binaries)
        .start()
        .expect_err("a crashing etcd fails the start");
    let TestEnvError::Exited { status, report } = &err else {
        panic!("unexpected error: {err:?}");
    };
    assert_eq!(status.code(), Some(3));
    assert_eq!(report.process, "etcd");
    assert!(report.command.contains("--data-dir="), "{}", report.command);
    let text = err.to_string();
    assert!(text.contains("etcd exited during start-up"), "{text}");
    assert!(text.contains("fake etcd line 30"), "{text}");
    assert!(text.contains("fake etcd line 11\n"), "{text}");
    assert!(
        !text.contains("fake etcd line 10\n"),
        "only the last 20 lines: {text}"
    );
}

#[test]
fn missing_controller_manager_is_an_error_when_required() {
    let (_bins, binaries) = fake_binaries("#!/bin/sh\nexit 1\n");
    let err = TestEnv::builder()
        .binaries(binaries)
        .controller_manager(true)
        .start()
        .expect_err("no kube-controller-manager in the fake assets");
    assert!(
        matches!(
            err,
            TestEnvError::MissingBinary {
                binary: "kube-controller-manager",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn port_collision_retries_the_whole_start() {
    let attempts = tempfile::NamedTempFile::new().unwrap();
    let script = format!(
        "#!/bin/sh\necho attempt >> {}\necho 'listen tcp 127.0.0.1:2379: bind: address already in use'\nexit 1\n",
        attempts.path().display()
    );
    let (_bins, binaries) = fake_binaries(&script);
    let err = TestEnv::builder()
        .binaries(binaries)
        .start()
        .expect_err("every attempt collides");
    assert!(err.to_string().contains("address already in use"), "{err}");
    let count = std::fs::read_to_string(attempts.path())
        .unwrap()
        .lines()
        .count();
    assert_eq!(count, 3, "three start attempts");
}

/// The `userInfo` the server sees for `client` (a `SelfSubjectReview`).
async fn user_info(env: &TestEnv, client: &reqwest::Client) -> serde_json::Value {
    let review = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "SelfSubjectReview",
    });
    let url = format!(
        "{}/apis/authentication.k8s.io/v1/selfsubjectreviews",
        env.server_url()
    );
    let me = support::env::send_json(
        client
            .post(url)
            .header("content-type", "application/json")
            .body(review.to_string()),
    )
    .await;
    me["status"]["userInfo"].clone()
}

#[tokio::test]
async fn issued_client_certificates_authenticate_as_their_user_and_group() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let namespaces = format!("{}/api/v1/namespaces", env.server_url());
    for (user, group, status) in [
        ("issued-admin", Some("system:masters"), 200),
        ("issued-nobody", None, 403),
    ] {
        let (cert_pem, key_pem) = env.issue_client_certificate(user, group).unwrap();
        assert!(!format!("{key_pem:?}").contains("PRIVATE"));
        let client = raw_client(
            env.ca_pem().as_bytes(),
            Auth::ClientCert {
                cert_pem: cert_pem.as_bytes(),
                key_pem: key_pem.expose_secret(),
            },
        );
        let me = user_info(env, &client).await;
        assert_eq!(me["username"], user);
        let groups = me["groups"].as_array().unwrap();
        assert_eq!(
            groups.iter().any(|g| g == "system:masters"),
            group.is_some(),
            "{me}"
        );
        let response = client.get(&namespaces).send().await.unwrap();
        assert_eq!(response.status(), status, "{user}");
    }
}

#[tokio::test]
async fn signed_client_certificates_fit_an_existing_key() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/client-keys");
    for name in ["rsa-pkcs8.key", "ec-pkcs8.key"] {
        let key_pem = std::fs::read_to_string(fixtures.join(name)).unwrap();
        let cert_pem = env
            .sign_client_certificate(&key_pem, name, Some("system:masters"))
            .unwrap();
        let client = raw_client(
            env.ca_pem().as_bytes(),
            Auth::ClientCert {
                cert_pem: cert_pem.as_bytes(),
                key_pem: key_pem.as_bytes(),
            },
        );
        assert_eq!(user_info(env, &client).await["username"], name);
    }
    let err = env
        .sign_client_certificate("not a key", "nobody", None)
        .unwrap_err();
    assert!(
        matches!(
            err,
            TestEnvError::Pki {
                what: "client certificate",
                ..
            }
        ),
        "{err:?}"
    );
}
