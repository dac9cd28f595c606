//! In-cluster configuration and `Config::infer` against a fake filesystem root.

mod support;

use k8s_client::Config;
use k8s_client::config::{AuthConfig, ConfigError, FakeEnv, PemSource, SERVICE_ACCOUNT_DIR};
use std::path::{Path, PathBuf};

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHHIG11qmeVMA0GCSqGSIb3DQEBCwUAMBExDzANBgNVBAMMBnRl\n-----END CERTIFICATE-----\n";

/// A pod-like root: service-account files under `<root>/var/run/secrets/...`.
struct Pod {
    dir: tempfile::TempDir,
}

impl Pod {
    fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sa = Self::sa_dir(dir.path());
        std::fs::create_dir_all(&sa).unwrap();
        for (name, content) in files {
            std::fs::write(sa.join(name), content).unwrap();
        }
        Pod { dir }
    }

    fn sa_dir(root: &Path) -> PathBuf {
        root.join(SERVICE_ACCOUNT_DIR.trim_start_matches('/'))
    }

    fn env(&self) -> FakeEnv {
        FakeEnv::new(self.dir.path())
            .with_var("KUBERNETES_SERVICE_HOST", "10.96.0.1")
            .with_var("KUBERNETES_SERVICE_PORT", "443")
    }
}

fn full_pod() -> Pod {
    Pod::new(&[
        ("token", "sa-token-xyz123"),
        ("ca.crt", CA),
        ("namespace", "team-a\n"),
    ])
}

#[test]
fn reads_service_account_files() {
    let pod = full_pod();
    let config = Config::incluster_with(&pod.env()).unwrap();
    let sa = Pod::sa_dir(pod.dir.path());
    assert_eq!(config.cluster_url.as_str(), "https://10.96.0.1/");
    assert_eq!(config.default_namespace, "team-a");
    assert_eq!(config.auth, AuthConfig::TokenFile(sa.join("token")));
    assert_eq!(config.tls.ca, Some(PemSource::File(sa.join("ca.crt"))));
    assert!(config.origin.in_cluster);
    assert!(!format!("{config:?}").contains("sa-token-xyz123"));
}

#[test]
fn non_default_port_and_ipv6_host() {
    let pod = full_pod();
    let env = pod
        .env()
        .with_var("KUBERNETES_SERVICE_HOST", "fd00::1")
        .with_var("KUBERNETES_SERVICE_PORT", "6443");
    let config = Config::incluster_with(&env).unwrap();
    assert_eq!(config.cluster_url.as_str(), "https://[fd00::1]:6443/");
}

#[test]
fn namespace_precedence() {
    let pod = full_pod();
    let env = pod.env().with_var("POD_NAMESPACE", "from-env");
    assert_eq!(
        Config::incluster_with(&env).unwrap().default_namespace,
        "from-env"
    );
    let bare = Pod::new(&[("token", "t"), ("ca.crt", CA)]);
    assert_eq!(
        Config::incluster_with(&bare.env())
            .unwrap()
            .default_namespace,
        "default"
    );
}

#[test]
fn missing_variables_are_named() {
    let pod = full_pod();
    let no_host = FakeEnv::new(pod.dir.path()).with_var("KUBERNETES_SERVICE_PORT", "443");
    match Config::incluster_with(&no_host) {
        Err(ConfigError::MissingEnv { name }) => assert_eq!(name, "KUBERNETES_SERVICE_HOST"),
        other => panic!("expected MissingEnv, got {other:?}"),
    }
    let no_port = FakeEnv::new(pod.dir.path()).with_var("KUBERNETES_SERVICE_HOST", "10.0.0.1");
    let error = Config::incluster_with(&no_port).unwrap_err();
    assert!(
        error.to_string().contains("KUBERNETES_SERVICE_PORT"),
        "{error}"
    );
}

#[test]
fn missing_token_is_an_error_missing_ca_is_not() {
    let no_token = Pod::new(&[("ca.crt", CA)]);
    match Config::incluster_with(&no_token.env()) {
        Err(ConfigError::ReadInClusterFile { path, .. }) => assert!(path.ends_with("token")),
        other => panic!("expected ReadInClusterFile, got {other:?}"),
    }
    let no_ca = Pod::new(&[("token", "t")]);
    assert_eq!(Config::incluster_with(&no_ca.env()).unwrap().tls.ca, None);
    let bad_ca = Pod::new(&[("token", "t"), ("ca.crt", "not pem")]);
    assert_eq!(Config::incluster_with(&bad_ca.env()).unwrap().tls.ca, None);
}

#[test]
fn infer_prefers_kubeconfig_then_incluster_then_reports_both() {
    let pod = full_pod();
    // No kubeconfig anywhere: in-cluster.
    let env = pod.env().with_var("HOME", "/home/nobody");
    assert!(Config::infer_with(&env).unwrap().origin.in_cluster);

    // A kubeconfig wins.
    let kubeconfig = pod.dir.path().join("kc");
    std::fs::write(
        &kubeconfig,
        "current-context: c\nclusters: [{name: c, cluster: {server: 'https://kc.example'}}]\ncontexts: [{name: c, context: {cluster: c}}]\n",
    )
    .unwrap();
    let env = pod.env().with_var("KUBECONFIG", "/kc");
    let config = Config::infer_with(&env).unwrap();
    assert_eq!(config.cluster_url.as_str(), "https://kc.example/");
    assert!(!config.origin.in_cluster);

    // Both fail: both reasons are kept.
    let env = FakeEnv::new(pod.dir.path()).with_var("HOME", "/home/nobody");
    match Config::infer_with(&env) {
        Err(ConfigError::Infer {
            kubeconfig,
            incluster,
        }) => {
            assert!(
                matches!(*kubeconfig, ConfigError::NoConfiguration),
                "{kubeconfig:?}"
            );
            assert!(
                matches!(*incluster, ConfigError::MissingEnv { .. }),
                "{incluster:?}"
            );
        }
        other => panic!("expected Infer, got {other:?}"),
    }
    let error = Config::infer_with(&env).unwrap_err();
    let source = std::error::Error::source(&error).expect("source");
    assert!(source.to_string().contains("no configuration"), "{source}");
}

#[test]
fn a_present_but_broken_kubeconfig_is_an_error_not_a_fallback() {
    let pod = full_pod();
    std::fs::write(pod.dir.path().join("kc"), "clusters: [unclosed\n").unwrap();
    let env = pod.env().with_var("KUBECONFIG", "/kc");
    let logs = support::logs::LogBuffer::default();
    let result = tracing::subscriber::with_default(logs.subscriber(), || Config::infer_with(&env));
    match result {
        Err(ConfigError::UnusableKubeconfig { source }) => {
            assert!(matches!(*source, ConfigError::Parse { .. }), "{source:?}")
        }
        other => panic!("expected UnusableKubeconfig, got {other:?}"),
    }
    // The in-cluster environment was there: the log says it was deliberately not used.
    let text = logs.text();
    assert!(text.contains("WARN"), "{text}");
    assert!(
        text.contains("not falling back to the in-cluster configuration"),
        "{text}"
    );

    // A context that does not exist is "present but unusable" too.
    std::fs::write(
        pod.dir.path().join("kc"),
        "current-context: gone\nclusters: [{name: c, cluster: {server: 'https://kc.example'}}]\n",
    )
    .unwrap();
    match Config::infer_with(&env) {
        Err(ConfigError::UnusableKubeconfig { source }) => {
            assert!(
                matches!(*source, ConfigError::ContextNotFound { .. }),
                "{source:?}"
            )
        }
        other => panic!("expected UnusableKubeconfig, got {other:?}"),
    }
}
