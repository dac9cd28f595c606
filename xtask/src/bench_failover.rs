//! `cargo xtask bench failover [--requests N] [--rounds R] [--kills K]`: GET throughput
//! over three API servers vs one, and the failover pause when the server in use is
//! SIGKILLed; writes its region of docs/performance.md and docs/failover.md
//! (`benches/failover.rs`, built with the bench profile).

use crate::util::{Result, run_testenv_bench};

/// Runs the failover benchmark; `args` are the words after `cargo xtask bench failover`.
pub fn run(args: &[&str]) -> Result {
    run_testenv_bench(
        "failover",
        args,
        &["docs/performance.md", "docs/failover.md"],
    )
}
