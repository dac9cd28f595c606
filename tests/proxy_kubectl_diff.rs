//! Differential tests: our proxy and `kubectl proxy` (v1.32, on PATH) in front of the
//! same kube-apiserver with the same admin credentials get the same requests; status
//! codes and bodies must be equal (modulo server-generated ids, versions and times).
#![cfg(feature = "testenv")]

mod support;

use serde_json::json;
use support::env::admin_client;
use support::proxy::Answer;
use support::proxy::KubectlProxy;
use support::proxy::OurProxy;
use support::proxy::Target;
use support::proxy::fetch;
use support::proxy::normalize;
use support::proxy::options_on_random_port;
use support::proxy::request;
use support::proxy::request_with_host;

/// Sends the same request to both proxies.
async fn both(
    kubectl: &Target,
    ours: &Target,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> (Answer, Answer) {
    let k = fetch(kubectl, request(kubectl, method, path, body)).await;
    let o = fetch(ours, request(ours, method, path, body)).await;
    (k, o)
}

/// Same status; same JSON after normalizing, or the same bytes when not JSON.
fn assert_same(what: &str, k: &Answer, o: &Answer) {
    assert_eq!(
        k.status,
        o.status,
        "{what}: kubectl {} vs ours {}: {} / {}",
        k.status,
        o.status,
        k.text(),
        o.text()
    );
    match (
        serde_json::from_slice::<serde_json::Value>(&k.body),
        serde_json::from_slice::<serde_json::Value>(&o.body),
    ) {
        (Ok(mut kj), Ok(mut oj)) => {
            normalize(&mut kj);
            normalize(&mut oj);
            assert_eq!(kj, oj, "{what}: JSON bodies differ");
        }
        _ => assert_eq!(k.text(), o.text(), "{what}: bodies differ"),
    }
    assert_eq!(
        k.headers.get(http::header::CONTENT_TYPE),
        o.headers.get(http::header::CONTENT_TYPE),
        "{what}: Content-Type differs"
    );
}

/// Creates pod `p` in `ns`; it never runs (testenv has no node), so exec, attach and
/// port-forward get the API server's own error answer.
async fn create_pod_without_node(client: &k8s_client::Client, ns: &str) {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "example.invalid/none"}]}
    });
    let req = http::Request::post(format!("/api/v1/namespaces/{ns}/pods"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&pod).unwrap())
        .unwrap();
    client
        .request::<serde_json::Value>(req)
        .await
        .expect("creating the pod");
}

#[tokio::test]
async fn default_options_answer_like_kubectl() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let ns = support::env::unique_namespace(env, "proxy-diff").await;
    let kubectl = KubectlProxy::start(env.admin_kubeconfig(), &["--port=0"]).await;
    let ours = OurProxy::start(admin_client(env), options_on_random_port()).await;
    let (k, o) = (&kubectl.target, &ours.target());

    let (ka, oa) = both(k, o, "GET", "/api/", None).await;
    assert_eq!(ka.status, 200);
    assert_same("GET /api/", &ka, &oa);

    let (ka, oa) = both(k, o, "GET", "/version", None).await;
    assert_same("GET /version", &ka, &oa);

    let path = format!("/api/v1/namespaces?fieldSelector=metadata.name%3D{ns}");
    let (ka, oa) = both(k, o, "GET", &path, None).await;
    assert_eq!(ka.status, 200);
    assert_eq!(ka.json()["items"][0]["metadata"]["name"], ns.as_str());
    assert_same("GET namespaces", &ka, &oa);

    let missing = format!("/api/v1/namespaces/{ns}/configmaps/missing");
    let (ka, oa) = both(k, o, "GET", &missing, None).await;
    assert_eq!(ka.status, 404);
    assert_eq!(ka.json()["reason"], "NotFound");
    assert_same("GET missing object", &ka, &oa);

    // POST then DELETE the same object through each proxy in turn.
    let collection = format!("/api/v1/namespaces/{ns}/configmaps");
    let object = format!("{collection}/diff");
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "diff" }, "data": { "k": "v" }
    });
    let kp = fetch(k, request(k, "POST", &collection, Some(&cm))).await;
    assert_eq!(kp.status, 201, "{}", kp.text());
    let kd = fetch(k, request(k, "DELETE", &object, None)).await;
    assert_eq!(kd.status, 200, "{}", kd.text());
    let op = fetch(o, request(o, "POST", &collection, Some(&cm))).await;
    let od = fetch(o, request(o, "DELETE", &object, None)).await;
    assert_same("POST configmap", &kp, &op);
    assert_same("DELETE configmap", &kd, &od);

    // A conflicting POST: the server's 409 Status comes back unchanged.
    let _ = fetch(o, request(o, "POST", &collection, Some(&cm))).await;
    let (ka, oa) = both(k, o, "POST", &collection, Some(&cm)).await;
    assert_eq!(ka.status, 409);
    assert_same("POST conflict", &ka, &oa);

    // exec and attach are refused by the default filter.
    for sub in ["exec", "attach"] {
        let path = format!("/api/v1/namespaces/{ns}/pods/p/{sub}?command=ls");
        let (ka, oa) = both(k, o, "POST", &path, None).await;
        assert_eq!(ka.status, 403);
        assert_eq!(ka.text(), "Forbidden\n");
        assert_same(sub, &ka, &oa);
    }

    // A Host that is not a loopback name (DNS rebinding) is refused.
    for host in ["evil.example:8001", "evil.example", "127.0.0.2"] {
        let ka = fetch(k, request_with_host(host, "GET", "/api/", None)).await;
        let oa = fetch(o, request_with_host(host, "GET", "/api/", None)).await;
        assert_eq!(ka.status, 403, "{host}");
        assert_same(host, &ka, &oa);
    }
    for host in ["localhost", "localhost:1234", "127.0.0.1"] {
        let ka = fetch(k, request_with_host(host, "GET", "/api/", None)).await;
        let oa = fetch(o, request_with_host(host, "GET", "/api/", None)).await;
        assert_eq!(ka.status, 200, "{host}");
        assert_same(host, &ka, &oa);
    }

    // Non-canonical paths are redirected the same way.
    let (ka, oa) = both(k, o, "GET", "/api/../api/v1", None).await;
    assert_eq!(ka.status, 301);
    assert_same("unclean path", &ka, &oa);
    assert_eq!(ka.headers.get("location"), oa.headers.get("location"));
}

#[tokio::test]
async fn reject_methods_when_configured() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let ns = support::env::unique_namespace(env, "proxy-methods").await;
    let kubectl = KubectlProxy::start(
        env.admin_kubeconfig(),
        &["--port=0", "--reject-methods=POST,PUT"],
    )
    .await;
    let mut options = options_on_random_port();
    options.reject_methods = "POST,PUT".to_owned();
    let ours = OurProxy::start(admin_client(env), options).await;
    let (k, o) = (&kubectl.target, &ours.target());
    let collection = format!("/api/v1/namespaces/{ns}/configmaps");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    let (ka, oa) = both(k, o, "POST", &collection, Some(&cm)).await;
    assert_eq!(ka.status, 403);
    assert_same("POST rejected", &ka, &oa);
    let (ka, oa) = both(k, o, "GET", &collection, None).await;
    assert_eq!(ka.status, 200);
    assert_same("GET allowed", &ka, &oa);
}

#[tokio::test]
async fn api_prefix_and_404_outside_it() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let kubectl = KubectlProxy::start(
        env.admin_kubeconfig(),
        &["--port=0", "--api-prefix=/custom"],
    )
    .await;
    let mut options = options_on_random_port();
    options.api_prefix = "/custom".to_owned();
    let ours = OurProxy::start(admin_client(env), options).await;
    let (k, o) = (&kubectl.target, &ours.target());
    for (path, status) in [
        ("/custom/api/", 200),
        ("/custom/version", 200),
        ("/api/", 404),
        ("/customer/api", 404),
        ("/custom", 301),
        ("/custom/api/v1/namespaces/a/pods/b/exec", 403),
    ] {
        let (ka, oa) = both(k, o, "GET", path, None).await;
        assert_eq!(ka.status, status, "{path}: {}", ka.text());
        assert_same(path, &ka, &oa);
    }
}

#[tokio::test]
async fn ipv6_loopback_address() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    // kubectl needs the brackets (`--address=::1` fails with "too many colons"); we
    // take both spellings.
    let kubectl =
        KubectlProxy::start(env.admin_kubeconfig(), &["--port=0", "--address=[::1]"]).await;
    let mut options = options_on_random_port();
    options.address = Some("::1".to_owned());
    let ours = OurProxy::start(admin_client(env), options).await;
    let (k, o) = (&kubectl.target, &ours.target());
    let Target::Tcp(our_addr) = o else { panic!() };
    assert!(our_addr.is_ipv6());

    // `Host: [::1]` (no port) and `localhost:port` are accepted by both.
    for host in ["[::1]", "localhost:8001"] {
        let ka = fetch(k, request_with_host(host, "GET", "/api/", None)).await;
        let oa = fetch(o, request_with_host(host, "GET", "/api/", None)).await;
        assert_eq!(ka.status, 200, "{host}");
        assert_same(host, &ka, &oa);
    }
    // `curl http://[::1]:PORT/api/` sends `Host: [::1]:PORT`. kubectl strips the
    // brackets together with the port, so its own default `^\[::1\]$` no longer
    // matches and it answers 403 (kubernetes/kubernetes#77496); we accept it — the
    // documented difference.
    let ka = fetch(k, request(k, "GET", "/api/", None)).await;
    let oa = fetch(o, request(o, "GET", "/api/", None)).await;
    assert_eq!(ka.status, 403, "kubectl behaviour changed: {}", ka.text());
    assert_eq!(oa.status, 200, "{}", oa.text());
    let via_v4_host = fetch(k, request_with_host("localhost", "GET", "/api/", None)).await;
    assert_same(
        "[::1]:port (ours) vs localhost (kubectl)",
        &via_v4_host,
        &oa,
    );
}

#[tokio::test]
async fn unix_socket() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let k_path = dir.path().join("kubectl.sock");
    let o_path = dir.path().join("ours.sock");
    let kubectl = KubectlProxy::start(
        env.admin_kubeconfig(),
        &[&format!("--unix-socket={}", k_path.display())],
    )
    .await;
    let mut options = k8s_client::proxy::ProxyOptions::default();
    options.unix_socket = Some(o_path.clone());
    let ours = OurProxy::start(admin_client(env), options).await;
    let (k, o) = (&kubectl.target, &ours.target());
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&o_path), 0o600);
    assert_eq!(mode(&k_path) & 0o077, 0, "kubectl's socket is private too");
    for path in [
        "/api/",
        "/api/v1/namespaces/default",
        "/api/v1/namespaces/missing",
    ] {
        let (ka, oa) = both(k, o, "GET", path, None).await;
        assert_same(path, &ka, &oa);
    }
}

#[tokio::test]
async fn upgrade_errors_from_the_apiserver_come_back_unchanged() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let ns = support::env::unique_namespace(env, "proxy-upgrade-diff").await;
    let client = admin_client(env);
    create_pod_without_node(&client, &ns).await;
    let kubectl = KubectlProxy::start(env.admin_kubeconfig(), &["--port=0"]).await;
    let ours = OurProxy::start(client, options_on_random_port()).await;
    let (k, o) = (&kubectl.target, &ours.target());
    for path in [
        format!("/api/v1/namespaces/{ns}/pods/p/portforward?ports=80"),
        format!("/api/v1/namespaces/{ns}/pods/missing/portforward?ports=80"),
    ] {
        let upgrade = |t: &Target| {
            let mut r = request(t, "GET", &path, None);
            let h = r.headers_mut();
            h.insert("connection", "Upgrade".parse().unwrap());
            h.insert("upgrade", "websocket".parse().unwrap());
            h.insert("sec-websocket-version", "13".parse().unwrap());
            h.insert(
                "sec-websocket-key",
                "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap(),
            );
            h.insert(
                "sec-websocket-protocol",
                "v4.channel.k8s.io".parse().unwrap(),
            );
            r
        };
        let ka = fetch(k, upgrade(k)).await;
        let oa = fetch(o, upgrade(o)).await;
        assert!(
            ka.status.as_u16() >= 400,
            "{path}: {} {}",
            ka.status,
            ka.text()
        );
        assert_eq!(
            ka.json()["kind"],
            "Status",
            "{path}: the apiserver's own answer"
        );
        assert_same(&path, &ka, &oa);
    }
}

#[tokio::test]
async fn spdy_exec_passes_through_when_allowed() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let ns = support::env::unique_namespace(env, "proxy-spdy-diff").await;
    let client = admin_client(env);
    create_pod_without_node(&client, &ns).await;
    // exec is allowed once reject-paths no longer lists it.
    let kubectl = KubectlProxy::start(
        env.admin_kubeconfig(),
        &["--port=0", "--reject-paths=^/nothing$"],
    )
    .await;
    let mut options = options_on_random_port();
    options.reject_paths = "^/nothing$".to_owned();
    let ours = OurProxy::start(client, options).await;
    let (k, o) = (&kubectl.target, &ours.target());
    // What `kubectl exec` sends over SPDY.
    let path = format!("/api/v1/namespaces/{ns}/pods/p/exec?command=ls&container=c&stdout=true");
    let upgrade = |t: &Target| {
        let mut r = request(t, "POST", &path, None);
        let h = r.headers_mut();
        h.insert("connection", "Upgrade".parse().unwrap());
        h.insert("upgrade", "SPDY/3.1".parse().unwrap());
        h.insert(
            "x-stream-protocol-version",
            "v4.channel.k8s.io".parse().unwrap(),
        );
        r
    };
    let ka = fetch(k, upgrade(k)).await;
    let oa = fetch(o, upgrade(o)).await;
    assert_eq!(ka.status, 400, "{}", ka.text());
    assert_eq!(ka.json()["kind"], "Status", "the apiserver's own answer");
    assert_same("SPDY exec", &ka, &oa);
    // The marker the bypass test relies on: this answer comes from the exec handler.
    assert!(reached_pod_handler(&oa), "{}", oa.text());
}

/// The exec/attach handler's answer for a pod without a node: reaching it is what the
/// default `reject_paths` must prevent.
fn reached_pod_handler(a: &Answer) -> bool {
    a.text().contains("does not have a host assigned")
}

/// How our answer to a disguised exec/attach request relates to kubectl's.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// The same answer (the filter's 403, a 301, or the API server's own 404/400/405).
    Same,
    /// Ours: `400` before anything is forwarded. kubectl forwards a `\` (raw or `%5C`)
    /// and the API server answers 404/405; with `%00` kubectl's filter answers 403.
    OursRefuses(&'static str),
    /// Ours: `301` to the decoded, clean path, which the filter then refuses; kubectl's
    /// mux does not clean encoded dots, and its filter refuses the decoded path.
    OursRedirectsToForbidden,
}

#[tokio::test]
async fn disguised_exec_and_attach_never_reach_the_pod_handlers() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let ns = support::env::unique_namespace(env, "proxy-bypass-diff").await;
    let client = admin_client(env);
    create_pod_without_node(&client, &ns).await;
    let kubectl = KubectlProxy::start(env.admin_kubeconfig(), &["--port=0"]).await;
    let ours = OurProxy::start(client, options_on_random_port()).await;
    let (k, o) = (&kubectl.target, &ours.target());
    let pods = format!("/api/v1/namespaces/{ns}/pods");
    let q = "?command=sh&stdout=true";
    let backslash = Expect::OursRefuses("400 Bad Request: backslash in the request target\n");
    let encoded = Expect::OursRefuses("400 Bad Request: encoded backslash in the path\n");
    let variants = [
        (
            format!(r"/api\v1/namespaces/{ns}/pods/p/exec{q}"),
            backslash,
        ),
        (format!(r"{pods}\p\exec{q}"), backslash),
        (format!(r"{pods}/p\exec{q}"), backslash),
        (format!(r"{pods}/p\attach{q}"), backslash),
        (format!(r"{pods}\p/attach{q}"), backslash),
        (format!("/api%5Cv1/namespaces/{ns}/pods/p/exec{q}"), encoded),
        (format!("{pods}/p%5Cexec{q}"), encoded),
        (format!("{pods}/p%5cattach{q}"), encoded),
        (format!("{pods}/p%2Fexec{q}"), Expect::Same),
        (format!("{pods}%2Fp%2Fattach{q}"), Expect::Same),
        (format!("{pods}/p/%65xec{q}"), Expect::Same),
        (format!("{pods}/p/%61ttach{q}"), Expect::Same),
        (
            format!("{pods}/p/x/%2e%2e/exec{q}"),
            Expect::OursRedirectsToForbidden,
        ),
        (
            format!("{pods}/p/x/%2E%2E%2Fattach{q}"),
            Expect::OursRedirectsToForbidden,
        ),
        (format!("{pods}/p/x/../exec{q}"), Expect::Same),
        (format!("{pods}/p/./exec{q}"), Expect::Same),
        (
            format!("/api/v1/namespaces/{ns}/pods//p//exec{q}"),
            Expect::Same,
        ),
        (
            format!("//api/v1/namespaces/{ns}/pods/p/attach{q}"),
            Expect::Same,
        ),
        (format!("{pods}/p/EXEC{q}"), Expect::Same),
        (
            format!("/API/v1/namespaces/{ns}/pods/p/exec{q}"),
            Expect::Same,
        ),
        (format!("{pods}/p/exec;x=1{q}"), Expect::Same),
        (format!("{pods}/p;x=1/exec{q}"), Expect::Same),
        (format!("{pods}/p/%2565xec{q}"), Expect::Same),
        (format!("{pods}/p%252Fexec{q}"), Expect::Same),
        (format!("{pods}/p/%252e%252e/attach{q}"), Expect::Same),
        (
            format!("{pods}/p/exec%00{q}"),
            Expect::OursRefuses("400 Bad Request: encoded control character in the path\n"),
        ),
    ];
    // What `kubectl exec` sends (SPDY upgrade), and a plain GET.
    let make = |t: &Target, upgrade: bool, path: &str| {
        let mut r = request(t, if upgrade { "POST" } else { "GET" }, path, None);
        if upgrade {
            let h = r.headers_mut();
            h.insert("connection", "Upgrade".parse().unwrap());
            h.insert("upgrade", "SPDY/3.1".parse().unwrap());
            h.insert(
                "x-stream-protocol-version",
                "v4.channel.k8s.io".parse().unwrap(),
            );
        }
        r
    };
    for (path, expect) in &variants {
        for upgrade in [false, true] {
            let what = format!("{path} (upgrade: {upgrade})");
            let ka = fetch(k, make(k, upgrade, path)).await;
            let oa = fetch(o, make(o, upgrade, path)).await;
            assert!(!reached_pod_handler(&oa), "{what}: ours {}", oa.text());
            assert!(!reached_pod_handler(&ka), "{what}: kubectl {}", ka.text());
            assert!(ka.status.as_u16() >= 300, "{what}: kubectl {}", ka.status);
            match expect {
                Expect::Same => assert_same(&what, &ka, &oa),
                Expect::OursRefuses(body) => {
                    assert_eq!(oa.status, 400, "{what}: {}", oa.text());
                    assert_eq!(oa.text(), *body, "{what}");
                }
                Expect::OursRedirectsToForbidden => {
                    assert_eq!(ka.status, 403, "{what}: kubectl {}", ka.text());
                    assert_eq!(oa.status, 301, "{what}: {}", oa.text());
                    let location = oa.headers["location"].to_str().unwrap();
                    assert!(
                        location.ends_with(&format!(
                            "/pods/p/{}{q}",
                            if path.contains("exec") {
                                "exec"
                            } else {
                                "attach"
                            }
                        )),
                        "{what}: {location}"
                    );
                    let again = fetch(o, make(o, upgrade, location)).await;
                    assert_same(&format!("{what} after the redirect"), &ka, &again);
                }
            }
        }
    }
}
