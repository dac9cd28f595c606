//! Runs every provider's success and failure paths with `tracing` at TRACE captured into
//! a buffer, and asserts that no fixture secret appears in the logs, in any `Debug`
//! output, or in any error message (with its whole source chain).

mod support;

use k8s_client::auth::{AuthProvider, CredentialCache, TokenFile, provider_for};
use k8s_client::config::{AuthConfig, ExecInteractiveMode};
use serde_json::json;
use support::auth::Plugin;
use support::auth::TestIssuer;
use support::auth::config_with;
use support::auth::jwt;
use support::auth::oidc_config;
use support::auth::write_kubeconfig;
use support::logs::LeakCheck;
use support::logs::LogBuffer;

const V1: &str = "client.authentication.k8s.io/v1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fixture_secret_in_logs_debug_or_errors() {
    LogBuffer::global();
    let mut seen = LeakCheck::new(
        [
            "static-SECRET-token",
            "basic-SECRET-password",
            "file-SECRET-token",
            "exec-SECRET-token",
            "exec-SECRET-arg",
            "exec-SECRET-env",
            "exec-SECRET-stdout",
            "oidc-SECRET-client",
            "oidc-SECRET-refresh-1",
            "oidc-SECRET-refresh-2",
        ]
        .map(String::from),
    );

    // Static token and basic auth.
    for auth in [
        AuthConfig::Token("static-SECRET-token".into()),
        AuthConfig::Basic {
            username: "admin".into(),
            password: "basic-SECRET-password".into(),
        },
    ] {
        let config = config_with(auth);
        seen.show(&config);
        let p = provider_for(&config).unwrap().unwrap();
        seen.show(&p);
        let cache = CredentialCache::new(p);
        seen.show(&cache.get().await.unwrap());
        seen.show(&cache);
    }

    // Token file: good read, then failed re-reads (warning logged), then no-token errors.
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token");
    std::fs::write(&token_path, "file-SECRET-token").unwrap();
    let tf = TokenFile::new(&token_path);
    seen.show(&tf.fetch().await.unwrap());
    std::fs::remove_file(&token_path).unwrap();
    seen.show(&tf.fetch().await.unwrap());
    seen.show(&tf);
    seen.error(&TokenFile::new(&token_path).fetch().await.unwrap_err());

    // Exec: success with token and cert/key, failure with secrets everywhere.
    let plugin = Plugin::new();
    plugin.respond(V1, json!({"token": "exec-SECRET-token"}));
    let mut exec = plugin.config(V1);
    exec.interactive_mode = Some(ExecInteractiveMode::Never);
    exec.args = vec!["--secret=exec-SECRET-arg".into()];
    exec.env.push(("TOKEN".into(), "exec-SECRET-env".into()));
    let config = config_with(AuthConfig::Exec(exec.clone()));
    seen.show(&config);
    let p = provider_for(&config).unwrap().unwrap();
    seen.show(&p);
    seen.show(&p.fetch().await.unwrap());
    let pki = support::auth::test_pki();
    seen.secret(pki.server_key_pem.lines().nth(1).unwrap());
    plugin.respond(
        V1,
        json!({"clientCertificateData": pki.server_cert_pem, "clientKeyData": pki.server_key_pem}),
    );
    seen.show(&p.fetch().await.unwrap());
    plugin.set("output", "exec-SECRET-stdout");
    seen.error(&p.fetch().await.unwrap_err());
    plugin.set("exit", "7");
    seen.error(&p.fetch().await.unwrap_err());
    let mut missing = exec.clone();
    missing.command = plugin.path("missing").to_str().unwrap().to_owned();
    seen.error(
        &provider_for(&config_with(AuthConfig::Exec(missing)))
            .unwrap()
            .unwrap()
            .fetch()
            .await
            .unwrap_err(),
    );

    // OIDC: a refresh through the TLS test issuer (tokens in the kubeconfig and on the wire).
    let old_id = jwt(-60, "old-SECRET");
    let new_id = jwt(3600, "new-SECRET");
    seen.secret(&old_id);
    seen.secret(&new_id);
    seen.secret(old_id.split('.').nth(1).unwrap());
    seen.secret(new_id.split('.').nth(1).unwrap());
    let issuer = TestIssuer::start().await;
    *issuer.state.expected_refresh.lock().unwrap() = "oidc-SECRET-refresh-1".into();
    *issuer.state.client.lock().unwrap() = ("kube".into(), "oidc-SECRET-client".into());
    *issuer.state.answer.lock().unwrap() = (new_id.clone(), Some("oidc-SECRET-refresh-2".into()));
    let ca = issuer.ca_data();
    let entries = [
        ("idp-issuer-url", issuer.url.as_str()),
        ("client-id", "kube"),
        ("client-secret", "oidc-SECRET-client"),
        ("id-token", old_id.as_str()),
        ("refresh-token", "oidc-SECRET-refresh-1"),
        ("idp-certificate-authority-data", ca.as_str()),
    ];
    let path = write_kubeconfig(dir.path(), &entries);
    let config = config_with(AuthConfig::AuthProvider(oidc_config(&path, &entries)));
    seen.show(&config);
    let p = provider_for(&config).unwrap().unwrap();
    seen.show(&p);
    seen.show(&p.fetch().await.unwrap());
    seen.show(&p);
    // A failing refresh (the old refresh token is no longer accepted).
    let p = provider_for(&config).unwrap().unwrap();
    *issuer.state.expected_refresh.lock().unwrap() = "something-else".into();
    seen.error(&p.fetch().await.unwrap_err());
    let mut gcp = k8s_client::config::AuthProviderConfig::new("gcp");
    gcp.config
        .push(("access-token".into(), "static-SECRET-token".into()));
    seen.error(&provider_for(&config_with(AuthConfig::AuthProvider(gcp))).unwrap_err());

    // The capture works and saw the interesting paths.
    assert!(seen.shown().contains("exit code 7"));
    seen.finish(&[
        "keeping the previous token",
        "running exec credential plugin",
        "refreshing the OIDC id-token",
        "TRACE",
    ]);
}
