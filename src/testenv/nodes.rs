//! Simulated nodes: kube-scheduler places pods, kwok plays their kubelet.
//!
//! kwok (<https://kwok.sigs.k8s.io>) keeps the `Node` objects Ready (heartbeats), moves
//! scheduled pods to `Running`, and serves the kubelet API the API server proxies
//! `exec`, `attach`, `log` and `portforward` to. Its configuration (written to
//! `kwok.yaml` in the environment's directory) makes those endpoints real:
//!
//! - **exec** runs the requested command as a local process (working directory
//!   [`TestEnv::exec_dir`](super::TestEnv::exec_dir)), with a pseudo-terminal when a
//!   TTY is asked for;
//! - **logs** and **attach** read [`TestEnv::pod_log_path`](super::TestEnv::pod_log_path)
//!   (every container of every pod; CRI log format, written by
//!   [`TestEnv::append_pod_log`](super::TestEnv::append_pod_log)); `previous=true` reads
//!   [`TestEnv::previous_pod_log_path`](super::TestEnv::previous_pod_log_path);
//! - **port-forward** of a pod port given to
//!   [`TestEnvBuilder::forward_pod_port`](super::TestEnvBuilder::forward_pod_port)
//!   connects to `127.0.0.1:<`[`TestEnv::forwarded_port`](super::TestEnv::forwarded_port)`>`.
//!
//! The API server reaches kwok at the nodes' `InternalIP` (127.0.0.1) and kubelet port
//! over TLS with kwok's self-signed certificate, which it does not verify (no
//! `--kubelet-certificate-authority`), and without a client certificate (kwok does not
//! ask for one). With routable nodes it reaches kwok through an authenticating TLS
//! front instead (`kubelet_front`).

use super::TestEnvError;
use super::probe::TlsProbe;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The name of the `i`-th simulated node.
pub(crate) fn node_name(i: usize) -> String {
    format!("kwok-node-{i}")
}

/// Where the simulated kubelet reads and runs things.
#[derive(Debug, Clone)]
pub(crate) struct NodeFiles {
    pub(crate) config: PathBuf,
    pub(crate) exec_dir: PathBuf,
    pub(crate) pod_log: PathBuf,
    pub(crate) previous_pod_log: PathBuf,
}

impl NodeFiles {
    pub(crate) fn new(dir: &Path) -> Self {
        let pods = dir.join("pods");
        Self {
            config: dir.join("kwok.yaml"),
            exec_dir: pods.join("exec"),
            pod_log: pods.join("containers.log"),
            previous_pod_log: pods.join("previous.log"),
        }
    }

    /// Creates the directories and empty log files and writes kwok's configuration.
    pub(crate) fn write(&self, forwards: &BTreeMap<u16, u16>) -> Result<(), TestEnvError> {
        let io = |action: &'static str, path: &Path| {
            let path = path.to_owned();
            move |source| TestEnvError::Io {
                action,
                path,
                source,
            }
        };
        std::fs::create_dir_all(&self.exec_dir).map_err(io("creating", &self.exec_dir))?;
        for log in [&self.pod_log, &self.previous_pod_log] {
            std::fs::write(log, b"").map_err(io("writing", log))?;
        }
        let config = kwok_config(self, forwards);
        std::fs::write(&self.config, config).map_err(io("writing", &self.config))
    }
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// kwok's configuration: the stages that make nodes Ready and pods Running, and the
/// cluster-wide exec, logs, attach and port-forward rules.
fn kwok_config(files: &NodeFiles, forwards: &BTreeMap<u16, u16>) -> String {
    let mut s = String::new();
    s.push_str(STAGES);
    let _ = write!(
        s,
        "---\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterExec\nmetadata:\n  name: local\nspec:\n  execs:\n  - local:\n      workDir: {}\n",
        quoted(&files.exec_dir.to_string_lossy())
    );
    let _ = write!(
        s,
        "---\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterLogs\nmetadata:\n  name: local\nspec:\n  logs:\n  - logsFile: {}\n    previousLogsFile: {}\n    follow: true\n",
        quoted(&files.pod_log.to_string_lossy()),
        quoted(&files.previous_pod_log.to_string_lossy())
    );
    let _ = write!(
        s,
        "---\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterAttach\nmetadata:\n  name: local\nspec:\n  attaches:\n  - logsFile: {}\n",
        quoted(&files.pod_log.to_string_lossy())
    );
    if !forwards.is_empty() {
        s.push_str("---\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterPortForward\nmetadata:\n  name: local\nspec:\n  forwards:\n");
        for (pod_port, local_port) in forwards {
            let _ = write!(
                s,
                "  - ports: [{pod_port}]\n    target:\n      address: 127.0.0.1\n      port: {local_port}\n"
            );
        }
    }
    s
}

/// Node initialisation and heartbeat, pod start and deletion.
const STAGES: &str = r#"apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-initialize
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ['True']
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
      addresses:
      - address: {{ NodeIP | Quote }}
        type: InternalIP
      - address: {{ NodeName | Quote }}
        type: Hostname
      daemonEndpoints:
        kubeletEndpoint:
          Port: {{ NodePort }}
      allocatable:
        cpu: 1k
        memory: 1Ti
        pods: 1M
      capacity:
        cpu: 1k
        memory: 1Ti
        pods: 1M
      nodeInfo:
        architecture: amd64
        operatingSystem: linux
        kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
        containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-heartbeat
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.phase'
      operator: In
      values: ['Running']
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: In
      values: ['True']
  delay:
    durationMilliseconds: 10000
    jitterDurationMilliseconds: 12000
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
  immediateNextStage: true
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: DoesNotExist
    - key: '.status.phase'
      operator: In
      values: ['Pending']
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ['True']
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      {{ with NodeIPsWith .spec.nodeName }}
      hostIP: {{ index . 0 | Quote }}
      {{ end }}
      {{ with PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
      podIP: {{ index . 0 | Quote }}
      podIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: Exists
  next:
    delete: true
"#;

/// The `Node` object of a simulated node, registered before kwok manages it.
fn node_object(name: &str) -> String {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
        },
    })
    .to_string()
}

/// Registers `count` nodes (an existing node of the same name is kept).
pub(crate) fn register(probe: &TlsProbe, count: usize) -> Result<(), TestEnvError> {
    for i in 0..count {
        let name = node_name(i);
        let body = node_object(&name);
        let status = probe
            .request("POST", "/api/v1/nodes", Some(body.as_bytes()))
            .map(|(status, _)| status);
        if !matches!(status, Some(201 | 409)) {
            return Err(TestEnvError::NodeRegistration { node: name, status });
        }
    }
    Ok(())
}

/// Whether every one of the `count` nodes reports `Ready=True`.
pub(crate) fn all_ready(probe: &TlsProbe, count: usize) -> bool {
    (0..count).all(|i| {
        let path = format!("/api/v1/nodes/{}", node_name(i));
        let Some((200, body)) = probe.request("GET", &path, None) else {
            return false;
        };
        let Ok(node) = serde_json::from_slice::<serde_json::Value>(&body) else {
            return false;
        };
        node["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    })
}

/// One line of the CRI log format kwok reads: `<RFC 3339 time> <stream> F <text>`.
pub(crate) fn cri_log_line(time: &str, stderr: bool, text: &str) -> String {
    let stream = if stderr { "stderr" } else { "stdout" };
    format!("{time} {stream} F {text}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_maps_each_forwarded_port_and_quotes_paths() {
        let files = NodeFiles::new(Path::new("/tmp/a \"b\""));
        let forwards = BTreeMap::from([(80, 40001), (8080, 40002)]);
        let config = kwok_config(&files, &forwards);
        assert!(config.contains(
            "  - ports: [80]\n    target:\n      address: 127.0.0.1\n      port: 40001\n"
        ));
        assert!(config.contains(
            "  - ports: [8080]\n    target:\n      address: 127.0.0.1\n      port: 40002\n"
        ));
        assert!(
            config.contains(r#"workDir: "/tmp/a \"b\"/pods/exec""#),
            "{config}"
        );
        assert_eq!(config.matches("\n---\n").count(), 7, "{config}");
        let without = kwok_config(&files, &BTreeMap::new());
        assert!(!without.contains("ClusterPortForward"));
    }

    #[test]
    fn cri_lines_name_the_stream() {
        assert_eq!(
            cri_log_line("2026-01-01T00:00:00Z", false, "hi"),
            "2026-01-01T00:00:00Z stdout F hi\n"
        );
        assert!(cri_log_line("t", true, "x").contains(" stderr F "));
    }
}
