//! In-cluster configuration end to end: testenv issues a service-account token through
//! the TokenRequest API, the token, `ca.crt` and `namespace` files are written where a
//! pod has them (below a temporary root), `KUBERNETES_SERVICE_HOST`/`_PORT` point at the
//! control plane, and the client built from `Config::incluster_with` lists namespaces.
#![cfg(feature = "testenv")]

mod support;

use k8s_client::config::{AuthConfig, FakeEnv, PemSource, SERVICE_ACCOUNT_DIR};
use k8s_client::testenv::TestEnv;
use k8s_client::transport::TransportError;
use k8s_client::{Config, Error};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::auth::direct_client;
use support::env::testenv_secrets;
use support::kubeconfig_config;
use support::logs::LeakCheck;
use support::logs::LogBuffer;
use support::requests::create;
use support::requests::get;
use support::requests::request_token;
use support::requests::whoami;

const SA: &str = "lister";

/// A pod's view of a service account allowed to list namespaces (and nothing else).
struct Pod {
    root: tempfile::TempDir,
    namespace: String,
}

impl Pod {
    /// Creates the namespace, service account and RBAC, requests a token and writes
    /// the service-account files below a fresh root.
    async fn new(env: &TestEnv, leaks: &mut LeakCheck) -> Self {
        let admin = direct_client(kubeconfig_config(env.admin_kubeconfig(), |_| {}));
        let namespace = support::env::unique_namespace(env, "incluster").await;
        create(
            &admin,
            &format!("/api/v1/namespaces/{namespace}/serviceaccounts"),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SA}}),
        )
        .await;
        let role = format!("{namespace}-list-namespaces");
        create(
            &admin,
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": role},
                "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}],
            }),
        )
        .await;
        create(
            &admin,
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": role},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": namespace}],
            }),
        )
        .await;
        let token = request_token(&admin, &namespace, SA, None).await;
        leaks.secret(token.expose_secret());

        let pod = Pod {
            root: tempfile::tempdir().unwrap(),
            namespace,
        };
        let dir = pod.sa_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), token.expose_secret()).unwrap();
        std::fs::write(dir.join("ca.crt"), env.ca_pem()).unwrap();
        std::fs::write(dir.join("namespace"), &pod.namespace).unwrap();
        pod
    }

    /// The service-account directory below the root.
    fn sa_dir(&self) -> PathBuf {
        self.root
            .path()
            .join(SERVICE_ACCOUNT_DIR.trim_start_matches('/'))
    }

    /// Replaces a service-account file the way the kubelet updates projected volumes:
    /// a new file renamed into place.
    fn replace(&self, name: &str, contents: &str) {
        let tmp = self.sa_dir().join(format!("..{name}.tmp"));
        std::fs::write(&tmp, contents).unwrap();
        std::fs::rename(&tmp, self.sa_dir().join(name)).unwrap();
    }

    /// The in-cluster config for a kubelet that set `KUBERNETES_SERVICE_HOST=host`.
    fn config(&self, host: &str, port: u16) -> Config {
        let env = FakeEnv::new(self.root.path())
            .with_var("KUBERNETES_SERVICE_HOST", host)
            .with_var("KUBERNETES_SERVICE_PORT", port.to_string());
        let config = Config::incluster_with(&env).unwrap();
        assert!(config.origin.in_cluster);
        assert_eq!(config.default_namespace, self.namespace);
        let sa_dir = self.sa_dir();
        assert_eq!(config.auth, AuthConfig::TokenFile(sa_dir.join("token")));
        assert_eq!(config.tls.ca, Some(PemSource::File(sa_dir.join("ca.crt"))));
        config
    }

    /// Lists namespaces as the service account and checks that it is who the server saw
    /// and that it holds no other rights.
    async fn lists_namespaces(&self, config: Config, leaks: &mut LeakCheck) {
        let client = direct_client(config.clone());
        let user = whoami(&client).await.unwrap();
        assert_eq!(
            user["username"],
            format!("system:serviceaccount:{}:{SA}", self.namespace)
        );
        // The RBAC authorizer sees the new binding after its informer caught up.
        let deadline = Instant::now() + Duration::from_secs(60);
        let list: Value = loop {
            match client.request(get("/api/v1/namespaces")).await {
                Ok(list) => break list,
                Err(e) if e.is_forbidden() && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("listing namespaces as the service account: {e}"),
            }
        };
        assert_eq!(list["kind"], "NamespaceList");
        assert!(
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|ns| ns["metadata"]["name"] == self.namespace.as_str()),
            "{list}"
        );
        let err = client
            .request::<Value>(get(&format!(
                "/api/v1/namespaces/{}/secrets",
                self.namespace
            )))
            .await
            .unwrap_err();
        assert!(err.is_forbidden(), "{err:?}");
        leaks.show(&config);
        leaks.show(&client);
        leaks.error(&err);
    }
}

/// What the client logs at TRACE for every request (proof that the capture works).
const CLIENT_LOGS: &[&str] = &["sending request"];

fn setup() -> Option<(&'static TestEnv, LeakCheck)> {
    LogBuffer::global();
    let env = support::env::control_plane()?;
    Some((env, LeakCheck::new(testenv_secrets(env))))
}

#[tokio::test]
async fn incluster_config_lists_namespaces() {
    let Some((env, mut leaks)) = setup() else {
        return;
    };
    let pod = Pod::new(env, &mut leaks).await;
    let config = pod.config("127.0.0.1", support::env::apiserver_port(env));
    assert_eq!(
        config.cluster_url.as_str(),
        format!("{}/", env.server_url())
    );
    pod.lists_namespaces(config, &mut leaks).await;
    leaks.finish(CLIENT_LOGS);
}

/// Relays TCP connections from `[::1]:<port>` to `target` (kube-apiserver listens on
/// 127.0.0.1 only; the TLS session is still with the API server, whose certificate has
/// the `::1` IP SAN). Counts the connections it accepted.
struct Ipv6Relay {
    port: u16,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Ipv6Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Ipv6Relay {
    async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("[::1]:0").await?;
        let port = listener.local_addr()?.port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(Self {
            port,
            accepted,
            task,
        })
    }
}

#[tokio::test]
async fn incluster_config_with_an_ipv6_service_host() {
    let Some((env, mut leaks)) = setup() else {
        return;
    };
    let relay = match Ipv6Relay::start(SocketAddr::from((
        [127, 0, 0, 1],
        support::env::apiserver_port(env),
    )))
    .await
    {
        Ok(relay) => relay,
        Err(e) => {
            eprintln!(
                "skipping incluster_config_with_an_ipv6_service_host: cannot listen on [::1]: {e}"
            );
            return;
        }
    };
    let pod = Pod::new(env, &mut leaks).await;
    // The kubelet sets the bare address; the config brackets it.
    let config = pod.config("::1", relay.port);
    assert_eq!(
        config.cluster_url.as_str(),
        format!("https://[::1]:{}/", relay.port)
    );
    pod.lists_namespaces(config, &mut leaks).await;
    assert!(relay.accepted.load(Ordering::SeqCst) >= 1);
    leaks.finish(CLIENT_LOGS);
}

/// The kubelet updates `ca.crt` when the cluster's CA bundle changes: the client reads it
/// again once it changed on disk.
#[tokio::test]
async fn incluster_ca_file_is_read_again_when_it_changes() {
    let Some((env, mut leaks)) = setup() else {
        return;
    };
    let pod = Pod::new(env, &mut leaks).await;
    let other_ca = rcgen::generate_simple_self_signed(vec!["other-ca".to_owned()]).unwrap();
    pod.replace("ca.crt", &other_ca.cert.pem());
    let client = direct_client(pod.config("127.0.0.1", support::env::apiserver_port(env)));
    let err = whoami(&client).await.unwrap_err();
    assert!(
        matches!(err, Error::Transport(TransportError::Tls { .. })),
        "{err:?}"
    );

    pod.replace("ca.crt", env.ca_pem());
    let deadline = Instant::now() + Duration::from_secs(20);
    let user = loop {
        match whoami(&client).await {
            Ok(user) => break user,
            Err(Error::Transport(TransportError::Tls { .. })) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("after the CA file changed: {e:?}"),
        }
    };
    assert_eq!(
        user["username"],
        format!("system:serviceaccount:{}:{SA}", pod.namespace)
    );
    leaks.error(&err);
    leaks.show(&client);
    leaks.finish(CLIENT_LOGS);
}
