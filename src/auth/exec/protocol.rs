//! The `client.authentication.k8s.io` wire format: the `KUBERNETES_EXEC_INFO` input and
//! the `ExecCredential` output. Pure functions, no I/O.

use crate::auth::error::{ExecError, ExecOutputProblem};
use crate::auth::{ClientIdentity, Credential};
use crate::config::{ExecClusterInfo, ExecInteractiveMode};
use crate::secret::{SecretBytes, SecretString};
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use serde_json::Value;
use std::time::SystemTime;

/// The `client.authentication.k8s.io` versions this crate speaks.
pub(crate) const API_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// kubectl's rule: whether the plugin runs interactively (gets our stdin), or why it
/// cannot run at all.
pub(crate) fn interactive(
    mode: ExecInteractiveMode,
    stdin_is_terminal: bool,
) -> Result<bool, &'static str> {
    match mode {
        ExecInteractiveMode::Never => Ok(false),
        ExecInteractiveMode::IfAvailable => Ok(stdin_is_terminal),
        ExecInteractiveMode::Always if stdin_is_terminal => Ok(true),
        ExecInteractiveMode::Always => Err("standard input is not a terminal"),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecInfo<'a> {
    api_version: &'a str,
    kind: &'static str,
    spec: Spec<'a>,
}

#[derive(Serialize)]
struct Spec<'a> {
    interactive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<Cluster<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster<'a> {
    server: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_server_name: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    insecure_skip_tls_verify: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_authority_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proxy_url: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disable_compression: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<&'a Value>,
}

/// The `KUBERNETES_EXEC_INFO` value: an `ExecCredential` with `spec.interactive` and,
/// when given, `spec.cluster` (CA data base64-encoded, as Go encodes `[]byte`).
pub(crate) fn exec_info(
    api_version: &str,
    interactive: bool,
    cluster: Option<&ExecClusterInfo>,
) -> Result<String, serde_json::Error> {
    let cluster = cluster.map(|c| Cluster {
        server: &c.server,
        tls_server_name: c.tls_server_name.as_deref(),
        insecure_skip_tls_verify: c.insecure_skip_tls_verify,
        certificate_authority_data: c
            .certificate_authority_data
            .as_ref()
            .map(|d| base64::engine::general_purpose::STANDARD.encode(d)),
        proxy_url: c.proxy_url.as_deref(),
        disable_compression: c.disable_compression,
        config: c.config.as_ref(),
    });
    serde_json::to_string(&ExecInfo {
        api_version,
        kind: "ExecCredential",
        spec: Spec {
            interactive,
            cluster,
        },
    })
}

/// Decodes a plugin's stdout into a [`Credential`]. Errors never contain the output.
pub(crate) fn parse_output(
    command: &str,
    api_version: &str,
    stdout: &SecretBytes,
) -> Result<Credential, ExecError> {
    parse(api_version, stdout.expose_secret()).map_err(|problem| ExecError::Output {
        command: command.to_owned(),
        problem,
    })
}

fn string_field(
    status: &Value,
    field: &'static str,
) -> Result<Option<SecretString>, ExecOutputProblem> {
    match status.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(SecretString::from(s.as_str()))),
        Some(_) => Err(ExecOutputProblem::FieldType { field }),
    }
}

fn parse(api_version: &str, stdout: &[u8]) -> Result<Credential, ExecOutputProblem> {
    // Into a `Value` first: serde's typed errors may quote the offending input.
    let value: Value = serde_json::from_slice(stdout).map_err(|_| ExecOutputProblem::NotJson)?;
    let Value::Object(object) = &value else {
        return Err(ExecOutputProblem::NotJson);
    };
    if object.get("kind").and_then(Value::as_str) != Some("ExecCredential") {
        return Err(ExecOutputProblem::WrongKind);
    }
    if object.get("apiVersion").and_then(Value::as_str) != Some(api_version) {
        return Err(ExecOutputProblem::VersionMismatch {
            configured: api_version.to_owned(),
        });
    }
    let status = match object.get("status") {
        None | Some(Value::Null) => return Err(ExecOutputProblem::NoStatus),
        Some(status @ Value::Object(_)) => status,
        Some(_) => return Err(ExecOutputProblem::FieldType { field: "status" }),
    };
    let token = string_field(status, "token")?;
    let cert = string_field(status, "clientCertificateData")?;
    let key = string_field(status, "clientKeyData")?;
    if token.is_none() && cert.is_none() && key.is_none() {
        return Err(ExecOutputProblem::NoCredential);
    }
    let client_identity = match (cert, key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(identity(&cert, &key)?),
        _ => return Err(ExecOutputProblem::CertOrKeyOnly),
    };
    let expires_at = match status.get("expirationTimestamp") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            s.parse::<jiff::Timestamp>()
                .map(SystemTime::from)
                .map_err(|_| ExecOutputProblem::Expiration)?,
        ),
        Some(_) => {
            return Err(ExecOutputProblem::FieldType {
                field: "expirationTimestamp",
            });
        }
    };
    let mut credential = match token {
        Some(token) => Credential::bearer(token),
        None => Credential::default(),
    };
    credential.client_identity = client_identity;
    credential.expires_at = expires_at;
    Ok(credential)
}

fn identity(cert: &SecretString, key: &SecretString) -> Result<ClientIdentity, ExecOutputProblem> {
    let cert_pem = cert.expose_secret().as_bytes();
    let mut certs = CertificateDer::pem_slice_iter(cert_pem);
    if !matches!(certs.next(), Some(Ok(_))) || certs.any(|c| c.is_err()) {
        return Err(ExecOutputProblem::Certificate);
    }
    let key_pem = key.expose_secret().as_bytes();
    PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| ExecOutputProblem::Key)?;
    Ok(ClientIdentity {
        cert_pem: cert_pem.to_vec(),
        key_pem: SecretBytes::new(key_pem.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_interactive_rules() {
        use ExecInteractiveMode::*;
        assert_eq!(interactive(Never, true), Ok(false));
        assert_eq!(interactive(Never, false), Ok(false));
        assert_eq!(interactive(IfAvailable, true), Ok(true));
        assert_eq!(interactive(IfAvailable, false), Ok(false));
        assert_eq!(interactive(Always, true), Ok(true));
        assert_eq!(
            interactive(Always, false),
            Err("standard input is not a terminal")
        );
    }

    #[test]
    fn exec_info_omits_unset_cluster_fields() {
        let json = exec_info(API_VERSIONS[0], false, None).unwrap();
        assert_eq!(
            json,
            r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}"#
        );
        let cluster = ExecClusterInfo {
            server: "https://k".into(),
            certificate_authority_data: Some(b"CA".to_vec()),
            ..ExecClusterInfo::default()
        };
        let json: Value =
            serde_json::from_str(&exec_info(API_VERSIONS[1], true, Some(&cluster)).unwrap())
                .unwrap();
        assert_eq!(
            json["spec"]["cluster"],
            serde_json::json!({"server": "https://k", "certificate-authority-data": "Q0E="})
        );
    }

    #[test]
    fn output_problems_never_quote_the_output() {
        let v1 = API_VERSIONS[0];
        let cases: [(&str, ExecOutputProblem); 6] = [
            ("SECRET-not-json", ExecOutputProblem::NotJson),
            (
                r#"{"kind":"SECRET","apiVersion":"client.authentication.k8s.io/v1"}"#,
                ExecOutputProblem::WrongKind,
            ),
            (
                r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1"}"#,
                ExecOutputProblem::NoStatus,
            ),
            (
                r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{}}"#,
                ExecOutputProblem::NoCredential,
            ),
            (
                r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"SECRET","expirationTimestamp":"SECRET"}}"#,
                ExecOutputProblem::Expiration,
            ),
            (
                r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"clientKeyData":"SECRET"}}"#,
                ExecOutputProblem::CertOrKeyOnly,
            ),
        ];
        for (out, want) in cases {
            let err =
                parse_output("plug", v1, &SecretBytes::new(out.as_bytes().to_vec())).unwrap_err();
            match &err {
                ExecError::Output { problem, .. } => assert_eq!(problem, &want),
                other => panic!("unexpected {other:?}"),
            }
            assert!(!err.to_string().contains("SECRET"), "{err}");
            assert!(!format!("{err:?}").contains("SECRET"));
        }
        let err = parse_output(
            "plug",
            v1,
            &SecretBytes::new(br#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"t"}}"#.to_vec()),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("configured to use API version client.authentication.k8s.io/v1")
        );
    }

    #[test]
    fn token_with_expiry() {
        let out = br#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"abc","expirationTimestamp":"2030-01-02T03:04:05Z"}}"#;
        let c = parse_output("p", API_VERSIONS[0], &SecretBytes::new(out.to_vec())).unwrap();
        assert_eq!(c.authorization.unwrap().expose_secret(), "Bearer abc");
        let want: SystemTime = "2030-01-02T03:04:05Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .into();
        assert_eq!(c.expires_at, Some(want));
    }
}
