//! [`KubeconfigOptions`]: kubectl's command-line overrides.

use crate::secret::SecretString;
use std::path::PathBuf;
use std::time::Duration;

/// Which kubeconfig to read and kubectl's overrides (`--context`, `--server`, …).
///
/// Every field is optional; unset fields leave the kubeconfig's value alone. The
/// interaction rules are kubectl's: `--token` clears the user's `tokenFile`; `--server`
/// without `--tls-server-name` clears the cluster's `tls-server-name`;
/// `--insecure-skip-tls-verify` or `--certificate-authority` replace the cluster's CA
/// settings and its insecure flag together; `--client-certificate`/`--client-key` replace
/// the inline data of the same kind.
///
/// ```
/// use k8s_client::config::KubeconfigOptions;
/// let mut options = KubeconfigOptions::default();
/// options.context = Some("staging".into());
/// options.namespace = Some("kube-system".into());
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct KubeconfigOptions {
    /// `--kubeconfig`: read only this file (no `KUBECONFIG` merge); it must exist.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    /// `--namespace`.
    pub namespace: Option<String>,
    /// `--server`.
    pub server: Option<String>,
    /// `--tls-server-name`.
    pub tls_server_name: Option<String>,
    /// `--insecure-skip-tls-verify`.
    pub insecure_skip_tls_verify: bool,
    /// `--certificate-authority` (relative to the working directory).
    pub certificate_authority: Option<PathBuf>,
    /// `--client-certificate` (relative to the working directory).
    pub client_certificate: Option<PathBuf>,
    /// `--client-key` (relative to the working directory).
    pub client_key: Option<PathBuf>,
    /// `--token`.
    pub token: Option<SecretString>,
    /// `--username`.
    pub username: Option<String>,
    /// `--password`.
    pub password: Option<SecretString>,
    /// `--as`.
    pub impersonate: Option<String>,
    /// `--as-uid`.
    pub impersonate_uid: Option<String>,
    /// `--as-group` (repeatable); non-empty replaces the user's `as-groups`.
    pub impersonate_groups: Vec<String>,
    /// `--as-user-extra key=value` (repeatable); non-empty replaces the user's `as-user-extra`.
    pub impersonate_extra: Vec<(String, Vec<String>)>,
    /// `--proxy-url`.
    pub proxy_url: Option<String>,
    /// `--disable-compression`.
    pub disable_compression: bool,
    /// `--request-timeout` (zero means no timeout).
    pub request_timeout: Option<Duration>,
}
