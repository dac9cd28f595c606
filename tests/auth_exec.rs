//! The exec credential plugin provider against a real test plugin (a shell script that
//! counts its runs and dumps its input).

mod support;

use k8s_client::auth::{AuthError, CredentialCache, ExecError, ExecProvider, provider_for};
use k8s_client::config::{AuthConfig, ExecClusterInfo, ExecInteractiveMode};
use serde_json::json;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::auth::Plugin;
use support::auth::config_with;
use support::auth::rfc3339;
use support::eventually;

const V1: &str = "client.authentication.k8s.io/v1";
const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

fn cache_for(plugin: &Plugin, config: k8s_client::config::ExecConfig) -> CredentialCache {
    let _ = plugin;
    let provider = provider_for(&config_with(AuthConfig::Exec(config)))
        .unwrap()
        .unwrap();
    CredentialCache::new(provider)
}

/// One plugin run, without a cache.
async fn fetch_once(provider: &ExecProvider) -> Result<k8s_client::auth::Credential, AuthError> {
    k8s_client::auth::AuthProvider::fetch(provider).await
}

#[tokio::test]
async fn v1_token_and_exec_info() {
    let plugin = Plugin::new();
    plugin.respond(V1, json!({"token": "v1-token"}));
    let mut config = plugin.config(V1);
    config.interactive_mode = Some(ExecInteractiveMode::Never);
    config.args = vec!["get-token".into(), "--cluster".into(), "x".into()];
    let cache = cache_for(&plugin, config);
    let c = cache.get().await.unwrap();
    assert_eq!(
        c.authorization.as_ref().unwrap().expose_secret(),
        "Bearer v1-token"
    );
    assert_eq!(c.expires_at, None);
    assert!(c.client_identity.is_none());
    assert_eq!(plugin.runs(), 1);
    assert_eq!(
        plugin.info(),
        json!({"apiVersion": V1, "kind": "ExecCredential", "spec": {"interactive": false}})
    );
    assert_eq!(
        std::fs::read_to_string(plugin.path("args")).unwrap(),
        "get-token\n--cluster\nx\n"
    );
    assert_eq!(
        std::fs::read_to_string(plugin.path("stdin"))
            .unwrap()
            .trim(),
        "/dev/null"
    );
    // No expiry: cached for good.
    cache.get().await.unwrap();
    assert_eq!(plugin.runs(), 1);
}

#[tokio::test]
async fn v1beta1_defaults_to_if_available() {
    let plugin = Plugin::new();
    plugin.respond(V1BETA1, json!({"token": "beta-token"}));
    let cache = cache_for(&plugin, plugin.config(V1BETA1));
    let c = cache.get().await.unwrap();
    assert_eq!(
        c.authorization.as_ref().unwrap().expose_secret(),
        "Bearer beta-token"
    );
    let tty = std::io::stdin().is_terminal();
    assert_eq!(plugin.info()["apiVersion"], V1BETA1);
    assert_eq!(plugin.info()["spec"]["interactive"], tty);
    let stdin = std::fs::read_to_string(plugin.path("stdin")).unwrap();
    assert_eq!(
        stdin.trim() == "/dev/null",
        !tty,
        "stdin attached only when interactive"
    );
}

#[tokio::test]
async fn interactive_always_requires_a_terminal() {
    let plugin = Plugin::new();
    plugin.respond(V1, json!({"token": "t"}));
    let mut config = plugin.config(V1);
    config.interactive_mode = Some(ExecInteractiveMode::Always);
    let provider = ExecProvider::new(config).unwrap();
    let result = fetch_once(&provider).await;
    if std::io::stdin().is_terminal() {
        result.unwrap();
        assert_eq!(plugin.info()["spec"]["interactive"], true);
    } else {
        let err = result.unwrap_err();
        assert!(
            matches!(err, AuthError::Exec(ExecError::Interactive { .. })),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("cannot support interactive mode: standard input is not a terminal")
        );
        assert_eq!(plugin.runs(), 0, "not run at all");
    }
}

#[tokio::test]
async fn client_certificate_status() {
    let plugin = Plugin::new();
    let pki = support::auth::test_pki();
    plugin.respond(
        V1,
        json!({"clientCertificateData": pki.server_cert_pem, "clientKeyData": pki.server_key_pem}),
    );
    let cache = cache_for(&plugin, plugin.config(V1));
    let c = cache.get().await.unwrap();
    assert!(c.authorization.is_none());
    let id = c.client_identity.as_ref().unwrap();
    assert_eq!(id.cert_pem, pki.server_cert_pem.as_bytes());
    assert_eq!(id.key_pem.expose_secret(), pki.server_key_pem.as_bytes());
    assert!(!format!("{c:?}").contains("PRIVATE KEY"));

    plugin.respond(V1, json!({"clientCertificateData": pki.server_cert_pem}));
    let err = ExecProvider::new(plugin.config(V1)).unwrap();
    let err = fetch_once(&err).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("returned only certificate or key, not both"),
        "{err}"
    );
}

#[tokio::test]
async fn expiry_is_honoured_and_reruns() {
    let plugin = Plugin::new();
    // Already expired when it arrives: every get runs the plugin.
    let gone = SystemTime::now() - Duration::from_secs(5);
    plugin.respond(
        V1,
        json!({"token": "short", "expirationTimestamp": rfc3339(gone)}),
    );
    let cache = cache_for(&plugin, plugin.config(V1));
    let c = cache.get().await.unwrap();
    let got = c.expires_at.unwrap();
    let diff = got.duration_since(gone).unwrap_or_else(|e| e.duration());
    assert!(diff < Duration::from_secs(1), "expirationTimestamp parsed");
    cache.get().await.unwrap();
    assert_eq!(plugin.runs(), 2);

    let later = SystemTime::now() + Duration::from_secs(3600);
    plugin.respond(
        V1,
        json!({"token": "long", "expirationTimestamp": rfc3339(later)}),
    );
    let c = cache.get().await.unwrap();
    assert_eq!(
        c.authorization.as_ref().unwrap().expose_secret(),
        "Bearer long"
    );
    assert_eq!(plugin.runs(), 3);
    for _ in 0..5 {
        cache.get().await.unwrap();
    }
    assert_eq!(plugin.runs(), 3, "one run per credential lifetime");

    plugin.respond(V1, json!({"token": "t", "expirationTimestamp": "tomorrow"}));
    let provider = ExecProvider::new(plugin.config(V1)).unwrap();
    let err = fetch_once(&provider).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("expirationTimestamp is not an RFC 3339 time"),
        "{err}"
    );
}

#[tokio::test]
async fn unauthorized_reruns_once() {
    let plugin = Plugin::new();
    plugin.respond(V1, json!({"token": "first"}));
    let cache = cache_for(&plugin, plugin.config(V1));
    let first = cache.get().await.unwrap();
    plugin.respond(V1, json!({"token": "second"}));
    cache.invalidate(&first);
    let second = cache.get().await.unwrap();
    assert_eq!(
        second.authorization.as_ref().unwrap().expose_secret(),
        "Bearer second"
    );
    assert_eq!(plugin.runs(), 2);
    // A late 401 for the old credential does not throw away the new one.
    cache.invalidate(&first);
    cache.get().await.unwrap();
    assert_eq!(plugin.runs(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_run_for_100_concurrent_gets() {
    let plugin = Plugin::new();
    plugin.respond(V1, json!({"token": "shared"}));
    let cache = cache_for(&plugin, plugin.config(V1));
    let barrier = Arc::new(tokio::sync::Barrier::new(100));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (cache, barrier) = (cache.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                cache.get().await.unwrap()
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.push(t.await.unwrap());
    }
    assert_eq!(plugin.runs(), 1, "exactly one plugin run");
    assert!(all.iter().all(|c| Arc::ptr_eq(c, &all[0])));
}

#[tokio::test]
async fn missing_command_shows_install_hint() {
    let plugin = Plugin::new();
    let mut config = plugin.config(V1);
    config.command = plugin.path("no-such-plugin").to_str().unwrap().to_owned();
    config.install_hint = Some("Install it with: brew install no-such-plugin".into());
    let provider = ExecProvider::new(config).unwrap();
    let err = fetch_once(&provider).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, AuthError::Exec(ExecError::NotFound { .. })),
        "{err:?}"
    );
    assert!(
        text.starts_with(&format!(
            "exec: executable {} not found",
            plugin.path("no-such-plugin").display()
        )),
        "{text}"
    );
    assert!(text.contains(
        "It looks like you are trying to use a client-go credential plugin that is not installed."
    ));
    assert!(
        text.ends_with("\n\nInstall it with: brew install no-such-plugin"),
        "{text}"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test]
async fn failure_names_command_and_exit_code_only() {
    let plugin = Plugin::new();
    plugin.set("output", "STDOUT-SECRET-1");
    plugin.set("stderr", "STDERR-SECRET-2");
    plugin.set("exit", "3");
    let mut config = plugin.config(V1);
    config.args = vec!["--password=ARG-SECRET-3".into()];
    config.env.push(("EXTRA".into(), "ENV-SECRET-4".into()));
    let provider = ExecProvider::new(config).unwrap();
    let err = fetch_once(&provider).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "exec: executable {} failed with exit code 3",
            plugin.script.display()
        )
    );
    let mut chain = format!("{err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push_str(&s.to_string());
        source = s.source();
    }
    for secret in [
        "STDOUT-SECRET-1",
        "STDERR-SECRET-2",
        "ARG-SECRET-3",
        "ENV-SECRET-4",
    ] {
        assert!(!chain.contains(secret), "{secret} leaked: {chain}");
        assert!(
            !format!("{provider:?}").contains(secret),
            "{secret} in Debug"
        );
    }
}

#[tokio::test]
async fn bad_output_is_described_not_quoted() {
    let plugin = Plugin::new();
    plugin.set("output", r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":42}}"#);
    let provider = ExecProvider::new(plugin.config(V1)).unwrap();
    let err = fetch_once(&provider).await.unwrap_err();
    assert!(
        err.to_string().ends_with("status.token has the wrong type"),
        "{err}"
    );
    assert!(!err.to_string().contains("42"));
    plugin.respond(V1BETA1, json!({"token": "x"}));
    let err = fetch_once(&provider).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("configured to use API version client.authentication.k8s.io/v1,"),
        "{err}"
    );
}

#[test]
fn v1alpha1_is_rejected_like_kubectl() {
    let plugin = Plugin::new();
    let config = config_with(AuthConfig::Exec(
        plugin.config("client.authentication.k8s.io/v1alpha1"),
    ));
    let err = provider_for(&config).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"exec plugin: invalid apiVersion "client.authentication.k8s.io/v1alpha1""#
    );
}

#[tokio::test]
async fn cluster_info_when_provided() {
    let plugin = Plugin::new();
    plugin.respond(V1, json!({"token": "t"}));
    let mut cluster = ExecClusterInfo::default();
    cluster.server = "https://10.1.2.3:6443".into();
    cluster.tls_server_name = Some("kubernetes.internal".into());
    cluster.insecure_skip_tls_verify = true;
    cluster.certificate_authority_data = Some(b"-----BEGIN CERTIFICATE-----\n".to_vec());
    cluster.proxy_url = Some("socks5://127.0.0.1:1080".into());
    cluster.disable_compression = true;
    cluster.config = Some(json!({"audience": "sts", "nested": {"n": 1}}));
    let mut config = plugin.config(V1);
    config.interactive_mode = Some(ExecInteractiveMode::Never);
    config.cluster = Some(cluster);

    // Not passed unless provideClusterInfo is set.
    cache_for(&plugin, config.clone()).get().await.unwrap();
    assert!(plugin.info()["spec"].get("cluster").is_none());

    config.provide_cluster_info = true;
    cache_for(&plugin, config).get().await.unwrap();
    assert_eq!(
        plugin.info(),
        json!({
            "apiVersion": V1,
            "kind": "ExecCredential",
            "spec": {
                "interactive": false,
                "cluster": {
                    "server": "https://10.1.2.3:6443",
                    "tls-server-name": "kubernetes.internal",
                    "insecure-skip-tls-verify": true,
                    "certificate-authority-data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==",
                    "proxy-url": "socks5://127.0.0.1:1080",
                    "disable-compression": true,
                    "config": {"audience": "sts", "nested": {"n": 1}}
                }
            }
        })
    );
}

#[tokio::test]
async fn timeout_kills_the_plugin() {
    let plugin = Plugin::new();
    plugin.set("sleep", "60");
    let mut config = plugin.config(V1);
    config.interactive_mode = Some(ExecInteractiveMode::Never);
    let provider = ExecProvider::new(config)
        .unwrap()
        .with_timeout(Some(Duration::from_millis(500)));
    let err = fetch_once(&provider).await.unwrap_err();
    assert!(
        matches!(err, AuthError::Exec(ExecError::Timeout { .. })),
        "{err:?}"
    );
    let pid = std::fs::read_to_string(plugin.path("pid"))
        .unwrap()
        .trim()
        .to_owned();
    eventually(
        "the timed-out plugin to be gone",
        Duration::from_secs(20),
        || match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z'),
        },
    )
    .await;
}
