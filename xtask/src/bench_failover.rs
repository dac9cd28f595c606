//! `cargo xtask bench failover [--requests N] [--rounds R] [--kills K]`: GET throughput
//! over three API servers vs one, and the failover pause when the server in use is
//! SIGKILLed; writes its region of docs/performance.md and docs/failover.md
//! (`benches/failover.rs`, built with the bench profile).

use crate::util::{Result, cargo, ensure_binaries};

/// Runs the failover benchmark; `args` are the words after `cargo xtask bench failover`.
pub fn run(args: &[&str]) -> Result {
    ensure_binaries()?;
    let mut command = vec![
        "bench",
        "-p",
        "k8s-client",
        "--features",
        "testenv",
        "--bench",
        "failover",
        "--",
    ];
    command.extend_from_slice(args);
    if !args.contains(&"--write") {
        command.extend_from_slice(&[
            "--write",
            "docs/performance.md",
            "--write",
            "docs/failover.md",
        ]);
    }
    cargo(&command, &[])
}
