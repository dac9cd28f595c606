//! Property tests: the kubeconfig loader and resolver never panic on arbitrary bytes,
//! YAML-ish token soup, or structurally valid kubeconfigs with random values; whatever
//! resolves has a valid namespace, and no secret of the input shows in `Debug` or in an
//! error message.

use k8s_client::Config;
use k8s_client::config::{
    FakeEnv, Kubeconfig, KubeconfigOptions, ViewOptions, is_valid_namespace, view_with,
};
use proptest::prelude::*;
use std::path::Path;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Loads, resolves (with `options`) and views `bytes`; returns what was shown.
fn exercise(bytes: &[u8], options: &KubeconfigOptions) -> String {
    let root = tempfile::tempdir().unwrap();
    let env = FakeEnv::new(root.path());
    let mut shown = String::new();
    match Kubeconfig::parse(bytes, Some(Path::new("/home/u/.kube/config"))) {
        Err(e) => shown.push_str(&format!("{e}\n{e:?}\n")),
        Ok(kc) => {
            shown.push_str(&format!("{kc:?}\n"));
            let _ = kc.to_yaml();
            let _ = view_with(&kc, &ViewOptions::default(), &env);
            match Config::from_custom_kubeconfig_with(kc, options, &env) {
                Ok(config) => {
                    assert!(
                        is_valid_namespace(&config.default_namespace),
                        "{:?}",
                        config.default_namespace
                    );
                    shown.push_str(&format!("{config:?}\n{config:#?}\n"));
                }
                Err(e) => {
                    let mut source: Option<&dyn std::error::Error> = Some(&e);
                    while let Some(s) = source {
                        shown.push_str(&format!("{s}\n"));
                        source = s.source();
                    }
                    shown.push_str(&format!("{e:?}\n"));
                }
            }
        }
    }
    shown
}

/// YAML-ish fragments: structure, anchors, tags, quotes, BOMs and kubeconfig keys.
fn yamlish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just("clusters:".to_owned()),
        Just("users:".to_owned()),
        Just("contexts:".to_owned()),
        Just("current-context: ".to_owned()),
        Just("- name: ".to_owned()),
        Just("cluster:".to_owned()),
        Just("user:".to_owned()),
        Just("context:".to_owned()),
        Just("server: ".to_owned()),
        Just("namespace: ".to_owned()),
        Just("token: ".to_owned()),
        Just("exec:".to_owned()),
        Just("args: ".to_owned()),
        Just("env: ".to_owned()),
        Just("certificate-authority-data: ".to_owned()),
        Just("auth-provider:".to_owned()),
        Just("\n".to_owned()),
        Just("  ".to_owned()),
        Just("\t".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(", ".to_owned()),
        Just(": ".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("<<: *a".to_owned()),
        Just("!!binary ".to_owned()),
        Just("!custom ".to_owned()),
        Just("---\n".to_owned()),
        Just("...\n".to_owned()),
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("|\n".to_owned()),
        Just("~".to_owned()),
        Just("\u{feff}".to_owned()),
        Just("null".to_owned()),
        ".{0,8}",
    ];
    prop::collection::vec(token, 0..48).prop_map(|t| t.concat().into_bytes())
}

const SECRETS: &[&str] = &[
    "tok-SECRET",
    "pw-SECRET",
    "arg-SECRET",
    "env-SECRET",
    "idp-SECRET",
    "key-SECRET",
];

fn assert_no_secret(shown: &str) {
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{secret} in:\n{shown}");
    }
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just(String::new()),
        "[a-z]{1,3}"
    ]
}

fn namespace() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        Just("default".to_owned()),
        Just("kube-system".to_owned()),
        Just("../x".to_owned()),
        Just("UPPER".to_owned()),
        "[a-z0-9-]{0,70}",
        ".{0,10}",
    ])
}

fn server() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        Just("https://10.0.0.1:6443".to_owned()),
        Just("https://admin:pw-SECRET@10.0.0.1".to_owned()),
        Just("admin:pw-SECRET@[::1".to_owned()),
        Just("http://u:pw-SECRET@h:99999".to_owned()),
        Just("10.0.0.1".to_owned()),
        ".{0,12}",
    ])
}

/// A kubeconfig with the right shape and random values.
fn structured() -> impl Strategy<Value = serde_json::Value> {
    let cluster = (
        name(),
        server(),
        server(),
        any::<Option<bool>>(),
        prop::option::of("[A-Za-z0-9+/=]{0,12}"),
    )
        .prop_map(|(n, s, proxy, insecure, ca)| {
            serde_json::json!({"name": n, "cluster": {
                "server": s, "proxy-url": proxy, "insecure-skip-tls-verify": insecure,
                "certificate-authority-data": ca,
            }})
        });
    let user = (
        name(),
        0..6u8,
        prop::option::of(prop_oneof![Just("v1".to_owned()), Just("v1beta1".to_owned()), Just("client.authentication.k8s.io/v1".to_owned()), ".{0,6}"]),
        prop::option::of(prop_oneof![Just("Never".to_owned()), Just("Always".to_owned()), ".{0,6}"]),
    )
        .prop_map(|(n, kind, api_version, mode)| {
            let user = match kind {
                0 => serde_json::json!({"token": "tok-SECRET"}),
                1 => serde_json::json!({"username": "me", "password": "pw-SECRET"}),
                2 => serde_json::json!({"exec": {
                    "command": "plugin", "apiVersion": api_version, "interactiveMode": mode,
                    "args": ["--secret=arg-SECRET"], "env": [{"name": "E", "value": "env-SECRET"}],
                }}),
                3 => serde_json::json!({"auth-provider": {"name": "oidc", "config": {"client-secret": "idp-SECRET"}}}),
                4 => serde_json::json!({"client-certificate-data": "Zm9v", "client-key-data": "key-SECRET", "tokenFile": "/t"}),
                _ => serde_json::json!({"token": "tok-SECRET", "as-groups": ["g"], "tokenFile": "../t"}),
            };
            serde_json::json!({"name": n, "user": user})
        });
    let context = (name(), name(), name(), namespace()).prop_map(|(n, c, u, ns)| {
        serde_json::json!({"name": n, "context": {"cluster": c, "user": u, "namespace": ns}})
    });
    (
        prop::collection::vec(cluster, 0..3),
        prop::collection::vec(user, 0..3),
        prop::collection::vec(context, 0..3),
        prop::option::of(name()),
    )
        .prop_map(|(clusters, users, contexts, current)| {
            serde_json::json!({
                "apiVersion": "v1", "kind": "Config",
                "clusters": clusters, "users": users, "contexts": contexts,
                "current-context": current,
            })
        })
}

fn options() -> impl Strategy<Value = KubeconfigOptions> {
    (prop::option::of(name()), namespace(), server()).prop_map(|(context, namespace, server)| {
        let mut o = KubeconfigOptions::default();
        o.context = context;
        o.namespace = namespace;
        o.server = server;
        o
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        exercise(&bytes, &KubeconfigOptions::default());
    }

    #[test]
    fn yaml_soup_never_panics(bytes in yamlish(), options in options()) {
        exercise(&bytes, &options);
    }

    #[test]
    fn structured_kubeconfigs_resolve_or_fail_cleanly_without_leaking(
        doc in structured(),
        options in options(),
    ) {
        let yaml = serde_yaml_ng::to_string(&doc).unwrap();
        let shown = exercise(yaml.as_bytes(), &options);
        assert_no_secret(&shown);
    }
}
