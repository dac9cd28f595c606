//! In-cluster configuration from the service-account files and `KUBERNETES_SERVICE_*`.

use super::env::Env;
use super::error::ConfigError;
use super::namespace::{NamespaceOrigin, check_namespace};
use super::resolved::{AuthConfig, Config, ConfigOrigin, PemSource};
use std::path::{Path, PathBuf};

/// The directory holding `token`, `ca.crt` and `namespace` in a pod.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The API server's host, set by the kubelet.
pub const SERVICE_HOST_ENV: &str = "KUBERNETES_SERVICE_HOST";
/// The API server's port, set by the kubelet.
pub const SERVICE_PORT_ENV: &str = "KUBERNETES_SERVICE_PORT";
/// Overrides the namespace file.
pub const POD_NAMESPACE_ENV: &str = "POD_NAMESPACE";

fn required_var(env: &dyn Env, name: &'static str) -> Result<String, ConfigError> {
    env.var(name)
        .map(|v| v.to_string_lossy().into_owned())
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::MissingEnv { name })
}

/// `POD_NAMESPACE`, else the service-account `namespace` file, else `default`; a value
/// that is not a namespace name is an error naming the variable or file.
fn incluster_namespace(env: &dyn Env, dir: &Path) -> Result<String, ConfigError> {
    if let Some(value) = env.var(POD_NAMESPACE_ENV) {
        let value = value.to_string_lossy().trim().to_owned();
        if !value.is_empty() {
            return check_namespace(
                value,
                NamespaceOrigin::EnvVar {
                    name: POD_NAMESPACE_ENV,
                },
            );
        }
    }
    let file = dir.join("namespace");
    // A missing or unreadable file means `default`, as in client-go.
    let Ok(bytes) = env.read(&file) else {
        return Ok("default".to_owned());
    };
    let value = String::from_utf8_lossy(&bytes).trim().to_owned();
    if value.is_empty() {
        return Ok("default".to_owned());
    }
    check_namespace(
        value,
        NamespaceOrigin::File {
            path: env.host_path(&file),
        },
    )
}

/// Builds the in-cluster [`Config`] from `env` (see [`Config::incluster`]).
pub(super) fn incluster(env: &dyn Env) -> Result<Config, ConfigError> {
    let host = required_var(env, SERVICE_HOST_ENV)?;
    let port = required_var(env, SERVICE_PORT_ENV)?;
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    let server = format!("https://{host}:{port}");
    let cluster_url = url::Url::parse(&server).map_err(|source| ConfigError::InvalidServer {
        server: crate::secret::redact_userinfo(&server),
        source,
    })?;

    let dir = Path::new(SERVICE_ACCOUNT_DIR);
    let token: PathBuf = dir.join("token");
    // client-go reads the token once while building the config; a missing token is an error.
    env.read(&token)
        .map_err(|source| ConfigError::ReadInClusterFile {
            path: env.host_path(&token),
            source,
        })?;

    let ca_path = dir.join("ca.crt");
    let ca = match env.read(&ca_path) {
        Ok(bytes) if pem::parse_many(&bytes).is_ok_and(|b| !b.is_empty()) => {
            Some(PemSource::File(env.host_path(&ca_path)))
        }
        Ok(_) => {
            tracing::warn!(path = %ca_path.display(), "in-cluster CA file holds no PEM certificate; using the system roots");
            None
        }
        Err(error) => {
            tracing::warn!(path = %ca_path.display(), %error, "in-cluster CA file is unreadable; using the system roots");
            None
        }
    };

    let namespace = incluster_namespace(env, dir)?;

    let mut config = Config::new(cluster_url);
    config.default_namespace = namespace;
    config.tls.ca = ca;
    config.auth = AuthConfig::TokenFile(env.host_path(&token));
    config.origin = ConfigOrigin {
        in_cluster: true,
        ..ConfigOrigin::default()
    };
    Ok(config)
}
