//! A protobuf list page kept encoded, its items decoded one at a time as they are
//! taken: a paged reader never holds a whole page of decoded objects.

use super::rt::{self, DecodeError, Reader};
use super::{ProtobufError, checked, decode_raw, decoders};
use crate::api::{ObjectList, Resource};
use bytes::Bytes;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use std::ops::Range;

/// The still encoded items of one protobuf list page.
pub(crate) struct EncodedItems {
    body: Bytes,
    /// The item kind, for errors.
    kind: String,
    ranges: std::vec::IntoIter<Range<usize>>,
}

impl EncodedItems {
    /// Items not yet taken.
    pub(crate) fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Decodes the next item.
    pub(crate) fn next_item<K: Resource>(&mut self) -> Option<Result<K, ProtobufError>> {
        let range = self.ranges.next()?;
        Some(decode_raw::<K>(&self.body[range], &self.kind))
    }
}

/// Splits a protobuf `…List` body of `K` into its decoded metadata and its encoded
/// items (checked as a list of a kind with a decoder; items are checked when decoded).
pub(crate) fn split_list<K: Resource>(
    body: Bytes,
) -> Result<(ListMeta, EncodedItems), ProtobufError> {
    decoders::<K>()?;
    let type_name = std::any::type_name::<ObjectList<K>>();
    let env = checked(&body, type_name)?;
    let base = body.as_ptr() as usize;
    let mut meta: ListMeta = <ListMeta as rt::ProtoMessage>::empty();
    let mut ranges = Vec::new();
    let mut r = Reader::new(env.raw);
    let mut parse = || -> Result<(), DecodeError> {
        while let Some((tag, wt)) = r.key()? {
            match tag {
                1 => rt::value(&mut meta, wt, &mut r)?,
                2 => {
                    let item = r.bytes(wt)?;
                    // `item` lies inside `body`: keep its place, not a copy.
                    let start = item.as_ptr() as usize - base;
                    ranges.push(start..start + item.len());
                }
                _ => r.skip(wt)?,
            }
        }
        Ok(())
    };
    parse().map_err(|source| ProtobufError::Message {
        type_name,
        kind: env.kind.to_string(),
        source,
    })?;
    let kind = env
        .kind
        .strip_suffix("List")
        .unwrap_or(&env.kind)
        .to_owned();
    Ok((
        meta,
        EncodedItems {
            body,
            kind,
            ranges: ranges.into_iter(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_wire::field;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn configmap(name: &str) -> Vec<u8> {
        // ConfigMap { metadata (1) { name (1) } }
        field(1, &field(1, name.as_bytes()))
    }

    fn list_body(items: &[Vec<u8>], meta: &[u8]) -> Bytes {
        let mut list = field(1, meta);
        for item in items {
            list.extend(field(2, item));
        }
        enveloped(&list)
    }

    fn enveloped(list: &[u8]) -> Bytes {
        let mut unknown = field(1, &[field(1, b"v1"), field(2, b"ConfigMapList")].concat());
        unknown.extend(field(2, list));
        Bytes::from([super::super::MAGIC.as_slice(), &unknown].concat())
    }

    #[test]
    fn items_are_decoded_one_at_a_time_in_order() {
        // ListMeta { resourceVersion (2): "7", continue (3): "c" }
        let meta = [field(2, b"7"), field(3, b"c")].concat();
        let body = list_body(&[configmap("a"), configmap("b")], &meta);
        let (meta, mut items) = split_list::<ConfigMap>(body).unwrap();
        assert_eq!(meta.resource_version.as_deref(), Some("7"));
        assert_eq!(meta.continue_.as_deref(), Some("c"));
        assert_eq!(items.len(), 2);
        let first: ConfigMap = items.next_item().unwrap().unwrap();
        assert_eq!(first.metadata.name.as_deref(), Some("a"));
        assert_eq!(items.len(), 1);
        let second: ConfigMap = items.next_item().unwrap().unwrap();
        assert_eq!(second.metadata.name.as_deref(), Some("b"));
        assert!(items.next_item::<ConfigMap>().is_none());
    }

    #[test]
    fn a_broken_page_or_item_is_an_error() {
        // An item field longer than the list message.
        let cut = enveloped(&[0x12, 0x05, 0x01]);
        assert!(matches!(
            split_list::<ConfigMap>(cut),
            Err(ProtobufError::Message { .. })
        ));
        // A body cut inside the envelope.
        let body = list_body(&[configmap("a")], &[]);
        assert!(matches!(
            split_list::<ConfigMap>(body.slice(..body.len() - 2)),
            Err(ProtobufError::Envelope { .. })
        ));
        // An item that is not a ConfigMap message (wire type of its field 1 is wrong).
        let body = list_body(&[vec![0x08, 0x01]], &[]);
        let (_, mut items) = split_list::<ConfigMap>(body).unwrap();
        assert!(matches!(
            items.next_item::<ConfigMap>(),
            Some(Err(ProtobufError::Message { .. }))
        ));
        assert!(matches!(
            split_list::<ConfigMap>(Bytes::from_static(b"{}")),
            Err(ProtobufError::NotProtobuf)
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_list_messages_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)
        ) {
            type Pod = k8s_openapi::api::core::v1::Pod;
            if let Ok((_, mut items)) = split_list::<Pod>(enveloped(&bytes)) {
                let expected = items.len();
                let mut taken = 0;
                while items.next_item::<Pod>().is_some() {
                    taken += 1;
                }
                proptest::prop_assert_eq!(taken, expected);
            }
        }
    }
}
