//! Writing the kubeconfig files handed out by the test environment.

use super::TestEnvError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::path::Path;

/// The credentials of one kubeconfig user.
pub(crate) enum Credential<'a> {
    ClientCert {
        cert_pem: &'a str,
        key_pem: &'a [u8],
    },
    Token(&'a str),
}

/// Renders a self-contained kubeconfig (all data inline) with one cluster, user and
/// context, the context being current.
pub(crate) fn render(server: &str, ca_pem: &str, user: &str, credential: Credential<'_>) -> String {
    let user_entry = match credential {
        Credential::ClientCert { cert_pem, key_pem } => serde_json::json!({
            "client-certificate-data": STANDARD.encode(cert_pem),
            "client-key-data": STANDARD.encode(key_pem),
        }),
        Credential::Token(token) => serde_json::json!({ "token": token }),
    };
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": "testenv",
            "cluster": {
                "server": server,
                "certificate-authority-data": STANDARD.encode(ca_pem),
            },
        }],
        "users": [{ "name": user, "user": user_entry }],
        "contexts": [{
            "name": format!("{user}@testenv"),
            "context": { "cluster": "testenv", "user": user, "namespace": "default" },
        }],
        "current-context": format!("{user}@testenv"),
        "preferences": {},
    });
    serde_yaml_ng::to_string(&doc).expect("a JSON value always serialises to YAML")
}

/// Writes `contents` to `path` readable by the owner only (it holds credentials).
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<(), TestEnvError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| TestEnvError::Io {
        action: "writing",
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(contents).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_kubeconfig_has_one_current_context() {
        let yaml = render(
            "https://127.0.0.1:6443",
            "CA",
            "noperm",
            Credential::Token("t0k"),
        );
        let v: serde_json::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(v["current-context"], "noperm@testenv");
        assert_eq!(v["users"][0]["user"]["token"], "t0k");
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:6443"
        );
        assert_eq!(
            v["clusters"][0]["cluster"]["certificate-authority-data"],
            STANDARD.encode("CA")
        );
    }
}
