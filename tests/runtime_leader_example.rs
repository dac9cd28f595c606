//! The `leader_election` example end to end: three copies, one leads with a heartbeat; kill
//! it and another takes over; SIGINT makes the next one release, and the last takes over
//! at once.
#![cfg(feature = "testenv")]

mod support;

use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The built example (`cargo xtask test` builds the examples first; build it when only this test runs).
fn example_binary() -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let profile_dir = deps.parent().unwrap().parent().unwrap();
    let binary = profile_dir.join("examples").join("leader_election");
    if !binary.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "--workspace",
                "--all-features",
                "--example",
                "leader_election",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build --example leader_election");
        assert!(
            status.success(),
            "building the leader_election example failed"
        );
    }
    binary
}

/// The next line from copy `who`, skipping other copies' lines, within `limit`.
async fn next_from(
    lines: &mut mpsc::UnboundedReceiver<(usize, String)>,
    log: &mut Vec<(usize, String)>,
    limit: Duration,
    mut want: impl FnMut(usize, &str) -> bool,
) -> (usize, String, Instant) {
    let deadline = Instant::now() + limit;
    loop {
        let (who, line) = tokio::time::timeout_at(deadline, lines.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out; output so far: {log:#?}"))
            .expect("the copies' output");
        log.push((who, line.clone()));
        if want(who, &line) {
            return (who, line, Instant::now());
        }
    }
}

#[tokio::test]
async fn three_copies_hand_over_on_kill_and_on_sigint() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let ns = support::env::unique_namespace(env, "leader-example").await;
    let (tx, mut lines) = mpsc::unbounded_channel();
    let mut children: Vec<Child> = Vec::new();
    for i in 0..3 {
        let mut child = tokio::process::Command::new(example_binary())
            .arg(format!("--kubeconfig={}", env.admin_kubeconfig().display()))
            .args(["--namespace", &ns, "--lease", "demo"])
            .args(["--identity", &format!("copy-{i}")])
            .args(["--lease-duration", "3", "--renew-deadline", "2"])
            .args(["--retry-period", "0.5", "--heartbeat", "0.2"])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("running the leader_election example");
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                let _ = tx.send((i, line));
            }
        });
        children.push(child);
    }
    let mut log = Vec::new();
    let limit = Duration::from_secs(30);

    let (first, _, _) = next_from(&mut lines, &mut log, limit, |_, l| l == "started leading").await;
    next_from(&mut lines, &mut log, limit, |w, l| {
        w == first && l.starts_with("heartbeat 2:")
    })
    .await;
    // Crash the leader.
    children[first].kill().await.unwrap();
    let killed = Instant::now();
    let (second, _, took_over) = next_from(&mut lines, &mut log, limit, |w, l| {
        w != first && l == "started leading"
    })
    .await;
    assert!(
        // A lease duration plus at most two jittered polls (2 × 2.2 × 0.5 s), plus startup.
        took_over - killed < Duration::from_secs(3) + Duration::from_millis(2200 + 500),
        "hand-over after a kill took {:?}",
        took_over - killed
    );
    next_from(&mut lines, &mut log, limit, |w, l| {
        w == second && l.starts_with("heartbeat 2:")
    })
    .await;

    // Ctrl-C the second leader: it releases and exits 0; the third takes over at once.
    let pid = children[second].id().expect("running") as i32;
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let interrupted = Instant::now();
    let third = 3 - first - second;
    let (_, _, third_took_over) = next_from(&mut lines, &mut log, limit, |w, l| {
        w == third && l == "started leading"
    })
    .await;
    assert!(
        third_took_over - interrupted < Duration::from_secs(3),
        "hand-over after release took {:?}",
        third_took_over - interrupted
    );
    let exit = tokio::time::timeout(limit, children[second].wait())
        .await
        .expect("the interrupted copy exits")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    // The crashed copy never printed a stop; the interrupted one did.
    assert!(
        !log.iter()
            .any(|(w, l)| *w == first && l.contains("stopped")),
        "{log:#?}"
    );
    let released = |w: usize, l: &str| w == second && l == "released the lease; exiting";
    if !log.iter().any(|(w, l)| released(*w, l)) {
        next_from(&mut lines, &mut log, limit, released).await;
    }
    eprintln!(
        "kill hand-over {:?}, release hand-over {:?}",
        took_over - killed,
        third_took_over - interrupted
    );
}
