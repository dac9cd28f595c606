//! `cargo xtask bench portforward [--megabytes N] [--round-trips N] [--rounds R]`:
//! port-forward throughput (each way through one connection) and 64-byte round-trip
//! latency, ours (tunnelled SPDY and the WebSocket fallback) vs `kubectl port-forward`
//! on the same kwok pod; writes its region of docs/performance.md
//! (`benches/portforward.rs`, built with the bench profile).

use crate::util::{Result, run_testenv_bench};

/// Runs the port-forward benchmark; `args` are the words after
/// `cargo xtask bench portforward`.
pub fn run(args: &[&str]) -> Result {
    run_testenv_bench("portforward", args, &["docs/performance.md"])
}
