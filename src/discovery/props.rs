//! Property tests: discovery documents of arbitrary bytes and arbitrary JSON never make
//! decoding, the aggregated conversion, the group filter, snapshots or name resolution
//! panic.

use super::aggregated::APIGroupDiscoveryList;
use super::fetch::{core_group, drop_foreign_versions};
use super::snapshot::{DiscoverySnapshot, SnapshotSource};
use super::types::{APIGroupList, APIResourceList, APIVersions};
use proptest::prelude::*;
use std::time::SystemTime;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Arbitrary JSON, biased towards the field names discovery documents use.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("kind".to_owned()),
        Just("items".to_owned()),
        Just("groups".to_owned()),
        Just("versions".to_owned()),
        Just("version".to_owned()),
        Just("groupVersion".to_owned()),
        Just("preferredVersion".to_owned()),
        Just("resources".to_owned()),
        Just("resource".to_owned()),
        Just("name".to_owned()),
        Just("metadata".to_owned()),
        Just("subresources".to_owned()),
        Just("subresource".to_owned()),
        Just("responseKind".to_owned()),
        Just("freshness".to_owned()),
        Just("verbs".to_owned()),
        Just("shortNames".to_owned()),
        Just("scope".to_owned()),
        Just("serverAddressByClientCIDRs".to_owned()),
        "[a-zA-Z]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        prop_oneof![
            Just("v1".to_owned()),
            Just("apps/v1".to_owned()),
            Just("Stale".to_owned()),
            Just("Namespaced".to_owned()),
            Just("a/b/c".to_owned()),
            Just("..".to_owned()),
            ".{0,12}",
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Decodes every discovery document type; whatever decodes is run through the rest.
fn exercise(bytes: &[u8], names: &[String]) {
    let versions = serde_json::from_slice::<APIVersions>(bytes).ok();
    let group_list = serde_json::from_slice::<APIGroupList>(bytes).ok();
    let resource_list = serde_json::from_slice::<APIResourceList>(bytes).ok();
    let aggregated = serde_json::from_slice::<APIGroupDiscoveryList>(bytes).ok();

    let mut groups = Vec::new();
    let mut resources = Vec::new();
    if let Some(v) = &versions {
        groups.push(core_group(v));
    }
    if let Some(list) = group_list {
        groups.extend(list.groups);
    }
    if let Some(list) = resource_list {
        resources.push(list);
    }
    if let Some(list) = aggregated {
        let split = list.split();
        groups.extend(split.groups);
        resources.extend(split.resources);
    }
    let _ = drop_foreign_versions(&mut groups);
    let snapshot = DiscoverySnapshot::new(
        groups,
        resources,
        Vec::new(),
        SnapshotSource::Legacy,
        SystemTime::UNIX_EPOCH,
    );
    let _ = snapshot.preferred_resources();
    let _ = snapshot.category("all");
    let _ = serde_json::to_vec(&snapshot);
    for name in names {
        let _ = snapshot.resolve(name);
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        names in prop::collection::vec(".{0,16}", 0..4),
    ) {
        exercise(&bytes, &names);
    }

    #[test]
    fn arbitrary_json_never_panics(
        value in json(),
        names in prop::collection::vec("[a-zA-Z0-9./]{0,16}", 0..4),
    ) {
        exercise(&serde_json::to_vec(&value).unwrap(), &names);
    }

    #[test]
    fn shaped_documents_never_panic(
        group in "[a-z.]{0,10}",
        version in "[a-z0-9/.]{0,6}",
        resource in "[a-z/]{0,10}",
        stale in any::<bool>(),
        names in prop::collection::vec("[a-z0-9./]{0,16}", 0..4),
    ) {
        let aggregated = serde_json::json!({
            "kind": "APIGroupDiscoveryList",
            "items": [{
                "metadata": {"name": group},
                "versions": [{
                    "version": version,
                    "freshness": if stale { "Stale" } else { "Current" },
                    "resources": [{
                        "resource": resource,
                        "scope": "Namespaced",
                        "verbs": ["get"],
                        "subresources": [{"subresource": resource, "verbs": []}],
                    }],
                }],
            }],
        });
        exercise(&serde_json::to_vec(&aggregated).unwrap(), &names);
        let legacy = serde_json::json!({
            "kind": "APIGroupList",
            "groups": [{
                "name": group,
                "versions": [{"groupVersion": format!("{group}/{version}"), "version": version}],
                "preferredVersion": {"groupVersion": version, "version": version},
            }],
        });
        exercise(&serde_json::to_vec(&legacy).unwrap(), &names);
    }
}
