//! The API server proxy against testenv: a Service without selector whose EndpointSlice
//! and Endpoints point at a tiny HTTP server of this test, listening on a non-loopback
//! address inside a network namespace the test creates (the API server refuses loopback
//! endpoints). Traffic stays on the veth pair between the host and that namespace.
//!
//! Needs root (`ip netns`); when the namespace cannot be created the test fails and says
//! why — it does not skip.

mod support;

use support::server::{UpFuture, Upstream, full};

use http_body_util::BodyExt;
use k8s_client::api::{Api, ApiserverProxy, Patch, PatchParams, PostParams, ProxyTarget};
use k8s_client::client::Body;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;
use std::os::fd::AsRawFd;
use std::process::Command;
use support::api::setup;
use support::api::wait_for_default_sa;

/// Runs `ip args…`, failing the test with the command's stderr.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip {}`: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "`ip {}` failed ({}): {} — this test needs root and iproute2 to create a network namespace",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// A network namespace joined to the host by a veth pair with a /30 of 10.200.0.0/16.
/// Dropping it deletes both (also when the test fails).
struct NetNs {
    name: String,
    host_if: String,
    host_ip: String,
    ns_ip: String,
}

impl NetNs {
    fn create() -> Self {
        let pid = std::process::id();
        let block = pid % (64 * 256);
        let (third, fourth) = (block / 64, (block % 64) * 4);
        let ns = NetNs {
            name: format!("k8sc-api-{pid}"),
            host_if: format!("k8scah{pid}"),
            host_ip: format!("10.200.{third}.{}", fourth + 1),
            ns_ip: format!("10.200.{third}.{}", fourth + 2),
        };
        let ns_if = format!("k8scan{pid}");
        ip(&["netns", "add", &ns.name]);
        ip(&[
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &ns_if,
        ]);
        ip(&["link", "set", &ns_if, "netns", &ns.name]);
        ip(&[
            "addr",
            "add",
            &format!("{}/30", ns.host_ip),
            "dev",
            &ns.host_if,
        ]);
        ip(&["link", "set", &ns.host_if, "up"]);
        let exec = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &ns.name, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        exec(&["addr", "add", &format!("{}/30", ns.ns_ip), "dev", &ns_if]);
        exec(&["link", "set", &ns_if, "up"]);
        exec(&["link", "set", "lo", "up"]);
        ns
    }

    /// A TCP listener on `ns_ip:port` created inside the namespace (a socket stays in the
    /// namespace it was created in, whichever thread serves it later).
    fn listen(&self, port: u16) -> std::net::TcpListener {
        let path = format!("/run/netns/{}", self.name);
        let addr = format!("{}:{port}", self.ns_ip);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            // SAFETY: setns(2) on a valid, open namespace fd; it switches only this
            // short-lived thread, which creates the socket and exits.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(
                rc,
                0,
                "setns into {path}: {}",
                std::io::Error::last_os_error()
            );
            let listener = std::net::TcpListener::bind(&addr)
                .unwrap_or_else(|e| panic!("bind {addr} in the namespace: {e}"));
            listener.set_nonblocking(true).unwrap();
            listener
        })
        .join()
        .expect("the namespace thread")
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting the namespace destroys its veth end, which takes the host end along;
        // deleting the host end explicitly covers a half-built setup.
        for args in [
            vec!["link", "del", &self.host_if],
            vec!["netns", "del", &self.name],
        ] {
            let _ = Command::new("ip").args(&args).output();
        }
    }
}

/// Answers every request on `listener` with JSON describing it (method, path, query,
/// body).
fn echo_server(listener: tokio::net::TcpListener) -> Upstream {
    Upstream::on(listener, |req| {
        Box::pin(async move {
            let method = req.method().to_string();
            let path = req.uri().path().to_owned();
            let query = req.uri().query().unwrap_or_default().to_owned();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let answer = json!({
                "method": method, "path": path, "query": query,
                "body": String::from_utf8_lossy(&body),
            });
            http::Response::builder()
                .status(if path == "/missing" { 404 } else { 200 })
                .header("content-type", "application/json")
                .header("x-served-by", "netns-echo")
                .body(full(answer.to_string()))
                .unwrap()
        }) as UpFuture
    })
}

async fn read_json(response: http::Response<Body>) -> serde_json::Value {
    let bytes = response.into_body().collect_bytes().await.unwrap();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

#[tokio::test]
async fn service_reached_through_the_apiserver_proxy() {
    let Some((_, client, ns)) = setup("apiserver-proxy").await else {
        return;
    };
    let netns = NetNs::create();
    let listener = tokio::net::TcpListener::from_std(netns.listen(8080)).unwrap();
    let server = echo_server(listener);

    // The API server proxies a Service only to endpoint addresses that are IPs of a pod
    // in the same namespace (its `isValidAddress`): a pod (which stays Pending: there are
    // no nodes) whose status claims the namespace's address.
    wait_for_default_sa(&client, &ns).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "echo-backend"},
        "spec": {"containers": [{"name": "echo", "image": "registry.k8s.io/pause:3.10"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let status = json!({"status": {"podIP": netns.ns_ip, "podIPs": [{"ip": netns.ns_ip}]}});
    pods.patch_status(
        "echo-backend",
        &PatchParams::default(),
        &Patch::Merge(&status),
    )
    .await
    .unwrap();
    let target_ref = json!({"kind": "Pod", "namespace": ns, "name": "echo-backend"});

    // A Service without selector, and its endpoints by hand: an EndpointSlice, plus the
    // Endpoints object the API server's service proxy resolves through.
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "echo"},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    }))
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), &ns);
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": "echo-manual", "labels": {"kubernetes.io/service-name": "echo"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [netns.ns_ip], "conditions": {"ready": true},
                       "targetRef": target_ref}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
    }))
    .unwrap();
    slices.create(&PostParams::default(), &slice).await.unwrap();
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), &ns);
    let ep: Endpoints = serde_json::from_value(json!({
        "metadata": {"name": "echo"},
        "subsets": [{"addresses": [{"ip": netns.ns_ip, "targetRef": target_ref}],
                     "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]
    }))
    .unwrap();
    endpoints.create(&PostParams::default(), &ep).await.unwrap();

    // GET through services/echo:http/proxy/…, query kept.
    let proxy = ApiserverProxy::new(
        client.clone(),
        ProxyTarget::service(&ns, "echo").port("http"),
    );
    let response = proxy.get("/hello/world?x=1&y=two").await.unwrap();
    if response.status() != 200 {
        let status = response.status();
        let body = response.into_body().collect_bytes().await.unwrap();
        panic!(
            "GET through the proxy: {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    assert_eq!(response.headers()["x-served-by"], "netns-echo");
    let answer = read_json(response).await;
    assert_eq!(answer["method"], "GET");
    assert_eq!(answer["path"], "/hello/world");
    assert_eq!(answer["query"], "x=1&y=two");

    // Any method and body; the port by number this time.
    let proxy80 = ApiserverProxy::new(client.clone(), ProxyTarget::service(&ns, "echo").port(80));
    let request = http::Request::post("/submit")
        .header("content-type", "text/plain")
        .body(Body::from("payload bytes".to_owned()))
        .unwrap();
    let answer = read_json(proxy80.send(request).await.unwrap()).await;
    assert_eq!(answer["method"], "POST");
    assert_eq!(answer["body"], "payload bytes");

    // The target's own status codes come back as they are.
    let response = proxy.get("/missing").await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-served-by"], "netns-echo");

    // The pod itself through pods/echo-backend:8080/proxy/.
    let to_pod = ApiserverProxy::new(
        client.clone(),
        ProxyTarget::pod(&ns, "echo-backend").port(8080),
    );
    let answer = read_json(to_pod.get("/via-pod").await.unwrap()).await;
    assert_eq!(answer["path"], "/via-pod");

    // A service that does not exist: the API server's own answer, 503 with a Status
    // ("no endpoints available"), passed through unchanged.
    let nowhere = ApiserverProxy::new(client, ProxyTarget::service(&ns, "nowhere"));
    let response = nowhere.get("/").await.unwrap();
    let code = response.status();
    let status = read_json(response).await;
    assert_eq!(code, 503);
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "ServiceUnavailable");

    drop(server);
    drop(netns);
}
