//! Micro-benchmark of kubeconfig loading: read, parse, merge and resolve a
//! kubeconfig the size of a busy user's `~/.kube/config` (40 contexts,
//! inline certificate data) into a `Config`, as `Config::infer()` does at
//! every program start.
//!
//! `cargo bench --bench kubeconfig`; `-- --test` runs each benchmark once.

use std::fmt::Write;
use std::hint::black_box;
use std::path::Path;

use base64::Engine;
use criterion::{Criterion, criterion_group, criterion_main};
use k8s_client::Config;
use k8s_client::config::{KubeconfigOptions, SystemEnv};

const CONTEXTS: usize = 40;

fn fixture(dir: &Path) -> std::path::PathBuf {
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/relative-paths/conf/certs");
    let b64 = |name: &str| {
        let pem = std::fs::read(certs.join(name)).expect("fixture certificate exists");
        base64::engine::general_purpose::STANDARD.encode(pem)
    };
    let (ca, cert, key) = (b64("ca.crt"), b64("client.crt"), b64("client.key"));
    let mut y = String::from("apiVersion: v1\nkind: Config\ncurrent-context: ctx-17\nclusters:\n");
    for i in 0..CONTEXTS {
        let _ = writeln!(
            y,
            "- name: cluster-{i}\n  cluster:\n    server: https://10.0.{i}.1:6443\n    certificate-authority-data: {ca}"
        );
    }
    y.push_str("users:\n");
    for i in 0..CONTEXTS {
        let _ = writeln!(
            y,
            "- name: user-{i}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}"
        );
    }
    y.push_str("contexts:\n");
    for i in 0..CONTEXTS {
        let _ = writeln!(
            y,
            "- name: ctx-{i}\n  context:\n    cluster: cluster-{i}\n    user: user-{i}\n    namespace: team-{i}"
        );
    }
    let path = dir.join("config");
    std::fs::write(&path, y).expect("write fixture kubeconfig");
    path
}

fn load(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = fixture(dir.path());
    let mut options = KubeconfigOptions::default();
    options.kubeconfig = Some(path);
    // Check once, outside the measurement, that the fixture resolves.
    let config = Config::from_kubeconfig_with(&options, &SystemEnv).expect("fixture resolves");
    assert_eq!(config.default_namespace, "team-17");
    c.bench_function(
        "kubeconfig/load and resolve (40 contexts, inline certs)",
        |b| {
            b.iter(|| {
                black_box(
                    Config::from_kubeconfig_with(black_box(&options), &SystemEnv)
                        .expect("resolves"),
                )
            })
        },
    );
}

criterion_group!(benches, load);
criterion_main!(benches);
