//! Pod logs against a real API server and kwok's kubelet (which reads the
//! environment's container log file), compared with `kubectl logs`.

#[path = "streams_support/mod.rs"]
mod support;

use futures_util::StreamExt;
use k8s_client::api::{Api, LogParams};
use k8s_openapi::api::core::v1::Pod;
use std::time::{Duration, Instant};

#[tokio::test]
async fn logs_match_kubectl_and_follow_sees_new_lines() {
    let Some(env) = support::nodes_env() else {
        return;
    };
    let client = support::client(env);
    let ns = support::namespace(env, "logs").await;
    support::running_pod(
        &client,
        &ns,
        support::pod("app", &["main", "side"], &[], &[]),
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
        let k = support::kubectl(env, &args, b"").await;
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
    let k = support::kubectl(env, &["-n", &ns, "logs", "app", "-c", "ghost"], b"").await;
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
