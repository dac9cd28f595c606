//! Typed-API fixtures on the shared control plane: a test's environment, admin client
//! and namespace in one call, labelled ConfigMaps, and reading streams that must make
//! progress.

use crate::support::env::{admin_client, control_plane, unique_namespace};
use crate::support::eventually;
use k8s_client::Client;
use k8s_client::api::Api;
use k8s_client::testenv::TestEnv;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use std::time::Duration;

/// The shared control plane, an admin client and a fresh namespace, or `None` (after the
/// harness printed why) when there is no control plane.
pub async fn setup(prefix: &str) -> Option<(&'static TestEnv, Client, String)> {
    let env = control_plane()?;
    let ns = unique_namespace(env, prefix).await;
    Some((env, admin_client(env), ns))
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
