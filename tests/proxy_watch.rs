//! A watch through the proxy against a real kube-apiserver: every event comes through
//! on its own, before the next change is made (nothing waits for a buffer or a flush
//! interval to fill).
#![cfg(feature = "testenv")]

mod support;

use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::env::admin_client;
use support::proxy::OurProxy;
use support::proxy::options_on_random_port;
use support::proxy::request;
use support::proxy::send;
use support::within;

/// The next newline-terminated watch event from `body`.
async fn next_event(body: &mut hyper::body::Incoming, buf: &mut Vec<u8>) -> Value {
    loop {
        if let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            return serde_json::from_slice(&line).expect("a JSON watch event");
        }
        let frame = body
            .frame()
            .await
            .expect("the watch ended early")
            .expect("reading the watch");
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
    }
}

#[tokio::test]
async fn each_watch_event_arrives_before_the_next_change() {
    let Some(env) = support::env::control_plane() else {
        return;
    };
    let ns = support::env::unique_namespace(env, "proxy-watch").await;
    let client = admin_client(env);
    let proxy = OurProxy::start(client.clone(), options_on_random_port()).await;
    let target = proxy.target();

    let create = http::Request::post(format!("/api/v1/namespaces/{ns}/configmaps"))
        .header("content-type", "application/json")
        .body(
            serde_json::to_vec(&json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "watched"}, "data": {"n": "0"}
            }))
            .unwrap(),
        )
        .unwrap();
    let created: Value = client
        .request(create)
        .await
        .expect("creating the ConfigMap");
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();

    let path = format!(
        "/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion={rv}\
         &fieldSelector=metadata.name%3Dwatched"
    );
    let response = send(&target, request(&target, "GET", &path, None)).await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut buf = Vec::new();

    for n in 1..=5 {
        let patch = http::Request::patch(format!("/api/v1/namespaces/{ns}/configmaps/watched"))
            .header("content-type", "application/merge-patch+json")
            .body(serde_json::to_vec(&json!({"data": {"n": n.to_string()}})).unwrap())
            .unwrap();
        client
            .request::<Value>(patch)
            .await
            .expect("patching the ConfigMap");
        // Nothing else happens on the server until this event is through the proxy.
        let event = within("the watch event", next_event(&mut body, &mut buf)).await;
        assert_eq!(event["type"], "MODIFIED", "{event}");
        assert_eq!(event["object"]["data"]["n"], n.to_string(), "{event}");
    }

    let delete = http::Request::delete(format!("/api/v1/namespaces/{ns}/configmaps/watched"))
        .body(Vec::new())
        .unwrap();
    client
        .request::<Value>(delete)
        .await
        .expect("deleting the ConfigMap");
    let event = within("the DELETED event", next_event(&mut body, &mut buf)).await;
    assert_eq!(event["type"], "DELETED", "{event}");
}
