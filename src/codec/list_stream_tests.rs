//! The incremental list decoder against the whole-body one: same lists, same
//! failures, however the body is cut into chunks.

use super::*;
use crate::codec::decode_list;
use crate::codec::test_wire::field;
use k8s_openapi::api::core::v1::ConfigMap;
use proptest::prelude::*;

/// ConfigMap { metadata { name, labels {app: name} }, data { k: value } }
fn configmap(name: &str, value: &str) -> Vec<u8> {
    let label = [field(1, b"app"), field(2, name.as_bytes())].concat();
    let meta = [field(1, name.as_bytes()), field(11, &label)].concat();
    let data = [field(1, b"k"), field(2, value.as_bytes())].concat();
    [field(1, &meta), field(2, &data)].concat()
}

fn enveloped(kind: &[u8], list: &[u8], encoding: &[u8]) -> Vec<u8> {
    let mut unknown = field(1, &[field(1, b"v1"), field(2, kind)].concat());
    unknown.extend(field(2, list));
    if !encoding.is_empty() {
        unknown.extend(field(3, encoding));
    }
    [MAGIC.as_slice(), &unknown].concat()
}

fn list_body(items: &[Vec<u8>]) -> Vec<u8> {
    // ListMeta { resourceVersion: "42", continue: "next" }
    let mut list = field(1, &[field(2, b"42"), field(3, b"next")].concat());
    for item in items {
        list.extend(field(2, item));
    }
    enveloped(b"ConfigMapList", &list, b"")
}

/// Feeds `body` in pieces of the given sizes (cycled), then finishes.
fn streamed<K: crate::api::Resource>(
    body: &[u8],
    sizes: &[usize],
) -> Result<ObjectList<K>, ProtobufError> {
    let mut d = ListDecoder::<K>::new()?;
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at >= body.len() {
            break;
        }
        let end = (at + (*size).max(1)).min(body.len());
        d.feed(&body[at..end])?;
        at = end;
    }
    d.finish()
}

#[test]
fn any_chunking_gives_the_whole_body_list() {
    let items: Vec<_> = (0..50)
        .map(|i| configmap(&format!("cm-{i}"), &"v".repeat(i * 37)))
        .collect();
    let body = list_body(&items);
    let whole = decode_list::<ConfigMap>(&body).unwrap();
    assert_eq!(whole.items.len(), 50);
    assert_eq!(whole.metadata.resource_version.as_deref(), Some("42"));
    for sizes in [&[1usize][..], &[2, 3, 5], &[7], &[4096], &[body.len()]] {
        let list = streamed::<ConfigMap>(&body, sizes).unwrap();
        assert_eq!(list.metadata, whole.metadata, "chunks {sizes:?}");
        assert_eq!(list.items, whole.items, "chunks {sizes:?}");
        assert_eq!(list.items.capacity(), list.items.len(), "no spare room");
    }
}

#[test]
fn an_empty_list_and_a_list_without_raw_decode() {
    let body = enveloped(b"ConfigMapList", &[], b"");
    assert!(streamed::<ConfigMap>(&body, &[1]).unwrap().items.is_empty());
    let no_raw = [MAGIC.as_slice(), &field(1, &field(2, b"ConfigMapList"))].concat();
    assert!(
        streamed::<ConfigMap>(&no_raw, &[3])
            .unwrap()
            .items
            .is_empty()
    );
}

#[test]
fn broken_bodies_fail_as_the_whole_body_decoder_fails() {
    let body = list_body(&[configmap("a", "1"), configmap("b", "2")]);
    // Cut at every point: a cut between envelope fields is a (shorter) valid body to
    // both; anywhere else both fail the same way.
    let mut failed = 0;
    for cut in 0..body.len() {
        let whole = decode_list::<ConfigMap>(&body[..cut]);
        let ours = streamed::<ConfigMap>(&body[..cut], &[3]);
        match (ours, whole) {
            (Ok(ours), Ok(whole)) => assert_eq!(ours.items, whole.items, "cut at {cut}"),
            (Err(ours), Err(whole)) => {
                failed += 1;
                assert_eq!(
                    std::mem::discriminant(&ours),
                    std::mem::discriminant(&whole),
                    "cut at {cut}: {ours:?} vs {whole:?}"
                );
            }
            (ours, whole) => panic!("cut at {cut}: {ours:?} vs {whole:?}"),
        }
    }
    assert!(failed > body.len() / 2, "most cuts break the body");
    assert!(matches!(
        streamed::<ConfigMap>(b"{\"kind\":\"ConfigMapList\"}", &[4]),
        Err(ProtobufError::NotProtobuf)
    ));
    let status = enveloped(b"Status", &[], b"");
    assert!(matches!(
        streamed::<ConfigMap>(&status, &[5]),
        Err(ProtobufError::UnexpectedKind { .. })
    ));
    let gzip = enveloped(b"ConfigMapList", &[], b"gzip");
    assert!(matches!(
        streamed::<ConfigMap>(&gzip, &[5]),
        Err(ProtobufError::ContentEncoding { .. })
    ));
    // An item field of the wrong wire type.
    let bad_item = enveloped(b"ConfigMapList", &[0x10, 0x01], b"");
    assert!(matches!(
        streamed::<ConfigMap>(&bad_item, &[1]),
        Err(ProtobufError::Message { .. })
    ));
    assert!(matches!(
        ListDecoder::<crate::api::DynamicObject>::new(),
        Err(ProtobufError::Unsupported { .. })
    ));
}

#[test]
fn a_later_raw_field_replaces_an_earlier_one() {
    let mut unknown = field(1, &[field(1, b"v1"), field(2, b"ConfigMapList")].concat());
    unknown.extend(field(2, &field(2, &configmap("old", "1"))));
    unknown.extend(field(2, &field(2, &configmap("new", "2"))));
    let body = [MAGIC.as_slice(), &unknown].concat();
    let whole = decode_list::<ConfigMap>(&body).unwrap();
    let ours = streamed::<ConfigMap>(&body, &[2]).unwrap();
    assert_eq!(ours.items, whole.items);
    assert_eq!(ours.items[0].metadata.name.as_deref(), Some("new"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary list messages: the incremental decoder succeeds exactly when the
    /// whole-body one does, with the same list, however the body is cut.
    #[test]
    fn arbitrary_lists_decode_as_the_whole_body_does(
        list in proptest::collection::vec(any::<u8>(), 0..400),
        sizes in proptest::collection::vec(1usize..64, 1..8),
    ) {
        type Pod = k8s_openapi::api::core::v1::Pod;
        let body = enveloped(b"PodList", &list, b"");
        let whole = decode_list::<Pod>(&body);
        let ours = streamed::<Pod>(&body, &sizes);
        prop_assert_eq!(ours.is_ok(), whole.is_ok(), "{:?} vs {:?}", ours.as_ref().err(), whole.as_ref().err());
        if let (Ok(ours), Ok(whole)) = (ours, whole) {
            prop_assert_eq!(ours.metadata, whole.metadata);
            prop_assert_eq!(ours.items, whole.items);
        }
    }

    /// Well-formed lists of random sizes cut at random points.
    #[test]
    fn well_formed_lists_survive_any_cut(
        values in proptest::collection::vec("[a-z]{0,300}", 0..20),
        sizes in proptest::collection::vec(1usize..300, 1..8),
    ) {
        let items: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(i, v)| configmap(&format!("cm-{i}"), v))
            .collect();
        let body = list_body(&items);
        let whole = decode_list::<ConfigMap>(&body).unwrap();
        let ours = streamed::<ConfigMap>(&body, &sizes).unwrap();
        prop_assert_eq!(ours.items, whole.items);
        prop_assert_eq!(ours.metadata, whole.metadata);
    }

    /// Arbitrary bytes after the magic never panic.
    #[test]
    fn arbitrary_envelopes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        sizes in proptest::collection::vec(1usize..64, 1..8),
    ) {
        let body = [MAGIC.as_slice(), &bytes].concat();
        let _ = streamed::<ConfigMap>(&body, &sizes);
    }
}
