//! Runs every provider's success and failure paths with `tracing` at TRACE captured into
//! a buffer, and asserts that no fixture secret appears in the logs, in any `Debug`
//! output, or in any error message (with its whole source chain).

mod support;

use k8s_client::auth::{AuthError, AuthProvider, CredentialCache, TokenFile, provider_for};
use k8s_client::config::{AuthConfig, ExecInteractiveMode};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use support::{Plugin, TestIssuer, config_with, jwt, oidc_config, write_kubeconfig};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Default)]
struct Seen(String);

impl Seen {
    fn debug(&mut self, v: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{v:?}\n{v:#?}\n"));
    }
    fn error(&mut self, e: &AuthError) {
        self.debug(e);
        self.0.push_str(&format!("{e}\n"));
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            self.0.push_str(&format!("{s}\n{s:?}\n"));
            source = s.source();
        }
    }
}

const V1: &str = "client.authentication.k8s.io/v1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fixture_secret_in_logs_debug_or_errors() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let mut seen = Seen::default();
    let mut secrets: Vec<String> = vec![
        "static-SECRET-token".into(),
        "basic-SECRET-password".into(),
        "file-SECRET-token".into(),
        "exec-SECRET-token".into(),
        "exec-SECRET-arg".into(),
        "exec-SECRET-env".into(),
        "exec-SECRET-stdout".into(),
        "oidc-SECRET-client".into(),
        "oidc-SECRET-refresh-1".into(),
        "oidc-SECRET-refresh-2".into(),
    ];

    // Static token and basic auth.
    for auth in [
        AuthConfig::Token("static-SECRET-token".into()),
        AuthConfig::Basic {
            username: "admin".into(),
            password: "basic-SECRET-password".into(),
        },
    ] {
        let config = config_with(auth);
        seen.debug(&config);
        let p = provider_for(&config).unwrap().unwrap();
        seen.debug(&p);
        let cache = CredentialCache::new(p);
        seen.debug(&cache.get().await.unwrap());
        seen.debug(&cache);
    }

    // Token file: good read, then failed re-reads (warning logged), then no-token errors.
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token");
    std::fs::write(&token_path, "file-SECRET-token").unwrap();
    let tf = TokenFile::new(&token_path);
    seen.debug(&tf.fetch().await.unwrap());
    std::fs::remove_file(&token_path).unwrap();
    seen.debug(&tf.fetch().await.unwrap());
    seen.debug(&tf);
    seen.error(&TokenFile::new(&token_path).fetch().await.unwrap_err());

    // Exec: success with token and cert/key, failure with secrets everywhere.
    let plugin = Plugin::new();
    plugin.respond(V1, json!({"token": "exec-SECRET-token"}));
    let mut exec = plugin.config(V1);
    exec.interactive_mode = Some(ExecInteractiveMode::Never);
    exec.args = vec!["--secret=exec-SECRET-arg".into()];
    exec.env.push(("TOKEN".into(), "exec-SECRET-env".into()));
    let config = config_with(AuthConfig::Exec(exec.clone()));
    seen.debug(&config);
    let p = provider_for(&config).unwrap().unwrap();
    seen.debug(&p);
    seen.debug(&p.fetch().await.unwrap());
    let pki = support::test_pki();
    secrets.push(pki.server_key_pem.lines().nth(1).unwrap().to_owned());
    plugin.respond(
        V1,
        json!({"clientCertificateData": pki.server_cert_pem, "clientKeyData": pki.server_key_pem}),
    );
    seen.debug(&p.fetch().await.unwrap());
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
    secrets.push(old_id.clone());
    secrets.push(new_id.clone());
    secrets.push(old_id.split('.').nth(1).unwrap().to_owned());
    secrets.push(new_id.split('.').nth(1).unwrap().to_owned());
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
    seen.debug(&config);
    let p = provider_for(&config).unwrap().unwrap();
    seen.debug(&p);
    seen.debug(&p.fetch().await.unwrap());
    seen.debug(&p);
    // A failing refresh (the old refresh token is no longer accepted).
    let p = provider_for(&config).unwrap().unwrap();
    *issuer.state.expected_refresh.lock().unwrap() = "something-else".into();
    seen.error(&p.fetch().await.unwrap_err());
    let mut gcp = k8s_client::config::AuthProviderConfig::new("gcp");
    gcp.config
        .push(("access-token".into(), "static-SECRET-token".into()));
    seen.error(&provider_for(&config_with(AuthConfig::AuthProvider(gcp))).unwrap_err());

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    // The capture works and saw the interesting paths.
    assert!(logs.contains("keeping the previous token"), "{logs}");
    assert!(logs.contains("running exec credential plugin"), "{logs}");
    assert!(logs.contains("refreshing the OIDC id-token"), "{logs}");
    assert!(logs.contains("TRACE"), "TRACE level captured");
    assert!(seen.0.contains("exit code 7"));
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "{secret} in logs");
        assert!(
            !seen.0.contains(secret.as_str()),
            "{secret} in Debug or errors:\n{}",
            seen.0
        );
    }
}
