//! Every built-in auth provider against a real kube-apiserver (testenv): static token,
//! token file rotated during the test, exec plugins (token and client certificate),
//! client certificates from a kubeconfig with RSA and EC keys, basic auth, and the typed
//! 401 and 403 errors.
//!
//! Every test logs at TRACE into one process-wide buffer and ends with a [`LeakCheck`]:
//! none of its secrets (nor testenv's tokens and key) may appear in the captured logs or
//! in the Debug and Display output of its configs, clients and errors.
#![cfg(feature = "testenv")]

mod support;

use support::env::admin_client as admin;

use k8s_client::config::{AuthConfig, ExecInteractiveMode, PemSource};
use k8s_client::testenv::{NOPERM_USER, TOKEN_USER, TestEnv};
use k8s_client::{Client, Config, Error, SecretString};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::auth::Plugin;
use support::auth::direct_client;
use support::auth::jwt_claim;
use support::auth::key_fixture;
use support::auth::rfc3339;
use support::env::testenv_secrets;
use support::kubeconfig_config;
use support::logs::LeakCheck;
use support::logs::LogBuffer;
use support::requests::create;
use support::requests::get;
use support::requests::request_token;
use support::requests::whoami;

const V1: &str = "client.authentication.k8s.io/v1";
const DEADLINE: Duration = Duration::from_secs(60);

/// The shared control plane, with the log capture installed before anything logs.
/// What the client logs at TRACE for every request (proof that the capture works).
const CLIENT_LOGS: &[&str] = &["sending request"];

fn setup() -> Option<(&'static TestEnv, LeakCheck)> {
    LogBuffer::global();
    let env = support::env::control_plane()?;
    Some((env, LeakCheck::new(testenv_secrets(env))))
}

/// The environment's server and CA with `auth`.
fn with_auth(env: &TestEnv, auth: AuthConfig) -> Config {
    let mut config = Config::new(env.server_url().parse().unwrap());
    config.tls.ca = Some(PemSource::File(env.ca_path().to_owned()));
    config.auth = auth;
    config
}

async fn list_namespaces(client: &Client) -> Result<Value, Error> {
    let list: Value = client.request(get("/api/v1/namespaces")).await?;
    assert_eq!(list["kind"], "NamespaceList");
    Ok(list)
}

fn status_of(err: &Error) -> &k8s_client::error::Status {
    err.api()
        .and_then(|api| api.status.as_ref())
        .unwrap_or_else(|| panic!("an API error with a Status, got {err:?}"))
}

/// A time `secs` from now, whole seconds (as Kubernetes writes timestamps).
fn in_secs(secs: u64) -> SystemTime {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    UNIX_EPOCH + Duration::from_secs(now.as_secs() + secs)
}

/// kubectl's stderr for `kubectl --kubeconfig <kubeconfig> get --raw <path>`, which
/// must fail (kubectl is the reference for what the server's answer means).
async fn kubectl_error(kubeconfig: &Path, path: &str) -> String {
    let output = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["get", "--raw", path])
        .env_remove("KUBECONFIG")
        .output()
        .await
        .expect("running kubectl");
    assert!(
        !output.status.success(),
        "kubectl get --raw {path} succeeded"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes `contents` to a temporary file beside `path` and renames it into place, as
/// the kubelet updates projected tokens.
fn replace_file(path: &Path, contents: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn static_token_lists_namespaces() {
    let Some((env, mut leaks)) = setup() else {
        return;
    };
    let config = kubeconfig_config(env.token_kubeconfig(), |_| {});
    assert!(matches!(config.auth, AuthConfig::Token(_)), "{config:?}");
    let c = direct_client(config.clone());
    let list = list_namespaces(&c).await.unwrap();
    let names: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ns| ns["metadata"]["name"].clone())
        .collect();
    assert!(names.contains(&json!("default")), "{names:?}");
    assert_eq!(whoami(&c).await.unwrap()["username"], TOKEN_USER);
    leaks.show(&config);
    leaks.show(&c);
    leaks.finish(CLIENT_LOGS);
}

#[tokio::test]
async fn token_without_rights_gets_a_typed_403() {
    let Some((env, mut leaks)) = setup() else {
        return;
    };
    let c = direct_client(kubeconfig_config(env.noperm_kubeconfig(), |_| {}));
    // Authenticated: the server knows who this is.
    assert_eq!(whoami(&c).await.unwrap()["username"], NOPERM_USER);
    let err = list_namespaces(&c).await.unwrap_err();
    assert!(err.is_forbidden(), "{err:?}");
    assert!(!err.is_unauthorized());
    assert_eq!(err.code(), Some(403));
    assert_eq!(err.reason(), Some("Forbidden"));
    let status = status_of(&err);
    assert_eq!(status.code, Some(403));
    assert_eq!(status.status.as_deref(), Some("Failure"));
    let message = status.message.as_deref().unwrap();
    assert!(
        message.contains(&format!(
            "User \"{NOPERM_USER}\" cannot list resource \"namespaces\""
        )),
        "{message}"
    );
    let api = err.api().unwrap();
    assert_eq!(api.method, http::Method::GET);
    assert_eq!(api.url, format!("{}/api/v1/namespaces", env.server_url()));
    let shown = err.to_string();
    assert!(shown.contains("403 Forbidden"), "{shown}");
    assert!(shown.contains(message), "{shown}");
    let theirs = kubectl_error(env.noperm_kubeconfig(), "/api/v1/namespaces").await;
    assert!(theirs.contains(message), "kubectl: {theirs}");
    leaks.error(&err);
    leaks.finish(CLIENT_LOGS);
}

#[tokio::test]
async fn wrong_token_gets_a_typed_401() {
    let Some((env, mut leaks)) = setup() else {
        return;
    };
    let wrong = "wrong-SECRET-token-0123456789";
    leaks.secret(wrong);
    // `--token` on top of the token kubeconfig.
    let config = kubeconfig_config(env.token_kubeconfig(), |o| {
        o.token = Some(SecretString::from(wrong));
    });
    let c = direct_client(config.clone());
    let err = list_namespaces(&c).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    assert_eq!(err.code(), Some(401));
    assert_eq!(err.reason(), Some("Unauthorized"));
    let status = status_of(&err);
    assert_eq!(status.code, Some(401));
    assert_eq!(status.message.as_deref(), Some("Unauthorized"));
    assert!(err.to_string().contains("401 Unauthorized"), "{err}");
    leaks.show(&config);
    leaks.show(&c);
    leaks.error(&err);
    leaks.finish(CLIENT_LOGS);
}

/// Modern API servers have no basic-auth authenticator (removed in 1.19): the header is
/// ignored and the request is anonymous. With anonymous requests allowed (the default,
/// and testenv's) that is a 403 for `system:anonymous`, as kubectl shows for the same
/// kubeconfig; with `--anonymous-auth=false` it would be a 401. Either way the client
/// returns a typed error carrying the server's Status.
#[tokio::test]
async fn basic_auth_is_not_accepted_by_a_modern_apiserver() {
    let Some((env, mut leaks)) = setup() else {
        return;
    };
    let password = "basic-SECRET-password-42";
    leaks.secret(password);
    {
        use base64::Engine;
        let header = base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"));
        leaks.secret(&header);
    }
    // The token kubeconfig with the user's token replaced by a username and password.
    let mut doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_slice(&std::fs::read(env.token_kubeconfig()).unwrap()).unwrap();
    doc["users"][0]["user"] =
        serde_yaml_ng::to_value(json!({"username": "admin", "password": password})).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("basic.kubeconfig");
    std::fs::write(&path, serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
    let config = kubeconfig_config(&path, |_| {});
    assert!(
        matches!(config.auth, AuthConfig::Basic { .. }),
        "{config:?}"
    );
    let c = direct_client(config.clone());
    let err = list_namespaces(&c).await.unwrap_err();
    assert!(err.is_forbidden(), "{err:?}");
    assert_eq!(err.reason(), Some("Forbidden"));
    let status = status_of(&err);
    assert_eq!(status.code, Some(403));
    let message = status.message.as_deref().unwrap();
    assert!(
        message.contains("User \"system:anonymous\" cannot list resource \"namespaces\""),
        "{message}"
    );
    let theirs = kubectl_error(&path, "/api/v1/namespaces").await;
    assert!(
        theirs.contains("(Forbidden)") && theirs.contains(message),
        "kubectl: {theirs}"
    );
    leaks.show(&config);
    leaks.show(&c);
    leaks.error(&err);
    leaks.finish(CLIENT_LOGS);
}

/// How often the client logged a 401 retry for a `token-file` credential.
fn token_file_401_retries() -> usize {
    LogBuffer::global()
        .text()
        .lines()
        .filter(|l| l.contains("401 Unauthorized") && l.contains("token-file"))
        .count()
}

#[tokio::test]
async fn token_file_rotated_during_the_test() {
    let Some((env, mut leaks)) = setup() else {
        return;
    };
    let admin = admin(env);
    let ns = support::env::unique_namespace(env, "token-file").await;
    create(
        &admin,
        &format!("/api/v1/namespaces/{ns}/serviceaccounts"),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "rotating"}}),
    )
    .await;
    let secrets = format!("/api/v1/namespaces/{ns}/secrets");
    let secret =
        |name: &str| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}});
    let bound_a = create(&admin, &secrets, secret("bound-a")).await;
    let bound_b = create(&admin, &secrets, secret("bound-b")).await;
    let token_a = request_token(&admin, &ns, "rotating", Some(&bound_a)).await;
    let token_b = request_token(&admin, &ns, "rotating", Some(&bound_b)).await;
    leaks.secret(token_a.expose_secret());
    leaks.secret(token_b.expose_secret());
    // The server reports which token authenticated a request as the credential id.
    let credential_id = |token: &SecretString| {
        json!(format!(
            "JTI={}",
            jwt_claim(token.expose_secret(), "jti").as_str().unwrap()
        ))
    };
    let (id_a, id_b) = (credential_id(&token_a), credential_id(&token_b));
    assert_ne!(id_a, id_b);
    let used =
        |user: &Value| user["extra"]["authentication.kubernetes.io/credential-id"][0].clone();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    replace_file(&path, token_a.expose_secret());
    let config = with_auth(env, AuthConfig::TokenFile(path.clone()));
    let c = direct_client(config.clone());
    let user = whoami(&c).await.unwrap();
    assert_eq!(
        user["username"],
        format!("system:serviceaccount:{ns}:rotating")
    );
    assert_eq!(used(&user), id_a, "{user}");

    // Token B on disk. The client keeps A (the file is read about once a minute) as
    // long as the server accepts it.
    replace_file(&path, token_b.expose_secret());
    assert_eq!(used(&whoami(&c).await.unwrap()), id_a);

    // Deleting A's Secret makes the server reject A (once its token cache lets go).
    let del = http::Request::delete(format!("{secrets}/bound-a"))
        .body(Vec::new())
        .unwrap();
    let _: Value = admin.request(del).await.unwrap();
    let only_a = direct_client(with_auth(env, AuthConfig::Token(token_a.clone())));
    let deadline = Instant::now() + DEADLINE;
    loop {
        match whoami(&only_a).await {
            Err(e) if e.is_unauthorized() => break,
            Ok(_) => {}
            Err(e) => panic!("unexpected error while waiting for A's rejection: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "the server kept accepting token A"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The client's next request is answered 401, the file is read again, the request is
    // retried once with B and succeeds.
    let retries = token_file_401_retries();
    let user = whoami(&c).await.unwrap();
    assert_eq!(used(&user), id_b, "{user}");
    assert_eq!(
        token_file_401_retries(),
        retries + 1,
        "exactly one 401 retry"
    );
    assert_eq!(used(&whoami(&c).await.unwrap()), id_b);
    assert_eq!(token_file_401_retries(), retries + 1);
    leaks.show(&config);
    leaks.show(&c);
    leaks.finish(CLIENT_LOGS);
}

/// A config running `plugin` (never interactive) against the environment.
fn exec_config(env: &TestEnv, plugin: &Plugin) -> Config {
    let mut exec = plugin.config(V1);
    exec.interactive_mode = Some(ExecInteractiveMode::Never);
    with_auth(env, AuthConfig::Exec(exec))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_plugin_runs_once_for_100_concurrent_requests() {
    let Some((env, mut leaks)) = setup() else {
        return;
    };
    let plugin = Plugin::new();
    plugin.respond(V1, json!({"token": env.admin_token().expose_secret()}));
    let config = exec_config(env, &plugin);
    let c = direct_client(config.clone());
    let start = Arc::new(tokio::sync::Barrier::new(100));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (c, start) = (c.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                list_namespaces(&c).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(plugin.runs(), 1, "one plugin run for 100 requests");
    assert_eq!(whoami(&c).await.unwrap()["username"], TOKEN_USER);
    assert_eq!(plugin.runs(), 1);
    leaks.show(&config);
    leaks.show(&c);
    leaks.finish(CLIENT_LOGS);
}

#[tokio::test]
async fn exec_plugin_runs_again_after_the_refresh_point() {
    let Some((env, mut leaks)) = setup() else {
        return;
    };
    let token = env.admin_token().expose_secret();
    let expires = in_secs(15);
    let plugin = Plugin::new();
    plugin.respond(
        V1,
        json!({"token": token, "expirationTimestamp": rfc3339(expires)}),
    );
    plugin.respond_next(
        V1,
        json!({"token": token, "expirationTimestamp": rfc3339(in_secs(3600))}),
    );
    let config = exec_config(env, &plugin);
    let c = direct_client(config.clone());
    list_namespaces(&c).await.unwrap();
    assert_eq!(plugin.runs(), 1);
    // The cache refreshes 10 s before expiry: from then on the next request runs the
    // plugin again, never before.
    let refresh_point = expires - Duration::from_secs(10);
    let deadline = Instant::now() + DEADLINE;
    loop {
        list_namespaces(&c).await.unwrap();
        match plugin.runs() {
            1 => assert!(Instant::now() < deadline, "the plugin never ran again"),
            2 => {
                assert!(
                    SystemTime::now() >= refresh_point,
                    "ran again before the refresh point"
                );
                break;
            }
            n => panic!("{n} plugin runs"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The new credential lasts an hour.
    for _ in 0..3 {
        list_namespaces(&c).await.unwrap();
    }
    assert_eq!(plugin.runs(), 2);
    leaks.show(&config);
    leaks.show(&c);
    leaks.finish(CLIENT_LOGS);
}

#[tokio::test]
async fn exec_plugin_runs_once_more_after_a_401() {
    let Some((env, mut leaks)) = setup() else {
        return;
    };
    let wrong = "exec-wrong-SECRET-token-987";
    leaks.secret(wrong);
    let plugin = Plugin::new();
    plugin.respond(V1, json!({"token": wrong}));
    plugin.respond_next(V1, json!({"token": env.admin_token().expose_secret()}));
    let c = direct_client(exec_config(env, &plugin));
    list_namespaces(&c).await.unwrap();
    assert_eq!(plugin.runs(), 2, "the 401 caused exactly one more run");
    list_namespaces(&c).await.unwrap();
    assert_eq!(plugin.runs(), 2);

    // A plugin that keeps handing out a rejected token: one more run, then the 401.
    let stuck = Plugin::new();
    stuck.respond(V1, json!({"token": wrong}));
    let c = direct_client(exec_config(env, &stuck));
    let err = list_namespaces(&c).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    assert_eq!(stuck.runs(), 2);
    leaks.error(&err);
    leaks.finish(CLIENT_LOGS);
}

#[tokio::test]
async fn exec_plugin_client_certificate_authenticates_and_rotates() {
    let Some((env, mut leaks)) = setup() else {
        return;
    };
    let (next_cert, next_key) = env
        .issue_client_certificate("exec-rotated", Some("system:masters"))
        .unwrap();
    leaks.key_pem(next_key.expose_secret());
    let next_key = String::from_utf8(next_key.expose_secret().to_vec()).unwrap();
    let admin_key = String::from_utf8(env.admin_key_pem().expose_secret().to_vec()).unwrap();
    let plugin = Plugin::new();
    plugin.respond(
        V1,
        json!({
            "clientCertificateData": env.admin_cert_pem(),
            "clientKeyData": admin_key,
            "expirationTimestamp": rfc3339(in_secs(12)),
        }),
    );
    plugin.respond_next(
        V1,
        json!({
            "clientCertificateData": next_cert,
            "clientKeyData": next_key,
            "expirationTimestamp": rfc3339(in_secs(3600)),
        }),
    );
    let config = exec_config(env, &plugin);
    let c = direct_client(config.clone());
    let user = whoami(&c).await.unwrap();
    assert_eq!(user["username"], "admin");
    assert!(
        user["groups"]
            .as_array()
            .unwrap()
            .contains(&json!("system:masters")),
        "{user}"
    );
    assert_eq!(plugin.runs(), 1);
    // Past the refresh point the plugin hands out the next certificate, and the client
    // presents it on new connections.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let user = whoami(&c).await.unwrap();
        if user["username"] == "exec-rotated" {
            break;
        }
        assert_eq!(user["username"], "admin");
        assert!(
            Instant::now() < deadline,
            "the rotated certificate was never used"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(plugin.runs(), 2);
    // Every later request, however many at once, presents the new certificate.
    let later = futures_util::future::join_all((0..10).map(|_| whoami(&c))).await;
    for user in later {
        assert_eq!(user.unwrap()["username"], "exec-rotated");
    }
    list_namespaces(&c).await.unwrap();
    assert_eq!(plugin.runs(), 2);
    leaks.show(&config);
    leaks.show(&c);
    leaks.finish(CLIENT_LOGS);
}

#[tokio::test]
async fn client_certificates_from_kubeconfig_with_rsa_and_ec_keys() {
    let Some((env, mut leaks)) = setup() else {
        return;
    };
    // EC P-256 (PKCS#8), inline data: testenv's admin kubeconfig.
    let config = kubeconfig_config(env.admin_kubeconfig(), |_| {});
    assert!(config.tls.client_certificate.is_some());
    let user = whoami(&direct_client(config)).await.unwrap();
    assert_eq!(user["username"], "admin");

    // RSA (PKCS#1) and EC (SEC1) keys in files named relative to the kubeconfig.
    let dir = tempfile::tempdir().unwrap();
    for (name, key, same_key_pkcs8) in [
        ("rsa", "rsa-pkcs1.key", "rsa-pkcs8.key"),
        ("ec", "ec-sec1.key", "ec-pkcs8.key"),
    ] {
        let user = format!("cert-{name}");
        let cert = env
            .sign_client_certificate(&key_fixture(same_key_pkcs8), &user, Some("system:masters"))
            .unwrap();
        std::fs::write(dir.path().join(format!("{name}.crt")), cert).unwrap();
        std::fs::write(dir.path().join(format!("{name}.key")), key_fixture(key)).unwrap();
        leaks.key_pem(key_fixture(key).as_bytes());
        leaks.key_pem(key_fixture(same_key_pkcs8).as_bytes());
    }
    let user = |name: &str| {
        json!({"name": name, "user": {
            "client-certificate": format!("{name}.crt"),
            "client-key": format!("{name}.key"),
        }})
    };
    let context =
        |name: &str| json!({"name": name, "context": {"cluster": "testenv", "user": name}});
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testenv", "cluster": {
            "server": env.server_url(),
            "certificate-authority": env.ca_path(),
        }}],
        "users": [user("rsa"), user("ec")],
        "contexts": [context("rsa"), context("ec")],
        "current-context": "rsa",
    });
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, serde_yaml_ng::to_string(&kubeconfig).unwrap()).unwrap();
    for name in ["rsa", "ec"] {
        let config = kubeconfig_config(&path, |o| o.context = Some(name.to_owned()));
        let c = direct_client(config.clone());
        let user = whoami(&c).await.unwrap();
        assert_eq!(user["username"], format!("cert-{name}"), "{name}: {user}");
        list_namespaces(&c).await.unwrap();
        leaks.show(&config);
        leaks.show(&c);
    }
    leaks.finish(CLIENT_LOGS);
}
