//! The resolved [`Config`]: everything a [`Client`](crate::Client) needs, after a
//! kubeconfig context (or the in-cluster files) has been picked, overridden and validated.
//!
//! This is the boundary between `config` (files, environment) and the rest of the
//! crate: the transport and the auth providers read only these types.

use crate::secret::{SecretBytes, SecretString};
use std::path::PathBuf;
use std::time::Duration;

/// A resolved client configuration.
///
/// Build one with [`Config::infer`], [`Config::from_kubeconfig`], [`Config::incluster`],
/// or by hand with [`Config::new`] and the public fields.
///
/// ```
/// use k8s_client::Config;
/// let mut config = Config::new("https://127.0.0.1:6443".parse().unwrap());
/// config.default_namespace = "kube-system".into();
/// assert_eq!(config.cluster_url.host_str(), Some("127.0.0.1"));
/// ```
///
/// `Debug` shows the cluster and proxy URLs without user info and the extra headers by
/// name only: any of them may carry a credential.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// The API server's base URL (`clusters[].cluster.server`), e.g. `https://10.0.0.1:6443`.
    pub cluster_url: url::Url,
    /// The namespace used by `Api::default_namespaced` (the context's namespace, else `default`).
    pub default_namespace: String,
    /// How the server is verified and which client certificate is offered.
    pub tls: TlsConfig,
    /// How requests are authenticated (besides a TLS client certificate).
    pub auth: AuthConfig,
    /// `proxy-url` of the cluster; `None` means: take `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`
    /// from the environment.
    pub proxy_url: Option<url::Url>,
    /// `as`, `as-uid`, `as-groups`, `as-user-extra` of the user entry, or overrides.
    pub impersonate: Option<Impersonation>,
    /// Request timeout (`--request-timeout`): bounds a whole request and is sent as `?timeout=`.
    pub timeout: Option<Duration>,
    /// Bound on establishing a connection.
    pub connect_timeout: Option<Duration>,
    /// Bound on the wait for each read from the connection.
    pub read_timeout: Option<Duration>,
    /// `disable-compression` of the cluster entry: never ask for gzip.
    pub disable_compression: bool,
    /// Extra headers sent with every request.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// A User-Agent to send instead of the default client-go style one.
    pub user_agent: Option<String>,
    /// Where this config came from (file, context, cluster, user names), for messages.
    pub origin: ConfigOrigin,
}

impl Config {
    /// A config for `cluster_url` with no TLS settings beyond the system roots, no auth,
    /// namespace `default`, and no timeouts.
    pub fn new(cluster_url: url::Url) -> Self {
        Self {
            cluster_url,
            default_namespace: "default".to_owned(),
            tls: TlsConfig::default(),
            auth: AuthConfig::None,
            proxy_url: None,
            impersonate: None,
            timeout: None,
            connect_timeout: None,
            read_timeout: None,
            disable_compression: false,
            headers: Vec::new(),
            user_agent: None,
            origin: ConfigOrigin::default(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::secret::url_for_display;
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Config")
            .field("cluster_url", &url_for_display(&self.cluster_url))
            .field("default_namespace", &self.default_namespace)
            .field("tls", &self.tls)
            .field("auth", &self.auth)
            .field("proxy_url", &self.proxy_url.as_ref().map(url_for_display))
            .field("impersonate", &self.impersonate)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("disable_compression", &self.disable_compression)
            .field("headers", &header_names)
            .field("user_agent", &self.user_agent)
            .field("origin", &self.origin)
            .finish()
    }
}

/// Which kubeconfig entries (or in-cluster source) a [`Config`] was resolved from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigOrigin {
    /// The context's name, if from a kubeconfig.
    pub context: Option<String>,
    /// The cluster entry's name.
    pub cluster: Option<String>,
    /// The user entry's name.
    pub user: Option<String>,
    /// The file that defined the user entry (where refreshed OIDC tokens are written back).
    pub user_file: Option<PathBuf>,
    /// True when built from the in-cluster service-account files.
    pub in_cluster: bool,
}

/// PEM bytes that come either inline (`*-data`) or from a file that is re-read when it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PemSource {
    /// Inline PEM (already base64-decoded from `*-data`).
    Data(Vec<u8>),
    /// A PEM file, read when the client is built and re-read when its mtime changes.
    File(PathBuf),
}

/// A private key that comes inline or from a file. Inline key bytes are secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// Inline PEM key (already base64-decoded from `client-key-data`).
    Data(SecretBytes),
    /// A PEM key file.
    File(PathBuf),
}

/// A TLS client certificate and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The certificate chain (PEM).
    pub cert: PemSource,
    /// The private key (PEM: PKCS#1, PKCS#8 or SEC1).
    pub key: KeySource,
}

/// TLS settings of a [`Config`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsConfig {
    /// The CA bundle that verifies the server; `None` means the system roots.
    pub ca: Option<PemSource>,
    /// `insecure-skip-tls-verify`: do not verify the server at all (logged as a warning).
    pub insecure_skip_tls_verify: bool,
    /// `tls-server-name`: the name the server certificate is verified against, and sent as SNI.
    pub tls_server_name: Option<String>,
    /// The client certificate offered to the server.
    pub client_certificate: Option<ClientCertificate>,
}

/// How a request is authenticated (a client certificate lives in [`TlsConfig`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthConfig {
    /// No authentication header (possibly a client certificate only).
    #[default]
    None,
    /// A static bearer token (`token`, `--token`).
    Token(SecretString),
    /// A bearer token read from a file, re-read about once a minute and after a 401
    /// (`tokenFile`, the in-cluster service-account token).
    TokenFile(PathBuf),
    /// HTTP basic auth (`username`/`password`).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// A `client.authentication.k8s.io` exec plugin.
    Exec(ExecConfig),
    /// An `auth-provider` entry (`oidc`; `gcp`/`azure` give kubectl's removal errors).
    AuthProvider(AuthProviderConfig),
}

/// An exec credential plugin, resolved (command path made absolute when relative).
///
/// `Debug` shows the number of arguments, not their values (plugins such as
/// `kubelogin get-token --oidc-client-secret=…` take secrets as arguments), and the
/// names of the environment variables, not their values.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecConfig {
    /// `client.authentication.k8s.io/v1` or `/v1beta1`.
    pub api_version: String,
    /// The command to run.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables; the values are secret.
    pub env: Vec<(String, SecretString)>,
    /// `Never`, `IfAvailable` or `Always`; `None` only for v1beta1 (which defaults to `IfAvailable`).
    pub interactive_mode: Option<ExecInteractiveMode>,
    /// Shown when the command cannot be found.
    pub install_hint: Option<String>,
    /// Whether `spec.cluster` is passed in `KUBERNETES_EXEC_INFO`.
    pub provide_cluster_info: bool,
    /// The cluster information passed when `provide_cluster_info` is set.
    pub cluster: Option<ExecClusterInfo>,
}

impl std::fmt::Debug for ExecConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecConfig")
            .field("api_version", &self.api_version)
            .field("command", &self.command)
            .field("args", &format_args!("<{} redacted>", self.args.len()))
            .field(
                "env",
                &self.env.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .field("interactive_mode", &self.interactive_mode)
            .field("install_hint", &self.install_hint)
            .field("provide_cluster_info", &self.provide_cluster_info)
            .field("cluster", &self.cluster)
            .finish()
    }
}

impl ExecConfig {
    /// An exec plugin running `command` with no arguments, no extra environment, no
    /// `interactiveMode` (v1beta1's default), no install hint and no cluster info.
    pub fn new(api_version: impl Into<String>, command: impl Into<String>) -> Self {
        Self {
            api_version: api_version.into(),
            command: command.into(),
            args: Vec::new(),
            env: Vec::new(),
            interactive_mode: None,
            install_hint: None,
            provide_cluster_info: false,
            cluster: None,
        }
    }
}

/// `interactiveMode` of an exec plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecInteractiveMode {
    /// Never give the plugin a terminal.
    Never,
    /// Give it stdin when one is a terminal.
    IfAvailable,
    /// Require a terminal.
    Always,
}

/// `spec.cluster` of `KUBERNETES_EXEC_INFO`.
///
/// `Debug` shows `server` and `proxy_url` without user name and password.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecClusterInfo {
    /// `server`.
    pub server: String,
    /// `tls-server-name`.
    pub tls_server_name: Option<String>,
    /// `insecure-skip-tls-verify`.
    pub insecure_skip_tls_verify: bool,
    /// `certificate-authority-data` (the file's contents when a file was given).
    pub certificate_authority_data: Option<Vec<u8>>,
    /// `proxy-url`.
    pub proxy_url: Option<String>,
    /// `disable-compression`.
    pub disable_compression: bool,
    /// The cluster's `client.authentication.k8s.io/exec` extension, passed as `config`.
    pub config: Option<serde_json::Value>,
}

impl std::fmt::Debug for ExecClusterInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::secret::redact_userinfo;
        f.debug_struct("ExecClusterInfo")
            .field("server", &redact_userinfo(&self.server))
            .field("tls_server_name", &self.tls_server_name)
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field(
                "certificate_authority_data",
                &self
                    .certificate_authority_data
                    .as_ref()
                    .map(|d| format!("<{} bytes>", d.len())),
            )
            .field("proxy_url", &self.proxy_url.as_deref().map(redact_userinfo))
            .field("disable_compression", &self.disable_compression)
            .field("config", &self.config)
            .finish()
    }
}

/// An `auth-provider` user entry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthProviderConfig {
    /// The provider's name (`oidc`, `gcp`, `azure`, …).
    pub name: String,
    /// Its `config` map; every value is treated as secret.
    pub config: Vec<(String, SecretString)>,
    /// The kubeconfig file of the user entry (refreshed tokens are written back there).
    pub origin_file: Option<PathBuf>,
    /// The user entry's name in that file.
    pub user_name: Option<String>,
}

impl AuthProviderConfig {
    /// An `auth-provider` entry named `name` with an empty config, not tied to a file.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            config: Vec::new(),
            origin_file: None,
            user_name: None,
        }
    }
}

/// Impersonation headers sent with every request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Impersonation {
    /// `Impersonate-User`.
    pub user: Option<String>,
    /// `Impersonate-Uid`.
    pub uid: Option<String>,
    /// `Impersonate-Group`, one header each.
    pub groups: Vec<String>,
    /// `Impersonate-Extra-<key>`, one header per value.
    pub extra: Vec<(String, Vec<String>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_url_credentials_and_header_values() {
        let mut config = Config::new(
            "https://admin:cluster-pw@10.0.0.1:6443/k8s"
                .parse()
                .unwrap(),
        );
        config.proxy_url = Some("http://proxy-user:proxy-pw@proxy:3128".parse().unwrap());
        config.headers.push((
            http::HeaderName::from_static("x-api-key"),
            http::HeaderValue::from_static("header-secret"),
        ));
        let shown = format!("{config:?}\n{config:#?}");
        for secret in [
            "cluster-pw",
            "proxy-pw",
            "header-secret",
            "admin",
            "proxy-user",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        for shown_part in [
            "https://10.0.0.1:6443/k8s",
            "http://proxy:3128",
            "x-api-key",
        ] {
            assert!(
                shown.contains(shown_part),
                "{shown_part} missing in {shown}"
            );
        }
    }
}
