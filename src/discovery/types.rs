//! The discovery documents as the API server sends them (`meta/v1` and `version.Info`).
//!
//! Field names, field order and which fields are omitted when empty follow the Go
//! structs, so that serializing a decoded document gives back the server's JSON: the
//! `/api` answer prints as
//! `{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[…]}`.

use super::address::ServerAddressByClientCIDRs;
use serde::{Deserialize, Serialize};

/// `GET /version`: the server's build information (`version.Info`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ServerVersion {
    /// Major version, e.g. `1`.
    #[serde(default)]
    pub major: String,
    /// Minor version, e.g. `37`.
    #[serde(default)]
    pub minor: String,
    /// The major version the server emulates (compatibility versions), if it says.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub emulation_major: String,
    /// The minor version the server emulates, if it says.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub emulation_minor: String,
    /// The oldest major version the server stays compatible with, if it says.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub min_compatibility_major: String,
    /// The oldest minor version the server stays compatible with, if it says.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub min_compatibility_minor: String,
    /// The full version, e.g. `v1.37.2`.
    #[serde(default)]
    pub git_version: String,
    /// The commit the server was built from.
    #[serde(default)]
    pub git_commit: String,
    /// `clean` or `dirty`.
    #[serde(default)]
    pub git_tree_state: String,
    /// The build time (RFC 3339).
    #[serde(default)]
    pub build_date: String,
    /// The Go version the server was built with.
    #[serde(default)]
    pub go_version: String,
    /// The Go compiler (`gc`).
    #[serde(default)]
    pub compiler: String,
    /// `os/arch` of the server binary.
    #[serde(default)]
    pub platform: String,
}

/// `GET /api`: the versions of the legacy core group and the addresses the server can
/// be reached at, by client network.
///
/// ```
/// use k8s_client::discovery::APIVersions;
/// let seed = r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"10.0.1.149:443"}]}"#;
/// let v: APIVersions = serde_json::from_str(seed).unwrap();
/// assert_eq!(v.versions, ["v1"]);
/// let from_here = v.server_address_by_client_cidrs.select("10.0.7.3".parse().unwrap());
/// assert_eq!(from_here.unwrap().server_address, "10.0.1.149:443");
/// // Serializing gives back the same document, keys in the same order.
/// assert_eq!(serde_json::to_string(&v).unwrap(), seed);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct APIVersions {
    /// `APIVersions` (the server sends it; absent when built by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Not sent by the API server for `/api`; kept when present (e.g. from a cache file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The versions of the core group (`["v1"]`).
    #[serde(default)]
    pub versions: Vec<String>,
    /// Which server address to use from which client network.
    #[serde(default, rename = "serverAddressByClientCIDRs")]
    pub server_address_by_client_cidrs: ServerAddressByClientCIDRs,
}

/// `GET /apis`: the API groups the server serves (without the legacy core group).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct APIGroupList {
    /// `APIGroupList`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The groups, in the server's order.
    #[serde(default)]
    pub groups: Vec<APIGroup>,
}

/// One API group: its versions, the preferred one, and its addresses by client network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct APIGroup {
    /// `APIGroup` when fetched alone (`/apis/<group>`); absent inside an [`APIGroupList`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `v1` when fetched alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The group name (`apps`; empty for the core group).
    #[serde(default)]
    pub name: String,
    /// The versions the server serves, preferred first.
    #[serde(default)]
    pub versions: Vec<GroupVersionForDiscovery>,
    /// The version clients should use when they have no preference.
    #[serde(default)]
    pub preferred_version: GroupVersionForDiscovery,
    /// Which server address to use from which client network (often empty for groups).
    #[serde(
        default,
        rename = "serverAddressByClientCIDRs",
        skip_serializing_if = "ServerAddressByClientCIDRs::is_empty"
    )]
    pub server_address_by_client_cidrs: ServerAddressByClientCIDRs,
}

/// A version of a group: `{"groupVersion":"apps/v1","version":"v1"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GroupVersionForDiscovery {
    /// `group/version`, or just `version` for the core group.
    #[serde(default)]
    pub group_version: String,
    /// The version alone.
    #[serde(default)]
    pub version: String,
}

impl GroupVersionForDiscovery {
    /// The entry for `version` of `group` (`""` is the core group).
    pub fn new(group: &str, version: &str) -> Self {
        Self {
            group_version: group_version(group, version),
            version: version.to_owned(),
        }
    }
}

/// `GET /api/v1` or `/apis/<group>/<version>`: the resources of one group version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct APIResourceList {
    /// `APIResourceList`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `group/version` (`v1` for the core group).
    #[serde(default)]
    pub group_version: String,
    /// The resources and subresources (`pods`, `pods/log`, …), in the server's order.
    #[serde(default, rename = "resources")]
    pub resources: Vec<APIResource>,
}

impl APIResourceList {
    /// An empty list for `group_version`, with `kind` and `apiVersion` set.
    pub fn new(group_version: impl Into<String>) -> Self {
        Self {
            kind: Some("APIResourceList".to_owned()),
            api_version: Some("v1".to_owned()),
            group_version: group_version.into(),
            resources: Vec::new(),
        }
    }
}

/// One resource or subresource of a group version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct APIResource {
    /// The plural name (`pods`), or `resource/subresource` (`pods/log`).
    #[serde(default)]
    pub name: String,
    /// The singular name (`pod`); may be empty on old servers (then the kind, lowercased).
    #[serde(default)]
    pub singular_name: String,
    /// Whether the objects live in namespaces.
    #[serde(default)]
    pub namespaced: bool,
    /// The group of the kind when it differs from the list's (subresources like `scale`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The version of the kind when it differs from the list's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The kind (`Pod`).
    #[serde(default)]
    pub kind: String,
    /// The verbs (`get`, `list`, `watch`, `create`, …).
    #[serde(default)]
    pub verbs: Vec<String>,
    /// Short names (`po`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub short_names: Vec<String>,
    /// Categories (`all`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// A hash of the storage version (for storage migration tools).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storage_version_hash: String,
}

impl APIResource {
    /// Whether this entry is a subresource (`pods/log`).
    pub fn is_subresource(&self) -> bool {
        self.name.contains('/')
    }

    /// The singular name, or the lowercased kind when the server sent none (kubectl's rule).
    pub fn singular(&self) -> String {
        if self.singular_name.is_empty() {
            self.kind.to_lowercase()
        } else {
            self.singular_name.clone()
        }
    }

    /// Whether the resource supports `verb`.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

/// `group/version`, or `version` alone for the core group (`""`).
pub fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

/// Splits `group/version` (`apps/v1`) or a core version (`v1`) into `(group, version)`.
pub fn split_group_version(group_version: &str) -> (&str, &str) {
    match group_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", group_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_resource_list_round_trips_with_go_omitempty_rules() {
        let raw = r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"apps/v1","resources":[{"name":"deployments","singularName":"deployment","namespaced":true,"kind":"Deployment","verbs":["create","get"],"shortNames":["deploy"],"categories":["all"],"storageVersionHash":"8aSe+NMegvE="},{"name":"deployments/scale","singularName":"","namespaced":true,"group":"autoscaling","version":"v1","kind":"Scale","verbs":["get"]}]}"#;
        let list: APIResourceList = serde_json::from_str(raw).unwrap();
        assert_eq!(list.resources[1].group, "autoscaling");
        assert!(list.resources[1].is_subresource());
        assert_eq!(list.resources[1].singular(), "scale");
        assert_eq!(serde_json::to_string(&list).unwrap(), raw);
    }

    #[test]
    fn group_list_keeps_preferred_version_and_omits_empty_addresses() {
        let raw = r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],"preferredVersion":{"groupVersion":"apps/v1","version":"v1"}}]}"#;
        let list: APIGroupList = serde_json::from_str(raw).unwrap();
        assert_eq!(list.groups[0].preferred_version.version, "v1");
        assert_eq!(serde_json::to_string(&list).unwrap(), raw);
    }

    #[test]
    fn group_version_helpers() {
        assert_eq!(group_version("", "v1"), "v1");
        assert_eq!(group_version("apps", "v1"), "apps/v1");
        assert_eq!(split_group_version("v1"), ("", "v1"));
        assert_eq!(split_group_version("apps/v1"), ("apps", "v1"));
        assert_eq!(
            GroupVersionForDiscovery::new("apps", "v1").group_version,
            "apps/v1"
        );
    }
}
