//! `cargo xtask demo`: a walkthrough of the examples against a local control plane.

use crate::util::{Result, cargo, chain, ensure_binaries, root};
use k8s_client::testenv::TestEnv;
use std::process::Command;

/// The walkthrough: `(example, what it shows)`, run in this order with
/// `KUBECONFIG` pointing at the control plane's admin kubeconfig. Append new examples
/// here as they land; each must exist under `examples/`.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "config_view",
        "kubectl config view: the merged kubeconfig with REDACTED and DATA+OMITTED",
    ),
    (
        "testenv",
        "the library's TestEnv: start a private control plane, call it, stop it",
    ),
    (
        "discovery",
        "GET /api as the server sends it, with serverAddressByClientCIDRs",
    ),
    (
        "sa_token",
        "a service-account token Secret filled by the token controller; GET /api with only that token and the Secret's CA",
    ),
    (
        "list_pods",
        "pods of the default namespace, page by page (list_stream)",
    ),
    ("apply", "server-side apply of a ConfigMap from YAML"),
    (
        "dynamic",
        "any resource by kubectl-style name (discovery → ApiResource → DynamicObject): namespaces",
    ),
    (
        "in_cluster",
        "what a program in a pod does: Config::infer(), who am I, my namespace's pods",
    ),
];

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
    proxy_walkthrough(&kubeconfig)?;
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

/// `kubectl proxy --port=…` then `curl http://ADDR/api/`: starts the `proxy` example on a
/// random port, fetches `/api/` through every address it serves, and stops it with SIGTERM.
fn proxy_walkthrough(kubeconfig: &str) -> Result {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::Duration;

    eprintln!("\n=== example `proxy`: kubectl proxy as a library, then curl /api/ through it");
    cargo(
        &["build", "--quiet", "--all-features", "--example", "proxy"],
        &[],
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let binary = target.join("debug/examples/proxy");
    let mut child = Command::new(&binary)
        .arg("--port=0")
        .env("KUBECONFIG", kubeconfig)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
        {
            println!("{line}");
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // The first address within 60 s; the second (IPv6 loopback) follows at once if any.
    let mut addrs = Vec::new();
    let mut wait = Duration::from_secs(60);
    while let Ok(line) = lines_rx.recv_timeout(wait) {
        if let Some(addr) = line.strip_prefix("Starting to serve on ") {
            addrs.push(addr.trim().to_owned());
            wait = Duration::from_millis(500);
        }
    }
    let outcome = if addrs.is_empty() {
        Err("the proxy example printed no `Starting to serve on` line".to_owned())
    } else {
        addrs.iter().try_for_each(|addr| {
            let url = format!("http://{addr}/api/");
            eprintln!("+ curl -s {url}");
            let status = Command::new("curl")
                .args(["-sS", "--fail", &url])
                .status()
                .map_err(|e| format!("running curl (install curl to see this step): {e}"))?;
            println!();
            if status.success() {
                Ok(())
            } else {
                Err(format!("curl {url} failed ({status})"))
            }
        })
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the proxy example: {e}"))?;
    outcome?;
    if !status.success() {
        return Err(format!("the proxy example exited with {status} on SIGTERM"));
    }
    eprintln!("demo: proxy stopped cleanly");
    Ok(())
}
