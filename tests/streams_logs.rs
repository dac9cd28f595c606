//! Pod logs against a real API server and kwok's kubelet (which reads the
//! environment's container log file), compared with `kubectl logs`.

mod support;

use futures_util::StreamExt;
use k8s_client::api::{Api, LogLine, LogParams, LogSelection, LogStream};
use k8s_client::testenv::TestEnv;
use k8s_openapi::api::core::v1::Pod;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

/// Every pod's log is the environment's one log file: tests that append to it and
/// compare outputs take turns.
static LOG_FILE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Lines with kubectl's `--prefix`, concatenated.
fn prefixed(lines: &[LogLine]) -> String {
    lines
        .iter()
        .map(|l| format!("{}{}", l.prefix(), String::from_utf8_lossy(&l.line)))
        .collect()
}

/// `--prefix`ed output grouped by its `[pod/NAME/CONTAINER] ` prefix: kubectl reads
/// several streams in an order that varies between runs (it walks a Go map), but each
/// stream's lines are contiguous and in order.
fn blocks(text: &str) -> BTreeMap<String, String> {
    let mut by_source: BTreeMap<String, String> = BTreeMap::new();
    for line in text.split_inclusive('\n') {
        let source = line.split(' ').next().unwrap_or_default().to_owned();
        by_source.entry(source).or_default().push_str(line);
    }
    by_source
}

async fn collect(mut s: LogStream) -> Vec<LogLine> {
    let mut out = Vec::new();
    while let Some(l) = s.next().await {
        out.push(l.expect("log line"));
    }
    out
}

/// Reads `stream` until a line of every pod in `pods` contains `marker`.
async fn read_until_marker(stream: &mut LogStream, pods: &[&str], marker: &str) -> Vec<LogLine> {
    let mut out: Vec<LogLine> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = |out: &[LogLine]| {
        pods.iter().all(|p| {
            out.iter()
                .any(|l| l.pod == *p && String::from_utf8_lossy(&l.line).contains(marker))
        })
    };
    while !done(&out) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = tokio::time::timeout(left, stream.next())
            .await
            .unwrap_or_else(|_| panic!("{marker} from {pods:?} in time; got {}", prefixed(&out)))
            .expect("stream open")
            .expect("line");
        out.push(line);
    }
    out
}

fn api_message(err: &k8s_client::Error) -> String {
    err.api()
        .and_then(|a| a.status.clone())
        .and_then(|s| s.message)
        .unwrap_or_else(|| panic!("not an API error: {err:?}"))
}

async fn kubectl_ok(env: &TestEnv, args: &[&str]) -> String {
    let k = support::kubectl::admin(env, args, b"").await;
    assert!(k.status.success(), "{args:?}: {k:?}");
    String::from_utf8(k.stdout).expect("utf-8")
}

#[tokio::test]
async fn logs_match_kubectl_and_follow_sees_new_lines() {
    let Some(env) = support::env::nodes_env() else {
        return;
    };
    let _turn = LOG_FILE.lock().await;
    let client = support::env::admin_client(env);
    let ns = support::env::unique_namespace(env, "logs").await;
    support::streams::running_pod(
        &client,
        &ns,
        support::streams::pod("app", &["main", "side"], &[], &[]),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    for i in 0..3 {
        env.append_pod_log(false, i == 1, &format!("line {i}"))
            .unwrap();
    }
    env.append_pod_log(true, false, "from the previous container")
        .unwrap();

    let cases: [(LogParams, &[&str]); 4] = [
        (LogParams::default().container("main"), &["-c", "main"]),
        (
            LogParams::default().container("side").tail_lines(2),
            &["-c", "side", "--tail=2"],
        ),
        (
            LogParams::default().container("main").timestamps(),
            &["-c", "main", "--timestamps"],
        ),
        (
            {
                let mut lp = LogParams::default().container("main");
                lp.previous = true;
                lp
            },
            &["-c", "main", "--previous"],
        ),
    ];
    for (lp, flags) in cases {
        let ours = pods.logs("app", &lp).await.expect("logs");
        let mut args = vec!["-n", ns.as_str(), "logs", "app"];
        args.extend_from_slice(flags);
        let k = support::kubectl::admin(env, &args, b"").await;
        assert!(k.status.success(), "{k:?}");
        assert_eq!(ours, String::from_utf8_lossy(&k.stdout), "{flags:?}");
        assert!(!ours.is_empty(), "{flags:?}");
    }
    assert_eq!(
        pods.logs("app", &LogParams::default().container("main").tail_lines(1))
            .await
            .unwrap(),
        "line 2\n"
    );

    // Missing container: the same server message as kubectl.
    let err = pods
        .logs("app", &LogParams::default().container("ghost"))
        .await
        .expect_err("no such container");
    let message = err
        .api()
        .and_then(|a| a.status.clone())
        .and_then(|s| s.message)
        .unwrap();
    let k = support::kubectl::admin(env, &["-n", &ns, "logs", "app", "-c", "ghost"], b"").await;
    assert!(
        String::from_utf8_lossy(&k.stderr).contains(&message),
        "{k:?} vs {message}"
    );

    // Following: a line appended later arrives on the open stream.
    let mut stream = pods
        .log_stream("app", &LogParams::default().container("main").follow())
        .await
        .expect("follow");
    let marker = format!("followed-{}", std::process::id());
    env.append_pod_log(false, false, &marker).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(&seen).contains(&marker) {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            String::from_utf8_lossy(&seen)
        );
        let chunk = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("a chunk in time")
            .expect("stream open")
            .expect("chunk");
        seen.extend_from_slice(&chunk);
    }
}

#[tokio::test]
async fn all_containers_with_prefix_match_kubectl() {
    let Some(env) = support::env::nodes_env() else {
        return;
    };
    let _turn = LOG_FILE.lock().await;
    let client = support::env::admin_client(env);
    let ns = support::env::unique_namespace(env, "logs-all").await;
    support::streams::running_pod(
        &client,
        &ns,
        support::streams::pod("duo", &["main", "side"], &[], &[]),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    for i in 0..4 {
        env.append_pod_log(false, i == 2, &format!("all {i}"))
            .unwrap();
    }
    let all = LogSelection::default().all_containers();
    for (lp, flags) in [
        (LogParams::default(), &[][..]),
        (LogParams::default().tail_lines(2), &["--tail=2"][..]),
    ] {
        let ours = prefixed(&collect(pods.log_lines("duo", &lp, &all).await.unwrap()).await);
        let mut args = vec![
            "-n",
            ns.as_str(),
            "logs",
            "duo",
            "--all-containers",
            "--prefix",
        ];
        args.extend_from_slice(flags);
        let theirs = kubectl_ok(env, &args).await;
        assert_eq!(blocks(&ours), blocks(&theirs), "{flags:?}");
        assert_eq!(ours.len(), theirs.len(), "{flags:?}");
        assert!(ours.starts_with("[pod/duo/main] "), "{ours}");
        assert!(ours.contains("[pod/duo/side] all 3\n"), "{ours}");
    }
    // Without a container named, kubectl's default (the first) container.
    let one = collect(
        pods.log_lines(
            "duo",
            &LogParams::default().tail_lines(1),
            &LogSelection::default(),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(prefixed(&one), "[pod/duo/main] all 3\n");
}

#[tokio::test]
async fn selector_logs_match_kubectl_with_its_default_tail() {
    let Some(env) = support::env::nodes_env() else {
        return;
    };
    let _turn = LOG_FILE.lock().await;
    let client = support::env::admin_client(env);
    let ns = support::env::unique_namespace(env, "logs-sel").await;
    for name in ["sel-b", "sel-a"] {
        support::streams::running_pod(
            &client,
            &ns,
            support::streams::pod(name, &["main"], &[("app", "sel")], &[]),
        )
        .await;
    }
    support::streams::running_pod(
        &client,
        &ns,
        support::streams::pod("other", &["main"], &[("app", "no")], &[]),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    for i in 0..12 {
        env.append_pod_log(false, false, &format!("sel {i}"))
            .unwrap();
    }
    let lines = collect(
        pods.log_lines_selector("app=sel", &LogParams::default(), &LogSelection::default())
            .await
            .unwrap(),
    )
    .await;
    let theirs = kubectl_ok(env, &["-n", &ns, "logs", "-l", "app=sel", "--prefix"]).await;
    let ours = prefixed(&lines);
    assert_eq!(blocks(&ours), blocks(&theirs));
    assert_eq!(ours.len(), theirs.len());
    // Ten lines of each pod (kubectl's default tail with a selector), in name order.
    assert_eq!(lines.len(), 20);
    assert!(
        lines[..10]
            .iter()
            .all(|l| l.pod == "sel-a" && l.container == "main")
    );
    assert!(lines[10..].iter().all(|l| l.pod == "sel-b"));
    assert_eq!(lines[19].line, "sel 11\n");
}

#[tokio::test]
async fn following_a_selector_matches_kubectl_and_picks_up_new_pods() {
    let Some(env) = support::env::nodes_env() else {
        return;
    };
    let _turn = LOG_FILE.lock().await;
    let client = support::env::admin_client(env);
    let ns = support::env::unique_namespace(env, "logs-follow").await;
    support::streams::running_pod(
        &client,
        &ns,
        support::streams::pod("fol-a", &["main"], &[("app", "fol")], &[]),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    for i in 0..3 {
        env.append_pod_log(false, false, &format!("before {i}"))
            .unwrap();
    }
    let mut ours = pods
        .log_lines_selector(
            "app=fol",
            &LogParams::default().follow(),
            &LogSelection::default(),
        )
        .await
        .unwrap();
    let mut kubectl = tokio::process::Command::new("kubectl")
        .arg(format!("--kubeconfig={}", env.admin_kubeconfig().display()))
        .args(["-n", &ns, "logs", "-f", "-l", "app=fol", "--prefix"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl on PATH");
    let mut kubectl_lines = tokio::io::BufReader::new(kubectl.stdout.take().unwrap()).lines();
    let mut theirs = String::new();
    let mut kubectl_until = async |text: &str| {
        while !theirs.contains(text) {
            let line = tokio::time::timeout(Duration::from_secs(60), kubectl_lines.next_line())
                .await
                .expect("kubectl line in time")
                .expect("kubectl output")
                .expect("kubectl still running");
            theirs.push_str(&line);
            theirs.push('\n');
        }
    };
    // kubectl has chosen its pods once it prints their last lines.
    kubectl_until("before 2").await;

    // A pod that appears while following is picked up (kubectl does not).
    support::streams::running_pod(
        &client,
        &ns,
        support::streams::pod("fol-b", &["main"], &[("app", "fol")], &[]),
    )
    .await;
    let marker = format!("marker-{}", std::process::id());
    env.append_pod_log(false, false, &marker).unwrap();
    let got = read_until_marker(&mut ours, &["fol-a", "fol-b"], &marker).await;

    kubectl_until(&marker).await;
    let first: Vec<LogLine> = got.iter().filter(|l| l.pod == "fol-a").cloned().collect();
    assert_eq!(prefixed(&first), theirs);
    assert!(theirs.starts_with("[pod/fol-a/main] "), "{theirs}");
    assert!(
        got.iter()
            .any(|l| l.pod == "fol-b" && l.line.starts_with(b"before 0"))
    );
}

#[tokio::test]
async fn following_more_streams_than_allowed_fails_like_kubectl() {
    let Some(env) = support::env::nodes_env() else {
        return;
    };
    let client = support::env::admin_client(env);
    let ns = support::env::unique_namespace(env, "logs-max").await;
    let names = ["c1", "c2", "c3", "c4", "c5", "c6"];
    support::streams::running_pod(&client, &ns, support::streams::pod("six", &names, &[], &[]))
        .await;
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    let follow = LogParams::default().follow();
    let err = pods
        .log_lines("six", &follow, &LogSelection::default().all_containers())
        .await
        .expect_err("six streams, limit five");
    let ours = support::chain(&err);
    let k = support::kubectl::admin(
        env,
        &["-n", &ns, "logs", "-f", "six", "--all-containers"],
        b"",
    )
    .await;
    assert!(!k.status.success());
    let expected =
        "you are attempting to follow 6 log streams, but maximum allowed concurrency is 5";
    assert!(
        String::from_utf8_lossy(&k.stderr).contains(expected),
        "{k:?}"
    );
    assert!(ours.contains(expected), "{ours}");
    // A raised limit follows them all.
    let raised = LogSelection::default().all_containers().max_log_requests(6);
    assert!(pods.log_lines("six", &follow, &raised).await.is_ok());
}

#[tokio::test]
async fn missing_pod_and_container_fail_with_kubectls_messages() {
    let Some(env) = support::env::nodes_env() else {
        return;
    };
    let client = support::env::admin_client(env);
    let ns = support::env::unique_namespace(env, "logs-missing").await;
    support::streams::running_pod(
        &client,
        &ns,
        support::streams::pod("here", &["main"], &[], &[]),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    let cases: [(&str, LogParams, &[&str]); 2] = [
        ("ghost", LogParams::default(), &[]),
        (
            "here",
            LogParams::default().container("nope"),
            &["-c", "nope"],
        ),
    ];
    for (pod, lp, flags) in cases {
        let err = pods
            .log_lines(pod, &lp, &LogSelection::default())
            .await
            .expect_err("missing");
        let message = api_message(&err);
        let mut args = vec!["-n", ns.as_str(), "logs", pod];
        args.extend_from_slice(flags);
        let k = support::kubectl::admin(env, &args, b"").await;
        assert!(!k.status.success());
        // kubectl prints the server's message (adding the namespace for a missing pod).
        let stderr = String::from_utf8_lossy(&k.stderr);
        assert!(stderr.contains(&message), "{stderr} vs {message}");
        let what = if pod == "ghost" {
            "\"ghost\" not found"
        } else {
            "nope"
        };
        assert!(message.contains(what), "{message}");
    }
}

#[tokio::test]
async fn since_time_matches_kubectl() {
    let Some(env) = support::env::nodes_env() else {
        return;
    };
    let _turn = LOG_FILE.lock().await;
    let client = support::env::admin_client(env);
    let ns = support::env::unique_namespace(env, "logs-since").await;
    support::streams::running_pod(
        &client,
        &ns,
        support::streams::pod("when", &["main"], &[], &[]),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    let tag = std::process::id();
    env.append_pod_log(false, false, &format!("early-{tag}"))
        .unwrap();
    // The next whole second (the wire carries whole seconds): wait for the clock.
    let now = jiff::Timestamp::now();
    let cut = jiff::Timestamp::from_second(now.as_second() + 1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while jiff::Timestamp::now() < cut {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.append_pod_log(false, false, &format!("late-{tag}"))
        .unwrap();
    let lp = LogParams::default().since_time(cut);
    let ours = prefixed(
        &collect(
            pods.log_lines("when", &lp, &LogSelection::default())
                .await
                .unwrap(),
        )
        .await,
    );
    let since = format!("--since-time={}", cut.strftime("%Y-%m-%dT%H:%M:%SZ"));
    let theirs = kubectl_ok(env, &["-n", &ns, "logs", "when", "--prefix", &since]).await;
    assert_eq!(ours, theirs);
    assert!(ours.contains(&format!("late-{tag}")), "{ours}");
    assert!(!ours.contains(&format!("early-{tag}")), "{ours}");
}
