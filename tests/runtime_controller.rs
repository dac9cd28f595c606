//! The controller against the shared test API server: the `controller` example's
//! reconcile (ConfigMap → Secret mirror with a finalizer) converges and cleans up; a
//! failing reconcile is retried with growing backoff and never runs twice at once for a
//! key; status updates survive conflicts.

mod support;

#[path = "../examples/controller.rs"]
#[allow(dead_code)]
mod mirror;

use k8s_client::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use k8s_client::runtime::{Action, Controller, ReflectorConfig, update_status};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodCondition, Secret};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::eventually;

const DEADLINE: Duration = Duration::from_secs(30);

fn secret_value(s: &Secret, key: &str) -> Option<String> {
    let v = s.data.as_ref()?.get(key)?;
    Some(String::from_utf8(v.0.clone()).unwrap())
}

fn configmap(name: &str, labelled: bool, data: &[(&str, &str)]) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    if labelled {
        cm.metadata.labels =
            Some([(mirror::LABEL.0.to_owned(), mirror::LABEL.1.to_owned())].into());
    }
    cm.data = Some(
        data.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    cm
}

#[tokio::test]
async fn mirror_controller_converges_and_cleans_up_through_its_finalizer() {
    let Some((_env, client, ns)) = support::api::setup("mirror").await else {
        return;
    };
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reconciler = client.clone();
    let controller = tokio::spawn(mirror::controller(client.clone(), Some(&ns)).run(
        move |req| mirror::reconcile(reconciler.clone(), req),
        async move {
            let _ = stopped.await;
        },
    ));

    cms.create(&PostParams::default(), &configmap("m", true, &[("a", "1")]))
        .await
        .unwrap();
    cms.create(
        &PostParams::default(),
        &configmap("plain", false, &[("a", "1")]),
    )
    .await
    .unwrap();
    let s = eventually("the mirror Secret", DEADLINE, || async {
        secrets.get_opt("m").await.unwrap()
    })
    .await;
    assert_eq!(secret_value(&s, "a").as_deref(), Some("1"));
    let cm = cms.get("m").await.unwrap();
    assert_eq!(
        cm.metadata.finalizers.as_deref(),
        Some(&[mirror::FINALIZER.to_owned()][..])
    );

    // An update is mirrored, removed keys included.
    let patch = serde_json::json!({"data": {"a": null, "b": "2"}});
    cms.patch("m", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually("the update to be mirrored", DEADLINE, || async {
        let s = secrets.get("m").await.unwrap();
        (secret_value(&s, "b").as_deref() == Some("2") && secret_value(&s, "a").is_none())
            .then_some(())
    })
    .await;

    // A mirror deleted by hand comes back (the Secret informer maps it to its ConfigMap).
    secrets.delete("m", &DeleteParams::default()).await.unwrap();
    eventually("the Secret to be recreated", DEADLINE, || async {
        secrets
            .get_opt("m")
            .await
            .unwrap()
            .filter(|s| s.metadata.deletion_timestamp.is_none())
    })
    .await;

    // Deleting the ConfigMap runs the cleanup, then the finalizer goes and so does it.
    cms.delete("m", &DeleteParams::default()).await.unwrap();
    eventually(
        "the ConfigMap and its mirror to be gone",
        DEADLINE,
        || async {
            let cm = cms.get_opt("m").await.unwrap();
            let s = secrets.get_opt("m").await.unwrap();
            (cm.is_none() && s.is_none()).then_some(())
        },
    )
    .await;

    // The unlabelled ConfigMap got neither a mirror nor a finalizer.
    assert!(secrets.get_opt("plain").await.unwrap().is_none());
    assert!(
        cms.get("plain")
            .await
            .unwrap()
            .metadata
            .finalizers
            .is_none()
    );

    let _ = stop.send(());
    tokio::time::timeout(DEADLINE, controller)
        .await
        .expect("the controller stops")
        .unwrap();
}

#[tokio::test]
async fn failing_reconciles_back_off_and_never_overlap_for_a_key() {
    let Some((_env, client, ns)) = support::api::setup("retry").await else {
        return;
    };
    const FAILURES: usize = 5;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let attempts: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
    let running: Arc<Mutex<HashMap<String, Arc<AtomicBool>>>> = Arc::default();
    let overlaps = Arc::new(AtomicUsize::new(0));
    let (a, r, o) = (attempts.clone(), running.clone(), overlaps.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = Controller::new(cms.clone(), ReflectorConfig::default()).workers(4);
    let run = tokio::spawn(controller.run(
        move |req| {
            let (a, r, o) = (a.clone(), r.clone(), o.clone());
            async move {
                let name = req.key.name.clone();
                let flag = r.lock().unwrap().entry(name.clone()).or_default().clone();
                if flag.swap(true, Ordering::SeqCst) {
                    o.fetch_add(1, Ordering::SeqCst);
                }
                let n = {
                    let mut a = a.lock().unwrap();
                    let v = a.entry(name.clone()).or_default();
                    v.push(Instant::now());
                    v.len()
                };
                // Slow enough that triggers arrive while it runs.
                tokio::time::sleep(Duration::from_millis(15)).await;
                flag.store(false, Ordering::SeqCst);
                assert!(!(name == "panicky" && n == 1), "a reconcile bug");
                let fails =
                    (name == "steady" && n <= FAILURES) || (name.starts_with("busy") && n % 3 != 0);
                if fails {
                    Err(format!("attempt {n} of {name} fails"))
                } else {
                    Ok(Action::done())
                }
            }
        },
        async move {
            let _ = stopped.await;
        },
    ));

    cms.create(&PostParams::default(), &configmap("steady", false, &[]))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &configmap("panicky", false, &[]))
        .await
        .unwrap();
    for i in 0..3 {
        cms.create(
            &PostParams::default(),
            &configmap(&format!("busy{i}"), false, &[]),
        )
        .await
        .unwrap();
    }
    // Many updates to the busy objects while their reconciles run and fail.
    for round in 0..20 {
        for i in 0..3 {
            let patch = serde_json::json!({"data": {"round": round.to_string()}});
            cms.patch(
                &format!("busy{i}"),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .unwrap();
        }
    }
    eventually(
        "the steady object to succeed after its failures",
        DEADLINE,
        || async {
            let attempts = attempts.lock().unwrap();
            let count = |name: &str| attempts.get(name).map_or(0, Vec::len);
            (count("steady") > FAILURES && count("panicky") >= 2).then_some(())
        },
    )
    .await;
    let _ = stop.send(());
    tokio::time::timeout(DEADLINE, run)
        .await
        .expect("the controller stops")
        .unwrap();

    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "a key was reconciled twice at once"
    );
    let attempts = attempts.lock().unwrap();
    let steady = &attempts["steady"];
    assert_eq!(
        steady.len(),
        FAILURES + 1,
        "retried until success, then left alone"
    );
    // Per-key exponential backoff: 5, 10, 20, 40, 80 ms after each failure (plus the
    // 15 ms the reconcile itself takes).
    for (i, pair) in steady.windows(2).enumerate() {
        let gap = pair[1].duration_since(pair[0]);
        let backoff = Duration::from_millis(5 << i);
        assert!(gap >= backoff, "retry {i}: {gap:?} < {backoff:?}");
    }
    assert_eq!(
        attempts["panicky"].len(),
        2,
        "a panic is retried like an error"
    );
    for i in 0..3 {
        assert!(attempts[&format!("busy{i}")].len() >= 2);
    }
}

#[tokio::test]
async fn status_updates_retry_on_conflict() {
    let Some((_env, client, ns)) = support::api::setup("status").await else {
        return;
    };
    const WRITERS: usize = 4;
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "example.invalid/none"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let pods = pods.clone();
        tasks.push(tokio::spawn(async move {
            update_status(&pods, "p", |p: &mut Pod| {
                let status = p.status.get_or_insert_with(Default::default);
                status
                    .conditions
                    .get_or_insert_with(Vec::new)
                    .push(PodCondition {
                        type_: format!("example.com/writer-{w}"),
                        status: "True".into(),
                        ..PodCondition::default()
                    });
            })
            .await
        }));
    }
    for t in tasks {
        t.await
            .unwrap()
            .expect("the status update succeeds despite conflicts");
    }
    let pod = pods.get("p").await.unwrap();
    let mut types: Vec<_> = pod
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| c.type_)
        .filter(|t| t.starts_with("example.com/"))
        .collect();
    types.sort();
    let want: Vec<_> = (0..WRITERS)
        .map(|w| format!("example.com/writer-{w}"))
        .collect();
    assert_eq!(types, want, "no writer's change was lost");
}

#[tokio::test]
async fn changes_of_owned_objects_reconcile_their_owner() {
    let Some((_env, client, ns)) = support::api::setup("owns").await else {
        return;
    };
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let owner = cms
        .create(&PostParams::default(), &configmap("owner", false, &[]))
        .await
        .unwrap();
    let runs: Arc<Mutex<Vec<String>>> = Arc::default();
    let r = runs.clone();
    let owned =
        k8s_client::runtime::SharedInformer::new(secrets.clone(), ReflectorConfig::default());
    let controller = Controller::new(cms.clone(), ReflectorConfig::default()).owns(owned);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(controller.run(
        move |req| {
            let r = r.clone();
            async move {
                r.lock().unwrap().push(req.key.to_string());
                Ok::<_, std::convert::Infallible>(Action::done())
            }
        },
        async move {
            let _ = stopped.await;
        },
    ));
    let owner_key = format!("{ns}/owner");
    let count = |runs: &Arc<Mutex<Vec<String>>>| {
        runs.lock()
            .unwrap()
            .iter()
            .filter(|k| **k == owner_key)
            .count()
    };
    eventually("the owner's first reconcile", DEADLINE, || async {
        (count(&runs) >= 1).then_some(())
    })
    .await;
    let before = count(&runs);
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "child", "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
            "uid": owner.metadata.uid.clone().unwrap()
        }]},
        "stringData": {"k": "v"}
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    eventually(
        "the owned Secret to trigger its owner",
        DEADLINE,
        || async { (count(&runs) > before).then_some(()) },
    )
    .await;
    // An unowned Secret triggers nothing of ours.
    let mut other = Secret::default();
    other.metadata.name = Some("unowned".into());
    secrets
        .create(&PostParams::default(), &other)
        .await
        .unwrap();
    let _ = stop.send(());
    tokio::time::timeout(DEADLINE, run)
        .await
        .expect("the controller stops")
        .unwrap();
    assert!(
        runs.lock()
            .unwrap()
            .iter()
            .all(|k| !k.ends_with("/unowned") && !k.ends_with("/child")),
        "only owners are reconciled: {:?}",
        runs.lock().unwrap()
    );
}

#[tokio::test]
async fn requeue_after_reconciles_again_after_the_delay() {
    let Some((_env, client, ns)) = support::api::setup("requeue").await else {
        return;
    };
    const DELAY: Duration = Duration::from_millis(200);
    const RUNS: usize = 3;
    let cms: Api<ConfigMap> = Api::namespaced(client, &ns);
    cms.create(&PostParams::default(), &configmap("poll", false, &[]))
        .await
        .unwrap();
    let runs: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let r = runs.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(Controller::new(cms, ReflectorConfig::default()).run(
        move |req| {
            let r = r.clone();
            async move {
                // The namespace also holds kube-root-ca.crt: only count ours.
                if req.key.name != "poll" {
                    return Ok(Action::done());
                }
                let n = {
                    let mut r = r.lock().unwrap();
                    r.push(Instant::now());
                    r.len()
                };
                Ok::<_, std::convert::Infallible>(if n < RUNS {
                    Action::requeue_after(DELAY)
                } else {
                    Action::done()
                })
            }
        },
        async move {
            let _ = stopped.await;
        },
    ));
    eventually("the requeued runs", DEADLINE, || async {
        (runs.lock().unwrap().len() >= RUNS).then_some(())
    })
    .await;
    // After `done`, no more runs without a change.
    tokio::time::sleep(DELAY * 2).await;
    let _ = stop.send(());
    tokio::time::timeout(DEADLINE, run).await.unwrap().unwrap();
    let runs = runs.lock().unwrap();
    assert_eq!(runs.len(), RUNS);
    for pair in runs.windows(2) {
        assert!(pair[1].duration_since(pair[0]) >= DELAY);
    }
}
