//! Aggregated discovery (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`): every group,
//! version and resource in one answer to `/api` or `/apis`, and its conversion into the
//! `meta/v1` shapes ([`APIGroup`], [`APIResourceList`]) the rest of discovery uses.

use super::types::{APIGroup, APIResource, APIResourceList, GroupVersionForDiscovery};
use serde::{Deserialize, Serialize};

/// `Accept` for `/api` and `/apis`: aggregated discovery v2, else the legacy documents.
pub const ACCEPT_AGGREGATED: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

/// `Accept` for legacy discovery only.
pub const ACCEPT_LEGACY: &str = "application/json";

/// Whether a `Content-Type` says the body is an aggregated discovery document
/// (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`, parameters in
/// any order, with spaces, with extra parameters such as `charset`).
pub fn is_aggregated_content_type(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let base = parts.next().unwrap_or_default().trim();
    if !base.eq_ignore_ascii_case("application/json") {
        return false;
    }
    let (mut g, mut v, mut kind) = (None, None, None);
    for param in parts {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_lowercase().as_str() {
            "g" => g = Some(value),
            "v" => v = Some(value),
            "as" => kind = Some(value),
            _ => {}
        }
    }
    g == Some("apidiscovery.k8s.io") && v == Some("v2") && kind == Some("APIGroupDiscoveryList")
}

/// `APIGroupDiscoveryList`: all groups with their versions and resources.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct APIGroupDiscoveryList {
    /// The groups, in priority order (the core group alone on `/api`).
    #[serde(default)]
    pub items: Vec<APIGroupDiscovery>,
}

/// One group of an [`APIGroupDiscoveryList`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct APIGroupDiscovery {
    /// `metadata.name` is the group name.
    #[serde(default)]
    pub metadata: DiscoveryMetadata,
    /// The versions, preferred first.
    #[serde(default)]
    pub versions: Vec<APIVersionDiscovery>,
}

/// The `metadata` of an [`APIGroupDiscovery`] (only the name is meaningful).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DiscoveryMetadata {
    /// The group name (empty for the core group).
    #[serde(default)]
    pub name: String,
}

/// One version of an [`APIGroupDiscovery`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct APIVersionDiscovery {
    /// The version (`v1`).
    #[serde(default)]
    pub version: String,
    /// The resources.
    #[serde(default)]
    pub resources: Vec<APIResourceDiscovery>,
    /// `Current`, or `Stale` when the aggregated API server behind it did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freshness: Option<String>,
}

impl APIVersionDiscovery {
    /// Whether the API server marked this version's document `Stale`.
    pub fn is_stale(&self) -> bool {
        self.freshness.as_deref() == Some("Stale")
    }
}

/// One resource of an [`APIVersionDiscovery`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct APIResourceDiscovery {
    /// The plural name.
    #[serde(default)]
    pub resource: String,
    /// The kind served (its group/version may be empty: the version's own).
    #[serde(default)]
    pub response_kind: Option<GroupVersionKind>,
    /// `Namespaced` or `Cluster`.
    #[serde(default)]
    pub scope: String,
    /// The singular name.
    #[serde(default)]
    pub singular_resource: String,
    /// The verbs.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// Short names.
    #[serde(default)]
    pub short_names: Vec<String>,
    /// Categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Subresources.
    #[serde(default)]
    pub subresources: Vec<APISubresourceDiscovery>,
}

/// One subresource of an [`APIResourceDiscovery`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct APISubresourceDiscovery {
    /// The subresource name (`status`, `scale`).
    #[serde(default)]
    pub subresource: String,
    /// The kind served.
    #[serde(default)]
    pub response_kind: Option<GroupVersionKind>,
    /// The verbs.
    #[serde(default)]
    pub verbs: Vec<String>,
}

/// `{"group": …, "version": …, "kind": …}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupVersionKind {
    /// The group.
    #[serde(default)]
    pub group: String,
    /// The version.
    #[serde(default)]
    pub version: String,
    /// The kind.
    #[serde(default)]
    pub kind: String,
}

/// An aggregated document split into groups, resource lists and stale group versions.
#[derive(Debug, Default)]
pub(crate) struct Split {
    pub groups: Vec<APIGroup>,
    pub resources: Vec<APIResourceList>,
    pub stale: Vec<String>,
}

impl APIGroupDiscoveryList {
    /// Converts into `meta/v1` groups and resource lists, as client-go does: stale
    /// versions are left out of their group (and reported), the preferred version is the
    /// first fresh one, resources without a kind are dropped (their subresources are
    /// kept), subresources become `resource/subresource` entries.
    pub(crate) fn split(self) -> Split {
        let mut out = Split::default();
        for group in self.items {
            let name = group.metadata.name;
            let mut converted = APIGroup {
                name: name.clone(),
                ..APIGroup::default()
            };
            for version in group.versions {
                let gv = GroupVersionForDiscovery::new(&name, &version.version);
                if version.is_stale() {
                    out.stale.push(gv.group_version);
                    continue;
                }
                if converted.versions.is_empty() {
                    converted.preferred_version = gv.clone();
                }
                let mut list = APIResourceList::new(gv.group_version.clone());
                for resource in version.resources {
                    convert_resource(resource, &mut list.resources);
                }
                converted.versions.push(gv);
                out.resources.push(list);
            }
            out.groups.push(converted);
        }
        out
    }
}

fn known_kind(kind: &Option<GroupVersionKind>) -> Option<&GroupVersionKind> {
    kind.as_ref()
        .filter(|k| !(k.group.is_empty() && k.version.is_empty() && k.kind.is_empty()))
}

fn convert_resource(resource: APIResourceDiscovery, into: &mut Vec<APIResource>) {
    let parent = APIResource {
        name: resource.resource,
        singular_name: resource.singular_resource,
        namespaced: resource.scope == "Namespaced",
        verbs: resource.verbs,
        short_names: resource.short_names,
        categories: resource.categories,
        ..APIResource::default()
    };
    let parent = match known_kind(&resource.response_kind) {
        Some(kind) => {
            let parent = APIResource {
                group: kind.group.clone(),
                version: kind.version.clone(),
                kind: kind.kind.clone(),
                ..parent
            };
            into.push(parent.clone());
            parent
        }
        None => parent,
    };
    for sub in resource.subresources {
        let Some(kind) = known_kind(&sub.response_kind) else {
            continue;
        };
        into.push(APIResource {
            name: format!("{}/{}", parent.name, sub.subresource),
            singular_name: parent.singular_name.clone(),
            namespaced: parent.namespaced,
            group: kind.group.clone(),
            version: kind.version.clone(),
            kind: kind.kind.clone(),
            verbs: sub.verbs,
            ..APIResource::default()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_detection() {
        for yes in [
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            "application/json; as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;charset=utf-8",
            "Application/JSON; G=apidiscovery.k8s.io; V=v2; AS=\"APIGroupDiscoveryList\"",
        ] {
            assert!(is_aggregated_content_type(yes), "{yes}");
        }
        for no in [
            "application/json",
            "application/json; charset=UTF-8",
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
            "application/yaml;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            "",
            "garbage",
        ] {
            assert!(!is_aggregated_content_type(no), "{no}");
        }
    }

    #[test]
    fn split_follows_client_go() {
        let raw = r#"{"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","metadata":{},"items":[
          {"metadata":{"name":"apps","creationTimestamp":null},"versions":[
            {"version":"v1","resources":[
              {"resource":"deployments","responseKind":{"group":"","version":"","kind":"Deployment"},"scope":"Namespaced","singularResource":"deployment","verbs":["get","list"],"shortNames":["deploy"],"categories":["all"],
               "subresources":[{"subresource":"scale","responseKind":{"group":"autoscaling","version":"v1","kind":"Scale"},"verbs":["get","patch"]},
                               {"subresource":"broken","verbs":["get"]}]},
              {"resource":"nokind","scope":"Cluster","singularResource":"nokind","verbs":["get"],
               "subresources":[{"subresource":"status","responseKind":{"group":"","version":"","kind":"Thing"},"verbs":["get"]}]}
            ],"freshness":"Current"}]},
          {"metadata":{"name":"metrics.example.com"},"versions":[
            {"version":"v2","freshness":"Stale"},
            {"version":"v1","resources":[],"freshness":"Current"}]},
          {"metadata":{"name":"down.example.com"},"versions":[{"version":"v1","freshness":"Stale"}]}
        ]}"#;
        let list: APIGroupDiscoveryList = serde_json::from_str(raw).unwrap();
        let split = list.split();
        assert_eq!(
            split.stale,
            ["metrics.example.com/v2", "down.example.com/v1"]
        );
        assert_eq!(split.groups.len(), 3);
        assert_eq!(
            split.groups[1].preferred_version.group_version,
            "metrics.example.com/v1"
        );
        assert!(split.groups[2].versions.is_empty());
        let apps = &split.resources[0];
        assert_eq!(apps.group_version, "apps/v1");
        let names: Vec<_> = apps.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["deployments", "deployments/scale", "nokind/status"]);
        let scale = &apps.resources[1];
        assert_eq!(
            (scale.group.as_str(), scale.kind.as_str()),
            ("autoscaling", "Scale")
        );
        assert_eq!(scale.singular_name, "deployment");
        assert!(scale.namespaced);
        assert_eq!(apps.resources[0].short_names, ["deploy"]);
        assert!(!apps.resources[2].namespaced);
    }
}
