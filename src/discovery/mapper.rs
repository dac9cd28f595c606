//! Resolving kubectl-style resource names (`po`, `deploy.apps`, `deployments.v1.apps`,
//! `Deployment`) against a [`DiscoverySnapshot`], the way `kubectl get` does.
//!
//! The rules, from kubectl (`ParseResourceArg`, the shortcut expander and the priority
//! REST mapper):
//! 1. A name with two or more dots is first tried as `resource.version.group`; if that
//!    matches nothing, it is read as `resource.group` (`group` may contain dots).
//!    A name with one dot is `resource.group`.
//! 2. The resource part matches a plural name, a singular name or a kind (case does not
//!    matter); only when nothing has that name, a short name (`po`) is expanded. A short
//!    name whose group is given by prefix (`hpa.autoscal`) is expanded last.
//! 3. Among matches, the first in priority order wins: each group's preferred version
//!    (groups in discovery order, core first), then every other version.

use super::DiscoveryError;
use super::snapshot::{DiscoverySnapshot, ResourceMapping};
use super::types::{APIResource, APIResourceList, split_group_version};

/// A parsed query: resource part, optional group, optional version.
#[derive(Debug, PartialEq, Eq)]
struct Query<'a> {
    resource: &'a str,
    group: Option<&'a str>,
    version: Option<&'a str>,
}

impl DiscoverySnapshot {
    /// Resolves a kubectl-style resource name to its group, version, plural resource,
    /// kind and scope. Subresources are not resolved.
    ///
    /// `Err(DiscoveryError::UnknownResource)` when nothing matches;
    /// [`Discovery::resolve`](super::Discovery::resolve) refreshes its cache once on that
    /// error.
    pub fn resolve(&self, name: &str) -> Result<ResourceMapping, DiscoveryError> {
        let lowered = name.trim().to_lowercase();
        if lowered.is_empty()
            || lowered.contains('/')
            || lowered.starts_with('.')
            || lowered.contains(char::is_whitespace)
        {
            return Err(DiscoveryError::InvalidResourceName {
                name: name.to_owned(),
            });
        }
        let mut parts = lowered.splitn(3, '.');
        let resource = parts.next().unwrap_or_default();
        if let (Some(version), Some(group)) = (parts.next(), parts.next()) {
            let full = Query {
                resource,
                group: Some(group),
                version: Some(version),
            };
            if let Some(found) = self.lookup(&full) {
                return Ok(found);
            }
        }
        let query = match lowered.split_once('.') {
            Some((resource, group)) => Query {
                resource,
                group: Some(group),
                version: None,
            },
            None => Query {
                resource: &lowered,
                group: None,
                version: None,
            },
        };
        self.lookup(&query)
            .ok_or_else(|| DiscoveryError::UnknownResource {
                name: name.to_owned(),
            })
    }

    fn candidates<'s>(
        &'s self,
        group: Option<&'s str>,
        version: Option<&'s str>,
    ) -> impl Iterator<Item = (&'s APIResourceList, &'s APIResource)> + 's {
        self.priority()
            .filter(move |list| {
                let (g, v) = split_group_version(&list.group_version);
                group.is_none_or(|want| want == g) && version.is_none_or(|want| want == v)
            })
            .flat_map(|list| {
                list.resources
                    .iter()
                    .filter(|r| !r.is_subresource())
                    .map(move |r| (list, r))
            })
    }

    fn lookup(&self, query: &Query<'_>) -> Option<ResourceMapping> {
        let by_name = |r: &APIResource| {
            r.name == query.resource
                || r.singular() == query.resource
                || r.kind.to_lowercase() == query.resource
        };
        if let Some((list, r)) = self
            .candidates(query.group, query.version)
            .find(|(_, r)| by_name(r))
        {
            return Some(ResourceMapping::new(&list.group_version, r));
        }
        let by_short = |r: &APIResource| r.short_names.iter().any(|s| s == query.resource);
        if let Some((list, r)) = self
            .candidates(query.group, query.version)
            .find(|(_, r)| by_short(r))
        {
            return Some(ResourceMapping::new(&list.group_version, r));
        }
        // kubectl expands a short name with a group prefix (`hpa.autoscal`) last.
        let prefix = query.group?;
        self.candidates(None, query.version)
            .find(|(list, r)| {
                split_group_version(&list.group_version)
                    .0
                    .starts_with(prefix)
                    && by_short(r)
            })
            .map(|(list, r)| ResourceMapping::new(&list.group_version, r))
    }
}

#[cfg(test)]
mod tests {
    use super::super::SnapshotSource;
    use super::super::types::{APIGroup, GroupVersionForDiscovery};
    use super::*;
    use std::time::SystemTime;

    fn resource(name: &str, kind: &str, namespaced: bool, short: &[&str]) -> APIResource {
        APIResource {
            name: name.into(),
            singular_name: if name.contains('/') {
                String::new()
            } else {
                kind.to_lowercase()
            },
            namespaced,
            kind: kind.into(),
            verbs: vec!["get".into(), "list".into()],
            short_names: short.iter().map(|s| s.to_string()).collect(),
            ..APIResource::default()
        }
    }

    fn group(name: &str, versions: &[&str]) -> APIGroup {
        let versions: Vec<_> = versions
            .iter()
            .map(|v| GroupVersionForDiscovery::new(name, v))
            .collect();
        APIGroup {
            name: name.into(),
            preferred_version: versions[0].clone(),
            versions,
            ..APIGroup::default()
        }
    }

    fn list(gv: &str, resources: Vec<APIResource>) -> APIResourceList {
        APIResourceList {
            resources,
            ..APIResourceList::new(gv)
        }
    }

    fn fixture() -> DiscoverySnapshot {
        DiscoverySnapshot::new(
            vec![
                group("", &["v1"]),
                group("apps", &["v1"]),
                group("events.k8s.io", &["v1"]),
                group("autoscaling", &["v2", "v1"]),
                group("example.com", &["v1", "v1beta1"]),
                group("other.io", &["v1"]),
            ],
            vec![
                list(
                    "v1",
                    vec![
                        resource("pods", "Pod", true, &["po"]),
                        resource("pods/log", "Pod", true, &[]),
                        resource("events", "Event", true, &["ev"]),
                        resource("namespaces", "Namespace", false, &["ns"]),
                    ],
                ),
                list(
                    "apps/v1",
                    vec![
                        resource("deployments", "Deployment", true, &["deploy"]),
                        resource("deployments/scale", "Scale", true, &[]),
                    ],
                ),
                list(
                    "events.k8s.io/v1",
                    vec![resource("events", "Event", true, &["ev"])],
                ),
                list(
                    "autoscaling/v2",
                    vec![resource(
                        "horizontalpodautoscalers",
                        "HorizontalPodAutoscaler",
                        true,
                        &["hpa"],
                    )],
                ),
                list(
                    "autoscaling/v1",
                    vec![resource(
                        "horizontalpodautoscalers",
                        "HorizontalPodAutoscaler",
                        true,
                        &["hpa"],
                    )],
                ),
                list(
                    "example.com/v1",
                    vec![resource("widgets", "Widget", false, &["wd"])],
                ),
                list(
                    "example.com/v1beta1",
                    vec![
                        resource("widgets", "Widget", false, &["wd"]),
                        resource("gadgets", "Gadget", true, &[]),
                    ],
                ),
                // A CRD whose short name equals another resource's name: the name wins.
                list(
                    "other.io/v1",
                    vec![resource("pingers", "Pinger", true, &["pods", "deploy"])],
                ),
            ],
            Vec::new(),
            SnapshotSource::Legacy,
            SystemTime::UNIX_EPOCH,
        )
    }

    fn gvr(snapshot: &DiscoverySnapshot, name: &str) -> String {
        match snapshot.resolve(name) {
            Ok(m) => format!(
                "{}/{}/{} {} {}",
                m.group, m.version, m.resource, m.kind, m.namespaced
            ),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn kubectl_style_names() {
        let s = fixture();
        let cases = [
            ("po", "/v1/pods Pod true"),
            ("pod", "/v1/pods Pod true"),
            ("pods", "/v1/pods Pod true"),
            ("Pod", "/v1/pods Pod true"),
            ("PODS", "/v1/pods Pod true"),
            ("ns", "/v1/namespaces Namespace false"),
            // core first: `events` is v1 Event, `events.events.k8s.io` the other one.
            ("events", "/v1/events Event true"),
            ("ev", "/v1/events Event true"),
            ("events.events.k8s.io", "events.k8s.io/v1/events Event true"),
            ("ev.events.k8s.io", "events.k8s.io/v1/events Event true"),
            ("deploy", "apps/v1/deployments Deployment true"),
            ("deploy.apps", "apps/v1/deployments Deployment true"),
            ("deployment.apps", "apps/v1/deployments Deployment true"),
            ("deployments.v1.apps", "apps/v1/deployments Deployment true"),
            ("Deployment.v1.apps", "apps/v1/deployments Deployment true"),
            // preferred version first; explicit version honoured.
            (
                "hpa",
                "autoscaling/v2/horizontalpodautoscalers HorizontalPodAutoscaler true",
            ),
            (
                "hpa.v1.autoscaling",
                "autoscaling/v1/horizontalpodautoscalers HorizontalPodAutoscaler true",
            ),
            (
                "hpa.autoscal",
                "autoscaling/v2/horizontalpodautoscalers HorizontalPodAutoscaler true",
            ),
            ("widgets", "example.com/v1/widgets Widget false"),
            ("wd", "example.com/v1/widgets Widget false"),
            (
                "widgets.v1beta1.example.com",
                "example.com/v1beta1/widgets Widget false",
            ),
            // `widgets.example.com` (two dots) is not version `example`: falls back to group.
            ("widgets.example.com", "example.com/v1/widgets Widget false"),
            // only in a non-preferred version
            ("gadgets", "example.com/v1beta1/gadgets Gadget true"),
            // a name beats another resource's short name
            ("pods", "/v1/pods Pod true"),
            ("deploy.other.io", "other.io/v1/pingers Pinger true"),
            ("pingers", "other.io/v1/pingers Pinger true"),
            (
                "nope",
                "error: the server doesn't have a resource type \"nope\"",
            ),
            (
                "pods.apps",
                "error: the server doesn't have a resource type \"pods.apps\"",
            ),
            (
                "deployments.v2.apps",
                "error: the server doesn't have a resource type \"deployments.v2.apps\"",
            ),
            ("pods/log", "error: invalid resource name \"pods/log\""),
            ("", "error: invalid resource name \"\""),
        ];
        for (name, want) in cases {
            assert_eq!(gvr(&s, name), want, "resolving {name:?}");
        }
    }

    #[test]
    fn mapping_paths_and_lists() {
        let s = fixture();
        let deploy = s.resolve("deploy").unwrap();
        assert_eq!(deploy.api_version(), "apps/v1");
        assert_eq!(
            deploy.url_path(Some("ns1")).unwrap(),
            "/apis/apps/v1/namespaces/ns1/deployments"
        );
        let ns = s.resolve("ns").unwrap();
        assert_eq!(ns.url_path(Some("ignored")).unwrap(), "/api/v1/namespaces");
        let preferred: Vec<_> = s
            .preferred_resources()
            .into_iter()
            .map(|m| m.resource)
            .collect();
        assert_eq!(
            preferred,
            [
                "pods",
                "events",
                "namespaces",
                "deployments",
                "events",
                "horizontalpodautoscalers",
                "widgets",
                "pingers"
            ]
        );
    }
}
