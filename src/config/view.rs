//! `kubectl config view`: the merged (or minified, flattened) kubeconfig as kubectl
//! prints it.

use super::env::{Env, SystemEnv};
use super::error::{ConfigError, EntryKind};
use super::kubeconfig::{
    AuthInfo, Cluster, Context, ExecConfig, Kubeconfig, NamedExtension, Preferences,
};
use super::loader::{decode_base64, kubeconfig_paths};
use super::resolve::resolve_path;
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// `-o`: the output format of [`view`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutputFormat {
    /// YAML (the default).
    #[default]
    Yaml,
    /// JSON, indented like kubectl's.
    Json,
}

/// The flags of `kubectl config view`.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ViewOptions {
    /// `--minify`: keep only the current context (or `context`) and its cluster and user.
    pub minify: bool,
    /// `--flatten`: inline referenced files as `*-data` and show secrets.
    pub flatten: bool,
    /// `--raw`: show secrets and data unredacted.
    pub raw: bool,
    /// `--context`: the context `--minify` keeps.
    pub context: Option<String>,
    /// `-o`.
    pub output: OutputFormat,
}

const REDACTED: &str = "REDACTED";
const OMITTED: &str = "DATA+OMITTED";

/// Loads the kubeconfig as `kubectl config view` does: the explicit file (an empty config
/// when it does not exist), else `KUBECONFIG` or `~/.kube/config`, merged.
pub fn load_for_view(env: &dyn Env, explicit: Option<&Path>) -> Result<Kubeconfig, ConfigError> {
    match explicit {
        Some(path) => Kubeconfig::read_paths(env, &[path.to_path_buf()]),
        None => Kubeconfig::read_paths(env, &kubeconfig_paths(env)),
    }
}

/// Renders `kubeconfig` like `kubectl config view` with `options`, reading referenced
/// files (for `--flatten`) from the real filesystem.
///
/// ```
/// use k8s_client::config::{Kubeconfig, ViewOptions, view};
/// let kc = Kubeconfig::from_yaml("users: [{name: u, user: {token: s3cr3t}}]")?;
/// let text = view(&kc, &ViewOptions::default())?;
/// assert!(text.contains("token: REDACTED"));
/// # Ok::<(), k8s_client::config::ConfigError>(())
/// ```
pub fn view(kubeconfig: &Kubeconfig, options: &ViewOptions) -> Result<String, ConfigError> {
    view_with(kubeconfig, options, &SystemEnv)
}

/// [`view`] with an injected environment.
pub fn view_with(
    kubeconfig: &Kubeconfig,
    options: &ViewOptions,
    env: &dyn Env,
) -> Result<String, ConfigError> {
    let document = view_document(kubeconfig, options, env)?;
    match options.output {
        OutputFormat::Yaml => serde_yaml_ng::to_string(&document).map_err(ConfigError::RenderYaml),
        OutputFormat::Json => {
            let mut out = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
            serde::Serialize::serialize(&document, &mut ser).map_err(ConfigError::RenderJson)?;
            out.push(b'\n');
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
    }
}

/// The document `kubectl config view` prints, as a JSON value (kubectl's `v1` shape:
/// entries sorted by name, unknown fields dropped, required fields always present).
pub fn view_document(
    kubeconfig: &Kubeconfig,
    options: &ViewOptions,
    env: &dyn Env,
) -> Result<Value, ConfigError> {
    let mut kc = kubeconfig.clone();
    if options.minify {
        if let Some(context) = options.context.as_deref().filter(|c| !c.is_empty()) {
            kc.current_context = Some(context.to_owned());
        }
        minify(&mut kc)?;
    }
    if options.flatten {
        flatten(&mut kc, env)?;
    }
    let redact = !options.flatten && !options.raw;
    Ok(render(&kc, redact))
}

/// kubectl's `MinifyConfig`.
fn minify(kc: &mut Kubeconfig) -> Result<(), ConfigError> {
    let name = kc
        .current_context()
        .ok_or(ConfigError::MinifyWithoutContext)?
        .to_owned();
    let context = kc
        .context(&name)
        .cloned()
        .ok_or_else(|| ConfigError::ContextNotFound { name: name.clone() })?;
    let cluster_name = context.context.cluster.clone().unwrap_or_default();
    let user_name = context.context.user.clone().unwrap_or_default();
    if !cluster_name.is_empty() && kc.cluster(&cluster_name).is_none() {
        return Err(ConfigError::ClusterNotFound { name: cluster_name });
    }
    if !user_name.is_empty() && kc.user(&user_name).is_none() {
        return Err(ConfigError::UserNotFound { name: user_name });
    }
    kc.clusters
        .retain(|c| !cluster_name.is_empty() && c.name == cluster_name);
    kc.users
        .retain(|u| !user_name.is_empty() && u.name == user_name);
    kc.contexts.retain(|c| c.name == name);
    Ok(())
}

/// kubectl's `FlattenConfig`: read referenced files (relative to the entry's file) into
/// the `*-data` fields.
fn flatten(kc: &mut Kubeconfig, env: &dyn Env) -> Result<(), ConfigError> {
    for c in &mut kc.clusters {
        let place = Place {
            env,
            origin: c.origin.clone(),
            kind: EntryKind::Cluster,
            entry: &c.name,
        };
        let cl = &mut c.cluster;
        let fields = ("certificate-authority", "certificate-authority-data");
        if let Some(data) = place.inline(
            &mut cl.certificate_authority,
            cl.certificate_authority_data.is_some(),
            fields,
        )? {
            cl.certificate_authority_data = Some(data);
        }
    }
    for u in &mut kc.users {
        let place = Place {
            env,
            origin: u.origin.clone(),
            kind: EntryKind::User,
            entry: &u.name,
        };
        let us = &mut u.user;
        let fields = ("client-certificate", "client-certificate-data");
        if let Some(data) = place.inline(
            &mut us.client_certificate,
            us.client_certificate_data.is_some(),
            fields,
        )? {
            us.client_certificate_data = Some(data);
        }
        let fields = ("client-key", "client-key-data");
        if let Some(data) =
            place.inline(&mut us.client_key, us.client_key_data.is_some(), fields)?
        {
            us.client_key_data = Some(data.into());
        }
    }
    Ok(())
}

struct Place<'a> {
    env: &'a dyn Env,
    origin: Option<PathBuf>,
    kind: EntryKind,
    entry: &'a str,
}

impl Place<'_> {
    /// Reads the file named by `path` (and clears it), returning its base64 contents.
    fn inline(
        &self,
        path: &mut Option<String>,
        has_data: bool,
        (file_field, data_field): (&'static str, &'static str),
    ) -> Result<Option<String>, ConfigError> {
        let Some(p) = path.take().filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        if has_data {
            return Err(ConfigError::FileAndData {
                file: self.origin.clone(),
                kind: self.kind,
                entry: self.entry.to_owned(),
                file_field,
                data_field,
            });
        }
        let resolved = resolve_path(self.origin.as_deref(), &p);
        let bytes = self
            .env
            .read(&resolved)
            .map_err(|source| ConfigError::ReadReferencedFile {
                file: self.origin.clone(),
                kind: self.kind,
                entry: self.entry.to_owned(),
                field: file_field,
                path: resolved.clone(),
                source,
            })?;
        Ok(Some(
            base64::engine::general_purpose::STANDARD.encode(bytes),
        ))
    }
}

fn render(kc: &Kubeconfig, redact: bool) -> Value {
    let named = |mut items: Vec<(String, &str, Value)>| -> Value {
        if items.is_empty() {
            return Value::Null;
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        Value::Array(
            items
                .into_iter()
                .map(|(name, key, v)| json!({"name": name, key: v}))
                .collect(),
        )
    };
    let clusters = kc
        .clusters
        .iter()
        .map(|c| (c.name.clone(), "cluster", cluster(&c.cluster, redact)));
    let users = kc
        .users
        .iter()
        .map(|u| (u.name.clone(), "user", user(&u.user, redact)));
    let contexts = kc
        .contexts
        .iter()
        .map(|c| (c.name.clone(), "context", context(&c.context)));
    let mut doc = Map::new();
    doc.insert("kind".into(), "Config".into());
    doc.insert("apiVersion".into(), "v1".into());
    doc.insert("preferences".into(), preferences(kc.preferences.as_ref()));
    doc.insert("clusters".into(), named(clusters.collect()));
    doc.insert("users".into(), named(users.collect()));
    doc.insert("contexts".into(), named(contexts.collect()));
    doc.insert(
        "current-context".into(),
        kc.current_context.clone().unwrap_or_default().into(),
    );
    put_extensions(&mut doc, &kc.extensions);
    Value::Object(doc)
}

fn put_str(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        map.insert(key.to_owned(), v.into());
    }
}

fn put_true(map: &mut Map<String, Value>, key: &str, value: Option<bool>) {
    if value == Some(true) {
        map.insert(key.to_owned(), true.into());
    }
}

/// A `*-data` field: Go holds it as bytes, so it is re-encoded, or shortened.
fn put_data(map: &mut Map<String, Value>, key: &str, value: Option<&str>, redact: bool) {
    let Some(bytes) = value
        .and_then(|v| decode_base64(v).ok())
        .filter(|b| !b.is_empty())
    else {
        return;
    };
    let shown = if redact {
        OMITTED.to_owned()
    } else {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    map.insert(key.to_owned(), shown.into());
}

fn put_extensions(map: &mut Map<String, Value>, extensions: &[NamedExtension]) {
    if extensions.is_empty() {
        return;
    }
    let mut sorted: Vec<&NamedExtension> = extensions.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let list = sorted
        .iter()
        .map(|e| json!({"name": e.name, "extension": e.extension}));
    map.insert("extensions".into(), Value::Array(list.collect()));
}

fn preferences(prefs: Option<&Preferences>) -> Value {
    let mut map = Map::new();
    if let Some(p) = prefs {
        put_true(&mut map, "colors", p.colors);
        put_extensions(&mut map, &p.extensions);
    }
    Value::Object(map)
}

fn cluster(c: &Cluster, redact: bool) -> Value {
    let mut map = Map::new();
    map.insert("server".into(), c.server.clone().unwrap_or_default().into());
    put_str(&mut map, "tls-server-name", c.tls_server_name.as_deref());
    put_true(
        &mut map,
        "insecure-skip-tls-verify",
        c.insecure_skip_tls_verify,
    );
    put_str(
        &mut map,
        "certificate-authority",
        c.certificate_authority.as_deref(),
    );
    put_data(
        &mut map,
        "certificate-authority-data",
        c.certificate_authority_data.as_deref(),
        redact,
    );
    put_str(&mut map, "proxy-url", c.proxy_url.as_deref());
    put_true(&mut map, "disable-compression", c.disable_compression);
    put_extensions(&mut map, &c.extensions);
    Value::Object(map)
}

fn user(u: &AuthInfo, redact: bool) -> Value {
    let mut map = Map::new();
    let secret = |v: Option<&crate::SecretString>| {
        v.filter(|s| !s.is_empty()).map(|s| {
            if redact {
                REDACTED.to_owned()
            } else {
                s.expose_secret().to_owned()
            }
        })
    };
    put_str(
        &mut map,
        "client-certificate",
        u.client_certificate.as_deref(),
    );
    put_data(
        &mut map,
        "client-certificate-data",
        u.client_certificate_data.as_deref(),
        redact,
    );
    put_str(&mut map, "client-key", u.client_key.as_deref());
    let key = u.client_key_data.as_ref().map(|k| k.expose_secret());
    put_data(&mut map, "client-key-data", key, redact);
    put_str(&mut map, "token", secret(u.token.as_ref()).as_deref());
    put_str(&mut map, "tokenFile", u.token_file.as_deref());
    put_str(&mut map, "as", u.impersonate.as_deref());
    put_str(&mut map, "as-uid", u.impersonate_uid.as_deref());
    if let Some(groups) = u.impersonate_groups.as_ref().filter(|g| !g.is_empty()) {
        map.insert("as-groups".into(), json!(groups));
    }
    if let Some(extra) = u.impersonate_user_extra.as_ref().filter(|e| !e.is_empty()) {
        map.insert("as-user-extra".into(), json!(extra));
    }
    put_str(&mut map, "username", u.username.as_deref());
    put_str(&mut map, "password", secret(u.password.as_ref()).as_deref());
    if let Some(p) = &u.auth_provider {
        let config = p.config.as_ref().map(|c| {
            c.iter()
                .map(|(k, v)| (k.clone(), Value::from(v.expose_secret())))
                .collect::<Map<_, _>>()
        });
        map.insert(
            "auth-provider".into(),
            json!({"name": p.name, "config": config}),
        );
    }
    if let Some(e) = &u.exec {
        map.insert("exec".into(), exec(e));
    }
    put_extensions(&mut map, &u.extensions);
    Value::Object(map)
}

fn exec(e: &ExecConfig) -> Value {
    let env = e.env.as_ref().map(|vars| {
        vars.iter()
            .map(|v| json!({"name": v.name, "value": v.value.expose_secret()}))
            .collect::<Vec<_>>()
    });
    let mut map = Map::new();
    map.insert(
        "command".into(),
        e.command.clone().unwrap_or_default().into(),
    );
    map.insert("args".into(), json!(e.args));
    map.insert("env".into(), json!(env));
    put_str(&mut map, "apiVersion", e.api_version.as_deref());
    put_str(&mut map, "installHint", e.install_hint.as_deref());
    map.insert(
        "provideClusterInfo".into(),
        e.provide_cluster_info.unwrap_or(false).into(),
    );
    let mode = e.interactive_mode.as_deref().filter(|m| !m.is_empty()).or(
        // kubectl's defaulting for the beta versions.
        match e.api_version.as_deref() {
            Some(
                "client.authentication.k8s.io/v1beta1" | "client.authentication.k8s.io/v1alpha1",
            ) => Some("IfAvailable"),
            _ => None,
        },
    );
    put_str(&mut map, "interactiveMode", mode);
    Value::Object(map)
}

fn context(c: &Context) -> Value {
    let mut map = Map::new();
    map.insert(
        "cluster".into(),
        c.cluster.clone().unwrap_or_default().into(),
    );
    map.insert("user".into(), c.user.clone().unwrap_or_default().into());
    put_str(&mut map, "namespace", c.namespace.as_deref());
    put_extensions(&mut map, &c.extensions);
    Value::Object(map)
}
