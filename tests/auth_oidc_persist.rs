//! Writing refreshed OIDC tokens back to the kubeconfig in hostile or unusual file
//! layouts: a symlinked kubeconfig, kubectl's lock file held by another writer (briefly
//! and for good), and a write-back that fails. The fresh tokens are used from memory
//! whatever happens to the file, and nothing secret reaches the logs.

mod support;

use k8s_client::auth::{AuthProvider, OidcProvider};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::auth::TestIssuer;
use support::auth::jwt;
use support::auth::oidc_config;
use support::auth::write_kubeconfig;
use support::logs::LeakCheck;
use support::logs::LogBuffer;

const CLIENT_SECRET: &str = "client-secret-value";

fn bearer(c: &k8s_client::auth::Credential) -> String {
    c.authorization.as_ref().unwrap().expose_secret().to_owned()
}

fn id_token_in(path: &Path) -> String {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["users"][1]["user"]["auth-provider"]["config"]["id-token"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn lock_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// An issuer accepting `refresh` and answering `id` (and a rotated `rotated`), and the
/// provider config entries for it with an expired id-token.
async fn issuer(
    refresh: &str,
    id: &str,
    rotated: Option<&str>,
) -> (TestIssuer, Vec<(String, String)>) {
    let issuer = TestIssuer::start().await;
    *issuer.state.expected_refresh.lock().unwrap() = refresh.to_owned();
    *issuer.state.client.lock().unwrap() = ("kube".to_owned(), CLIENT_SECRET.to_owned());
    *issuer.state.answer.lock().unwrap() = (id.to_owned(), rotated.map(str::to_owned));
    let entries = vec![
        ("idp-issuer-url".to_owned(), issuer.url.clone()),
        ("client-id".to_owned(), "kube".to_owned()),
        ("client-secret".to_owned(), CLIENT_SECRET.to_owned()),
        ("id-token".to_owned(), jwt(-60, "expired")),
        ("refresh-token".to_owned(), refresh.to_owned()),
        (
            "idp-certificate-authority-data".to_owned(),
            issuer.ca_data(),
        ),
    ];
    (issuer, entries)
}

fn refs(entries: &[(String, String)]) -> Vec<(&str, &str)> {
    entries
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[tokio::test]
async fn writes_through_a_symlink_to_the_real_file() {
    let new_id = jwt(3600, "fresh-through-link");
    let (issuer, entries) = issuer("refresh-one", &new_id, Some("refresh-two")).await;
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("real");
    std::fs::create_dir(&real_dir).unwrap();
    let real = write_kubeconfig(&real_dir, &refs(&entries));
    let link = dir.path().join("config");
    std::os::unix::fs::symlink(&real, &link).unwrap();

    let provider = OidcProvider::new(&oidc_config(&link, &refs(&entries))).unwrap();
    assert_eq!(
        bearer(&provider.fetch().await.unwrap()),
        format!("Bearer {new_id}")
    );
    assert_eq!(issuer.state.token_hits.load(Ordering::SeqCst), 1);

    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink stays a symlink"
    );
    assert_eq!(std::fs::read_link(&link).unwrap(), real);
    assert_eq!(id_token_in(&real), new_id);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Only the link and the real file's directory: no lock or temp file left.
    let names = |d: &Path| -> Vec<String> {
        let mut n: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(dir.path()), ["config", "real"]);
    assert_eq!(names(&real_dir), ["kubeconfig"]);
}

#[tokio::test]
async fn waits_for_a_briefly_held_lock() {
    let new_id = jwt(3600, "after-lock");
    let (_issuer, entries) = issuer("refresh-one", &new_id, None).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_kubeconfig(dir.path(), &refs(&entries));
    let lock = lock_of(&path);
    std::fs::write(&lock, "").unwrap();
    // Another writer (kubectl) finishes shortly.
    let release = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            std::fs::remove_file(lock).unwrap();
        })
    };
    let provider = OidcProvider::new(&oidc_config(&path, &refs(&entries))).unwrap();
    assert_eq!(
        bearer(&provider.fetch().await.unwrap()),
        format!("Bearer {new_id}")
    );
    release.join().unwrap();
    assert_eq!(id_token_in(&path), new_id);
    assert!(!lock.exists(), "our own lock is removed");
}

#[tokio::test]
async fn a_held_lock_keeps_the_file_and_the_tokens_stay_in_memory() {
    LogBuffer::global();
    // The first fresh id-token is about to expire, so the next fetch refreshes again:
    // with the rotated refresh-token, which only memory holds.
    let short_id = jwt(5, "short-lived-id");
    let (issuer, entries) = issuer("refresh-one", &short_id, Some("rotated-refresh-two")).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_kubeconfig(dir.path(), &refs(&entries));
    let before = std::fs::read(&path).unwrap();
    let lock = lock_of(&path);
    std::fs::write(&lock, "held by someone else").unwrap();

    let provider = OidcProvider::new(&oidc_config(&path, &refs(&entries))).unwrap();
    let first = provider
        .fetch()
        .await
        .expect("a failed write-back does not fail the request");
    assert_eq!(bearer(&first), format!("Bearer {short_id}"));
    assert_eq!(std::fs::read(&path).unwrap(), before, "file untouched");
    assert!(lock.exists(), "someone else's lock is never removed");

    let long_id = jwt(3600, "long-lived-id");
    *issuer.state.expected_refresh.lock().unwrap() = "rotated-refresh-two".into();
    *issuer.state.answer.lock().unwrap() = (long_id.clone(), None);
    let second = provider.fetch().await.unwrap();
    assert_eq!(bearer(&second), format!("Bearer {long_id}"));
    assert_eq!(issuer.state.token_hits.load(Ordering::SeqCst), 2);
    // And then from memory.
    provider.fetch().await.unwrap();
    assert_eq!(issuer.state.token_hits.load(Ordering::SeqCst), 2);

    let lock_shown = lock.display().to_string();
    let logs = LogBuffer::global().text();
    let warned = logs
        .lines()
        .any(|l| l.contains("WARN") && l.contains("in memory") && l.contains(&lock_shown));
    assert!(warned, "a WARN names the lock file:\n{logs}");
    let check = LeakCheck::new([
        short_id.clone(),
        long_id.clone(),
        "rotated-refresh-two".to_owned(),
        "refresh-one".to_owned(),
        CLIENT_SECRET.to_owned(),
    ]);
    check.finish(&["in memory"]);
}

#[tokio::test]
async fn a_missing_user_entry_is_logged_and_the_token_still_used() {
    LogBuffer::global();
    let new_id = jwt(3600, "no-entry");
    let (_issuer, entries) = issuer("refresh-one", &new_id, None).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_kubeconfig(dir.path(), &refs(&entries));
    let before = std::fs::read(&path).unwrap();
    let mut config = oidc_config(&path, &refs(&entries));
    config.user_name = Some("nobody".into());
    let provider = OidcProvider::new(&config).unwrap();
    assert_eq!(
        bearer(&provider.fetch().await.unwrap()),
        format!("Bearer {new_id}")
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let logs = LogBuffer::global().text();
    assert!(
        logs.lines().any(|l| l.contains("WARN")
            && l.contains("\"nobody\"")
            && l.contains("no users[] entry")),
        "{logs}"
    );
    LeakCheck::new([new_id, "refresh-one".to_owned(), CLIENT_SECRET.to_owned()]).finish(&[]);
}
