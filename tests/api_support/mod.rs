//! Helpers shared by the `tests/api_*.rs` binaries: a [`Client`] for the shared control
//! plane, polling with a deadline, and a test namespace.
#![allow(dead_code)]

use k8s_client::api::Api;
use k8s_client::config::{AuthConfig, ClientCertificate, KeySource, PemSource};
use k8s_client::testenv::TestEnv;
use k8s_client::{Client, Config, SecretBytes};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use std::future::Future;
use std::time::{Duration, Instant};

/// A client authenticated with the admin client certificate (`system:masters`).
pub fn admin(env: &TestEnv) -> Client {
    let mut config = base_config(env);
    config.tls.client_certificate = Some(ClientCertificate {
        cert: PemSource::Data(env.admin_cert_pem().as_bytes().to_vec()),
        key: KeySource::Data(SecretBytes::new(
            env.admin_key_pem().expose_secret().to_vec(),
        )),
    });
    Client::try_from(config).expect("admin client")
}

/// A client authenticated as the user without RBAC rights.
pub fn noperm(env: &TestEnv) -> Client {
    let mut config = base_config(env);
    config.auth = AuthConfig::Token(env.noperm_token().clone());
    Client::try_from(config).expect("noperm client")
}

fn base_config(env: &TestEnv) -> Config {
    let mut config = Config::new(env.server_url().parse().expect("server URL"));
    config.tls.ca = Some(PemSource::Data(env.ca_pem().as_bytes().to_vec()));
    config
}

/// The shared control plane, an admin client and a fresh namespace, or `None` (after the
/// harness printed why) when there is no control plane.
pub async fn setup(prefix: &str) -> Option<(&'static TestEnv, Client, String)> {
    let env = crate::common::control_plane()?;
    let ns = crate::common::unique_namespace(env, prefix).await;
    Some((env, admin(env), ns))
}

/// Polls `f` every 100 ms until it returns `Some`, failing the test after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the service-account controller created `default` in `ns` (pods and
/// tokens need it).
pub async fn wait_for_default_sa(client: &Client, ns: &str) {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let sas = &sas;
    eventually(
        "the default service account",
        Duration::from_secs(60),
        || async move { sas.get_opt("default").await.unwrap().map(|_| ()) },
    )
    .await;
}

/// Selects the ConfigMaps the tests create: the controller-manager adds
/// `kube-root-ca.crt` to every namespace.
pub const SELECTOR: &str = "test=api";

/// A ConfigMap named `name` carrying the [`SELECTOR`] label.
pub fn labelled_cm(name: &str) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.to_owned());
    cm.metadata.labels = Some([("test".to_owned(), "api".to_owned())].into());
    cm
}

/// The name of a ConfigMap.
pub fn name_of(cm: &ConfigMap) -> String {
    cm.metadata.name.clone().unwrap_or_default()
}

/// The next item of a stream that must neither end nor fail, within two minutes.
pub async fn next_ok<T, S>(stream: &mut S) -> T
where
    S: futures_util::Stream<Item = Result<T, k8s_client::Error>> + Unpin,
{
    use futures_util::StreamExt;
    tokio::time::timeout(Duration::from_secs(120), stream.next())
        .await
        .expect("the stream made progress within 2 minutes")
        .expect("the stream did not end")
        .unwrap_or_else(|e| panic!("the stream failed: {e}"))
}
