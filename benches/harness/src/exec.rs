//! The exec-plugin case: a kubeconfig whose user is an exec credential plugin that
//! counts its own runs. The plugin hands out a real ServiceAccount token
//! (TokenRequest, one hour) allowed to read ConfigMaps in the data set's
//! namespace, so every client authenticates with the same bearer token.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use k8s_client_bench::dataset::NAMESPACE;
use k8s_client_bench::raw::{RawClient, Result};
use serde_json::json;

/// The prepared plugin and kubeconfig.
pub struct ExecSetup {
    /// The kubeconfig whose user runs the plugin.
    pub kubeconfig: PathBuf,
    /// The file the plugin appends one line to per run.
    pub counter: PathBuf,
}

impl ExecSetup {
    /// Plugin runs so far.
    pub fn runs(&self) -> u64 {
        std::fs::read_to_string(&self.counter).map_or(0, |s| s.lines().count() as u64)
    }
}

const SA: &str = "bench-exec";

/// Creates the ServiceAccount, its RoleBinding and a token, and writes the
/// plugin script and the kubeconfig into `dir`.
pub async fn prepare(raw: &RawClient, admin: &Path, dir: &Path) -> Result<ExecSetup> {
    let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SA}});
    raw.send_json(
        reqwest::Method::POST,
        &format!("/api/v1/namespaces/{NAMESPACE}/serviceaccounts"),
        &sa,
    )
    .await?;
    // A Role of our own: the aggregated `view` ClusterRole is empty without
    // kube-controller-manager's aggregation controller.
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": SA},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}],
    });
    raw.send_json(
        reqwest::Method::POST,
        &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/roles"),
        &role,
    )
    .await?;
    let rb = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": SA},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SA},
        "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": NAMESPACE}],
    });
    raw.send_json(
        reqwest::Method::POST,
        &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/rolebindings"),
        &rb,
    )
    .await?;
    let req = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}});
    let answer = raw
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{SA}/token"),
            &req,
        )
        .await?
        .ok_or("TokenRequest answered 409 Conflict")?;
    let answer: serde_json::Value = serde_json::from_slice(&answer)?;
    let token = answer["status"]["token"]
        .as_str()
        .ok_or("TokenRequest returned no token")?;
    let expires = answer["status"]["expirationTimestamp"]
        .as_str()
        .ok_or("TokenRequest returned no expiry")?;

    let counter = dir.join("exec-plugin-runs");
    std::fs::write(&counter, "")?;
    let credential = json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": token, "expirationTimestamp": expires},
    });
    let plugin = dir.join("exec-plugin.sh");
    let credential_file = dir.join("exec-credential.json");
    std::fs::write(&credential_file, serde_json::to_vec(&credential)?)?;
    std::fs::set_permissions(&credential_file, std::fs::Permissions::from_mode(0o600))?;
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\n# k8s-client benchmark exec plugin: counts its runs, prints a fixed credential.\necho run >> '{}'\nexec cat '{}'\n",
            counter.display(),
            credential_file.display()
        ),
    )?;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o700))?;

    let text = std::fs::read_to_string(admin)?;
    let mut kc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)?;
    let base = admin.parent().unwrap_or(Path::new("."));
    absolutise(&mut kc, base);
    let user: serde_yaml_ng::Value = serde_yaml_ng::to_value(json!({
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": plugin.display().to_string(),
            "interactiveMode": "Never",
        }
    }))?;
    if let Some(users) = kc.get_mut("users").and_then(|u| u.as_sequence_mut()) {
        for u in users {
            u["user"] = user.clone();
        }
    }
    let kubeconfig = dir.join("exec.kubeconfig");
    std::fs::write(&kubeconfig, serde_yaml_ng::to_string(&kc)?)?;
    Ok(ExecSetup {
        kubeconfig,
        counter,
    })
}

/// Makes the clusters' relative `certificate-authority` paths absolute, since
/// the new kubeconfig lives elsewhere.
fn absolutise(kc: &mut serde_yaml_ng::Value, base: &Path) {
    let Some(clusters) = kc.get_mut("clusters").and_then(|c| c.as_sequence_mut()) else {
        return;
    };
    for c in clusters {
        if let Some(ca) = c
            .get_mut("cluster")
            .and_then(|c| c.get_mut("certificate-authority"))
            && let Some(p) = ca.as_str().map(PathBuf::from).filter(|p| p.is_relative())
        {
            *ca = serde_yaml_ng::Value::String(base.join(p).display().to_string());
        }
    }
}
