//! Runs one client process for one case and measures it from outside: wall
//! time from spawn to exit, and the child's own `ru_maxrss` and user+system CPU
//! as reported by `wait4`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use k8s_client_bench::protocol::{Outcome, timeval_s};
use serde::{Deserialize, Serialize};

/// A benchmarked client: its name and the command that starts it.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Name in the tables (`ours`, `raw limit`, `kube-rs`, …).
    pub name: String,
    /// Program and leading arguments.
    pub command: Vec<String>,
}

/// One measured client run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    /// Client name.
    pub client: String,
    /// Case id.
    pub case: String,
    /// Round number.
    pub round: usize,
    /// Spawn → exit, seconds.
    pub wall_s: f64,
    /// Peak RSS of the child, KiB.
    pub maxrss_kib: i64,
    /// User+system CPU of the child, seconds.
    pub cpu_s: f64,
    /// What the client reported.
    pub outcome: Outcome,
    /// Exec-plugin runs counted during this run (the exec-plugin case).
    pub plugin_runs: Option<u64>,
}

/// Spawns `spec` with `argv`, calls `on_ready` when it prints `READY` (or right
/// after spawning when `wait_ready` is false), and measures it. A client that
/// exceeds `timeout` is killed and recorded as failed.
pub fn run(
    spec: &ClientSpec,
    argv: &[String],
    kubeconfig: &Path,
    wait_ready: bool,
    timeout: Duration,
    on_ready: impl FnOnce(),
) -> (f64, i64, f64, Outcome) {
    let started = Instant::now();
    let child = Command::new(&spec.command[0])
        .args(&spec.command[1..])
        .args(argv)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return (
                0.0,
                0,
                0.0,
                Outcome::failed(format!("starting {:?}: {e}", spec.command)),
            );
        }
    };
    let pid = child.id() as libc::pid_t;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = started + timeout;
    let mut last = None;
    let mut on_ready = Some(on_ready);
    if !wait_ready {
        (on_ready.take().expect("called once"))();
    }
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.trim() == "READY" => {
                if let Some(f) = on_ready.take() {
                    f();
                }
            }
            Ok(line) => last = Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                let _ = child.kill();
                break;
            }
        }
    }
    let (wall, rss, cpu) = reap(pid, started);
    let _ = reader.join();
    let outcome = if timed_out {
        Outcome::failed(format!("timed out after {}s", timeout.as_secs()))
    } else {
        match last.as_deref().map(serde_json::from_str::<Outcome>) {
            Some(Ok(o)) => o,
            Some(Err(_)) | None => Outcome::failed(format!(
                "the client printed no result line (last line: {:?})",
                last.unwrap_or_default()
            )),
        }
    };
    (wall, rss, cpu, outcome)
}

/// Waits for `pid` with `wait4` and returns (wall s, peak RSS KiB, CPU s).
fn reap(pid: libc::pid_t, started: Instant) -> (f64, i64, f64) {
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `pid` is our own unreaped child (std's `Child` never waited for it);
    // `status` and `usage` are valid, writable locations of the right types.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
    let wall = started.elapsed().as_secs_f64();
    if rc != pid {
        return (wall, 0, 0.0);
    }
    // SAFETY: wait4 succeeded and filled the zero-initialised struct.
    let usage = unsafe { usage.assume_init() };
    (
        wall,
        usage.ru_maxrss,
        timeval_s(usage.ru_utime) + timeval_s(usage.ru_stime),
    )
}
