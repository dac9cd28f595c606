//! `cargo xtask bench proxy [--requests N] [--rounds R] [--time-limit S]`: GET of one
//! ConfigMap through our proxy, through `kubectl proxy`, and direct, alternating, at
//! concurrency 1 and 32; writes its section of docs/performance.md
//! (`benches/proxy-bench`).

use crate::util::{Result, cargo, ensure_binaries};

/// Runs the proxy benchmark; `args` are the words after `cargo xtask bench proxy`.
pub fn run(args: &[&str]) -> Result {
    ensure_binaries()?;
    let mut command = vec!["run", "--release", "-p", "proxy-bench", "--"];
    command.extend_from_slice(args);
    if !args.contains(&"--write") {
        command.extend_from_slice(&["--write", "docs/performance.md"]);
    }
    cargo(&command, &[])
}
