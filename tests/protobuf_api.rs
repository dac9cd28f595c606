//! Content negotiation of `Api<K>` against a small local server, for what a real API
//! server does not show on demand: the exact `Accept` each read sends, a JSON answer to a
//! protobuf request, a protobuf error `Status`, a watch frame announcing 4 GiB, a stream
//! cut inside a frame. (Equality with JSON against a real server: `protobuf_kinds.rs`,
//! `protobuf_watch.rs`.)

mod support;

use http::Response;
use k8s_client::api::{
    Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, RequestError, WatchParams,
};
use k8s_client::client::WireFormat;
use k8s_client::{Client, Error};
use k8s_openapi::api::core::v1::Pod;
use std::sync::{Arc, Mutex};
use support::server::Upstream;
use support::server::full;

const POD_PB: &[u8] = include_bytes!("data/protobuf/pod.pb");
const POD_JSON: &[u8] = include_bytes!("data/protobuf/pod.json");
const STATUS_404_PB: &[u8] = include_bytes!("data/protobuf/status-404.pb");
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// An upstream answering every request with `(status, content type, body)`, recording
/// the `Accept` header of each request.
async fn upstream(
    answer: impl Fn(&str) -> (u16, &'static str, Vec<u8>) + Send + Sync + 'static,
) -> (Upstream, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let upstream = Upstream::start(move |req| {
        let accept = req
            .headers()
            .get(http::header::ACCEPT)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        log.lock().unwrap().push(accept.clone());
        let (status, content_type, body) = answer(&accept);
        Box::pin(async move {
            Response::builder()
                .status(status)
                .header("content-type", content_type)
                .body(full(body))
                .unwrap()
        })
    })
    .await;
    (upstream, seen)
}

fn client(up: &Upstream, format: WireFormat) -> Client {
    Client::builder(up.client("t").config().clone())
        .wire_format(format)
        .build()
        .unwrap()
}

#[tokio::test]
async fn built_in_reads_ask_for_protobuf_and_decode_what_comes_back() {
    // Protobuf when asked for it, JSON otherwise.
    let (up, seen) = upstream(|accept| {
        if accept.starts_with(PROTOBUF) {
            (200, PROTOBUF, POD_PB.to_vec())
        } else {
            (200, "application/json", POD_JSON.to_vec())
        }
    })
    .await;
    let expected: Pod = serde_json::from_slice(POD_JSON).unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&up, WireFormat::Protobuf), "default");
    assert_eq!(pods.get("fixture").await.unwrap(), expected);
    assert_eq!(
        seen.lock().unwrap().pop().unwrap(),
        "application/vnd.kubernetes.protobuf, application/json"
    );
    // Forced JSON.
    let pods: Api<Pod> = Api::namespaced(client(&up, WireFormat::Json), "default");
    assert_eq!(pods.get("fixture").await.unwrap(), expected);
    assert_eq!(seen.lock().unwrap().pop().unwrap(), "application/json");
    // Metadata-only reads, patches and dynamic objects stay JSON.
    let pods: Api<Pod> = Api::namespaced(client(&up, WireFormat::Protobuf), "default");
    let _ = pods.get_metadata("fixture").await;
    assert!(
        seen.lock()
            .unwrap()
            .pop()
            .unwrap()
            .starts_with("application/json;as=PartialObjectMetadata")
    );
    let _ = pods
        .patch(
            "fixture",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({})),
        )
        .await;
    assert_eq!(seen.lock().unwrap().pop().unwrap(), "application/json");
    let ar = ApiResource::new("example.com", "v1", "Widget", "widgets", true);
    let dynamic: Api<DynamicObject> =
        Api::namespaced_with(client(&up, WireFormat::Protobuf), "default", &ar);
    let _ = dynamic.get("fixture").await;
    assert_eq!(seen.lock().unwrap().pop().unwrap(), "application/json");
}

#[tokio::test]
async fn a_json_answer_to_a_protobuf_request_is_decoded_as_json() {
    // An aggregated API server without protobuf answers JSON to the same Accept.
    let (up, _) = upstream(|_| (200, "application/json", POD_JSON.to_vec())).await;
    let pods: Api<Pod> = Api::namespaced(client(&up, WireFormat::Protobuf), "default");
    let pod = pods.get("fixture").await.unwrap();
    assert_eq!(pod.metadata.name.as_deref(), Some("fixture"));
}

#[tokio::test]
async fn protobuf_error_statuses_and_garbage_are_typed_errors() {
    let (up, _) = upstream(|_| (404, PROTOBUF, STATUS_404_PB.to_vec())).await;
    let pods: Api<Pod> = Api::namespaced(client(&up, WireFormat::Protobuf), "default");
    let err = pods.get("nope").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.message(), Some("pods \"nope\" not found"));

    let (up, _) = upstream(|_| (200, PROTOBUF, b"k8s\0\x0a\xff".to_vec())).await;
    let pods: Api<Pod> = Api::namespaced(client(&up, WireFormat::Protobuf), "default");
    let err = pods.list(&ListParams::default()).await.unwrap_err();
    assert!(matches!(err, Error::DecodeProtobuf { .. }), "{err:?}");
    assert!(err.to_string().contains("from protobuf"), "{err}");
}

fn frame(event_type: &str, object_envelope: &[u8]) -> Vec<u8> {
    fn field(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag << 3 | 2];
        let mut n = body.len();
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        out.extend_from_slice(body);
        out
    }
    let event = [
        field(1, event_type.as_bytes()),
        field(2, &field(1, object_envelope)),
    ]
    .concat();
    [(event.len() as u32).to_be_bytes().to_vec(), event].concat()
}

#[tokio::test]
async fn watch_frames_are_bounded_before_buffering_and_must_be_whole() {
    const STREAM: &str = "application/vnd.kubernetes.protobuf;stream=watch";
    // One good event, then a frame announcing 4 GiB - 1: refused from its prefix.
    let (up, seen) = upstream(|_| {
        let body = [
            frame("ADDED", POD_PB),
            vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        ]
        .concat();
        (200, STREAM, body)
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client(&up, WireFormat::Protobuf), "default");
    let wp = WatchParams::default().max_event_size(64 * 1024);
    let mut events = pods.watch(&wp, "1").await.unwrap();
    use futures_util::StreamExt;
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(
        first.resource_version(),
        serde_json::from_slice::<Pod>(POD_JSON)
            .unwrap()
            .metadata
            .resource_version
            .as_deref()
    );
    let err = events.next().await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Request(RequestError::EventTooLarge { limit: 65536, .. })
        ),
        "{err:?}"
    );
    assert!(events.next().await.is_none());
    assert_eq!(
        seen.lock().unwrap().pop().unwrap(),
        "application/vnd.kubernetes.protobuf;stream=watch, application/json"
    );

    // A stream cut inside a frame.
    let (up, _) = upstream(|_| {
        let whole = frame("MODIFIED", POD_PB);
        (200, STREAM, whole[..whole.len() - 10].to_vec())
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client(&up, WireFormat::Protobuf), "default");
    let mut events = pods.watch(&WatchParams::default(), "1").await.unwrap();
    let err = events.next().await.unwrap().unwrap_err();
    assert!(
        matches!(
            &err,
            Error::DecodeProtobuf {
                source: k8s_client::codec::ProtobufError::TruncatedFrame,
                ..
            }
        ),
        "{err:?}"
    );
}
