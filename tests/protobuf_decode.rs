//! The protobuf codec without a server: bodies captured from a real kube-apiserver
//! (tests/data/protobuf) decode like their JSON twins, error bodies decode to a
//! `Status`, and hostile bytes (arbitrary, mutated, truncated, deeply nested) give a
//! typed error — never a panic, a stack overflow or a huge allocation.

use k8s_client::api::ObjectList;
use k8s_client::codec::{self, DecodeError, ProtobufError};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use proptest::prelude::*;

const POD_PB: &[u8] = include_bytes!("data/protobuf/pod.pb");
const POD_JSON: &[u8] = include_bytes!("data/protobuf/pod.json");
const DEPLOYMENTS_PB: &[u8] = include_bytes!("data/protobuf/deployments.pb");
const DEPLOYMENTS_JSON: &[u8] = include_bytes!("data/protobuf/deployments.json");
const STATUS_404_PB: &[u8] = include_bytes!("data/protobuf/status-404.pb");

#[test]
fn captured_bodies_decode_like_their_json() {
    let env = codec::envelope(POD_PB).unwrap();
    assert_eq!((&*env.api_version, &*env.kind), ("v1", "Pod"));
    assert_eq!(env.content_encoding, "");
    let pod: Pod = codec::decode(POD_PB).unwrap();
    assert_eq!(pod, serde_json::from_slice::<Pod>(POD_JSON).unwrap());
    assert_eq!(pod.metadata.name.as_deref(), Some("fixture"));

    let list: ObjectList<Deployment> = codec::decode_list(DEPLOYMENTS_PB).unwrap();
    let json: ObjectList<Deployment> = serde_json::from_slice(DEPLOYMENTS_JSON).unwrap();
    assert_eq!(list.items, json.items);
    assert_eq!(list.metadata, json.metadata);
    assert_eq!(list.items.len(), 1);
}

#[test]
fn status_bodies_decode_and_are_not_taken_for_objects() {
    let status = codec::decode_status(STATUS_404_PB).unwrap();
    assert_eq!(status.code, Some(404));
    assert_eq!(status.reason.as_deref(), Some("NotFound"));
    assert_eq!(status.message.as_deref(), Some("pods \"nope\" not found"));
    assert_eq!(status.details.as_ref().unwrap()["name"], "nope");
    let err = codec::decode::<Pod>(STATUS_404_PB).unwrap_err();
    assert!(
        matches!(&err, ProtobufError::UnexpectedKind { kind, .. } if kind == "Status"),
        "{err:?}"
    );
}

#[test]
fn non_protobuf_and_unsupported_types_are_typed_errors() {
    assert!(matches!(
        codec::decode::<Pod>(POD_JSON),
        Err(ProtobufError::NotProtobuf)
    ));
    assert!(!codec::supports::<k8s_client::api::DynamicObject>());
    assert!(matches!(
        codec::decode::<k8s_client::api::DynamicObject>(POD_PB),
        Err(ProtobufError::Unsupported { .. })
    ));
    // A body that is cut short names the kind and the type it was decoded as.
    let err = codec::decode::<Pod>(&POD_PB[..POD_PB.len() - 7]).unwrap_err();
    assert!(
        matches!(
            err,
            ProtobufError::Envelope {
                source: DecodeError::Truncated
            }
        ),
        "{err:?}"
    );
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field(tag: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(&mut out, u64::from(tag << 3 | 2));
    varint(&mut out, body.len() as u64);
    out.extend_from_slice(body);
    out
}

fn envelope(kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut type_meta = field(1, b"apiextensions.k8s.io/v1");
    type_meta.extend(field(2, kind.as_bytes()));
    let mut out = b"k8s\0".to_vec();
    out.extend(field(1, &type_meta));
    out.extend(field(2, raw));
    out
}

#[test]
fn deeply_nested_schemas_hit_the_depth_limit_instead_of_the_stack() {
    // JSONSchemaProps.items (24) → JSONSchemaPropsOrArray.schema (1) → …, 5000 levels.
    let mut schema = Vec::new();
    for _ in 0..5000 {
        schema = field(24, &field(1, &schema));
    }
    let version = [field(1, b"v1"), field(4, &field(1, &schema))].concat();
    let crd = field(2, &field(7, &version));
    let err =
        codec::decode::<CustomResourceDefinition>(&envelope("CustomResourceDefinition", &crd))
            .unwrap_err();
    assert!(
        matches!(
            err,
            ProtobufError::Message {
                source: DecodeError::TooDeep { .. },
                ..
            }
        ),
        "{err:?}"
    );
    // A sane depth decodes.
    let mut schema = field(1, b"leaf");
    for _ in 0..20 {
        schema = field(24, &field(1, &schema));
    }
    let version = [field(1, b"v1"), field(4, &field(1, &schema))].concat();
    let crd = codec::decode::<CustomResourceDefinition>(&envelope(
        "CustomResourceDefinition",
        &field(2, &field(7, &version)),
    ))
    .unwrap();
    assert_eq!(crd.spec.versions[0].name, "v1");
}

#[test]
fn unknown_fields_of_a_newer_server_are_skipped() {
    // ConfigMap with data {"a": "b"} plus unknown fields 99 (varint, len, fixed64, fixed32).
    let mut raw = field(2, &[field(1, b"a"), field(2, b"b")].concat());
    raw.extend([0x98, 0x06, 0x2a]); // 99: varint 42
    raw.extend(field(99, b"future"));
    raw.extend([0x99, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]); // 99: fixed64
    raw.extend([0x9d, 0x06, 1, 2, 3, 4]); // 99: fixed32
    let mut type_meta = field(1, b"v1");
    type_meta.extend(field(2, b"ConfigMap"));
    let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &raw)].concat();
    let cm: ConfigMap = codec::decode(&body).unwrap();
    assert_eq!(cm.data.unwrap()["a"], "b");
}

fn decode_all(body: &[u8]) {
    let _ = codec::decode::<Pod>(body);
    let _ = codec::decode_list::<Pod>(body);
    let _ = codec::decode::<CustomResourceDefinition>(body);
    let _ = codec::decode_list::<Deployment>(body);
    let _ = codec::decode_status(body);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
        let with_magic = [b"k8s\0".as_slice(), &bytes].concat();
        decode_all(&with_magic);
        // As the raw object of a well-formed envelope.
        decode_all(&envelope("Pod", &bytes));
    }

    #[test]
    fn mutated_real_bodies_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        for original in [POD_PB, DEPLOYMENTS_PB] {
            let mut body = original.to_vec();
            for (at, byte) in &flips {
                let i = at.index(body.len());
                body[i] = *byte;
            }
            decode_all(&body);
            decode_all(&body[..cut.index(body.len())]);
        }
    }
}

#[test]
fn errors_never_carry_the_bytes_they_failed_on() {
    use k8s_openapi::api::core::v1::Secret;
    // A Secret with data {"password": "hunter2-secret"} whose last byte is cut off.
    let raw = field(
        2,
        &[field(1, b"password"), field(2, b"hunter2-secret")].concat(),
    );
    let mut type_meta = field(1, b"v1");
    type_meta.extend(field(2, b"Secret"));
    let mut body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &raw)].concat();
    assert!(codec::decode::<Secret>(&body).is_ok());
    let at = body.windows(7).position(|w| w == b"hunter2").unwrap();
    body[at - 1] = 0x7f; // the value's length now runs past the end
    let err = codec::decode::<Secret>(&body).unwrap_err();
    let mut text = format!("{err} {err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    assert!(!text.contains("hunter2"), "{text}");
}
