//! Running kubectl (v1.32 on PATH) against a test cluster, for differential tests.

use std::path::Path;
use std::process::Output;

/// Runs `kubectl --kubeconfig=<kubeconfig> <args>` with `stdin` as input.
pub async fn run(kubeconfig: &Path, args: &[&str], stdin: &[u8]) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("kubectl")
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl on PATH");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = tokio::spawn(async move {
        let _ = input.write_all(&data).await;
        drop(input);
    });
    let out = child.wait_with_output().await.expect("kubectl ran");
    let _ = writer.await;
    out
}

/// Runs kubectl with the admin kubeconfig of `env` and `stdin` as input.
#[cfg(feature = "testenv")]
pub async fn admin(env: &k8s_client::testenv::TestEnv, args: &[&str], stdin: &[u8]) -> Output {
    run(env.admin_kubeconfig(), args, stdin).await
}

/// `stderr` without kubectl's own log lines (klog's `E1205 02:10:00.123456  4242
/// file.go:296] …` form), which its WebSocket client may write when a race it tolerates
/// happens: what is left is what the remote command wrote.
pub fn without_log_lines(stderr: &[u8]) -> Vec<u8> {
    let is_log = |line: &[u8]| {
        line.len() > 6
            && b"IWEF".contains(&line[0])
            && line[1..5].iter().all(u8::is_ascii_digit)
            && line[5] == b' '
            && line.windows(2).any(|w| w == b"] ")
    };
    stderr
        .split_inclusive(|b| *b == b'\n')
        .filter(|line| !is_log(line))
        .flatten()
        .copied()
        .collect()
}
