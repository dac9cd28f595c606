//! Table tests over the fixture folders `tests/data/<case>/`: resolution of each case
//! into a `Config` (per `expected-config.json`), a lossless round trip of every
//! kubeconfig, and that no secret of any fixture appears in `Debug` output.
//!
//! Every case runs in a [`FakeEnv`] rooted at the case directory: `HOME` is `/` (so
//! `~/.kube/config` is the case's `.kube/config`) and the `env` file's variables are set.

use k8s_client::config::{
    AuthConfig, Env, FakeEnv, Kubeconfig, KubeconfigOptions, PemSource, load_for_view,
};
use k8s_client::{Config, SecretString};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/data")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

fn case_env(case: &Path) -> FakeEnv {
    let mut env = FakeEnv::new(case).with_var("HOME", "/");
    if let Ok(text) = std::fs::read_to_string(case.join("env")) {
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once('=').expect("NAME=value");
            env.set_var(name, value);
        }
    }
    env
}

fn options(spec: &Value) -> KubeconfigOptions {
    let s = |key: &str| spec.get(key).and_then(Value::as_str).map(str::to_owned);
    let list = |key: &str| -> Vec<String> {
        spec.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut o = KubeconfigOptions::default();
    o.kubeconfig = s("kubeconfig").map(PathBuf::from);
    o.context = s("context");
    o.user = s("user");
    o.cluster = s("cluster");
    o.namespace = s("namespace");
    o.server = s("server");
    o.token = s("token").map(SecretString::from);
    o.impersonate = s("as");
    o.impersonate_groups = list("as_groups");
    o.certificate_authority = s("certificate_authority").map(PathBuf::from);
    o.insecure_skip_tls_verify = spec
        .get("insecure")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    o.request_timeout = spec
        .get("request_timeout_secs")
        .and_then(Value::as_u64)
        .map(Duration::from_secs);
    o
}

/// A path as written in expectations: relative to `tests/data`.
fn rel(path: &Path) -> String {
    path.strip_prefix(data_dir())
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn pem_kind(source: &PemSource) -> String {
    match source {
        PemSource::Data(_) => "data".to_owned(),
        PemSource::File(path) => format!("file:{}", rel(path)),
    }
}

/// The parts of a `Config` that expectations talk about.
fn summary(config: &Config) -> Value {
    let auth = match &config.auth {
        AuthConfig::None => "none".to_owned(),
        AuthConfig::Token(_) => "token".to_owned(),
        AuthConfig::TokenFile(path) => format!("token-file:{}", rel(path)),
        AuthConfig::Basic { username, .. } => format!("basic:{username}"),
        AuthConfig::Exec(exec) => format!("exec:{}", rel(Path::new(&exec.command))),
        AuthConfig::AuthProvider(p) => format!("auth-provider:{}", p.name),
        other => format!("{other:?}"),
    };
    let exec = match &config.auth {
        AuthConfig::Exec(exec) => Some(exec),
        _ => None,
    };
    json!({
        "server": config.cluster_url.as_str(),
        "namespace": config.default_namespace,
        "auth": auth,
        "ca": config.tls.ca.as_ref().map(pem_kind),
        "client_cert": config.tls.client_certificate.as_ref().map(|c| pem_kind(&c.cert)),
        "insecure": config.tls.insecure_skip_tls_verify,
        "tls_server_name": config.tls.tls_server_name,
        "proxy": config.proxy_url.as_ref().map(|u| u.as_str().trim_end_matches('/').to_owned()),
        "disable_compression": config.disable_compression,
        "timeout_secs": config.timeout.map(|t| t.as_secs()),
        "impersonate": config.impersonate.as_ref().map(|i| json!({
            "user": i.user, "uid": i.uid, "groups": i.groups, "extra": i.extra,
        })),
        "exec_cluster_config": exec.and_then(|e| e.cluster.as_ref()).and_then(|c| c.config.clone()),
        "exec_interactive": exec.and_then(|e| e.interactive_mode).map(|m| format!("{m:?}")),
        "origin": {
            "context": config.origin.context,
            "cluster": config.origin.cluster,
            "user": config.origin.user,
        },
    })
}

/// Checks that every key of `expected` has the same value in `actual` (recursively for
/// objects).
fn check_subset(path: &str, expected: &Value, actual: &Value, errors: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, value) in e {
                let inner = a.get(key).unwrap_or(&Value::Null);
                check_subset(&format!("{path}.{key}"), value, inner, errors);
            }
        }
        _ if expected != actual => {
            errors.push(format!("{path}: expected {expected}, got {actual}"))
        }
        _ => {}
    }
}

fn resolve(case: &Path, spec: &Value) -> Result<Config, k8s_client::config::ConfigError> {
    let env = case_env(case);
    let mut options = options(spec.get("options").unwrap_or(&Value::Null));
    if options.kubeconfig.is_none() {
        // Like kubectl in the differential test: `--kubeconfig` from the case's args.
        let args = std::fs::read_to_string(case.join("args")).unwrap_or_default();
        let args: Vec<&str> = args.lines().collect();
        if let Some(i) = args.iter().position(|a| *a == "--kubeconfig") {
            options.kubeconfig = args.get(i + 1).map(PathBuf::from);
        }
    }
    Config::from_kubeconfig_with(&options, &env)
}

fn check_case(case: &Path, spec: &Value, errors: &mut Vec<String>) {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    match (
        resolve(case, spec),
        spec.get("error").and_then(Value::as_str),
    ) {
        (Ok(config), None) => {
            let expected = spec.get("expect").expect("expect or error");
            check_subset(&name, expected, &summary(&config), errors);
        }
        (Ok(config), Some(variant)) => errors.push(format!(
            "{name}: expected {variant}, got {:?}",
            summary(&config)
        )),
        (Err(error), None) => errors.push(format!("{name}: unexpected error {error:?}")),
        (Err(error), Some(variant)) => {
            let debug = format!("{error:?}");
            if !debug.starts_with(variant) {
                errors.push(format!("{name}: expected {variant}, got {debug}"));
            }
            let message = error.to_string();
            for needle in spec
                .get("message_contains")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let needle = needle.as_str().unwrap();
                if !message.contains(needle) {
                    errors.push(format!("{name}: message {message:?} lacks {needle:?}"));
                }
            }
        }
    }
}

#[test]
fn resolution_table() {
    let mut errors = Vec::new();
    let mut checked = 0;
    for case in cases() {
        let Ok(text) = std::fs::read_to_string(case.join("expected-config.json")) else {
            continue;
        };
        let spec: Value = serde_json::from_str(&text).expect("expected-config.json");
        let specs = match spec.get("cases").and_then(Value::as_array) {
            Some(list) => list.clone(),
            None => vec![spec],
        };
        for spec in &specs {
            checked += 1;
            check_case(&case, spec, &mut errors);
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert!(checked >= 40, "only {checked} resolution cases");
}

/// The secrets a kubeconfig holds (at least 6 characters, so they cannot match by chance).
fn secrets_of(kc: &Kubeconfig) -> Vec<String> {
    let mut out = Vec::new();
    for u in &kc.users {
        let user = &u.user;
        out.extend(user.token.iter().map(|t| t.expose_secret().to_owned()));
        out.extend(user.password.iter().map(|t| t.expose_secret().to_owned()));
        if let Some(key) = &user.client_key_data {
            out.push(key.expose_secret().to_owned());
            let decoded = base64_decode(key.expose_secret());
            // The PEM body lines of the decoded key.
            out.extend(
                decoded
                    .lines()
                    .filter(|l| !l.starts_with("-----"))
                    .map(str::to_owned),
            );
        }
        if let Some(exec) = &user.exec {
            out.extend(
                exec.env
                    .iter()
                    .flatten()
                    .map(|v| v.value.expose_secret().to_owned()),
            );
        }
        if let Some(provider) = &user.auth_provider {
            out.extend(
                provider
                    .config
                    .iter()
                    .flatten()
                    .map(|(_, v)| v.expose_secret().to_owned()),
            );
        }
    }
    out.retain(|s| s.len() >= 6);
    out
}

fn base64_decode(text: &str) -> String {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn debug_output_has_no_secrets() {
    let mut leaks = Vec::new();
    let mut with_secrets = 0;
    for case in cases() {
        let env = case_env(&case);
        let Ok(kc) = load_for_view(&env, None)
            .or_else(|_| Kubeconfig::read_from_with(&env, Path::new("config")))
        else {
            continue;
        };
        let mut secrets = secrets_of(&kc);
        // Secrets of token files count too.
        for u in &kc.users {
            if let Some(file) = &u.user.token_file
                && let Some(origin) = &u.origin
            {
                let path = origin.parent().unwrap().join(file);
                if let Ok(token) = env.read(&path) {
                    secrets.push(String::from_utf8_lossy(&token).trim().to_owned());
                }
            }
        }
        if secrets.is_empty() {
            continue;
        }
        with_secrets += 1;
        let mut outputs = vec![format!("{kc:?}"), format!("{kc:#?}")];
        for context in kc.contexts.iter().map(|c| c.name.clone()) {
            let mut options = KubeconfigOptions::default();
            options.context = Some(context);
            match Config::from_custom_kubeconfig_with(kc.clone(), &options, &env) {
                Ok(config) => outputs.push(format!("{config:?}")),
                Err(error) => outputs.push(format!("{error:?} {error}")),
            }
        }
        for secret in &secrets {
            if outputs.iter().any(|o| o.contains(secret.as_str())) {
                leaks.push(format!("{}: {secret:?}", case.display()));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets in Debug output: {leaks:?}");
    assert!(
        with_secrets >= 8,
        "only {with_secrets} fixtures hold secrets"
    );
}

#[test]
fn kubeconfig_round_trip_is_lossless() {
    let mut checked = 0;
    for case in cases() {
        let env = case_env(&case);
        let Ok(kc) = Kubeconfig::read_from_with(&env, Path::new("config")) else {
            continue;
        };
        let yaml = kc.to_yaml().expect("serialize");
        let mut again = Kubeconfig::from_yaml(&yaml).expect("re-parse");
        let mut original = kc.clone();
        for c in &mut original.clusters {
            c.origin = None;
        }
        for u in &mut original.users {
            u.origin = None;
        }
        for c in &mut original.contexts {
            c.origin = None;
        }
        assert_eq!(original, again, "{}", case.display());
        // JSON too.
        let json = serde_json::to_string(&kc).expect("json");
        again = Kubeconfig::from_yaml(&json).expect("json is YAML");
        assert_eq!(original, again, "{}", case.display());
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} round trips");
    // Unknown fields survive.
    let env = case_env(&data_dir().join("extensions-unknown"));
    let kc = Kubeconfig::read_from_with(&env, Path::new("config")).unwrap();
    let text = serde_yaml_ng::to_string(&kc).unwrap();
    for field in [
        "unknown-top",
        "unknown-pref",
        "unknown-entry",
        "unknown-cluster",
        "unknown-user",
        "unknown-exec",
        "unknown-context",
    ] {
        assert!(text.contains(field), "{field} lost");
    }
}

#[test]
fn origins_are_remembered() {
    let env = case_env(&data_dir().join("merge-two"));
    let kc = Kubeconfig::read_with(&env).unwrap();
    let origin = |name: &str| kc.cluster(name).unwrap().origin.clone().unwrap();
    assert_eq!(origin("shared"), Path::new("a/config"));
    assert_eq!(origin("only-b"), Path::new("b/config"));
    assert_eq!(
        kc.user("alice").unwrap().origin.as_deref(),
        Some(Path::new("a/config"))
    );
    let config =
        Config::from_custom_kubeconfig_with(kc, &KubeconfigOptions::default(), &env).unwrap();
    assert_eq!(
        config.origin.user_file,
        Some(data_dir().join("merge-two/a/config"))
    );
    match config.auth {
        AuthConfig::Token(token) => assert_eq!(token.expose_secret(), "tok-merge-a-71c2e0"),
        other => panic!("expected a token, got {other:?}"),
    }
}
