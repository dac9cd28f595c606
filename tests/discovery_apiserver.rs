//! Discovery against a real kube-apiserver (testenv): documents equal the raw answers,
//! aggregated equals legacy, CRDs and kubectl-style names, the disk cache (also shared
//! with kubectl) and address selection. The partial result when an aggregated API is
//! down is in `discovery_partial.rs`.
#![cfg(feature = "testenv")]

mod support;

use support::env::admin_client as client;

use k8s_client::Client;
use k8s_client::discovery::{
    Clock, Discovery, DiscoveryError, DiscoverySnapshot, DiskCache, SnapshotSource, error_chain,
};
use k8s_client::testenv::TestEnv;
use std::collections::BTreeSet;
use std::future::Future;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::eventually;
use support::requests::create;
use support::requests::delete;

/// The raw JSON text of `GET path` with the admin certificate (not through our Client).
async fn raw_get(env: &TestEnv, path: &str) -> String {
    let response = support::env::raw_admin(env)
        .get(format!("{}{path}", env.server_url()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert!(
        response.status().is_success(),
        "GET {path}: {}",
        response.status()
    );
    response.text().await.expect("body")
}

/// Resources as comparable tuples, leaving out test groups other tests may be changing.
fn resource_set(snapshot: &DiscoverySnapshot) -> BTreeSet<String> {
    snapshot
        .resource_lists()
        .iter()
        .filter(|list| !list.group_version.contains(".example.com/"))
        .flat_map(|list| {
            list.resources.iter().map(move |r| {
                let mut verbs = r.verbs.clone();
                verbs.sort();
                format!(
                    "{} {} {} {} {}",
                    list.group_version,
                    r.name,
                    r.kind,
                    r.namespaced,
                    verbs.join(",")
                )
            })
        })
        .collect()
}

#[tokio::test]
async fn documents_equal_the_raw_answers() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let discovery = Discovery::new(client(env));

    // /api: same text, so same keys in the same order — the seed's shape.
    let ours = discovery.api_versions().await.expect("api_versions");
    let raw = raw_get(env, "/api").await;
    assert_eq!(serde_json::to_string(&ours).unwrap(), raw.trim_end());
    let raw_value: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let keys: Vec<_> = raw_value.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys.iter().collect::<BTreeSet<_>>(),
        ["kind", "versions", "serverAddressByClientCIDRs"]
            .iter()
            .map(|k| k.to_string())
            .collect::<BTreeSet<_>>()
            .iter()
            .collect(),
    );
    assert_eq!(ours.kind.as_deref(), Some("APIVersions"));
    assert_eq!(ours.versions, ["v1"]);
    let default = &ours.server_address_by_client_cidrs[0];
    assert_eq!(default.client_cidr, "0.0.0.0/0");
    assert_eq!(
        default.server_address,
        format!("127.0.0.1:{}", support::env::apiserver_port(env))
    );

    // /apis and one group version: equal field by field.
    let groups = discovery.api_groups().await.expect("api_groups");
    let raw_groups: serde_json::Value = serde_json::from_str(&raw_get(env, "/apis").await).unwrap();
    assert_eq!(serde_json::to_value(&groups).unwrap(), raw_groups);
    let apps = groups
        .groups
        .iter()
        .find(|g| g.name == "apps")
        .expect("apps group");
    assert_eq!(apps.preferred_version.group_version, "apps/v1");

    let resources = discovery
        .resources_for("apps/v1")
        .await
        .expect("resources_for");
    let raw_resources: serde_json::Value =
        serde_json::from_str(&raw_get(env, "/apis/apps/v1").await).unwrap();
    assert_eq!(serde_json::to_value(&resources).unwrap(), raw_resources);
    let deployments = resources
        .resources
        .iter()
        .find(|r| r.name == "deployments")
        .unwrap();
    assert_eq!(deployments.short_names, ["deploy"]);
    assert!(deployments.namespaced && deployments.supports("watch"));
    assert!(
        resources
            .resources
            .iter()
            .any(|r| r.name == "deployments/scale" && r.group == "autoscaling")
    );

    let core = discovery.resources_for("v1").await.expect("core resources");
    let raw_core: serde_json::Value = serde_json::from_str(&raw_get(env, "/api/v1").await).unwrap();
    assert_eq!(serde_json::to_value(&core).unwrap(), raw_core);

    let version = discovery.server_version().await.expect("server_version");
    let raw_version: serde_json::Value =
        serde_json::from_str(&raw_get(env, "/version").await).unwrap();
    assert_eq!(serde_json::to_value(&version).unwrap(), raw_version);
    assert_eq!(version.major, "1");

    // An invalid group version fails before any request; an unknown one with 404.
    let before = discovery.request_count();
    let err = discovery.resources_for("../v1").await.unwrap_err();
    assert!(
        matches!(
            err,
            k8s_client::Error::Discovery(DiscoveryError::InvalidGroupVersion { .. })
        ),
        "{err:?}"
    );
    assert_eq!(discovery.request_count(), before);
    let err = discovery
        .resources_for("nothere.example.org/v1")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{}", error_chain(&err));
}

#[tokio::test]
async fn address_selection_from_this_host() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let discovery = Discovery::new(client(env));
    let route = discovery.local_route().await.expect("local route");
    assert_eq!(route.local, std::net::IpAddr::from([127, 0, 0, 1]));
    assert_eq!(route.server.port(), support::env::apiserver_port(env));
    let chosen = discovery
        .server_address_from_here()
        .await
        .expect("server_address_from_here")
        .expect("the default entry matches");
    assert_eq!(chosen.client_cidr, "0.0.0.0/0");
    assert_eq!(
        chosen.server_address,
        format!("127.0.0.1:{}", support::env::apiserver_port(env))
    );
}

#[tokio::test]
async fn aggregated_and_legacy_discovery_agree() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let aggregated = Discovery::new(client(env));
    let legacy = Discovery::builder(client(env))
        .aggregated(false)
        .concurrency(8)
        .build();
    let a = aggregated.groups_and_resources().await.expect("aggregated");
    let l = legacy.groups_and_resources().await.expect("legacy");
    assert_eq!(a.source(), SnapshotSource::Aggregated);
    assert_eq!(l.source(), SnapshotSource::Legacy);
    assert_eq!(
        aggregated.request_count(),
        2,
        "aggregated discovery is /api + /apis"
    );
    let group_versions = l
        .groups()
        .iter()
        .map(|g| g.versions.len() as u64)
        .sum::<u64>();
    assert_eq!(legacy.request_count(), 2 + group_versions);
    let (a_set, l_set) = (resource_set(&a), resource_set(&l));
    assert!(a_set.len() > 50, "{} resources", a_set.len());
    assert_eq!(
        a_set.symmetric_difference(&l_set).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "aggregated and legacy differ"
    );
    assert_eq!(a.groups()[0].name, "", "core group first");
    // The cache answers the second call without requests.
    let again = aggregated.groups_and_resources().await.unwrap();
    assert!(Arc::ptr_eq(&a, &again));
    assert_eq!(aggregated.request_count(), 2);

    // Concurrent callers of a cold Discovery share one fetch.
    let shared = Discovery::new(client(env));
    let calls = (0..20).map(|_| {
        let d = shared.clone();
        tokio::spawn(async move { d.groups_and_resources().await.unwrap() })
    });
    let snapshots = futures_util::future::join_all(calls).await;
    assert!(
        snapshots
            .iter()
            .all(|s| Arc::ptr_eq(s.as_ref().unwrap(), snapshots[0].as_ref().unwrap()))
    );
    assert_eq!(shared.request_count(), 2);
}

fn crd(group: &str, plural: &str, kind: &str, short: &str) -> serde_json::Value {
    let schema = serde_json::json!({"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind, "shortNames": [short], "categories": ["all"]},
            "versions": [
                {"name": "v1beta1", "served": true, "storage": false, "schema": schema},
                {"name": "v1", "served": true, "storage": true, "schema": schema},
            ],
        },
    })
}

async fn create_crd(client: &Client, group: &str, plural: &str, kind: &str, short: &str) {
    create(
        client,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        crd(group, plural, kind, short),
    )
    .await;
    let path = format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{plural}.{group}");
    eventually(
        &format!("CRD {plural}.{group} established"),
        Duration::from_secs(60),
        || async {
            let req = http::Request::get(path.as_str()).body(Vec::new()).unwrap();
            let crd: serde_json::Value = client.request(req).await.ok()?;
            let established = crd["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True");
            established.then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn crds_appear_after_invalidation_and_names_resolve_like_kubectl() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let client = client(env);
    let group = format!("crd{}.example.com", std::process::id());
    // Never refresh on a miss: only invalidation brings the CRD in.
    let discovery = Discovery::builder(client.clone())
        .refresh_on_miss_after(Duration::MAX)
        .build();
    let before = discovery.groups_and_resources().await.unwrap();
    assert!(before.group(&group).is_none());

    create_crd(&client, &group, "widgets", "Widget", "wdg").await;
    let err = discovery.resolve("wdg").await.unwrap_err();
    assert!(
        matches!(
            err,
            k8s_client::Error::Discovery(DiscoveryError::UnknownResource { .. })
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "discovery failed");
    assert_eq!(
        error_chain(&err),
        "discovery failed: the server doesn't have a resource type \"wdg\""
    );

    let widget = eventually(
        "the CRD in discovery after invalidation",
        Duration::from_secs(60),
        || async {
            discovery.invalidate();
            discovery.resolve("wdg").await.ok()
        },
    )
    .await;
    assert_eq!(
        (
            widget.group.as_str(),
            widget.version.as_str(),
            widget.resource.as_str()
        ),
        (group.as_str(), "v1", "widgets")
    );
    assert_eq!(widget.kind, "Widget");
    assert!(widget.namespaced);

    let gvr = |name: String| {
        let discovery = discovery.clone();
        async move {
            let m = discovery
                .resolve(&name)
                .await
                .unwrap_or_else(|e| panic!("{name}: {}", error_chain(&e)));
            format!(
                "{}/{}/{} {} {}",
                m.group, m.version, m.resource, m.kind, m.namespaced
            )
        }
    };
    // `G` stands for the CRD's group; results are `group/version/resource kind namespaced`.
    const CASES: &[(&str, &str)] = &[
        ("po", "/v1/pods Pod true"),
        ("pods", "/v1/pods Pod true"),
        ("Pod", "/v1/pods Pod true"),
        ("svc", "/v1/services Service true"),
        ("cm", "/v1/configmaps ConfigMap true"),
        ("ns", "/v1/namespaces Namespace false"),
        ("no", "/v1/nodes Node false"),
        ("ev", "/v1/events Event true"),
        ("events.events.k8s.io", "events.k8s.io/v1/events Event true"),
        ("deploy", "apps/v1/deployments Deployment true"),
        ("deploy.apps", "apps/v1/deployments Deployment true"),
        ("deployments.v1.apps", "apps/v1/deployments Deployment true"),
        ("Deployment", "apps/v1/deployments Deployment true"),
        (
            "hpa",
            "autoscaling/v2/horizontalpodautoscalers HorizontalPodAutoscaler true",
        ),
        (
            "hpa.v1.autoscaling",
            "autoscaling/v1/horizontalpodautoscalers HorizontalPodAutoscaler true",
        ),
        (
            "crd",
            "apiextensions.k8s.io/v1/customresourcedefinitions CustomResourceDefinition false",
        ),
        ("widgets", "G/v1/widgets Widget true"),
        ("widget", "G/v1/widgets Widget true"),
        ("Widget", "G/v1/widgets Widget true"),
        ("widgets.G", "G/v1/widgets Widget true"),
        ("wdg.G", "G/v1/widgets Widget true"),
        ("widgets.v1beta1.G", "G/v1beta1/widgets Widget true"),
    ];
    for (name, want) in CASES {
        let name = name.replace('G', &group);
        assert_eq!(
            gvr(name.clone()).await,
            want.replace('G', &group),
            "resolving {name}"
        );
    }
    let snapshot = discovery.groups_and_resources().await.unwrap();
    assert!(
        snapshot
            .category("all")
            .iter()
            .any(|m| m.resource == "widgets" && m.group == group)
    );

    // A miss refreshes once: a second CRD is found without invalidate().
    let eager = Discovery::builder(client.clone())
        .refresh_on_miss_after(Duration::ZERO)
        .build();
    eager.groups_and_resources().await.unwrap();
    create_crd(&client, &group, "gadgets", "Gadget", "gdg").await;
    let gadget = eventually(
        "the second CRD through refresh on miss",
        Duration::from_secs(60),
        || async { eager.resolve("gdg").await.ok() },
    )
    .await;
    assert_eq!(gadget.resource, "gadgets");

    // Differential: kubectl api-resources lists the same preferred resources.
    if let Some(kubectl) = kubectl_api_resources(env, None).await {
        let ours: BTreeSet<String> = discovery
            .refresh()
            .await
            .unwrap()
            .preferred_resources()
            .into_iter()
            .filter(|m| !m.group.ends_with(".example.com"))
            .map(|m| {
                if m.group.is_empty() {
                    m.resource
                } else {
                    format!("{}.{}", m.resource, m.group)
                }
            })
            .collect();
        let theirs: BTreeSet<String> = kubectl
            .stdout
            .lines()
            .filter(|l| !l.ends_with(".example.com"))
            .map(str::to_owned)
            .collect();
        assert_eq!(ours, theirs);
    }

    for plural in ["widgets", "gadgets"] {
        delete(
            &client,
            &format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{plural}.{group}"),
        )
        .await;
    }
}

struct KubectlRun {
    stdout: String,
    stderr: String,
}

/// `kubectl api-resources -o name` as admin (with `--cached -v=6` and `KUBECACHEDIR`
/// when a cache root is given); `None`, with one line, when kubectl is not installed.
async fn kubectl_api_resources(
    env: &TestEnv,
    cache_root: Option<&std::path::Path>,
) -> Option<KubectlRun> {
    let mut command = Command::new("kubectl");
    command
        .arg("--kubeconfig")
        .arg(env.admin_kubeconfig())
        .args(["api-resources", "-o", "name"]);
    match cache_root {
        Some(root) => {
            // --cached: use the cache instead of invalidating it first.
            command.env("KUBECACHEDIR", root).args(["--cached", "-v=6"]);
        }
        None => {
            command.env(
                "KUBECACHEDIR",
                std::env::temp_dir().join(format!("k8s-client-kubectl-{}", std::process::id())),
            );
        }
    }
    let output = match tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipping the kubectl comparison: kubectl is not on PATH");
            return None;
        }
        Err(e) => panic!("running kubectl: {e}"),
    };
    let run = KubectlRun {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        output.status.success(),
        "kubectl api-resources failed: {}",
        run.stderr
    );
    Some(run)
}

/// Runs `future` with a tracing subscriber on this thread and returns the paths of the
/// HTTP requests the client sent (its TRACE `sending request` event, one per attempt), after
/// checking that they are the requests discovery logged (DEBUG `discovery request`).
async fn capture_requests<T>(future: impl Future<Output = T>) -> (T, Vec<String>) {
    // A process-wide TRACE subscriber first: without one, a callsite another test's
    // thread reaches at the same moment can be cached as never enabled, and this
    // thread's scoped subscriber would miss it.
    support::logs::LogBuffer::global();
    let buffer = support::logs::LogBuffer::default();
    let subscriber = buffer.subscriber();
    let value = {
        let _guard = tracing::subscriber::set_default(subscriber);
        future.await
    };
    let text = buffer.text();
    let field = |line: &str, name: &str| -> Option<String> {
        let rest = line.split(&format!(" {name}=")).nth(1)?;
        let value = rest.strip_prefix('"').unwrap_or(rest);
        Some(value.split(['"', ' ']).next()?.to_owned())
    };
    let mut logged: Vec<String> = text
        .lines()
        .filter(|l| l.contains("discovery request"))
        .filter_map(|l| field(l, "path"))
        .collect();
    let mut sent: Vec<String> = text
        .lines()
        .filter(|l| l.contains("sending request"))
        .filter_map(|l| field(l, "url"))
        .map(|url| {
            let url: url::Url = url.parse().expect("request URL");
            url.path().to_owned()
        })
        .collect();
    logged.sort();
    sent.sort();
    assert_eq!(sent, logged, "HTTP requests sent vs discovery requests");
    (value, sent)
}

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[derive(Debug)]
struct Later(Duration);
impl Clock for Later {
    fn now(&self) -> SystemTime {
        SystemTime::now() + self.0
    }
}

#[tokio::test]
async fn disk_cache_is_warm_expires_and_heals() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let url: url::Url = env.server_url().parse().unwrap();
    let cache = || DiskCache::for_cluster_in(root.path(), &url);
    let with_cache = |cache: DiskCache| Discovery::builder(client(env)).disk_cache(cache).build();

    let cold = with_cache(cache());
    let (first, mut paths) = capture_requests(cold.groups_and_resources()).await;
    let first = first.unwrap();
    paths.sort();
    assert_eq!(paths, ["/api", "/apis"], "cold aggregated discovery");
    assert_eq!(cold.request_count(), 2);
    let dir = cache().dir().to_owned();
    assert_eq!(
        dir,
        root.path()
            .join("discovery")
            .join(format!("127.0.0.1_{}", support::env::apiserver_port(env)))
    );
    assert!(dir.join("servergroups.json").is_file());
    assert!(dir.join("v1/serverresources.json").is_file());
    assert!(dir.join("apps/v1/serverresources.json").is_file());

    // Warm: a new Discovery (new process, same directory) makes no request at all.
    let warm = with_cache(cache());
    let (second, paths) = capture_requests(warm.groups_and_resources()).await;
    let second = second.unwrap();
    assert_eq!(
        paths,
        Vec::<String>::new(),
        "warm discovery must not touch the server"
    );
    assert_eq!(warm.request_count(), 0);
    assert_eq!(second.source(), SnapshotSource::DiskCache);
    assert_eq!(resource_set(&first), resource_set(&second));
    assert_eq!(
        warm.resolve("deploy").await.unwrap().resource,
        "deployments"
    );
    assert_eq!(warm.request_count(), 0);

    // A corrupt file is ignored, refetched (one request) and rewritten.
    let apps = dir.join("apps/v1/serverresources.json");
    std::fs::write(&apps, b"{\"kind\":\"APIResourceList\",").unwrap();
    let healing = with_cache(cache());
    let healed = healing.groups_and_resources().await.unwrap();
    assert_eq!(healing.request_count(), 1);
    assert!(healed.resources_for("apps/v1").is_some());
    let rewritten: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&apps).unwrap()).unwrap();
    assert_eq!(rewritten["kind"], "APIResourceList");
    assert_eq!(rewritten["groupVersion"], "apps/v1");
    // A corrupt group list means a full fetch.
    std::fs::write(dir.join("servergroups.json"), b"garbage").unwrap();
    let regroup = with_cache(cache());
    regroup.groups_and_resources().await.unwrap();
    assert_eq!(regroup.request_count(), 2);
    assert_eq!(
        with_cache(cache())
            .groups_and_resources()
            .await
            .map(|s| s.source())
            .unwrap(),
        SnapshotSource::DiskCache
    );

    // Six hours and a minute later every file has expired.
    let expired = Discovery::builder(client(env))
        .disk_cache(cache())
        .clock(Arc::new(Later(
            DiskCache::DEFAULT_TTL + Duration::from_secs(60),
        )))
        .build();
    expired.groups_and_resources().await.unwrap();
    assert_eq!(expired.request_count(), 2);

    // Shared with kubectl: kubectl reads our cache without requests…
    if let Some(run) = kubectl_api_resources(env, Some(root.path())).await {
        let discovery_gets: Vec<_> = run
            .stderr
            .lines()
            .filter(|l| {
                l.contains("GET ")
                    && (l.contains("/api?")
                        || l.contains("/apis?")
                        || l.contains("/api ")
                        || l.contains("/apis "))
            })
            .collect();
        assert!(
            discovery_gets.is_empty(),
            "kubectl fetched discovery despite our cache: {discovery_gets:#?}"
        );
        // …and we read kubectl's cache without requests.
        let kubectl_root = tempfile::tempdir().unwrap();
        kubectl_api_resources(env, Some(kubectl_root.path()))
            .await
            .unwrap();
        let from_kubectl = Discovery::builder(client(env))
            .disk_cache(DiskCache::for_cluster_in(kubectl_root.path(), &url))
            .build();
        let (snapshot, paths) = capture_requests(from_kubectl.groups_and_resources()).await;
        let snapshot = snapshot.unwrap();
        // kubectl skips writing empty lists, which a CRD or APIService of a concurrent
        // test may show for a moment: only those test groups may be fetched.
        let unexpected: Vec<_> = paths
            .iter()
            .filter(|p| !p.contains(".example.com/"))
            .collect();
        assert!(
            unexpected.is_empty(),
            "kubectl's cache must be used as is; fetched {unexpected:?}; kubectl wrote {:#?}",
            files_under(kubectl_root.path())
        );
        assert_eq!(from_kubectl.request_count(), paths.len() as u64);
        assert!(snapshot.resources_for("apps/v1").is_some());
    }
}
