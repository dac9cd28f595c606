//! The `proxy` example end to end: kubectl's flags and output, `curl`-style requests
//! over IPv4 and IPv6 loopback, and a clean exit on SIGTERM.
#![cfg(feature = "testenv")]

mod support;

use std::path::PathBuf;
use support::proxy::Target;
use support::proxy::fetch;
use support::proxy::request;
use support::within;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The built example (`cargo xtask test` builds the examples first; build it when only this test runs).
fn example_binary() -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let profile_dir = deps.parent().unwrap().parent().unwrap();
    let binary = profile_dir.join("examples").join("proxy");
    if !binary.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "--workspace",
                "--all-features",
                "--example",
                "proxy",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build --example proxy");
        assert!(status.success(), "building the proxy example failed");
    }
    binary
}

#[tokio::test]
async fn example_serves_both_loopbacks_and_stops_on_sigterm() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let mut child = tokio::process::Command::new(example_binary())
        .arg(format!("--kubeconfig={}", env.admin_kubeconfig().display()))
        .arg("--port=0")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("running the proxy example");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = within("the first line", lines.next_line())
        .await
        .unwrap()
        .unwrap();
    let v4 = first
        .strip_prefix("Starting to serve on 127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected output {first:?}"));
    let port: u16 = v4.parse().unwrap();
    let mut targets = vec![Target::Tcp(([127, 0, 0, 1], port).into())];
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let second = within("the second line", lines.next_line())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second, format!("Starting to serve on [::1]:{port}"));
        targets.push(Target::Tcp(format!("[::1]:{port}").parse().unwrap()));
    }
    for target in &targets {
        // What `curl http://127.0.0.1:PORT/api/` and `curl http://[::1]:PORT/api/` send.
        let answer = fetch(target, request(target, "GET", "/api/", None)).await;
        assert_eq!(answer.status, 200, "{target:?}: {}", answer.text());
        assert_eq!(answer.json()["kind"], "APIVersions");
    }
    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = within("the example to exit", child.wait()).await.unwrap();
    assert!(status.success(), "exit status {status}");
}
