//! Request paths on the wire, against a small local server that records the exact
//! request-target it receives: the path built (and logged) is the path the server gets,
//! byte for byte; refused values never produce a request. Hostile names against a real
//! API server are in `api_hostile_names.rs`.

mod support;

use support::logs::LogBuffer;

use http::Response;
use k8s_client::api::{
    Api, ApiResource, ApiserverProxy, DeleteParams, DynamicObject, ListParams, PathProblem,
    PostParams, ProxyTarget, RequestError, WatchParams,
};
use k8s_client::client::Body;
use k8s_client::transport::TransportError;
use k8s_client::{Client, Error};
use k8s_openapi::api::core::v1::ConfigMap;
use std::sync::{Arc, Mutex};
use support::server::Upstream;
use support::server::full;

const NOT_FOUND: &str =
    r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#;

/// An upstream that records each request-target (path and query) and answers 404.
async fn recorder() -> (Upstream, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let upstream = Upstream::start(move |req| {
        log.lock().unwrap().push(req.uri().to_string());
        Box::pin(async move {
            Response::builder()
                .status(404)
                .header("content-type", "application/json")
                .body(full(NOT_FOUND))
                .unwrap()
        })
    })
    .await;
    (upstream, seen)
}

fn client_with_prefix(upstream: &Upstream, prefix: &str) -> Client {
    let url = format!("http://{}{prefix}", upstream.addr).parse().unwrap();
    Client::try_from(k8s_client::Config::new(url)).unwrap()
}

const HOSTILE: &[&str] = &[
    "x\\..\\..\\..\\victim\\configmaps\\db",
    "victim#",
    "victim?",
    "victim\\",
    "a b",
    "tab\tnl\n",
    "nul\0",
    "ü",
    "...",
    "system:controller:foo",
    "a'b\"c<d>e{f}g|h^i`j[k]",
];

#[tokio::test]
async fn hostile_names_reach_the_server_as_built() {
    let (upstream, seen) = recorder().await;
    for prefix in ["", "/k8s/clusters/c-1"] {
        let client = client_with_prefix(&upstream, prefix);
        for hostile in HOSTILE {
            let cms: Api<ConfigMap> = Api::namespaced(client.clone(), hostile);
            let built = cms.request().get(hostile).unwrap().uri().to_string();
            let err = cms.get(hostile).await.unwrap_err();
            assert!(err.is_not_found(), "{hostile:?}: {err}");
            let got = seen.lock().unwrap().pop().unwrap();
            assert_eq!(got, format!("{prefix}{built}"), "{hostile:?}");
            assert!(!got.contains(['\\', '#', ' ']), "{got}");
            let segments: Vec<_> = built.split('/').collect();
            assert_eq!(segments.len(), 7, "{built}");

            let built = cms
                .request()
                .delete_collection(&DeleteParams::default(), &ListParams::default())
                .unwrap()
                .uri()
                .to_string();
            assert!(
                cms.delete_collection(&DeleteParams::default(), &ListParams::default())
                    .await
                    .unwrap_err()
                    .is_not_found()
            );
            assert_eq!(
                seen.lock().unwrap().pop().unwrap(),
                format!("{prefix}{built}")
            );
        }
    }
    let victim: Api<ConfigMap> = Api::namespaced(upstream.client("t"), "victim#");
    let _ = victim
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await;
    assert_eq!(
        seen.lock().unwrap().pop().unwrap(),
        "/api/v1/namespaces/victim%23/configmaps"
    );
}

#[tokio::test]
async fn the_logged_url_is_what_the_server_receives() {
    // Everything this binary logs (a global subscriber: a scoped one misses events whose
    // callsite another test thread registered first).
    let logs = LogBuffer::global();
    let (upstream, seen) = recorder().await;
    let client = client_with_prefix(&upstream, "/k8s/clusters/c-1");
    let origin = format!("http://{}", upstream.addr);
    for hostile in HOSTILE {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), hostile);
        let _ = cms.get(hostile).await.unwrap_err();
        let received = seen.lock().unwrap().pop().unwrap();
        let text = logs.text();
        let logged: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("sending request"))
            .filter_map(|l| l.split("url=").nth(1)?.split(' ').next())
            .filter(|url| url.starts_with(&origin))
            .collect();
        assert_eq!(
            logged.last().copied(),
            Some(format!("{origin}{received}").as_str()),
            "{hostile:?}"
        );
    }
}

#[tokio::test]
async fn refused_scopes_and_names_send_nothing() {
    let (upstream, seen) = recorder().await;
    let client = upstream.client("t");
    for ns in ["", ".", "..", "a/b", "%2F", "%2e%2e", "victim%23"] {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        let errors = [
            cms.get("a").await.unwrap_err(),
            cms.list(&ListParams::default()).await.unwrap_err(),
            cms.delete_collection(&DeleteParams::default(), &ListParams::default())
                .await
                .unwrap_err(),
            cms.create(&PostParams::default(), &ConfigMap::default())
                .await
                .unwrap_err(),
            cms.watch(&WatchParams::default(), "").await.err().unwrap(),
        ];
        for e in errors {
            assert!(
                matches!(&e, Error::Request(RequestError::InvalidName { what: "namespace", value }) if value == ns),
                "{ns:?}: {e}"
            );
        }
    }
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "ok");
    for name in ["", ".", "..", "a/b", "%2e%2e", "x%5C"] {
        let e = cms.get(name).await.unwrap_err();
        assert!(
            matches!(&e, Error::Request(RequestError::InvalidName { what: "name", value }) if value == name),
            "{name:?}: {e}"
        );
    }
    let e = cms
        .get_subresource::<ConfigMap>("../secrets", "a")
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        Error::Request(RequestError::InvalidName {
            what: "subresource",
            ..
        })
    ));

    // Server-provided type information that cannot be a path: refused at request time.
    for (ar, what) in [
        (
            ApiResource::new("", "v1", "Secret", "../secrets", true),
            "resource",
        ),
        (
            ApiResource::new("", "", "Secret", "secrets", true),
            "version",
        ),
        (ApiResource::new("a/b", "v1", "X", "xs", true), "group"),
        (ApiResource::new("..", "v1", "X", "xs", false), "group"),
        (
            ApiResource::new("g", "v1/../../api", "X", "xs", false),
            "version",
        ),
    ] {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "ns", &ar);
        let e = api.list(&ListParams::default()).await.unwrap_err();
        assert!(
            matches!(&e, Error::Request(RequestError::InvalidName { what: w, .. }) if *w == what),
            "{ar:?}: {e}"
        );
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
}

#[tokio::test]
async fn client_send_keeps_the_path_or_refuses_it() {
    let (upstream, seen) = recorder().await;
    let client = client_with_prefix(&upstream, "/prefix/");
    for uri in [
        "/api/v1/namespaces/a%5Cb/configmaps/x%23y",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:a:b",
        "/api/v1/namespaces/%C3%BC/pods/a%20b?labelSelector=a%3Db",
    ] {
        let req = http::Request::get(uri).body(Body::empty()).unwrap();
        let answer = client.send(req).await.unwrap();
        assert_eq!(answer.status(), 404);
        assert_eq!(seen.lock().unwrap().pop().unwrap(), format!("/prefix{uri}"));
    }
    for uri in [
        "/api/v1/namespaces/tenant/configmaps/x\\..\\..\\..\\victim\\configmaps\\db",
        "/api/v1/namespaces/tenant/configmaps/x/../../../victim/configmaps/db",
        "/api/v1/namespaces/tenant/configmaps/%2e%2e/%2E%2e/x",
        "/api/v1/namespaces/a\"b",
        "/api/v1/namespaces/ü",
    ] {
        let req = http::Request::get(uri).body(Body::empty()).unwrap();
        let e = client.send(req).await.unwrap_err();
        assert!(
            matches!(&e, Error::Transport(TransportError::NonCanonicalUri { uri: u, .. }) if u == uri),
            "{uri}: {e}"
        );
    }
    let absolute = format!("http://{}/api/v1/../../x", upstream.addr);
    let req = http::Request::get(absolute.as_str())
        .body(Body::empty())
        .unwrap();
    let e = client.send(req).await.unwrap_err();
    assert!(
        matches!(e, Error::Transport(TransportError::NonCanonicalUri { .. })),
        "{e}"
    );
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn apiserver_proxy_paths_stay_below_the_proxy_root() {
    let (upstream, seen) = recorder().await;
    let client = upstream.client("t");
    let pod = ApiserverProxy::new(client.clone(), ProxyTarget::pod("ns", "p").port(8080));
    for (path, want) in [
        (
            "/metrics?x=a b",
            "/api/v1/namespaces/ns/pods/p:8080/proxy/metrics?x=a%20b",
        ),
        (
            "/a\\..\\b",
            "/api/v1/namespaces/ns/pods/p:8080/proxy/a%5C..%5Cb",
        ),
        ("/dir/", "/api/v1/namespaces/ns/pods/p:8080/proxy/dir/"),
    ] {
        pod.get(path).await.unwrap();
        assert_eq!(seen.lock().unwrap().pop().unwrap(), want);
    }
    for path in [
        "/../../secrets/x",
        "/a/%2e%2e/%2e%2e/x",
        "/.%2e",
        "/a%2F..%2F..%2Fx",
    ] {
        let e = pod.get(path).await.unwrap_err();
        assert!(
            matches!(
                &e,
                Error::Request(RequestError::InvalidPath {
                    problem: PathProblem::DotSegment | PathProblem::EncodedSlash,
                    ..
                })
            ),
            "{path}: {e}"
        );
        let req = http::Request::get(path).body(Body::empty()).unwrap();
        assert!(pod.send(req).await.is_err(), "{path}");
    }
    for target in [
        ProxyTarget::service("ns", "web:80"),
        ProxyTarget::service("ns", ".."),
        ProxyTarget::service("..", "web"),
        ProxyTarget::node("n").scheme("https:x"),
        ProxyTarget::node("n").port("80/../x"),
    ] {
        let e = ApiserverProxy::new(client.clone(), target.clone())
            .get("/")
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Request(RequestError::InvalidName { .. })),
            "{target:?}: {e}"
        );
    }
    assert!(seen.lock().unwrap().is_empty());
}
