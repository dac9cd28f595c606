//! The token file provider: rotation, re-read after 401, keep-old-on-failure.

mod support;

use k8s_client::auth::{AuthError, AuthProvider, CredentialCache, TokenFile, provider_for};
use k8s_client::config::AuthConfig;
use std::time::{Duration, SystemTime};
use support::auth::config_with;

fn bearer(c: &k8s_client::auth::Credential) -> &str {
    c.authorization.as_ref().unwrap().expose_secret()
}

#[tokio::test]
async fn rotation_is_picked_up_after_401_and_on_reread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "token-one\n").unwrap();
    let provider = provider_for(&config_with(AuthConfig::TokenFile(path.clone())))
        .unwrap()
        .unwrap();
    assert_eq!(provider.name(), "token-file");
    let cache = CredentialCache::new(provider.clone());
    let first = cache.get().await.unwrap();
    assert_eq!(
        bearer(&first),
        "Bearer token-one",
        "trailing newline trimmed"
    );
    // Re-read about every minute: the credential expires ~70 s out, the cache refreshes 10 s early.
    let expires = first.expires_at.unwrap();
    assert!(expires > SystemTime::now() + Duration::from_secs(55));
    assert!(expires < SystemTime::now() + Duration::from_secs(75));

    std::fs::write(&path, "token-two").unwrap();
    assert_eq!(
        bearer(&cache.get().await.unwrap()),
        "Bearer token-one",
        "cached until expiry"
    );
    cache.invalidate(&first);
    assert_eq!(
        bearer(&cache.get().await.unwrap()),
        "Bearer token-two",
        "re-read after 401"
    );
    // Each fetch (what the cache does once the minute is over) reads the file again.
    std::fs::write(&path, "token-three").unwrap();
    assert_eq!(
        bearer(&provider.fetch().await.unwrap()),
        "Bearer token-three"
    );
}

#[tokio::test]
async fn keeps_the_old_token_when_a_read_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "kept-token").unwrap();
    let provider = TokenFile::new(&path);
    assert_eq!(
        bearer(&provider.fetch().await.unwrap()),
        "Bearer kept-token"
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        bearer(&provider.fetch().await.unwrap()),
        "Bearer kept-token",
        "missing file"
    );
    std::fs::write(&path, "  \n").unwrap();
    assert_eq!(
        bearer(&provider.fetch().await.unwrap()),
        "Bearer kept-token",
        "empty file"
    );
    std::fs::write(&path, "new-token").unwrap();
    assert_eq!(bearer(&provider.fetch().await.unwrap()), "Bearer new-token");
}

#[tokio::test]
async fn errors_name_the_path_without_an_earlier_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let err = TokenFile::new(&path).fetch().await.unwrap_err();
    assert!(matches!(err, AuthError::TokenFile { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("reading token file {} failed", path.display())
    );
    assert!(std::error::Error::source(&err).is_some());

    std::fs::write(&path, "\n").unwrap();
    let err = TokenFile::new(&path).fetch().await.unwrap_err();
    assert!(matches!(err, AuthError::EmptyTokenFile { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("token file {} is empty", path.display())
    );
}
