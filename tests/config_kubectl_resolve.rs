//! Differential test of resolution and validation: for every context of
//! `tests/data/validate-cases/config` (all servers are `https://127.0.0.1:1`, where nothing
//! listens), kubectl either gets past configuration and fails to connect, or rejects the
//! configuration. `Config::from_kubeconfig_with` must accept exactly the contexts kubectl
//! accepts.

use k8s_client::Config;
use k8s_client::config::{FakeEnv, Kubeconfig, KubeconfigOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where we differ on purpose (docs/configuration.md, "Differences from kubectl"):
/// kubectl falls back to `http://localhost:8080` for a cluster without a server.
const KNOWN_DIFFERENCES: &[&str] = &["no-server"];

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/validate-cases")
}

/// True when kubectl accepted the configuration (it then tried to connect).
fn kubectl_accepts(context: &str, flags: &[&str]) -> bool {
    let dir = case_dir();
    let output = Command::new("kubectl")
        .args(["--kubeconfig", "config", "--context", context])
        .args(flags)
        .args(["--request-timeout", "5s", "get", "--raw", "/"])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &dir)
        .stdin(Stdio::null())
        .output()
        .expect("running kubectl");
    assert!(!output.status.success(), "nothing listens on 127.0.0.1:1");
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr.contains("127.0.0.1:1") && stderr.contains("refused")
}

#[test]
fn accepts_exactly_what_kubectl_accepts() {
    let dir = case_dir();
    let env = FakeEnv::new(&dir).with_var("HOME", "/");
    let kubeconfig = Kubeconfig::read_from_with(&env, Path::new("config")).unwrap();
    let mut mismatches = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for context in kubeconfig.contexts.iter().map(|c| c.name.as_str()) {
        if KNOWN_DIFFERENCES.contains(&context) {
            continue;
        }
        let mut options = KubeconfigOptions::default();
        options.context = Some(context.to_owned());
        let ours = Config::from_custom_kubeconfig_with(kubeconfig.clone(), &options, &env);
        let theirs = kubectl_accepts(context, &[]);
        match (&ours, theirs) {
            (Ok(_), true) => accepted += 1,
            (Err(_), false) => rejected += 1,
            _ => mismatches.push(format!(
                "{context}: kubectl accepts: {theirs}, ours: {ours:?}"
            )),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(
        accepted >= 2 && rejected >= 10,
        "accepted {accepted}, rejected {rejected}"
    );
}

/// kubectl's flags and the same overrides as options.
fn with_flag(options: &mut KubeconfigOptions, flag: &str, value: &str) {
    match flag {
        "--server" => options.server = Some(value.to_owned()),
        "--certificate-authority" => options.certificate_authority = Some(value.into()),
        "--insecure-skip-tls-verify" => options.insecure_skip_tls_verify = true,
        "--token" => options.token = Some(value.into()),
        "--user" => options.user = Some(value.to_owned()),
        "--cluster" => options.cluster = Some(value.to_owned()),
        other => panic!("unmapped flag {other}"),
    }
}

#[test]
fn overrides_interact_like_kubectl() {
    let cases: &[(&str, &str, &str)] = &[
        // --server fills in a cluster without a server.
        ("no-server", "--server", "https://127.0.0.1:1"),
        // --certificate-authority replaces CA data and the insecure flag.
        (
            "insecure-ca",
            "--certificate-authority",
            "../merge-two/a/ca.crt",
        ),
        // --insecure-skip-tls-verify drops the (bad) CA data.
        ("bad-pem", "--insecure-skip-tls-verify", ""),
        // --token clears the (missing) tokenFile.
        ("missing-tokenfile", "--token", "tok-flag-0011"),
        // --token does not clear basic auth.
        ("tokenfile-basic", "--token", "tok-flag-0022"),
        // Unknown --user / --cluster are errors.
        ("bad-proxy", "--user", "nobody"),
        ("ok", "--cluster", "nope"),
    ];
    let dir = case_dir();
    let env = FakeEnv::new(&dir).with_var("HOME", "/");
    let kubeconfig = Kubeconfig::read_from_with(&env, Path::new("config")).unwrap();
    let mut mismatches = Vec::new();
    for (context, flag, value) in cases {
        let mut options = KubeconfigOptions::default();
        options.context = Some((*context).to_owned());
        with_flag(&mut options, flag, value);
        let ours = Config::from_custom_kubeconfig_with(kubeconfig.clone(), &options, &env);
        let flags: Vec<&str> = [*flag, *value]
            .into_iter()
            .filter(|f| !f.is_empty())
            .collect();
        let theirs = kubectl_accepts(context, &flags);
        if ours.is_ok() != theirs {
            mismatches.push(format!(
                "{context} {flag} {value}: kubectl accepts: {theirs}, ours: {ours:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
