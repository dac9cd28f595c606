//! Hostile configuration data: namespaces that are not DNS-1123 labels, and secrets
//! (exec arguments and environment, URL passwords) that must never show in `Debug` or
//! in error messages.

use k8s_client::Config;
use k8s_client::config::{
    AuthConfig, ConfigError, FakeEnv, Kubeconfig, KubeconfigOptions, NamespaceOrigin,
    POD_NAMESPACE_ENV, SERVICE_ACCOUNT_DIR,
};
use k8s_client::discovery::DiskCache;
use std::path::{Path, PathBuf};

/// Writes `yaml` as a kubeconfig file and reads it back (so entries know their file).
fn kubeconfig_file(dir: &Path, yaml: &str) -> (PathBuf, Kubeconfig) {
    let path = dir.join("config");
    std::fs::write(&path, yaml).unwrap();
    let kc = Kubeconfig::read_from_with(&FakeEnv::new("/"), &path).unwrap();
    (path, kc)
}

fn with_namespace(namespace: &str) -> String {
    format!(
        "clusters: [{{name: c, cluster: {{server: 'https://10.0.0.1:6443'}}}}]\n\
         users: [{{name: u, user: {{token: t}}}}]\n\
         contexts: [{{name: dev, context: {{cluster: c, user: u, namespace: {}}}}}]\n\
         current-context: dev\n",
        serde_json::to_string(namespace).unwrap()
    )
}

const BAD_NAMESPACES: &[&str] = &[
    "Upper",
    "a/b",
    "..",
    "a b",
    "-lead",
    "trail-",
    "dot.ted",
    "ünï",
    "x\u{0}y",
    "%2F",
    "a?watch=1",
];

#[test]
fn context_namespace_must_be_a_label_and_the_error_names_file_context_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let long = "a".repeat(64);
    for bad in BAD_NAMESPACES.iter().copied().chain([long.as_str()]) {
        let (path, kc) = kubeconfig_file(dir.path(), &with_namespace(bad));
        let err = Config::from_custom_kubeconfig(kc, &KubeconfigOptions::default()).unwrap_err();
        match &err {
            ConfigError::InvalidNamespace {
                value,
                origin: NamespaceOrigin::Context { context, file },
            } => {
                assert_eq!(value, bad);
                assert_eq!(context, "dev");
                assert_eq!(file.as_deref(), Some(path.as_path()));
            }
            other => panic!("{bad:?}: unexpected {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("field namespace of context \"dev\"")
                && text.contains(&path.display().to_string()),
            "{text}"
        );
    }
    // Valid names (and an absent one) still resolve.
    for good in ["default", "team-a", "0", &"a".repeat(63)] {
        let (_, kc) = kubeconfig_file(dir.path(), &with_namespace(good));
        let config = Config::from_custom_kubeconfig(kc, &KubeconfigOptions::default()).unwrap();
        assert_eq!(config.default_namespace, good);
    }
}

#[test]
fn override_namespace_must_be_a_label_and_wins_over_a_bad_context_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let (_, kc) = kubeconfig_file(dir.path(), &with_namespace("team-a"));
    let mut options = KubeconfigOptions::default();
    options.namespace = Some("../kube-system".into());
    let err = Config::from_custom_kubeconfig(kc, &options).unwrap_err();
    assert!(
        matches!(
            &err,
            ConfigError::InvalidNamespace { value, origin: NamespaceOrigin::Override } if value == "../kube-system"
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("the namespace override"), "{err}");

    // The override replaces the context's namespace, so a bad one there is never used.
    let (_, kc) = kubeconfig_file(dir.path(), &with_namespace("Bad_NS"));
    let mut options = KubeconfigOptions::default();
    options.namespace = Some("ok".into());
    let config = Config::from_custom_kubeconfig(kc, &options).unwrap();
    assert_eq!(config.default_namespace, "ok");
}

/// A pod root with a service-account token and the given `namespace` file contents.
fn pod(namespace: Option<&[u8]>) -> (tempfile::TempDir, FakeEnv, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let sa = root
        .path()
        .join(SERVICE_ACCOUNT_DIR.trim_start_matches('/'));
    std::fs::create_dir_all(&sa).unwrap();
    std::fs::write(sa.join("token"), "tok").unwrap();
    if let Some(ns) = namespace {
        std::fs::write(sa.join("namespace"), ns).unwrap();
    }
    let env = FakeEnv::new(root.path())
        .with_var("KUBERNETES_SERVICE_HOST", "10.96.0.1")
        .with_var("KUBERNETES_SERVICE_PORT", "443");
    (root, env, sa.join("namespace"))
}

#[test]
fn in_cluster_namespace_file_and_pod_namespace_must_be_labels() {
    let huge = vec![b'a'; 1 << 20];
    for bad in [
        &b"Team"[..],
        b"a/b\n",
        b"..",
        b"\xff\xfe",
        b"ns\nother",
        &huge,
    ] {
        let (_root, env, file) = pod(Some(bad));
        let err = Config::incluster_with(&env).unwrap_err();
        match &err {
            ConfigError::InvalidNamespace {
                value,
                origin: NamespaceOrigin::File { path },
            } => {
                assert_eq!(path, &file);
                assert!(value.chars().count() <= 101, "value kept short");
            }
            other => panic!("{bad:?}: unexpected {other:?}"),
        }
        assert!(err.to_string().contains(&file.display().to_string()));
        assert!(err.to_string().len() < 600, "message stays short");
    }

    let (_root, env, _) = pod(Some(b"team-a\n"));
    let env = env.with_var(POD_NAMESPACE_ENV, "Not/A/Label");
    let err = Config::incluster_with(&env).unwrap_err();
    assert!(
        matches!(
            &err,
            ConfigError::InvalidNamespace { origin: NamespaceOrigin::EnvVar { name }, .. } if *name == POD_NAMESPACE_ENV
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("environment variable POD_NAMESPACE")
    );

    // A valid file, a blank file and no file still work.
    let (_root, env, _) = pod(Some(b" team-a \n"));
    assert_eq!(
        Config::incluster_with(&env).unwrap().default_namespace,
        "team-a"
    );
    let (_root, env, _) = pod(Some(b"\n"));
    assert_eq!(
        Config::incluster_with(&env).unwrap().default_namespace,
        "default"
    );
    let (_root, env, _) = pod(None);
    assert_eq!(
        Config::incluster_with(&env).unwrap().default_namespace,
        "default"
    );
}

const EXEC_KUBECONFIG: &str = r#"
clusters:
- name: c
  cluster:
    server: https://admin:server-pw-1@10.0.0.1:6443
    proxy-url: http://proxy-user:proxy-pw-2@proxy:3128
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: kubelogin
      args: [get-token, --oidc-client-secret=arg-secret-3, arg-secret-4]
      env:
      - {name: CLIENT_SECRET, value: env-secret-5}
      interactiveMode: Never
      provideClusterInfo: true
      futureField: unknown-secret-6
contexts: [{name: dev, context: {cluster: c, user: u}}]
current-context: dev
"#;

const SECRETS: &[&str] = &[
    "server-pw-1",
    "proxy-pw-2",
    "arg-secret-3",
    "arg-secret-4",
    "env-secret-5",
    "unknown-secret-6",
];

fn assert_no_secret(shown: &str) {
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{secret} leaked in:\n{shown}");
    }
}

#[test]
fn exec_args_env_and_url_passwords_never_show_in_debug() {
    let kc = Kubeconfig::from_yaml(EXEC_KUBECONFIG).unwrap();
    let raw = format!("{kc:?}\n{kc:#?}");
    assert_no_secret(&raw);
    assert!(
        raw.contains("kubelogin") && raw.contains("CLIENT_SECRET"),
        "{raw}"
    );
    assert!(raw.contains("<3 redacted>"), "argument count shown: {raw}");
    assert!(
        raw.contains("futureField"),
        "unknown field names shown: {raw}"
    );

    let config = Config::from_custom_kubeconfig(kc, &KubeconfigOptions::default()).unwrap();
    let AuthConfig::Exec(exec) = &config.auth else {
        panic!("{:?}", config.auth)
    };
    assert_eq!(exec.args.len(), 3);
    let resolved = format!("{config:?}\n{config:#?}\n{exec:?}");
    assert_no_secret(&resolved);
    for shown in [
        "kubelogin",
        "CLIENT_SECRET",
        "<3 redacted>",
        "10.0.0.1:6443",
        "proxy:3128",
    ] {
        assert!(resolved.contains(shown), "{shown} missing in:\n{resolved}");
    }
}

#[test]
fn url_passwords_never_show_in_errors() {
    let bad_server = r#"
clusters: [{name: c, cluster: {server: "https://admin:server-pw-1@bad host:6443"}}]
contexts: [{name: dev, context: {cluster: c}}]
current-context: dev
"#;
    let err = Config::from_custom_kubeconfig(
        Kubeconfig::from_yaml(bad_server).unwrap(),
        &KubeconfigOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidServer { .. }), "{err:?}");
    let shown = format!("{err}\n{err:?}");
    assert_no_secret(&shown);
    assert!(shown.contains("<redacted>@bad host"), "{shown}");

    let bad_proxy = r#"
clusters: [{name: c, cluster: {server: "https://10.0.0.1", proxy-url: "ftp://proxy-user:proxy-pw-2@proxy:21"}}]
contexts: [{name: dev, context: {cluster: c}}]
current-context: dev
"#;
    let err = Config::from_custom_kubeconfig(
        Kubeconfig::from_yaml(bad_proxy).unwrap(),
        &KubeconfigOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, ConfigError::InvalidProxyUrl { .. }),
        "{err:?}"
    );
    let shown = format!("{err}\n{err:?}");
    assert_no_secret(&shown);
    assert!(shown.contains("<redacted>@proxy:21"), "{shown}");

    let mut options = KubeconfigOptions::default();
    options.server = Some("admin:server-pw-1@[::1".into());
    let err = Config::from_custom_kubeconfig(Kubeconfig::default(), &options).unwrap_err();
    assert_no_secret(&format!("{err}\n{err:?}"));
}

#[test]
fn discovery_cache_directory_never_holds_the_url_password() {
    let url: url::Url = "https://admin:server-pw-1@10.0.0.1:6443".parse().unwrap();
    let cache = DiskCache::for_cluster_in("/cache", &url);
    let shown = format!("{}\n{cache:?}", cache.dir().display());
    assert_no_secret(&shown);
    assert!(!shown.contains("admin"), "{shown}");
    assert_eq!(cache.dir(), Path::new("/cache/discovery/10.0.0.1_6443"));
}

/// kubectl loads any namespace string and only fails on the connection (the server
/// would reject the value); we fail at resolution (docs/configuration.md, "Namespaces").
#[test]
fn kubectl_accepts_bad_namespaces_where_we_fail_early() {
    if std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        println!("kubectl not on PATH: comparison skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for bad in ["Bad_NS", "a.b", "-x"] {
        let yaml = with_namespace(bad).replace("https://10.0.0.1:6443", "https://127.0.0.1:1");
        let (path, kc) = kubeconfig_file(dir.path(), &yaml);
        let kubectl = |args: &[&str]| {
            std::process::Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(&path)
                .args(args)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", dir.path())
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap()
        };
        let view = kubectl(&["config", "view", "--minify", "-o", "jsonpath={..namespace}"]);
        assert_eq!(
            String::from_utf8_lossy(&view.stdout),
            bad,
            "kubectl loads it"
        );
        let get = kubectl(&["--request-timeout", "5s", "get", "configmaps"]);
        let stderr = String::from_utf8_lossy(&get.stderr);
        assert!(
            stderr.contains("127.0.0.1:1") && stderr.contains("refused"),
            "kubectl got as far as connecting: {stderr}"
        );
        assert!(matches!(
            Config::from_custom_kubeconfig(kc, &KubeconfigOptions::default()),
            Err(ConfigError::InvalidNamespace { .. })
        ));
    }
}
