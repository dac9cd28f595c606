//! The soak suite's sizes, configs, CPU measurement and figures; the fault relay, the
//! change workload and try counting are its siblings.

use k8s_client::Config;
use std::path::Path;
use std::time::Duration;

/// `K8S_CLIENT_SOAK=long` selects the long variant (`cargo xtask soak --long`).
pub const SIZE_ENV: &str = "K8S_CLIENT_SOAK";

/// Whether the long variant runs.
pub fn long() -> bool {
    std::env::var(SIZE_ENV).is_ok_and(|v| v == "long")
}

/// `ci` in the CI-sized variant, `long` otherwise.
pub fn pick<T>(ci: T, long_variant: T) -> T {
    if long() { long_variant } else { ci }
}

/// A config read from a kubeconfig file.
pub fn config(kubeconfig: &Path) -> Config {
    crate::support::kubeconfig_config(kubeconfig, |_| {})
}

/// CPU time (user + system) this process has used so far (`/proc/self/stat`).
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("reading /proc/self/stat");
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').expect("stat has a command") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ, the unit of these fields, is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Figures of one scenario, printed in one block for docs/reliability.md.
#[derive(Debug, Default)]
pub struct Report {
    lines: Vec<String>,
}

impl Report {
    pub fn add(&mut self, key: &str, value: impl std::fmt::Display) {
        self.lines.push(format!("{key}: {value}"));
    }

    pub fn print(&self, scenario: &str) {
        use std::io::Write;
        let mut out = std::io::stderr().lock();
        let _ = writeln!(
            out,
            "SOAK {scenario} ({})",
            if long() { "long" } else { "ci" }
        );
        for l in &self.lines {
            let _ = writeln!(out, "SOAK   {l}");
        }
    }
}
