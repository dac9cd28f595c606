//! `cargo xtask demo`: a walkthrough of the examples against a local control plane.

use crate::util::{Result, cargo, chain, ensure_binaries, root};
use k8s_client::testenv::TestEnv;
use std::process::Command;

/// The walkthrough: `(example, what it shows)`, run in this order with
/// `KUBECONFIG` pointing at the control plane's admin kubeconfig. Append new examples
/// here as they land; each must exist under `examples/`.
pub const EXAMPLES: &[(&str, &str)] = &[(
    "testenv",
    "the library's TestEnv: start a private control plane, call it, stop it",
)];

pub fn run() -> Result {
    let binaries = ensure_binaries()?;
    eprintln!(
        "demo: starting a local control plane (binaries in {})",
        binaries.dir().display()
    );
    let started = std::time::Instant::now();
    let env = TestEnv::builder()
        .binaries(binaries)
        .start()
        .map_err(|e| chain(&e))?;
    eprintln!(
        "demo: control plane ready at {} in {:.1?}; kubeconfigs in {}",
        env.server_url(),
        started.elapsed(),
        env.dir().display()
    );
    let kubeconfig = env.admin_kubeconfig().to_string_lossy().into_owned();
    for (name, what) in EXAMPLES {
        eprintln!("\n=== example `{name}`: {what}");
        eprintln!("    KUBECONFIG={kubeconfig}");
        cargo(
            &["run", "--quiet", "--all-features", "--example", name],
            &[("KUBECONFIG", kubeconfig.as_str())],
        )?;
    }
    if on_path("kubectl") {
        eprintln!("\n=== reference: kubectl get namespaces (same KUBECONFIG)");
        let status = Command::new("kubectl")
            .args(["get", "namespaces"])
            .env("KUBECONFIG", &kubeconfig)
            .current_dir(root())
            .status()
            .map_err(|e| format!("running kubectl: {e}"))?;
        if !status.success() {
            return Err(format!("kubectl get namespaces failed ({status})"));
        }
    }
    drop(env);
    eprintln!("\ndemo: stopped the control plane; done");
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}
