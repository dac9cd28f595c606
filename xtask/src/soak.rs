//! `cargo xtask soak [--long]`: the fault-injection suite (tests/soak.rs) against real
//! control planes. The CI-sized variant (a few minutes) is also part of `cargo xtask
//! test`; `--long` runs ≥5 kube-apiserver and ≥2 etcd restarts over 10,000 changes and
//! ≥50,000 requests. Each scenario prints its figures as `SOAK …` lines, the figures
//! docs/reliability.md reports.

use crate::util::{Result, cargo, ensure_binaries};

/// `ci` or `long`: read by the soak suite (tests/soak/kit.rs).
const SIZE_ENV: &str = "K8S_CLIENT_SOAK";

pub fn run(args: &[&str]) -> Result {
    let long = match args {
        [] => false,
        ["--long"] => true,
        _ => return Err("usage: cargo xtask soak [--long]".to_owned()),
    };
    ensure_binaries()?;
    let started = std::time::Instant::now();
    cargo(
        &[
            "test",
            "-p",
            "k8s-client",
            "--all-features",
            "--test",
            "soak",
            "--",
            "--ignored",
            "--nocapture",
        ],
        &[
            ("K8S_CLIENT_TESTENV_REQUIRED", "1"),
            (SIZE_ENV, if long { "long" } else { "ci" }),
        ],
    )?;
    eprintln!(
        "xtask soak ({}): passed in {:.0?}",
        if long { "long" } else { "ci" },
        started.elapsed()
    );
    Ok(())
}
