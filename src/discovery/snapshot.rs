//! [`DiscoverySnapshot`]: everything the server serves (groups, versions, resources),
//! plus the group versions that could not be discovered.

use super::DiscoveryError;
use super::types::{APIGroup, APIResource, APIResourceList, split_group_version};
use serde::Serialize;
use std::collections::HashMap;
use std::time::SystemTime;

/// Where a [`DiscoverySnapshot`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum SnapshotSource {
    /// Aggregated discovery: two requests (`/api`, `/apis`).
    Aggregated,
    /// Legacy discovery: `/api`, `/apis`, then one request per group version.
    Legacy,
    /// The disk cache (possibly completed by requests for missing group versions).
    DiskCache,
}

/// The groups and resources of a server at one point in time.
///
/// Groups are in the server's priority order with the core group (`""`) first, each
/// group's versions preferred first, as kubectl orders them.
#[derive(Debug)]
#[non_exhaustive]
pub struct DiscoverySnapshot {
    pub(crate) groups: Vec<APIGroup>,
    pub(crate) resources: Vec<APIResourceList>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) failures: Vec<DiscoveryError>,
    pub(crate) source: SnapshotSource,
    pub(crate) fetched_at: SystemTime,
}

impl DiscoverySnapshot {
    pub(crate) fn new(
        groups: Vec<APIGroup>,
        resources: Vec<APIResourceList>,
        failures: Vec<DiscoveryError>,
        source: SnapshotSource,
        fetched_at: SystemTime,
    ) -> Self {
        let index = resources
            .iter()
            .enumerate()
            .map(|(i, list)| (list.group_version.clone(), i))
            .collect();
        Self {
            groups,
            resources,
            index,
            failures,
            source,
            fetched_at,
        }
    }

    /// The groups, core group first, in the server's order.
    pub fn groups(&self) -> &[APIGroup] {
        &self.groups
    }

    /// The group named `name` (`""` for the core group).
    pub fn group(&self, name: &str) -> Option<&APIGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Every resource list, in group order and, within a group, in version order.
    pub fn resource_lists(&self) -> &[APIResourceList] {
        &self.resources
    }

    /// The resources of `group_version` (`v1`, `apps/v1`), if it was discovered.
    pub fn resources_for(&self, group_version: &str) -> Option<&APIResourceList> {
        self.index.get(group_version).map(|&i| &self.resources[i])
    }

    /// The group versions that could not be discovered: one
    /// [`DiscoveryError::StaleGroupVersion`] or [`DiscoveryError::GroupVersion`] each.
    pub fn failures(&self) -> &[DiscoveryError] {
        &self.failures
    }

    /// True when every group version was discovered.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty()
    }

    /// Where this snapshot came from.
    pub fn source(&self) -> SnapshotSource {
        self.source
    }

    /// When it was fetched from the server (or, for the disk cache, read).
    pub fn fetched_at(&self) -> SystemTime {
        self.fetched_at
    }

    /// The group versions in kubectl's resolution priority: each group's preferred
    /// version (groups in order), then every version of every group.
    pub(crate) fn priority(&self) -> impl Iterator<Item = &APIResourceList> {
        let preferred = self
            .groups
            .iter()
            .filter_map(|g| self.resources_for(&g.preferred_version.group_version));
        let all = self
            .groups
            .iter()
            .flat_map(|g| g.versions.iter())
            .filter_map(|v| self.resources_for(&v.group_version));
        preferred.chain(all)
    }

    /// Every top-level resource (no subresources) at its group's preferred version, in
    /// group order: what `kubectl api-resources` lists.
    pub fn preferred_resources(&self) -> Vec<ResourceMapping> {
        self.groups
            .iter()
            .filter_map(|g| self.resources_for(&g.preferred_version.group_version))
            .flat_map(|list| {
                list.resources
                    .iter()
                    .filter(|r| !r.is_subresource())
                    .map(|r| ResourceMapping::new(&list.group_version, r))
            })
            .collect()
    }

    /// The resources (preferred versions) in `category` (`all`), as
    /// `kubectl get <category>` expands it.
    pub fn category(&self, category: &str) -> Vec<ResourceMapping> {
        self.preferred_resources()
            .into_iter()
            .filter(|m| m.categories.iter().any(|c| c == category))
            .collect()
    }
}

/// A resource resolved from a kubectl-style name: where it lives and what it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ResourceMapping {
    /// The group (`""` for core).
    pub group: String,
    /// The version.
    pub version: String,
    /// The plural resource name used in URLs (`deployments`).
    pub resource: String,
    /// The kind (`Deployment`).
    pub kind: String,
    /// The singular name (`deployment`).
    pub singular: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names (`deploy`).
    pub short_names: Vec<String>,
    /// Supported verbs.
    pub verbs: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
}

// Here rather than in `api`: discovery builds on the typed API, not the other way round.
impl From<&ResourceMapping> for crate::api::ApiResource {
    /// The resource a kubectl-style name resolved to through discovery
    /// ([`Discovery::resolve`](crate::discovery::Discovery::resolve)).
    fn from(m: &ResourceMapping) -> Self {
        Self::new(&m.group, &m.version, &m.kind, &m.resource, m.namespaced)
    }
}

impl ResourceMapping {
    pub(crate) fn new(group_version: &str, resource: &APIResource) -> Self {
        let (group, version) = split_group_version(group_version);
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            resource: resource.name.clone(),
            kind: resource.kind.clone(),
            singular: resource.singular(),
            namespaced: resource.namespaced,
            short_names: resource.short_names.clone(),
            verbs: resource.verbs.clone(),
            categories: resource.categories.clone(),
        }
    }

    /// `apiVersion` of the objects: `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        super::types::group_version(&self.group, &self.version)
    }

    /// The URL path of the collection: `/api/v1/pods`, `/apis/apps/v1/deployments`, with
    /// `namespaces/<ns>/` inserted for a namespaced resource when `namespace` is given.
    /// Every value is percent-encoded as one path segment;
    /// [`RequestError::InvalidName`](crate::api::RequestError::InvalidName) names one that
    /// cannot be (empty, `.`, `..`, or containing `/` or `%`), e.g. a hostile plural from
    /// the server.
    pub fn url_path(&self, namespace: Option<&str>) -> Result<String, crate::api::RequestError> {
        let namespace = namespace.filter(|_| self.namespaced);
        Ok(crate::api::collection_path(
            &self.group,
            &self.version,
            namespace,
            &self.resource,
        )?)
    }

    /// Whether the resource supports `verb`.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SnapshotJson<'a> {
    source: SnapshotSource,
    groups: &'a [APIGroup],
    resources: &'a [APIResourceList],
    failures: Vec<FailureJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FailureJson {
    group_version: Option<String>,
    error: String,
}

impl Serialize for DiscoverySnapshot {
    /// `{"source", "groups", "resources", "failures": [{"groupVersion", "error"}]}`; the
    /// error text is the whole cause chain, joined with `: `.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SnapshotJson {
            source: self.source,
            groups: &self.groups,
            resources: &self.resources,
            failures: self
                .failures
                .iter()
                .map(|e| FailureJson {
                    group_version: e.group_version().map(str::to_owned),
                    error: error_chain(e),
                })
                .collect(),
        }
        .serialize(serializer)
    }
}

/// An error and its sources, joined with `: ` (the same text as
/// [`Report`](crate::error::Report)'s `{}`, which is the documented way; kept for
/// existing callers).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    crate::error::Report::new(error).to_string()
}
