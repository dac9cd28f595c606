//! `cargo xtask test`: the full check that CI runs.

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
    let binaries = ensure_binaries()?;
    eprintln!("control-plane binaries: {}", binaries.dir().display());
    cargo(
        &["test", "--workspace", "--all-features"],
        &[(REQUIRED_ENV, "1")],
    )?;
    check_no_orphans()?;
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
    eprintln!("xtask test: all checks passed");
    Ok(())
}

/// Every control plane started by the tests lives in a temporary directory named
/// `k8s-client-testenv-*`; none of its processes may survive the test run.
fn check_no_orphans() -> Result {
    let marker = std::env::temp_dir().join("k8s-client-testenv-");
    let left = processes_mentioning(&marker.to_string_lossy());
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
