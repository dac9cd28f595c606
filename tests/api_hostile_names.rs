//! Hostile names, namespaces and proxied paths against the real API server: each one is
//! percent-encoded as exactly one path segment (or refused before any I/O), so the server
//! answers NotFound or another error for it — never with another object, and never by
//! acting on another object. Names the API server accepts (RBAC `system:…` names with
//! colons) keep working.

mod support;

use k8s_client::api::{
    Api, ApiserverProxy, DeleteParams, Deleted, ListParams, Patch, PatchParams, PathProblem,
    PostParams, ProxyTarget, RequestError,
};
use k8s_client::client::Body;
use k8s_client::transport::TransportError;
use k8s_client::{Client, Error};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::rbac::v1::ClusterRole;
use serde_json::json;
use support::api::setup;

const HOSTILE: &[&str] = &[
    "db\\",
    "db#",
    "db?",
    "db?x=1",
    "db%2F",
    "%2e%2e",
    "..",
    ".",
    "",
    "a/b",
    "db\t",
    "db\0",
    "d b",
    " db",
    "db/..",
    "x\\..\\db",
    "%64b",
    "ü",
];

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "data": {"secret": "of the victim"}
    }))
    .unwrap()
}

/// A read that must not have found anything: a typed client refusal or a server error.
fn assert_refused_or_error<T: std::fmt::Debug>(what: &str, result: Result<T, Error>) {
    match result {
        Ok(v) => panic!("{what}: answered with an object: {v:?}"),
        Err(Error::Request(RequestError::InvalidName { .. })) => {}
        Err(e @ Error::Api(_)) => assert!(
            matches!(e.code(), Some(400 | 404 | 405 | 422)),
            "{what}: unexpected status {e}"
        ),
        Err(e) => panic!("{what}: unexpected error {e}"),
    }
}

async fn raw_get(client: &Client, path: &str) -> Result<http::StatusCode, Error> {
    let req = http::Request::get(path).body(Body::empty()).unwrap();
    Ok(client.send(req).await?.status())
}

/// The reproduction: from namespace `tenant`, a backslash-and-dots name must not reach
/// ConfigMap `victim/db`, and collection deletes in `victim#`, `victim?`, `victim\` must
/// not delete the Namespace `victim` or its objects.
#[tokio::test]
async fn the_victim_namespace_is_out_of_reach() {
    let Some((_env, client, _ns)) = setup("hostile").await else {
        return;
    };
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in ["victim", "tenant"] {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }
    let victim: Api<ConfigMap> = Api::namespaced(client.clone(), "victim");
    victim
        .create(&PostParams::default(), &configmap("db"))
        .await
        .unwrap();
    // Positive control: the plain path does reach it.
    assert_eq!(
        raw_get(&client, "/api/v1/namespaces/victim/configmaps/db")
            .await
            .unwrap(),
        200
    );

    let tenant: Api<ConfigMap> = Api::namespaced(client.clone(), "tenant");
    let traversal = "x\\..\\..\\..\\victim\\configmaps\\db";
    let err = tenant.get(traversal).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    for name in [
        "x/../../../victim/configmaps/db",
        "..%2F..%2F..%2Fvictim%2Fconfigmaps%2Fdb",
        "%2e%2e",
    ] {
        assert_refused_or_error(name, tenant.get(name).await);
    }
    // Text the URL parser would rewrite is refused, not sent elsewhere.
    for path in [
        "/api/v1/namespaces/tenant/configmaps/x\\..\\..\\..\\victim\\configmaps\\db",
        "/api/v1/namespaces/tenant/configmaps/x/../../../victim/configmaps/db",
        "/api/v1/namespaces/tenant/configmaps/%2e%2e/%2e%2e/victim/configmaps/db",
    ] {
        let e = raw_get(&client, path).await.unwrap_err();
        assert!(
            matches!(e, Error::Transport(TransportError::NonCanonicalUri { .. })),
            "{path}: {e}"
        );
    }

    for ns in ["victim#", "victim?", "victim\\", "victim%23", "victim/"] {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        match api
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
        {
            Ok(Deleted::Object(list)) => assert!(list.items.is_empty(), "{ns:?}: {list:?}"),
            Ok(other) => panic!("{ns:?}: unexpected answer {other:?}"),
            Err(Error::Request(RequestError::InvalidName {
                what: "namespace", ..
            })) => assert!(ns.contains(['%', '/'])),
            Err(e) => assert!(e.code().is_some(), "{ns:?}: {e}"),
        }
        let ns_api: Api<Namespace> = Api::all(client.clone());
        assert_refused_or_error(
            &format!("namespace {ns:?}"),
            ns_api
                .delete(ns, &DeleteParams::default())
                .await
                .map(|_| "deleted"),
        );
    }
    let alive = namespaces.get("victim").await.unwrap();
    assert!(alive.metadata.deletion_timestamp.is_none(), "{alive:?}");
    let db = victim.get("db").await.unwrap();
    assert_eq!(db.data.unwrap()["secret"], "of the victim");
}

#[tokio::test]
async fn hostile_names_find_nothing() {
    let Some((_env, client, ns)) = setup("hostile-names").await else {
        return;
    };
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    cms.create(&PostParams::default(), &configmap("db"))
        .await
        .unwrap();
    for name in HOSTILE {
        assert_refused_or_error(&format!("get {name:?}"), cms.get(name).await);
        assert_refused_or_error(
            &format!("get_metadata {name:?}"),
            cms.get_metadata(name).await,
        );
        assert_refused_or_error(
            &format!("patch {name:?}"),
            cms.patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"secret": "overwritten"}})),
            )
            .await,
        );
        assert_refused_or_error(
            &format!("delete {name:?}"),
            cms.delete(name, &DeleteParams::default())
                .await
                .map(|_| "deleted"),
        );
        // A hostile namespace lists nothing (the namespace does not exist) or is refused.
        let in_ns: Api<ConfigMap> = Api::namespaced(client.clone(), name);
        match in_ns.list(&ListParams::default()).await {
            Ok(list) => assert!(list.items.is_empty(), "{name:?}: {list:?}"),
            Err(e) => assert_refused_or_error(&format!("list in {name:?}"), Err::<(), _>(e)),
        }
        assert_refused_or_error(&format!("get db in {name:?}"), in_ns.get("db").await);
    }
    let db = cms.get("db").await.unwrap();
    assert_eq!(db.data.unwrap()["secret"], "of the victim");
}

#[tokio::test]
async fn rbac_names_with_colons_work() {
    let Some((_env, client, _ns)) = setup("colons").await else {
        return;
    };
    let roles: Api<ClusterRole> = Api::all(client);
    let name = "system:test:colons";
    let role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]
    }))
    .unwrap();
    let built = roles.request().get(name).unwrap();
    assert_eq!(
        built.uri(),
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:test:colons"
    );
    let created = roles.create(&PostParams::default(), &role).await.unwrap();
    assert_eq!(created.metadata.name.as_deref(), Some(name));
    let got = roles.get(name).await.unwrap();
    assert_eq!(got.metadata.uid, created.metadata.uid);
    let patched = roles
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"test": "colons"}}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.labels.unwrap()["test"], "colons");
    roles.delete(name, &DeleteParams::default()).await.unwrap();
    assert!(roles.get_opt(name).await.unwrap().is_none());
}

#[tokio::test]
async fn proxied_paths_cannot_climb_to_other_resources() {
    let Some((_env, client, ns)) = setup("proxy-climb").await else {
        return;
    };
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    cms.create(&PostParams::default(), &configmap("db"))
        .await
        .unwrap();
    let climbs = [
        "/../../configmaps/db",
        "/../../../configmaps/db",
        "/%2e%2e/%2e%2e/configmaps/db",
        "/.%2E/.%2e/configmaps/db",
        "/..%2F..%2Fconfigmaps%2Fdb",
    ];
    for target in [
        ProxyTarget::service(&ns, "nowhere").port(80),
        ProxyTarget::pod(&ns, "nowhere").port(8080),
    ] {
        let proxy = ApiserverProxy::new(client.clone(), target.clone());
        for path in climbs {
            let e = proxy.get(path).await.unwrap_err();
            assert!(
                matches!(
                    &e,
                    Error::Request(RequestError::InvalidPath {
                        what: "proxied path",
                        problem: PathProblem::DotSegment | PathProblem::EncodedSlash,
                        ..
                    })
                ),
                "{target:?} {path}: {e}"
            );
        }
        // Backslashes are data, escaped: the API server looks for the (missing) target.
        let answer = proxy.get("/x\\..\\..\\configmaps\\db").await.unwrap();
        assert!(
            answer.status().is_client_error() || answer.status().is_server_error(),
            "{target:?}: {}",
            answer.status()
        );
        let body = answer.into_body().collect_bytes().await.unwrap();
        assert!(
            !String::from_utf8_lossy(&body).contains("of the victim"),
            "{target:?}"
        );
        // The same climb written by hand is refused before it is sent.
        let base = target.path("").unwrap();
        for climb in climbs {
            let path = format!("{base}{}", climb.trim_start_matches('/'));
            match raw_get(&client, &path).await {
                Err(Error::Transport(TransportError::NonCanonicalUri { .. })) => {}
                // `%2F` survives the URL parser; the API server then answers for the
                // (missing) target, never with the ConfigMap.
                Ok(status) => assert!(!status.is_success(), "{path}: {status}"),
                Err(e) => panic!("{path}: {e}"),
            }
        }
    }
}
