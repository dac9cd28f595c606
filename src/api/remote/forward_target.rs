//! What `kubectl port-forward TYPE/NAME [LOCAL:]REMOTE` forwards to: the pod chosen
//! for a Service, Deployment, ReplicaSet or StatefulSet, and the container port a
//! service port or a port name stands for.

use super::error::StreamError;
use crate::api::{Api, ListParams};
use crate::error::Error;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use std::fmt;

/// The object a port-forward names, in kubectl's `TYPE/NAME` forms.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardTarget {
    /// `NAME`, `pod/NAME`, `po/NAME`, `pods/NAME`.
    Pod(String),
    /// `svc/NAME`, `service/NAME`, `services/NAME`.
    Service(String),
    /// `deploy/NAME`, `deployment/NAME`, `deployments/NAME`, `deployment.apps/NAME`.
    Deployment(String),
    /// `rs/NAME`, `replicaset/NAME`, `replicasets/NAME`, `replicaset.apps/NAME`.
    ReplicaSet(String),
    /// `sts/NAME`, `statefulset/NAME`, `statefulsets/NAME`, `statefulset.apps/NAME`.
    StatefulSet(String),
}

impl fmt::Display for ForwardTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, name) = match self {
            Self::Pod(n) => ("pod", n),
            Self::Service(n) => ("service", n),
            Self::Deployment(n) => ("deployment", n),
            Self::ReplicaSet(n) => ("replicaset", n),
            Self::StatefulSet(n) => ("statefulset", n),
        };
        write!(f, "{kind}/{name}")
    }
}

impl ForwardTarget {
    /// Reads kubectl's `[TYPE/]NAME` (a bare name is a pod).
    ///
    /// ```
    /// use k8s_client::api::ForwardTarget;
    /// assert_eq!(ForwardTarget::parse("svc/web").unwrap(), ForwardTarget::Service("web".into()));
    /// assert_eq!(ForwardTarget::parse("web-0").unwrap(), ForwardTarget::Pod("web-0".into()));
    /// ```
    pub fn parse(spec: &str) -> Result<Self, StreamError> {
        let bad = || StreamError::BadForwardTarget {
            spec: spec.to_owned(),
        };
        let (kind, name) = spec.split_once('/').unwrap_or(("pod", spec));
        if name.is_empty() || name.contains('/') {
            return Err(bad());
        }
        let name = name.to_owned();
        Ok(match kind.to_ascii_lowercase().as_str() {
            "po" | "pod" | "pods" => Self::Pod(name),
            "svc" | "service" | "services" => Self::Service(name),
            "deploy" | "deployment" | "deployments" | "deployment.apps" | "deployments.apps" => {
                Self::Deployment(name)
            }
            "rs" | "replicaset" | "replicasets" | "replicaset.apps" | "replicasets.apps" => {
                Self::ReplicaSet(name)
            }
            "sts" | "statefulset" | "statefulsets" | "statefulset.apps" | "statefulsets.apps" => {
                Self::StatefulSet(name)
            }
            _ => return Err(bad()),
        })
    }
}

/// The remote side of a port mapping: a number or a port name.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemotePort {
    /// A port number (a service port for a Service, else a container port).
    Number(u16),
    /// A port name (a service port's name for a Service, else a container port's).
    Name(String),
}

/// One `[LOCAL:]REMOTE` argument of `kubectl port-forward`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortMapping {
    /// The local port: `None` for `:REMOTE` (any free port); for a bare `REMOTE`
    /// the same number (a named one: the container port it resolves to).
    pub local: Option<u16>,
    /// Whether a bare `REMOTE` was given (the local port follows the remote one).
    pub same_as_remote: bool,
    /// The remote port.
    pub remote: RemotePort,
}

impl PortMapping {
    /// Reads `LOCAL:REMOTE`, `:REMOTE` or `REMOTE` (REMOTE a number or a name).
    ///
    /// ```
    /// use k8s_client::api::{PortMapping, RemotePort};
    /// let m = PortMapping::parse("8080:http").unwrap();
    /// assert_eq!((m.local, m.remote), (Some(8080), RemotePort::Name("http".into())));
    /// assert_eq!(PortMapping::parse(":80").unwrap().local, None);
    /// ```
    pub fn parse(spec: &str) -> Result<Self, StreamError> {
        let bad = || StreamError::BadPortMapping {
            spec: spec.to_owned(),
        };
        let (local, remote, same) = match spec.split_once(':') {
            Some(("", r)) => (None, r, false),
            Some((l, r)) => (Some(l.parse::<u16>().map_err(|_| bad())?), r, false),
            None => (None, spec, true),
        };
        let remote = match remote.parse::<u16>() {
            Ok(0) => return Err(bad()),
            Ok(n) => RemotePort::Number(n),
            Err(_) if valid_port_name(remote) => RemotePort::Name(remote.to_owned()),
            Err(_) => return Err(bad()),
        };
        let local = match (&remote, same) {
            (RemotePort::Number(n), true) => Some(*n),
            _ => local,
        };
        Ok(Self {
            local,
            same_as_remote: same,
            remote,
        })
    }
}

/// An IANA service name as Kubernetes allows for port names (1–15 characters,
/// lowercase alphanumerics and `-`, at least one letter).
fn valid_port_name(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// The pod and container ports a port-forward goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedForward {
    /// The pod.
    pub pod: String,
    /// `(local port, container port)` per mapping; local `None` is any free port.
    pub ports: Vec<(Option<u16>, u16)>,
}

/// A label selector in the query syntax.
fn selector_string(s: &LabelSelector) -> String {
    let mut parts: Vec<String> = s
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in s.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

/// kubectl's choice among a controller's or service's pods: the most active one
/// (its `ActivePods`, reversed): scheduled, running, ready, ready the longest, fewest
/// restarts, oldest; ties keep the list (name) order.
fn most_active(mut pods: Vec<Pod>) -> Option<Pod> {
    use k8s_openapi::jiff::Timestamp;
    let key = |p: &Pod| {
        let status = p.status.as_ref();
        let assigned = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty());
        let phase = match status.and_then(|s| s.phase.as_deref()) {
            Some("Running") => 0,
            Some("Unknown") => 1,
            Some("Pending") => 2,
            _ => 3,
        };
        let ready_since = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready" && c.status == "True"))
            .map(|c| {
                c.last_transition_time
                    .as_ref()
                    .map_or(Timestamp::MAX, |t| t.0)
            });
        let restarts: i64 = status
            .and_then(|s| s.container_statuses.as_ref())
            .map_or(0, |c| c.iter().map(|c| i64::from(c.restart_count)).sum());
        let created = p
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(Timestamp::MAX, |t| t.0);
        (
            !assigned,
            phase,
            ready_since.is_none(),
            ready_since.unwrap_or(Timestamp::MAX),
            restarts,
            created,
        )
    };
    pods.sort_by_key(key);
    pods.into_iter().next()
}

/// The number of the container port called `name`.
fn named_container_port(pod: &Pod, name: &str) -> Result<u16, StreamError> {
    pod.spec
        .iter()
        .flat_map(|s| &s.containers)
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name))
        .and_then(|p| u16::try_from(p.container_port).ok())
        .ok_or_else(|| StreamError::NoNamedContainerPort {
            pod: pod.metadata.name.clone().unwrap_or_default(),
            name: name.to_owned(),
        })
}

fn port_u16(n: i32) -> u16 {
    u16::try_from(n).unwrap_or_default()
}

/// kubectl's translation of a service port to the chosen pod's container port.
fn service_to_container_port(
    svc: &Service,
    pod: &Pod,
    m: &PortMapping,
) -> Result<(Option<u16>, u16), StreamError> {
    let service = svc.metadata.name.clone().unwrap_or_default();
    let ports = svc.spec.iter().flat_map(|s| s.ports.iter().flatten());
    let port = match &m.remote {
        RemotePort::Number(n) => ports
            .clone()
            .find(|p| p.port == i32::from(*n))
            .ok_or(StreamError::NoServicePort { service, port: *n })?,
        RemotePort::Name(name) => ports
            .clone()
            .find(|p| p.name.as_deref() == Some(name))
            .ok_or(StreamError::NoNamedServicePort {
                service,
                name: name.clone(),
            })?,
    };
    let container = match &port.target_port {
        None | Some(IntOrString::Int(0)) => port_u16(port.port),
        Some(IntOrString::Int(n)) => port_u16(*n),
        Some(IntOrString::String(name)) => named_container_port(pod, name)?,
    };
    // A bare REMOTE listens locally on the service port (kubectl).
    let local = if m.same_as_remote {
        Some(port_u16(port.port))
    } else {
        m.local
    };
    Ok((local, container))
}

impl Api<Pod> {
    /// Resolves `kubectl port-forward TARGET MAPPINGS…` to a pod and container ports,
    /// in this API's namespace: a Service's, Deployment's, ReplicaSet's or
    /// StatefulSet's selector picks the most active matching pod (kubectl's rule); a
    /// Service's ports map to the pod's container ports through `targetPort` (numbers
    /// or container port names); other targets resolve port names against the pod's
    /// containers. The pod must be `Running` ([`StreamError::PodNotRunning`], kubectl's
    /// check). Unlike kubectl, which waits up to a minute for a pod to appear, no
    /// matching pod is [`StreamError::NoPods`] at once.
    pub async fn resolve_forward(
        &self,
        target: &ForwardTarget,
        mappings: &[PortMapping],
    ) -> Result<ResolvedForward, Error> {
        let client = self.client().clone();
        let ns = self.namespace().unwrap_or("default").to_owned();
        let (pod, service) = match target {
            ForwardTarget::Pod(name) => (self.get(name).await?, None),
            ForwardTarget::Service(name) => {
                let svc = Api::<Service>::namespaced(client, &ns).get(name).await?;
                let labels: BTreeMap<String, String> = svc
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.clone())
                    .unwrap_or_default();
                if labels.is_empty() {
                    return Err(StreamError::NoSelector {
                        kind: "Service",
                        name: name.clone(),
                    }
                    .into());
                }
                let selector = LabelSelector {
                    match_labels: Some(labels),
                    ..LabelSelector::default()
                };
                (self.pick(target, &selector).await?, Some(svc))
            }
            ForwardTarget::Deployment(name) => {
                let d = Api::<Deployment>::namespaced(client, &ns).get(name).await?;
                let selector = d.spec.selector;
                (self.pick(target, &selector).await?, None)
            }
            ForwardTarget::ReplicaSet(name) => {
                let r = Api::<ReplicaSet>::namespaced(client, &ns).get(name).await?;
                let selector = r.spec.selector;
                (self.pick(target, &selector).await?, None)
            }
            ForwardTarget::StatefulSet(name) => {
                let s = Api::<StatefulSet>::namespaced(client, &ns)
                    .get(name)
                    .await?;
                let selector = s.spec.selector;
                (self.pick(target, &selector).await?, None)
            }
        };
        let name = pod.metadata.name.clone().unwrap_or_default();
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if phase != "Running" {
            return Err(StreamError::PodNotRunning { pod: name, phase }.into());
        }
        let ports = mappings
            .iter()
            .map(|m| match (&service, &m.remote) {
                (Some(svc), _) => service_to_container_port(svc, &pod, m),
                (None, RemotePort::Number(n)) => Ok((m.local, *n)),
                (None, RemotePort::Name(port)) => {
                    let n = named_container_port(&pod, port)?;
                    Ok((if m.same_as_remote { Some(n) } else { m.local }, n))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(ResolvedForward { pod: name, ports })
    }

    async fn pick(&self, target: &ForwardTarget, selector: &LabelSelector) -> Result<Pod, Error> {
        let selector = selector_string(selector);
        if selector.is_empty() {
            let (kind, name) = match target {
                ForwardTarget::Pod(n) => ("Pod", n),
                ForwardTarget::Service(n) => ("Service", n),
                ForwardTarget::Deployment(n) => ("Deployment", n),
                ForwardTarget::ReplicaSet(n) => ("ReplicaSet", n),
                ForwardTarget::StatefulSet(n) => ("StatefulSet", n),
            };
            return Err(StreamError::NoSelector {
                kind,
                name: name.clone(),
            }
            .into());
        }
        let pods = self.list(&ListParams::default().labels(&selector)).await?;
        Ok(most_active(pods.items).ok_or(StreamError::NoPods {
            target: target.to_string(),
        })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_kubectls_type_names() {
        for (spec, want) in [
            ("web", ForwardTarget::Pod("web".into())),
            ("po/web", ForwardTarget::Pod("web".into())),
            ("services/web", ForwardTarget::Service("web".into())),
            (
                "deployment.apps/web",
                ForwardTarget::Deployment("web".into()),
            ),
            ("RS/web", ForwardTarget::ReplicaSet("web".into())),
            ("sts/web", ForwardTarget::StatefulSet("web".into())),
        ] {
            assert_eq!(ForwardTarget::parse(spec).unwrap(), want, "{spec}");
        }
        for bad in ["job/x", "svc/", "svc/a/b", "/x"] {
            assert!(ForwardTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn port_mappings_read_kubectls_forms() {
        let m = PortMapping::parse("8080").unwrap();
        assert_eq!(
            (m.local, m.remote, m.same_as_remote),
            (Some(8080), RemotePort::Number(8080), true)
        );
        let m = PortMapping::parse("5000:80").unwrap();
        assert_eq!((m.local, m.remote), (Some(5000), RemotePort::Number(80)));
        let m = PortMapping::parse(":http").unwrap();
        assert_eq!((m.local, m.remote), (None, RemotePort::Name("http".into())));
        for bad in ["", "0", "a:80", "70000", "80:", "1:Http", "x--y", "-a"] {
            assert!(PortMapping::parse(bad).is_err(), "{bad}");
        }
    }

    fn pod(name: &str, phase: &str, ready: Option<&str>, restarts: i32, created: &str) -> Pod {
        let conditions: Vec<_> = ready
            .map(
                |t| serde_json::json!({"type": "Ready", "status": "True", "lastTransitionTime": t}),
            )
            .into_iter()
            .collect();
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {"nodeName": "n", "containers": [{"name": "c", "ports": [
                {"name": "web", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}]}]},
            "status": {"phase": phase, "conditions": conditions,
                "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": true, "restartCount": restarts}]},
        }))
        .unwrap()
    }

    #[test]
    fn the_most_active_pod_is_chosen() {
        let t1 = "2026-01-01T00:00:01Z";
        let t2 = "2026-01-01T00:00:02Z";
        let pick = |pods: Vec<Pod>| most_active(pods).unwrap().metadata.name.unwrap();
        assert_eq!(
            pick(vec![
                pod("p", "Pending", None, 0, t1),
                pod("r", "Running", None, 0, t2)
            ]),
            "r"
        );
        assert_eq!(
            pick(vec![
                pod("a", "Running", None, 0, t1),
                pod("b", "Running", Some(t2), 0, t2)
            ]),
            "b"
        );
        assert_eq!(
            pick(vec![
                pod("a", "Running", Some(t2), 0, t1),
                pod("b", "Running", Some(t1), 0, t2)
            ]),
            "b"
        );
        assert_eq!(
            pick(vec![
                pod("a", "Running", Some(t1), 2, t1),
                pod("b", "Running", Some(t1), 0, t2)
            ]),
            "b"
        );
        assert_eq!(
            pick(vec![
                pod("a", "Running", Some(t1), 0, t2),
                pod("b", "Running", Some(t1), 0, t1)
            ]),
            "b"
        );
        assert!(most_active(Vec::new()).is_none());
    }

    #[test]
    fn service_ports_map_to_container_ports_like_kubectl() {
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "s"},
            "spec": {"ports": [
                {"name": "http", "port": 80, "targetPort": "web"},
                {"name": "num", "port": 81, "targetPort": 9090},
                {"name": "same", "port": 82},
                {"name": "ghost", "port": 83, "targetPort": "nope"},
            ]}
        }))
        .unwrap();
        let p = pod("p", "Running", None, 0, "2026-01-01T00:00:01Z");
        let map =
            |spec: &str| service_to_container_port(&svc, &p, &PortMapping::parse(spec).unwrap());
        assert_eq!(map("80").unwrap(), (Some(80), 8080));
        assert_eq!(map("5000:81").unwrap(), (Some(5000), 9090));
        assert_eq!(map(":http").unwrap(), (None, 8080));
        assert_eq!(map("http").unwrap(), (Some(80), 8080));
        assert_eq!(map("82").unwrap(), (Some(82), 82));
        assert_eq!(
            map("84").unwrap_err().to_string(),
            "Service s does not have a service port 84"
        );
        assert_eq!(
            map("nada").unwrap_err().to_string(),
            "Service 's' does not have a named port 'nada'"
        );
        assert_eq!(
            map("83").unwrap_err().to_string(),
            "Pod 'p' does not have a named port 'nope'"
        );
    }

    #[test]
    fn selectors_become_query_syntax() {
        let s: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
                {"key": "x", "operator": "NotIn", "values": ["c"]},
                {"key": "y", "operator": "Exists"},
                {"key": "z", "operator": "DoesNotExist"},
            ]
        }))
        .unwrap();
        assert_eq!(
            selector_string(&s),
            "app=web,tier in (a,b),x notin (c),y,!z"
        );
    }
}
