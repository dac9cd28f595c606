//! The OIDC auth-provider against a local TLS test issuer, with the kubeconfig on disk.

mod support;

use k8s_client::auth::{AuthError, AuthProvider, CredentialCache, OidcError, provider_for};
use k8s_client::config::AuthConfig;
use std::sync::atomic::Ordering;
use support::auth::TestIssuer;
use support::auth::config_with;
use support::auth::jwt;
use support::auth::oidc_config;
use support::auth::write_kubeconfig;

fn bearer(c: &k8s_client::auth::Credential) -> String {
    c.authorization.as_ref().unwrap().expose_secret().to_owned()
}

fn yaml(path: &std::path::Path) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

async fn issuer(refresh: &str, new_id: &str, new_refresh: Option<&str>) -> TestIssuer {
    let issuer = TestIssuer::start().await;
    *issuer.state.expected_refresh.lock().unwrap() = refresh.to_owned();
    *issuer.state.client.lock().unwrap() = ("kube".to_owned(), "client-secret-value".to_owned());
    *issuer.state.answer.lock().unwrap() = (new_id.to_owned(), new_refresh.map(str::to_owned));
    issuer
}

#[tokio::test]
async fn refreshes_and_writes_back_to_the_kubeconfig() {
    let new_id = jwt(3600, "fresh");
    let issuer = issuer("refresh-one", &new_id, Some("refresh-two")).await;
    let dir = tempfile::tempdir().unwrap();
    let expired = jwt(-60, "expired");
    let ca = issuer.ca_data();
    let entries = [
        ("idp-issuer-url", issuer.url.as_str()),
        ("client-id", "kube"),
        ("client-secret", "client-secret-value"),
        ("id-token", expired.as_str()),
        ("refresh-token", "refresh-one"),
        ("idp-certificate-authority-data", ca.as_str()),
        ("extra-scopes", "groups,email"),
    ];
    let path = write_kubeconfig(dir.path(), &entries);
    let before = yaml(&path);
    let provider = provider_for(&config_with(AuthConfig::AuthProvider(oidc_config(
        &path, &entries,
    ))))
    .unwrap()
    .unwrap();
    let cache = CredentialCache::new(provider);
    let c = cache.get().await.unwrap();
    assert_eq!(bearer(&c), format!("Bearer {new_id}"));
    assert!(c.expires_at.is_some());
    assert_eq!(issuer.state.discovery_hits.load(Ordering::SeqCst), 1);
    assert_eq!(issuer.state.token_hits.load(Ordering::SeqCst), 1);
    assert_eq!(*issuer.state.last_client_auth.lock().unwrap(), "basic");

    // The file: only the two tokens of this user changed.
    let after = yaml(&path);
    let mut expected = before.clone();
    let cfg = &mut expected["users"][1]["user"]["auth-provider"]["config"];
    cfg["id-token"] = new_id.clone().into();
    cfg["refresh-token"] = "refresh-two".into();
    assert_eq!(after, expected);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );

    // The new id-token is used until it nears expiry: no more issuer calls.
    for _ in 0..3 {
        cache.get().await.unwrap();
    }
    assert_eq!(issuer.state.token_hits.load(Ordering::SeqCst), 1);

    // A new process reading the rewritten file starts with the fresh token.
    let entries2: Vec<(String, String)> = after["users"][1]["user"]["auth-provider"]["config"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_owned(),
                v.as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = entries2
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let p2 = k8s_client::auth::OidcProvider::new(&oidc_config(&path, &refs)).unwrap();
    assert_eq!(
        bearer(&p2.fetch().await.unwrap()),
        format!("Bearer {new_id}")
    );
    assert_eq!(issuer.state.token_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn valid_id_token_needs_no_issuer() {
    let issuer = issuer("r", "unused", None).await;
    let dir = tempfile::tempdir().unwrap();
    let valid = jwt(600, "valid");
    let entries = [
        ("idp-issuer-url", issuer.url.as_str()),
        ("client-id", "kube"),
        ("id-token", valid.as_str()),
        ("refresh-token", "r"),
    ];
    let path = write_kubeconfig(dir.path(), &entries);
    let before = std::fs::read(&path).unwrap();
    let p = k8s_client::auth::OidcProvider::new(&oidc_config(&path, &entries)).unwrap();
    assert_eq!(bearer(&p.fetch().await.unwrap()), format!("Bearer {valid}"));
    assert_eq!(issuer.state.discovery_hits.load(Ordering::SeqCst), 0);
    assert_eq!(std::fs::read(&path).unwrap(), before, "file untouched");

    // Within 10 s of exp: refreshed.
    let nearly = jwt(5, "nearly");
    let entries = [
        ("idp-issuer-url", issuer.url.as_str()),
        ("client-id", "kube"),
        ("id-token", nearly.as_str()),
    ];
    let p = k8s_client::auth::OidcProvider::new(&oidc_config(&path, &entries)).unwrap();
    let err = p.fetch().await.unwrap_err();
    assert!(
        matches!(err, AuthError::Oidc(OidcError::NoRefreshToken)),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("No valid id-token, and cannot refresh without refresh-token")
    );
}

#[tokio::test]
async fn falls_back_to_client_credentials_in_the_body() {
    let new_id = jwt(3600, "body");
    let issuer = issuer("refresh-one", &new_id, None).await;
    issuer.state.reject_basic.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("idp-ca.pem");
    std::fs::write(&ca_file, &issuer.ca_pem).unwrap();
    let entries = [
        ("idp-issuer-url", issuer.url.as_str()),
        ("client-id", "kube"),
        ("client-secret", "client-secret-value"),
        ("refresh-token", "refresh-one"),
        ("idp-certificate-authority", ca_file.to_str().unwrap()),
    ];
    let path = write_kubeconfig(dir.path(), &entries);
    let p = k8s_client::auth::OidcProvider::new(&oidc_config(&path, &entries)).unwrap();
    assert_eq!(
        bearer(&p.fetch().await.unwrap()),
        format!("Bearer {new_id}")
    );
    assert_eq!(*issuer.state.last_client_auth.lock().unwrap(), "body");
    let cfg = &yaml(&path)["users"][1]["user"]["auth-provider"]["config"];
    assert_eq!(cfg["id-token"].as_str(), Some(new_id.as_str()));
    assert_eq!(
        cfg["refresh-token"].as_str(),
        Some("refresh-one"),
        "not rotated: kept"
    );
}

#[tokio::test]
async fn never_trusts_an_issuer_outside_the_idp_ca() {
    let issuer = issuer("r", "unused", None).await;
    let other = support::auth::test_pki();
    let dir = tempfile::tempdir().unwrap();
    let wrong_ca =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &other.ca_pem);
    let entries = [
        ("idp-issuer-url", issuer.url.as_str()),
        ("client-id", "kube"),
        ("refresh-token", "r"),
        ("idp-certificate-authority-data", wrong_ca.as_str()),
    ];
    let path = write_kubeconfig(dir.path(), &entries);
    let p = k8s_client::auth::OidcProvider::new(&oidc_config(&path, &entries)).unwrap();
    let err = p.fetch().await.unwrap_err();
    assert!(
        matches!(err, AuthError::Oidc(OidcError::Request { .. })),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("/.well-known/openid-configuration failed"),
        "{err}"
    );
    assert_eq!(issuer.state.discovery_hits.load(Ordering::SeqCst), 0);

    let entries = [
        ("idp-issuer-url", issuer.url.as_str()),
        ("client-id", "kube"),
        ("refresh-token", "r"),
        ("idp-certificate-authority-data", "not base64!"),
    ];
    let p = k8s_client::auth::OidcProvider::new(&oidc_config(&path, &entries)).unwrap();
    let err = p.fetch().await.unwrap_err();
    assert!(
        matches!(err, AuthError::Oidc(OidcError::CaData { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn issuer_rejection_is_an_error() {
    let issuer = issuer("the-right-one", "unused", None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = issuer.ca_data();
    let entries = [
        ("idp-issuer-url", issuer.url.as_str()),
        ("client-id", "kube"),
        ("client-secret", "client-secret-value"),
        ("refresh-token", "a-wrong-one"),
        ("idp-certificate-authority-data", ca.as_str()),
    ];
    let path = write_kubeconfig(dir.path(), &entries);
    let p = k8s_client::auth::OidcProvider::new(&oidc_config(&path, &entries)).unwrap();
    let err = p.fetch().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("oidc auth-provider: {}/token answered HTTP 400", issuer.url)
    );
    assert!(matches!(err, AuthError::Oidc(_)));
}

/// A provider for `issuer` whose id-token has expired, so `fetch` goes to the issuer.
fn refreshing_provider(
    issuer: &TestIssuer,
    dir: &std::path::Path,
) -> k8s_client::auth::OidcProvider {
    let ca = issuer.ca_data();
    let entries = [
        ("idp-issuer-url", issuer.url.as_str()),
        ("client-id", "kube"),
        ("client-secret", "client-secret-value"),
        ("refresh-token", "refresh-one"),
        ("idp-certificate-authority-data", ca.as_str()),
    ];
    let path = write_kubeconfig(dir, &entries);
    k8s_client::auth::OidcProvider::new(&oidc_config(&path, &entries)).unwrap()
}

#[tokio::test]
async fn issuer_redirects_are_not_followed() {
    let issuer = issuer("refresh-one", &jwt(3600, "fresh"), None).await;
    let elsewhere = self::issuer("refresh-one", &jwt(3600, "stolen"), None).await;
    *issuer.state.redirect_token.lock().unwrap() = Some(format!("{}/token", elsewhere.url));
    let dir = tempfile::tempdir().unwrap();
    let err = refreshing_provider(&issuer, dir.path())
        .fetch()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("oidc auth-provider: {}/token answered HTTP 307", issuer.url)
    );
    // Neither the refresh token nor the client secret went to the other host.
    assert_eq!(elsewhere.state.token_hits.load(Ordering::SeqCst), 0);
    assert_eq!(elsewhere.state.discovery_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn issuer_answers_are_read_up_to_a_limit() {
    let fresh = jwt(3600, "fresh");
    let issuer = issuer("refresh-one", &fresh, None).await;
    issuer
        .state
        .discovery_padding
        .store(k8s_client::auth::MAX_ISSUER_RESPONSE + 1, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let err = refreshing_provider(&issuer, dir.path())
        .fetch()
        .await
        .unwrap_err();
    let AuthError::Oidc(OidcError::ResponseTooLarge { url, limit }) = &err else {
        panic!("expected ResponseTooLarge, got {err:?}");
    };
    assert_eq!(
        *url,
        format!("{}/.well-known/openid-configuration", issuer.url)
    );
    assert_eq!(*limit, k8s_client::auth::MAX_ISSUER_RESPONSE);
    assert_eq!(issuer.state.token_hits.load(Ordering::SeqCst), 0);
    // Just under the limit is fine.
    issuer.state.discovery_padding.store(1000, Ordering::SeqCst);
    let credential = refreshing_provider(&issuer, dir.path())
        .fetch()
        .await
        .unwrap();
    assert_eq!(bearer(&credential), format!("Bearer {fresh}"));
}

fn provider_error(config: k8s_client::config::AuthProviderConfig) -> String {
    provider_for(&config_with(AuthConfig::AuthProvider(config)))
        .unwrap_err()
        .to_string()
}

#[test]
fn required_keys_and_removed_providers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    assert_eq!(
        provider_error(oidc_config(&path, &[("client-id", "x")])),
        "oidc auth-provider: Must provide idp-issuer-url"
    );
    assert_eq!(
        provider_error(oidc_config(&path, &[("idp-issuer-url", "https://i")])),
        "oidc auth-provider: Must provide client-id"
    );

    let mut gcp = k8s_client::config::AuthProviderConfig::new("gcp");
    gcp.config
        .push(("access-token".into(), "gcp-secret".into()));
    assert_eq!(
        provider_error(gcp),
        "The gcp auth plugin has been removed.\nPlease use the \"gke-gcloud-auth-plugin\" kubectl/client-go credential plugin instead.\nSee https://cloud.google.com/blog/products/containers-kubernetes/kubectl-auth-changes-in-gke for further details"
    );
    assert_eq!(
        provider_error(k8s_client::config::AuthProviderConfig::new("azure")),
        "The azure auth plugin has been removed.\nPlease use the https://github.com/Azure/kubelogin kubectl/client-go credential plugin instead.\nSee https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins for further details"
    );
    assert_eq!(
        provider_error(k8s_client::config::AuthProviderConfig::new("keystone")),
        r#"no Auth Provider found for name "keystone""#
    );
}

#[tokio::test]
async fn issuer_url_credentials_stay_out_of_debug_errors_and_logs() {
    support::logs::LogBuffer::global();
    let issuer = issuer("r", "unused", None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = issuer.ca_data();
    let with_password = issuer
        .url
        .replace("https://", "https://idp-user:idp-pw-SECRET@");
    // A path the issuer does not serve: discovery answers 404.
    let wrong_path = format!("{with_password}/nowhere");
    let entries = [
        ("idp-issuer-url", wrong_path.as_str()),
        ("client-id", "kube"),
        ("refresh-token", "r"),
        ("idp-certificate-authority-data", ca.as_str()),
    ];
    let path = write_kubeconfig(dir.path(), &entries);
    let p = k8s_client::auth::OidcProvider::new(&oidc_config(&path, &entries)).unwrap();
    let err = p.fetch().await.unwrap_err();
    let mut shown = format!("{p:?}\n{err:?}\n");
    let mut source: Option<&dyn std::error::Error> = Some(&err);
    while let Some(s) = source {
        shown.push_str(&format!("{s}\n"));
        source = s.source();
    }
    assert!(shown.contains("<redacted>@127.0.0.1"), "{shown}");
    assert!(!shown.contains("idp-pw-SECRET"), "{shown}");
    assert!(
        !support::logs::LogBuffer::global()
            .text()
            .contains("idp-pw-SECRET")
    );
}
