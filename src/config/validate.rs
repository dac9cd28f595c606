//! Validation of the selected cluster and user with kubectl's meaning
//! (clientcmd's `validateClusterInfo` / `validateAuthInfo`, plus the checks client-go
//! makes while building the REST config).

use super::env::Env;
use super::error::{ConfigError, EntryKind};
use super::resolve::{
    ClusterChecked, Selected, UserChecked, check_pem, key_data, pem_data, resolve_path,
};
use super::resolved::{ClientCertificate, KeySource, PemSource};
use std::path::PathBuf;

fn set(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.is_empty())
}

/// Reads a file named by a kubeconfig field (resolved against the entry's file).
fn read_field(
    env: &dyn Env,
    base: Option<&PathBuf>,
    file: Option<&PathBuf>,
    kind: EntryKind,
    entry: &str,
    field: &'static str,
    path: &str,
) -> Result<(PathBuf, Vec<u8>), ConfigError> {
    let resolved = resolve_path(base.map(PathBuf::as_path), path);
    let bytes = env
        .read(&resolved)
        .map_err(|source| ConfigError::ReadReferencedFile {
            file: file.cloned(),
            kind,
            entry: entry.to_owned(),
            field,
            path: resolved.clone(),
            source,
        })?;
    Ok((env.host_path(&resolved), bytes))
}

/// Reads a PEM file named by a kubeconfig field and checks that it holds PEM blocks.
fn read_pem_field(
    env: &dyn Env,
    base: Option<&PathBuf>,
    file: Option<&PathBuf>,
    (kind, entry): (EntryKind, &str),
    field: &'static str,
    path: &str,
) -> Result<(PathBuf, Vec<u8>), ConfigError> {
    let (host, bytes) = read_field(env, base, file, kind, entry, field, path)?;
    check_pem(&bytes, kind, entry, field, file)?;
    Ok((host, bytes))
}

/// Validates the cluster: server, CA (file xor data, readable, PEM), insecure vs CA,
/// proxy URL scheme.
pub(super) fn check_cluster(s: &Selected, env: &dyn Env) -> Result<ClusterChecked, ConfigError> {
    let c = &s.cluster;
    let file = s.cluster_file.as_ref();
    let name = s.cluster_name.as_str();
    if !set(&c.server) {
        return Err(ConfigError::MissingServer {
            cluster: name.to_owned(),
            file: file.cloned(),
        });
    }
    let kind = EntryKind::Cluster;
    if set(&c.certificate_authority) && set(&c.certificate_authority_data) {
        return Err(ConfigError::FileAndData {
            file: file.cloned(),
            kind,
            entry: name.to_owned(),
            file_field: "certificate-authority",
            data_field: "certificate-authority-data",
        });
    }
    let mut ca = None;
    let mut ca_bytes = None;
    if let Some(data) = c
        .certificate_authority_data
        .as_deref()
        .filter(|d| !d.is_empty())
    {
        let bytes = pem_data(data, kind, name, "certificate-authority-data", file)?;
        ca = Some(PemSource::Data(bytes.clone()));
        ca_bytes = Some(bytes);
    } else if let Some(path) = c.certificate_authority.as_deref().filter(|p| !p.is_empty()) {
        let field = "certificate-authority";
        let (host, bytes) =
            read_pem_field(env, s.ca_base.as_ref(), file, (kind, name), field, path)?;
        ca = Some(PemSource::File(host));
        ca_bytes = Some(bytes);
    }
    if c.insecure_skip_tls_verify == Some(true) && ca.is_some() {
        return Err(ConfigError::InsecureWithCa {
            cluster: name.to_owned(),
            file: file.cloned(),
        });
    }
    let proxy_url = match c.proxy_url.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        Some(raw) => {
            let invalid = |source| ConfigError::InvalidProxyUrl {
                cluster: name.to_owned(),
                file: file.cloned(),
                url: crate::secret::redact_userinfo(raw),
                source,
            };
            let url = url::Url::parse(raw).map_err(|e| invalid(Some(e)))?;
            if !matches!(url.scheme(), "http" | "https" | "socks5") {
                return Err(invalid(None));
            }
            Some(url)
        }
    };
    Ok(ClusterChecked {
        ca,
        ca_bytes,
        proxy_url,
    })
}

/// Validates the user: client certificate and key, one authentication method,
/// exec plugin fields, auth-provider vs exec, impersonation.
pub(super) fn check_user(s: &Selected, env: &dyn Env) -> Result<UserChecked, ConfigError> {
    let u = &s.user;
    let file = s.user_file.as_ref();
    let name = s.user_name.as_str();
    let kind = EntryKind::User;
    let user_err = || (name.to_owned(), file.cloned());

    let both = |file_field, data_field| ConfigError::FileAndData {
        file: file.cloned(),
        kind,
        entry: name.to_owned(),
        file_field,
        data_field,
    };
    let key_data_set = u.client_key_data.as_ref().is_some_and(|k| !k.is_empty());
    // As in client-go, only a certificate turns on client-certificate auth; a key alone
    // is ignored.
    let has_cert = set(&u.client_certificate) || set(&u.client_certificate_data);
    let has_key = set(&u.client_key) || key_data_set;
    if has_cert && set(&u.client_certificate) && set(&u.client_certificate_data) {
        return Err(both("client-certificate", "client-certificate-data"));
    }
    if has_cert && set(&u.client_key) && key_data_set {
        return Err(both("client-key", "client-key-data"));
    }
    if has_cert && !has_key {
        let (user, file) = user_err();
        return Err(ConfigError::IncompleteClientCertificate {
            user,
            file,
            present: "a client certificate",
            missing: "client-key or client-key-data",
        });
    }
    let client_certificate = if has_cert {
        let cert = match u
            .client_certificate_data
            .as_deref()
            .filter(|d| !d.is_empty())
        {
            Some(data) => {
                PemSource::Data(pem_data(data, kind, name, "client-certificate-data", file)?)
            }
            None => {
                let field = "client-certificate";
                let path = u.client_certificate.as_deref().unwrap_or_default();
                let (host, _) =
                    read_pem_field(env, s.cert_base.as_ref(), file, (kind, name), field, path)?;
                PemSource::File(host)
            }
        };
        let key = match u.client_key_data.as_ref().filter(|k| !k.is_empty()) {
            Some(data) => {
                let field = "client-key-data";
                key_data(pem_data(data.expose_secret(), kind, name, field, file)?)
            }
            None => {
                let field = "client-key";
                let path = u.client_key.as_deref().unwrap_or_default();
                let (host, _) =
                    read_pem_field(env, s.key_base.as_ref(), file, (kind, name), field, path)?;
                KeySource::File(host)
            }
        };
        Some(ClientCertificate { cert, key })
    } else {
        None
    };

    let mut methods = Vec::new();
    let has_token = u.token.as_ref().is_some_and(|t| !t.is_empty());
    // clientcmd counts `token`; client-go's REST config also rejects `tokenFile` with
    // basic auth.
    if has_token || set(&u.token_file) {
        methods.push("token");
    }
    if set(&u.username) || u.password.as_ref().is_some_and(|p| !p.is_empty()) {
        methods.push("basic auth");
    }
    if methods.len() > 1 {
        let (user, file) = user_err();
        return Err(ConfigError::MultipleAuthMethods {
            user,
            file,
            methods,
        });
    }
    if let Some(token_file) = u.token_file.as_deref().filter(|f| !f.is_empty())
        && !has_token
    {
        // client-go reads the token file while building the config.
        read_field(env, file, file, kind, name, "tokenFile", token_file)?;
    }
    if let Some(exec) = &u.exec {
        check_exec(exec, s.user_name.as_str(), file, u.auth_provider.is_some())?;
    }
    if !set(&u.impersonate)
        && (set(&u.impersonate_uid)
            || u.impersonate_groups.as_ref().is_some_and(|g| !g.is_empty())
            || u.impersonate_user_extra
                .as_ref()
                .is_some_and(|e| !e.is_empty()))
    {
        let (user, file) = user_err();
        return Err(ConfigError::ImpersonationWithoutUser { user, file });
    }
    check_headers(s)?;
    Ok(UserChecked { client_certificate })
}

fn check_exec(
    exec: &super::kubeconfig::ExecConfig,
    name: &str,
    file: Option<&PathBuf>,
    has_provider: bool,
) -> Result<(), ConfigError> {
    let user = || name.to_owned();
    if has_provider {
        return Err(ConfigError::AuthProviderWithExec {
            user: user(),
            file: file.cloned(),
        });
    }
    let missing = |field| ConfigError::ExecMissingField {
        user: user(),
        file: file.cloned(),
        field,
    };
    if !set(&exec.command) {
        return Err(missing("command"));
    }
    let api_version = exec.api_version.as_deref().unwrap_or_default();
    match api_version {
        "" => return Err(missing("apiVersion")),
        "client.authentication.k8s.io/v1" | "client.authentication.k8s.io/v1beta1" => {}
        other => {
            return Err(ConfigError::ExecInvalidField {
                user: user(),
                file: file.cloned(),
                field: "apiVersion",
                value: other.to_owned(),
            });
        }
    }
    if exec.env.iter().flatten().any(|v| v.name.is_empty()) {
        return Err(missing("env[].name"));
    }
    match exec.interactive_mode.as_deref().unwrap_or_default() {
        "" if api_version == "client.authentication.k8s.io/v1" => Err(missing("interactiveMode")),
        "" | "Never" | "IfAvailable" | "Always" => Ok(()),
        other => Err(ConfigError::ExecInvalidField {
            user: user(),
            file: file.cloned(),
            field: "interactiveMode",
            value: other.to_owned(),
        }),
    }
}

/// Impersonation values become headers; reject what cannot be sent.
fn check_headers(s: &Selected) -> Result<(), ConfigError> {
    let u = &s.user;
    let bad = |field| ConfigError::InvalidHeaderValue {
        user: s.user_name.clone(),
        field,
    };
    let ok = |v: &str| http::HeaderValue::from_str(v).is_ok();
    if !u.impersonate.as_deref().is_none_or(ok) {
        return Err(bad("as"));
    }
    if !u.impersonate_uid.as_deref().is_none_or(ok) {
        return Err(bad("as-uid"));
    }
    if !u.impersonate_groups.iter().flatten().all(|g| ok(g)) {
        return Err(bad("as-groups"));
    }
    let extra = u.impersonate_user_extra.iter().flatten();
    if !extra.flat_map(|(_, values)| values).all(|v| ok(v)) {
        return Err(bad("as-user-extra"));
    }
    Ok(())
}
