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

/// `stderr` without kubectl's own log lines — klog's `E1205 02:10:00.123456   4242
/// file.go:296] …` form. kubectl's WebSocket client writes one when a frame arrives for a
/// stream it has not set up yet (`Unknown stream id 1, discarding message`); when the
/// dropped frame is the empty one that opens a stream, nothing of the remote output is
/// lost and only the log line differs. (If it carried data, kubectl's own output lacks it
/// and a comparison still fails.) What is left is what the remote command wrote.
pub fn without_log_lines(stderr: &[u8]) -> Vec<u8> {
    stderr
        .split_inclusive(|b| *b == b'\n')
        .filter(|line| !is_klog_line(line))
        .flatten()
        .copied()
        .collect()
}

/// `Lmmdd hh:mm:ss.uuuuuu <spaces>pid file:line] `: klog's header.
fn is_klog_line(line: &[u8]) -> bool {
    let digits = |b: &[u8]| !b.is_empty() && b.iter().all(u8::is_ascii_digit);
    let Some((stamp, rest)) = line.split_at_checked(21) else {
        return false;
    };
    let shape_ok = b"IWEF".contains(&stamp[0])
        && digits(&stamp[1..5])
        && stamp[5] == b' '
        && digits(&stamp[6..8])
        && stamp[8] == b':'
        && digits(&stamp[9..11])
        && stamp[11] == b':'
        && digits(&stamp[12..14])
        && stamp[14] == b'.'
        && digits(&stamp[15..21]);
    if !shape_ok {
        return false;
    }
    let rest = rest.trim_ascii_start();
    let Some(space) = rest.iter().position(|b| *b == b' ') else {
        return false;
    };
    let (pid, place) = (&rest[..space], &rest[space + 1..]);
    let Some(end) = place.windows(2).position(|w| w == b"] ") else {
        return false;
    };
    let file_line = &place[..end];
    digits(pid)
        && file_line
            .iter()
            .rposition(|b| *b == b':')
            .is_some_and(|colon| colon > 0 && digits(&file_line[colon + 1..]))
}
