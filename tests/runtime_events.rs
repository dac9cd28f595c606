//! The events recorder against a real API server (series aggregation, the spam filter,
//! the periodic series refresh, kubectl's view), and against an unreachable one (the
//! caller never waits, memory stays bounded).

mod support;

use support::env::admin_client;

use k8s_client::Client;
use k8s_client::api::{Api, ListParams, PostParams};
use k8s_client::runtime::events::{
    Event, EventType, Recorder, RecorderConfig, Reporter, object_reference,
};
use k8s_client::testenv::TestEnv;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event as EventObject;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::time::{Duration, Instant};

const CONTROLLER: &str = "k8s-client.test/recorder";

async fn config_map(client: &Client, ns: &str, name: &str) -> ConfigMap {
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

async fn events_in(client: &Client, ns: &str) -> Vec<EventObject> {
    Api::<EventObject>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
}

fn kubectl(env: &TestEnv, args: &[&str]) -> String {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(env.admin_kubeconfig())
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn identical_events_become_one_event_with_a_series_and_kubectl_shows_it() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let ns = support::env::unique_namespace(env, "events-series").await;
    let client = admin_client(env);
    let cm = config_map(&client, &ns, "subject").await;
    let recorder = Recorder::new(client.clone(), Reporter::new(CONTROLLER)).unwrap();
    let event = Event::new(
        object_reference(&cm, &()),
        EventType::Warning,
        "SyncFailed",
        "Sync",
    )
    .note("the upstream refused the change");
    for _ in 0..100 {
        recorder.publish(&event).unwrap();
    }
    // A different reason on the same object is a different Event.
    recorder
        .publish(&Event::new(
            object_reference(&cm, &()),
            EventType::Normal,
            "Synced",
            "Sync",
        ))
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), recorder.flush())
        .await
        .expect("flush");

    let events = events_in(&client, &ns).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    let failed = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("SyncFailed"))
        .unwrap();
    assert_eq!(failed.series.as_ref().map(|s| s.count), Some(100));
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert_eq!(failed.reporting_controller.as_deref(), Some(CONTROLLER));
    assert!(
        failed
            .reporting_instance
            .as_deref()
            .unwrap()
            .starts_with(CONTROLLER)
    );
    assert_eq!(failed.action.as_deref(), Some("Sync"));
    let regarding = failed.regarding.as_ref().unwrap();
    assert_eq!(regarding.kind.as_deref(), Some("ConfigMap"));
    assert_eq!(regarding.name.as_deref(), Some("subject"));
    assert_eq!(regarding.uid, cm.metadata.uid);
    let synced = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("Synced"))
        .unwrap();
    assert!(synced.series.is_none());
    let stats = recorder.stats();
    assert_eq!(stats.published, 101);
    assert_eq!(stats.aggregated, 98);
    assert_eq!(stats.failed, 0);
    assert_eq!(stats.written, 4, "{stats:?}"); // two creates, the series start, one refresh

    // kubectl's view (core/v1 Events, converted by the API server).
    let table = kubectl(env, &["get", "events", "-n", &ns]);
    let row = table
        .lines()
        .find(|l| l.contains("SyncFailed"))
        .unwrap_or_else(|| panic!("no SyncFailed row in\n{table}"));
    assert!(row.contains("configmap/subject"), "{table}");
    assert!(row.contains("Warning"), "{table}");
    assert!(row.contains("the upstream refused the change"), "{table}");
    let count = kubectl(
        env,
        &[
            "get",
            "events",
            "-n",
            &ns,
            "--field-selector",
            "reason=SyncFailed",
            "-o",
            "jsonpath={.items[0].series.count}",
        ],
    );
    assert_eq!(count.trim(), "100");
    recorder.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn series_counts_reach_the_server_on_refresh_without_a_flush() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let ns = support::env::unique_namespace(env, "events-refresh").await;
    let client = admin_client(env);
    let cm = config_map(&client, &ns, "subject").await;
    let mut config = RecorderConfig::default();
    config.series_refresh = Duration::from_millis(300);
    let recorder =
        Recorder::with_config(client.clone(), Reporter::new(CONTROLLER), config).unwrap();
    let event = Event::new(object_reference(&cm, &()), EventType::Normal, "Tick", "Run");
    for _ in 0..7 {
        recorder.publish(&event).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = events_in(&client, &ns).await;
        if events.len() == 1 && events[0].series.as_ref().map(|s| s.count) == Some(7) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "count never reached 7: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_spam_filter_limits_new_events_per_object() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let ns = support::env::unique_namespace(env, "events-spam").await;
    let client = admin_client(env);
    let noisy = config_map(&client, &ns, "noisy").await;
    let quiet = config_map(&client, &ns, "quiet").await;
    let recorder = Recorder::new(client.clone(), Reporter::new(CONTROLLER)).unwrap();
    for i in 0..30 {
        recorder
            .publish(&Event::new(
                object_reference(&noisy, &()),
                EventType::Normal,
                format!("Reason{i}"),
                "Act",
            ))
            .unwrap();
    }
    recorder
        .publish(&Event::new(
            object_reference(&quiet, &()),
            EventType::Normal,
            "Reason0",
            "Act",
        ))
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), recorder.flush())
        .await
        .expect("flush");
    let events = events_in(&client, &ns).await;
    let about = |name: &str| {
        events
            .iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .count()
    };
    assert_eq!(about("noisy"), 25);
    assert_eq!(about("quiet"), 1);
    assert_eq!(recorder.stats().rate_limited, 5);
}

#[tokio::test]
async fn an_unreachable_api_server_never_blocks_the_caller() {
    // A black hole: connections are accepted and never answered.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hole = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let mut config = k8s_client::Config::new(format!("http://{addr}").parse().unwrap());
    config.auth = k8s_client::config::AuthConfig::Token("t".into());
    let client = Client::try_from(config).unwrap();
    let recorder = Recorder::new(client, Reporter::new(CONTROLLER)).unwrap();
    let defaults = RecorderConfig::default();

    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    for i in 0..10_000 {
        let regarding = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("ConfigMap".into()),
            namespace: Some("default".into()),
            name: Some(format!("object-{i}")),
            ..Default::default()
        };
        let t = Instant::now();
        recorder
            .publish(&Event::new(regarding, EventType::Warning, "Failed", "Sync"))
            .unwrap();
        slowest = slowest.max(t.elapsed());
    }
    let total = started.elapsed();
    let stats = recorder.stats();
    // A publish that waited for the network would take the request timeout (10 s); the
    // bound only leaves room for scheduling on a loaded machine.
    assert!(
        slowest < Duration::from_millis(250),
        "slowest publish {slowest:?}"
    );
    assert!(
        total < Duration::from_secs(3),
        "10,000 publishes took {total:?}"
    );
    assert_eq!(stats.published, 10_000);
    assert!(stats.queued <= defaults.queue_capacity, "{stats:?}");
    assert!(stats.cached <= defaults.max_cached, "{stats:?}");
    assert!(
        stats.dropped >= 10_000 - defaults.queue_capacity as u64 - 1,
        "{stats:?}"
    );
    assert_eq!(stats.written, 0);

    // Identical events only count, however many.
    let same = k8s_openapi::api::core::v1::ObjectReference {
        kind: Some("ConfigMap".into()),
        name: Some("object-9999".into()),
        namespace: Some("default".into()),
        api_version: Some("v1".into()),
        ..Default::default()
    };
    for _ in 0..10_000 {
        recorder
            .publish(&Event::new(
                same.clone(),
                EventType::Warning,
                "Failed",
                "Sync",
            ))
            .unwrap();
    }
    let after = recorder.stats();
    assert!(after.cached <= defaults.max_cached);
    assert!(after.aggregated >= 9_998, "{after:?}");

    let t = Instant::now();
    recorder.shutdown(Duration::from_millis(200)).await;
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        t.elapsed()
    );
    eprintln!("10,000 publishes in {total:?}, slowest {slowest:?}; {stats:?}");
    hole.abort();
}

#[tokio::test]
async fn a_refusal_by_the_api_server_drops_the_event_without_retrying() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    // The no-permission user: the API server answers 403 Forbidden.
    let mut options = k8s_client::config::KubeconfigOptions::default();
    options.kubeconfig = Some(env.noperm_kubeconfig().to_path_buf());
    let client = Client::try_from(k8s_client::Config::from_kubeconfig(&options).unwrap()).unwrap();
    let recorder = Recorder::new(client, Reporter::new(CONTROLLER)).unwrap();
    let regarding = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        namespace: Some("default".into()),
        name: Some("anything".into()),
        ..Default::default()
    };
    recorder
        .publish(&Event::new(regarding, EventType::Normal, "Tried", "Write"))
        .unwrap();
    let t = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), recorder.flush())
        .await
        .expect("flush");
    // No retry pause (the first would be up to 10 s): dropped at the first answer.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let stats = recorder.stats();
    assert_eq!((stats.written, stats.failed), (0, 1), "{stats:?}");
}

#[tokio::test]
async fn transport_failures_are_retried_a_bounded_number_of_times() {
    // A black hole: every attempt times out.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hole = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let mut config = k8s_client::Config::new(format!("http://{addr}").parse().unwrap());
    config.auth = k8s_client::config::AuthConfig::Token("t".into());
    let client = Client::try_from(config).unwrap();
    let mut rc = RecorderConfig::default();
    rc.max_attempts = 3;
    rc.retry_delay = Duration::from_millis(50);
    rc.request_timeout = Duration::from_millis(200);
    let recorder = Recorder::with_config(client, Reporter::new(CONTROLLER), rc).unwrap();
    let regarding = k8s_openapi::api::core::v1::ObjectReference {
        kind: Some("ConfigMap".into()),
        name: Some("x".into()),
        ..Default::default()
    };
    recorder
        .publish(&Event::new(regarding, EventType::Normal, "Tried", "Write"))
        .unwrap();
    let t = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), recorder.flush())
        .await
        .expect("the write is given up after its attempts");
    let elapsed = t.elapsed();
    // Three attempts of 200 ms each (and two pauses): given up, not retried forever.
    assert!(elapsed >= Duration::from_millis(600), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    let stats = recorder.stats();
    assert_eq!((stats.written, stats.failed), (0, 1), "{stats:?}");
    hole.abort();
}
