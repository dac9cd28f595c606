//! The request hook against a real API server: one event per call, with the path
//! template, the server's status, and the body sizes it reported.

mod support;

use k8s_client::Client;
use k8s_client::api::{Api, ListParams, PostParams};
use k8s_client::client::RequestEvent;
use k8s_openapi::api::core::v1::ConfigMap;
use std::sync::{Arc, Mutex};

#[tokio::test]
async fn every_call_reports_template_status_and_timing() {
    let Some((_, admin, ns)) = support::api::setup("hook").await else {
        return;
    };
    let events: Arc<Mutex<Vec<RequestEvent>>> = Arc::default();
    let sink = events.clone();
    let client = Client::builder(admin.config().clone())
        .on_request(move |e| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, &ns);
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("observed".into());
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cms.get("observed").await.unwrap();
    assert!(cms.get("absent").await.unwrap_err().is_not_found());
    cms.list(&ListParams::default()).await.unwrap();

    let events = events.lock().unwrap().clone();
    let seen: Vec<(String, &str, Option<u16>)> = events
        .iter()
        .map(|e| (e.method.to_string(), e.path_template.as_str(), e.status))
        .collect();
    let item = "/api/v1/namespaces/{namespace}/configmaps/{name}";
    let collection = "/api/v1/namespaces/{namespace}/configmaps";
    assert_eq!(
        seen,
        [
            ("POST".to_owned(), collection, Some(201)),
            ("GET".to_owned(), item, Some(200)),
            ("GET".to_owned(), item, Some(404)),
            ("GET".to_owned(), collection, Some(200)),
        ]
    );
    assert!(events.iter().all(|e| e.tries == 1 && !e.latency.is_zero()));
    assert!(events[0].request_bytes.is_some_and(|n| n > 0));
    // The server states the length of a small answer; the hook reports it.
    assert!(
        events[1].response_bytes.is_some_and(|n| n > 0),
        "{:?}",
        events[1]
    );
    assert!(events.iter().all(|e| !e.path_template.contains(&ns)));
}

#[tokio::test]
async fn the_request_span_carries_the_path_template_without_a_hook() {
    // The process-wide subscriber: a scoped one races with the other test's callsites.
    let logs = support::logs::LogBuffer::global();
    let Some((_, admin, ns)) = support::api::setup("span").await else {
        return;
    };
    let cms: Api<ConfigMap> = Api::namespaced(admin, &ns);
    assert!(cms.get("absent").await.unwrap_err().is_not_found());
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| {
            l.contains("response received") && l.contains(&format!("/{ns}/configmaps/absent"))
        })
        .unwrap_or_else(|| panic!("no response line for {ns}"));
    assert!(
        line.contains("request{method=GET path=/api/v1/namespaces/{namespace}/configmaps/{name}"),
        "{line}"
    );
    assert!(
        !line.contains(&format!("path=/api/v1/namespaces/{ns}")),
        "{line}"
    );
}
