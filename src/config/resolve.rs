//! Resolution: pick a context, apply [`KubeconfigOptions`], validate, and build a
//! [`Config`] (clientcmd's `DirectClientConfig`).

use super::env::Env;
use super::error::{ConfigError, EntryKind};
use super::kubeconfig::{AuthInfo, Cluster, Kubeconfig};
use super::loader::decode_base64;
use super::namespace::{NamespaceOrigin, check_namespace};
use super::options::KubeconfigOptions;
use super::resolved::*;
use super::validate::{check_cluster, check_user};
use crate::secret::{SecretBytes, SecretString, redact_userinfo};
use std::path::{Path, PathBuf};

/// The exec extension name passed to plugins as `spec.cluster.config`.
const EXEC_EXTENSION: &str = "client.authentication.k8s.io/exec";

/// The chosen entries after overrides, with the files they came from.
pub(super) struct Selected {
    pub context: Option<String>,
    pub cluster_name: String,
    pub cluster: Cluster,
    pub cluster_file: Option<PathBuf>,
    pub user_name: String,
    pub user: AuthInfo,
    pub user_file: Option<PathBuf>,
    pub namespace: Option<String>,
    /// The file relative `certificate-authority`, `client-certificate` and `client-key`
    /// paths resolve against: the entry's file, or none for a command-line override
    /// (relative to the working directory, as in kubectl).
    pub ca_base: Option<PathBuf>,
    /// See `ca_base`.
    pub cert_base: Option<PathBuf>,
    /// See `ca_base`.
    pub key_base: Option<PathBuf>,
}

/// Makes `path` absolute against the directory of the kubeconfig that defined it.
pub(super) fn resolve_path(origin: Option<&Path>, path: &str) -> PathBuf {
    let path = Path::new(path);
    match origin.and_then(Path::parent) {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// Picks the context, cluster and user, and applies the overrides with kubectl's rules.
pub(super) fn select(kc: &Kubeconfig, o: &KubeconfigOptions) -> Result<Selected, ConfigError> {
    let context_name = non_empty(&o.context).or(kc.current_context());
    let context = match context_name {
        Some(name) => Some(
            kc.context(name)
                .ok_or_else(|| ConfigError::ContextNotFound {
                    name: name.to_owned(),
                })?,
        ),
        None => None,
    };
    let ctx = context.map(|c| &c.context);

    let cluster_name = non_empty(&o.cluster)
        .or_else(|| ctx.and_then(|c| non_empty(&c.cluster)))
        .unwrap_or_default()
        .to_owned();
    let (mut cluster, cluster_file) = match kc.cluster(&cluster_name) {
        Some(entry) => (entry.cluster.clone(), entry.origin.clone()),
        None if non_empty(&o.server).is_some() => (Cluster::default(), None),
        None if cluster_name.is_empty() => return Err(ConfigError::NoConfiguration),
        None => return Err(ConfigError::ClusterNotFound { name: cluster_name }),
    };

    let user_name = non_empty(&o.user)
        .or_else(|| ctx.and_then(|c| non_empty(&c.user)))
        .unwrap_or_default()
        .to_owned();
    let (mut user, user_file) = match kc.user(&user_name) {
        Some(entry) => (entry.user.clone(), entry.origin.clone()),
        // kubectl: a user named only by the context and not defined means anonymous.
        None if non_empty(&o.user).is_none() => (AuthInfo::default(), None),
        None => return Err(ConfigError::UserNotFound { name: user_name }),
    };

    override_cluster(&mut cluster, o);
    override_user(&mut user, o);
    let namespace = match (non_empty(&o.namespace), context) {
        (Some(ns), _) => Some(check_namespace(ns.to_owned(), NamespaceOrigin::Override)?),
        (None, Some(c)) => match non_empty(&c.context.namespace) {
            Some(ns) => Some(check_namespace(
                ns.to_owned(),
                NamespaceOrigin::Context {
                    context: c.name.clone(),
                    file: c.origin.clone(),
                },
            )?),
            None => None,
        },
        (None, None) => None,
    };
    let base =
        |overridden: bool, file: &Option<PathBuf>| (!overridden).then(|| file.clone()).flatten();
    Ok(Selected {
        ca_base: base(o.certificate_authority.is_some(), &cluster_file),
        cert_base: base(o.client_certificate.is_some(), &user_file),
        key_base: base(o.client_key.is_some(), &user_file),
        context: context.map(|c| c.name.clone()),
        cluster_name,
        cluster,
        cluster_file,
        user_name,
        user,
        user_file,
        namespace,
    })
}

fn override_cluster(cluster: &mut Cluster, o: &KubeconfigOptions) {
    if let Some(server) = non_empty(&o.server) {
        cluster.server = Some(server.to_owned());
    }
    // --server without --tls-server-name clears the file's tls-server-name.
    if non_empty(&o.tls_server_name).is_some() || non_empty(&o.server).is_some() {
        cluster.tls_server_name = non_empty(&o.tls_server_name).map(str::to_owned);
    }
    // --insecure-skip-tls-verify or --certificate-authority replace all three together.
    if o.insecure_skip_tls_verify || o.certificate_authority.is_some() {
        cluster.insecure_skip_tls_verify = Some(o.insecure_skip_tls_verify);
        cluster.certificate_authority = o
            .certificate_authority
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        cluster.certificate_authority_data = None;
    }
    if let Some(proxy) = non_empty(&o.proxy_url) {
        cluster.proxy_url = Some(proxy.to_owned());
    }
    if o.disable_compression {
        cluster.disable_compression = Some(true);
    }
}

fn override_user(user: &mut AuthInfo, o: &KubeconfigOptions) {
    if let Some(token) = o.token.as_ref().filter(|t| !t.is_empty()) {
        user.token = Some(token.clone());
        user.token_file = None;
    }
    if let Some(cert) = &o.client_certificate {
        user.client_certificate = Some(cert.to_string_lossy().into_owned());
        user.client_certificate_data = None;
    }
    if let Some(key) = &o.client_key {
        user.client_key = Some(key.to_string_lossy().into_owned());
        user.client_key_data = None;
    }
    if let Some(username) = non_empty(&o.username) {
        user.username = Some(username.to_owned());
    }
    if let Some(password) = o.password.as_ref().filter(|p| !p.is_empty()) {
        user.password = Some(password.clone());
    }
    if let Some(name) = non_empty(&o.impersonate) {
        user.impersonate = Some(name.to_owned());
    }
    if let Some(uid) = non_empty(&o.impersonate_uid) {
        user.impersonate_uid = Some(uid.to_owned());
    }
    if !o.impersonate_groups.is_empty() {
        user.impersonate_groups = Some(o.impersonate_groups.clone());
    }
    if !o.impersonate_extra.is_empty() {
        user.impersonate_user_extra = Some(o.impersonate_extra.iter().cloned().collect());
    }
}

/// Builds the resolved [`Config`] from a kubeconfig and options.
pub(super) fn resolve(
    kc: &Kubeconfig,
    o: &KubeconfigOptions,
    env: &dyn Env,
) -> Result<Config, ConfigError> {
    let s = select(kc, o)?;
    let cluster_ctx = check_cluster(&s, env)?;
    let user_ctx = check_user(&s, env)?;

    let server = s.cluster.server.clone().unwrap_or_default();
    let mut config = Config::new(parse_server(&server)?);
    config.default_namespace = s.namespace.clone().unwrap_or_else(|| "default".to_owned());
    config.tls = TlsConfig {
        ca: cluster_ctx.ca.clone(),
        insecure_skip_tls_verify: s.cluster.insecure_skip_tls_verify.unwrap_or(false),
        tls_server_name: non_empty(&s.cluster.tls_server_name).map(str::to_owned),
        client_certificate: user_ctx.client_certificate.clone(),
    };
    config.proxy_url = cluster_ctx.proxy_url.clone();
    config.disable_compression = s.cluster.disable_compression.unwrap_or(false);
    config.timeout = o.request_timeout.filter(|t| !t.is_zero());
    config.impersonate = impersonation(&s.user);
    config.auth = auth(&s, env, &cluster_ctx, user_ctx.client_certificate.is_some());
    config.origin = ConfigOrigin {
        context: s.context.clone(),
        cluster: Some(s.cluster_name.clone()).filter(|n| !n.is_empty()),
        user: Some(s.user_name.clone()).filter(|n| !n.is_empty()),
        user_file: s.user_file.as_deref().map(|f| env.host_path(f)),
        in_cluster: false,
    };
    Ok(config)
}

/// Parses `server`; a value without a scheme gets `https://`, like client-go.
pub(super) fn parse_server(server: &str) -> Result<url::Url, ConfigError> {
    let with_scheme = if server.contains("://") {
        server.to_owned()
    } else {
        format!("https://{server}")
    };
    url::Url::parse(&with_scheme).map_err(|source| ConfigError::InvalidServer {
        server: redact_userinfo(server),
        source,
    })
}

/// What validating the cluster produced.
pub(super) struct ClusterChecked {
    pub ca: Option<PemSource>,
    pub ca_bytes: Option<Vec<u8>>,
    pub proxy_url: Option<url::Url>,
}

/// What validating the user produced.
pub(super) struct UserChecked {
    pub client_certificate: Option<ClientCertificate>,
}

fn impersonation(user: &AuthInfo) -> Option<Impersonation> {
    let name = non_empty(&user.impersonate)?;
    Some(Impersonation {
        user: Some(name.to_owned()),
        uid: non_empty(&user.impersonate_uid).map(str::to_owned),
        groups: user.impersonate_groups.clone().unwrap_or_default(),
        extra: user
            .impersonate_user_extra
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    })
}

/// client-go's precedence: token (file), basic auth; an exec plugin only without a
/// client certificate; then an auth provider.
fn auth(s: &Selected, env: &dyn Env, cluster: &ClusterChecked, has_cert: bool) -> AuthConfig {
    let user = &s.user;
    if let Some(file) = non_empty(&user.token_file) {
        return AuthConfig::TokenFile(env.host_path(&resolve_path(s.user_file.as_deref(), file)));
    }
    if let Some(token) = user.token.as_ref().filter(|t| !t.is_empty()) {
        return AuthConfig::Token(token.clone());
    }
    let has_password = user.password.as_ref().is_some_and(|p| !p.is_empty());
    if non_empty(&user.username).is_some() || has_password {
        return AuthConfig::Basic {
            username: user.username.clone().unwrap_or_default(),
            password: user
                .password
                .clone()
                .unwrap_or_else(|| SecretString::new("")),
        };
    }
    if let Some(exec) = &user.exec
        && !has_cert
    {
        return AuthConfig::Exec(exec_config(s, exec, env, cluster));
    }
    if let Some(provider) = &user.auth_provider {
        return AuthConfig::AuthProvider(AuthProviderConfig {
            name: provider.name.clone(),
            config: provider
                .config
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            origin_file: s.user_file.as_deref().map(|f| env.host_path(f)),
            user_name: Some(s.user_name.clone()),
        });
    }
    AuthConfig::None
}

fn exec_config(
    s: &Selected,
    exec: &super::kubeconfig::ExecConfig,
    env: &dyn Env,
    cluster: &ClusterChecked,
) -> ExecConfig {
    let command = exec.command.clone().unwrap_or_default();
    let has_separator = command.contains('/') || (cfg!(windows) && command.contains('\\'));
    let command = if has_separator && Path::new(&command).is_relative() {
        let resolved = resolve_path(s.user_file.as_deref(), &command);
        env.host_path(&resolved).to_string_lossy().into_owned()
    } else {
        command
    };
    let api_version = exec.api_version.clone().unwrap_or_default();
    let interactive_mode = match exec.interactive_mode.as_deref() {
        Some("Never") => Some(ExecInteractiveMode::Never),
        Some("Always") => Some(ExecInteractiveMode::Always),
        Some("IfAvailable") => Some(ExecInteractiveMode::IfAvailable),
        // Validation only lets an empty mode through for v1beta1, which defaults it.
        _ => Some(ExecInteractiveMode::IfAvailable),
    };
    let provide_cluster_info = exec.provide_cluster_info.unwrap_or(false);
    let c = &s.cluster;
    let info = ExecClusterInfo {
        server: c.server.clone().unwrap_or_default(),
        tls_server_name: non_empty(&c.tls_server_name).map(str::to_owned),
        insecure_skip_tls_verify: c.insecure_skip_tls_verify.unwrap_or(false),
        certificate_authority_data: cluster.ca_bytes.clone(),
        proxy_url: non_empty(&c.proxy_url).map(str::to_owned),
        disable_compression: c.disable_compression.unwrap_or(false),
        config: c
            .extensions
            .iter()
            .find(|e| e.name == EXEC_EXTENSION)
            .map(|e| e.extension.clone()),
    };
    ExecConfig {
        api_version,
        command,
        args: exec.args.clone().unwrap_or_default(),
        env: exec
            .env
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.name, v.value))
            .collect(),
        interactive_mode,
        install_hint: non_empty(&exec.install_hint).map(str::to_owned),
        provide_cluster_info,
        cluster: provide_cluster_info.then_some(info),
    }
}

/// Decodes inline PEM data and checks it holds PEM blocks.
pub(super) fn pem_data(
    data: &str,
    kind: EntryKind,
    entry: &str,
    field: &'static str,
    file: Option<&PathBuf>,
) -> Result<Vec<u8>, ConfigError> {
    let bytes = decode_base64(data).map_err(|source| ConfigError::InvalidBase64 {
        file: file.cloned(),
        kind,
        entry: entry.to_owned(),
        field,
        source,
    })?;
    check_pem(&bytes, kind, entry, field, file)?;
    Ok(bytes)
}

/// Checks that `bytes` hold at least one PEM block.
pub(super) fn check_pem(
    bytes: &[u8],
    kind: EntryKind,
    entry: &str,
    field: &'static str,
    file: Option<&PathBuf>,
) -> Result<(), ConfigError> {
    let invalid = |source| ConfigError::InvalidPem {
        file: file.cloned(),
        kind,
        entry: entry.to_owned(),
        field,
        source,
    };
    match pem::parse_many(bytes) {
        Ok(blocks) if !blocks.is_empty() => Ok(()),
        Ok(_) => Err(invalid(None)),
        Err(e) => Err(invalid(Some(e))),
    }
}

/// Key data as a secret.
pub(super) fn key_data(bytes: Vec<u8>) -> KeySource {
    KeySource::Data(SecretBytes::new(bytes))
}
