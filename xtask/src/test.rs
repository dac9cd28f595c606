//! `cargo xtask test`: the full check that CI runs.

use k8s_client::testenv::TMPDIR_ENV;

use crate::util::{Result, cargo, ensure_binaries, processes_mentioning};

/// Set for `cargo test` so that a missing control plane fails instead of skipping.
const REQUIRED_ENV: &str = "K8S_CLIENT_TESTENV_REQUIRED";

pub fn run() -> Result {
    cargo(&["fmt", "--all", "--check"], &[])?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    check_features()?;
    // The generated protobuf decoders must equal a fresh generation from the pinned modules.
    crate::codegen::run(&["--check"])?;
    let binaries = ensure_binaries()?;
    eprintln!("control-plane binaries: {}", binaries.dir().display());
    // A private directory for the tests' control planes: every control plane the tests start lives below it, so the
    // orphan check sees only ours even when other test runs share the machine.
    let tmp = std::env::temp_dir().join(format!("k8s-client-xtask-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    let tmp_str = tmp.to_string_lossy().into_owned();
    // Examples and benchmarks must build; the tests that run an example binary find it
    // built with the features the test run uses.
    cargo(
        &[
            "build",
            "--workspace",
            "--examples",
            "--benches",
            "--all-features",
        ],
        &[],
    )?;
    let tested = cargo(
        &["test", "--workspace", "--all-features"],
        &[(REQUIRED_ENV, "1"), (TMPDIR_ENV, &tmp_str)],
    );
    let orphans = check_no_orphans(&tmp_str);
    let _ = std::fs::remove_dir_all(&tmp);
    tested?;
    orphans?;
    crate::soak::run(&[])?;
    // Each criterion benchmark once, in test mode (no measurement).
    cargo(&["test", "--workspace", "--all-features", "--benches"], &[])?;
    eprintln!("xtask test: all checks passed");
    Ok(())
}

/// The library's Cargo features, each of which must build alone.
const FEATURES: &[&str] = &[
    "protobuf", "runtime", "proxy", "oidc", "socks", "gzip", "testing", "testenv",
];

/// `cargo check --lib` with the default features, with none, and with each feature
/// alone; then the API docs with warnings denied. Quick: no tests, no codegen.
fn check_features() -> Result {
    let started = std::time::Instant::now();
    // `--lib` builds no dev-dependencies, so k8s-openapi takes its Kubernetes version from
    // the environment (as for docs.rs) instead of the dev-dependency's `latest` feature.
    let version = [("K8S_OPENAPI_ENABLED_VERSION", "1.37")];
    let check = ["check", "--quiet", "-p", "k8s-client", "--lib"];
    cargo(&check, &version)?;
    cargo(&[&check[..], &["--no-default-features"]].concat(), &version)?;
    for feature in FEATURES {
        cargo(
            &[
                &check[..],
                &["--no-default-features", "--features", feature],
            ]
            .concat(),
            &version,
        )?;
    }
    cargo(
        &[
            "doc",
            "--quiet",
            "-p",
            "k8s-client",
            "--no-deps",
            "--all-features",
        ],
        &[version[0], ("RUSTDOCFLAGS", "-D warnings")],
    )?;
    eprintln!("feature checks and docs: {:.0?}", started.elapsed());
    Ok(())
}

/// Every control plane started by the tests lives in a temporary directory below
/// `tmp`; none of its processes may survive the test run.
fn check_no_orphans(tmp: &str) -> Result {
    let left = processes_mentioning(tmp);
    if left.is_empty() {
        eprintln!("no control-plane processes left behind by the tests");
        return Ok(());
    }
    let list: Vec<String> = left
        .iter()
        .map(|(pid, cmd)| format!("  {pid}: {cmd}"))
        .collect();
    Err(format!(
        "control-plane processes outlived the tests:\n{}",
        list.join("\n")
    ))
}
