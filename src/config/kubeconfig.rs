//! The raw, lossless kubeconfig model (`clientcmd/api/v1`).
//!
//! Every struct keeps the fields it does not know in `other`, so a file read and written
//! back loses nothing but comments. Secrets (`token`, `password`, `client-key-data`, exec
//! `env` values, `auth-provider` config values) are held in [`SecretString`], whose
//! `Debug` prints `<redacted>`.

use crate::secret::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Unknown fields of an object, kept for a lossless round trip.
pub type OtherFields = serde_json::Map<String, serde_json::Value>;

/// A kubeconfig file (or the merge of several), as written on disk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Kubeconfig {
    /// `apiVersion` (`v1`).
    #[serde(
        rename = "apiVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub api_version: Option<String>,
    /// `kind` (`Config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `preferences`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferences: Option<Preferences>,
    /// `clusters`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub clusters: Vec<NamedCluster>,
    /// `users`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub users: Vec<NamedAuthInfo>,
    /// `contexts`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub contexts: Vec<NamedContext>,
    /// `current-context`.
    #[serde(
        rename = "current-context",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub current_context: Option<String>,
    /// `extensions`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub extensions: Vec<NamedExtension>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub other: OtherFields,
}

/// `preferences`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Preferences {
    /// `colors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colors: Option<bool>,
    /// `extensions`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub extensions: Vec<NamedExtension>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub other: OtherFields,
}

/// A named extension: arbitrary data under a name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NamedExtension {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `extension`.
    #[serde(default)]
    pub extension: serde_json::Value,
}

/// An entry of `clusters`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NamedCluster {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `cluster`.
    #[serde(default, deserialize_with = "nullable")]
    pub cluster: Cluster,
    /// The file this entry was read from (clientcmd's `LocationOfOrigin`); never written.
    #[serde(skip)]
    pub origin: Option<PathBuf>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub other: OtherFields,
}

/// `clusters[].cluster`.
///
/// `Debug` shows `server` and `proxy-url` without user info (either may carry a
/// password).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub struct Cluster {
    /// `server`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// `tls-server-name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    /// `insecure-skip-tls-verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_tls_verify: Option<bool>,
    /// `certificate-authority`: a file path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    /// `certificate-authority-data`: base64 PEM, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    /// `proxy-url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// `disable-compression`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_compression: Option<bool>,
    /// `extensions`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub extensions: Vec<NamedExtension>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub other: OtherFields,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::secret::redact_userinfo;
        let shown = |v: &Option<String>| v.as_deref().map(redact_userinfo);
        f.debug_struct("Cluster")
            .field("server", &shown(&self.server))
            .field("tls_server_name", &self.tls_server_name)
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field("certificate_authority", &self.certificate_authority)
            .field(
                "certificate_authority_data",
                &self.certificate_authority_data,
            )
            .field("proxy_url", &shown(&self.proxy_url))
            .field("disable_compression", &self.disable_compression)
            .field("extensions", &self.extensions)
            .field("other", &self.other)
            .finish()
    }
}

/// An entry of `users`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NamedAuthInfo {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `user`.
    #[serde(default, deserialize_with = "nullable")]
    pub user: AuthInfo,
    /// The file this entry was read from (where refreshed OIDC tokens are written back).
    #[serde(skip)]
    pub origin: Option<PathBuf>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub other: OtherFields,
}

/// `users[].user`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub struct AuthInfo {
    /// `client-certificate`: a file path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    /// `client-certificate-data`: base64 PEM, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_data: Option<String>,
    /// `client-key`: a file path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    /// `client-key-data`: base64 PEM, as written (secret).
    #[serde(default, with = "secret_opt", skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<SecretString>,
    /// `token` (secret).
    #[serde(default, with = "secret_opt", skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretString>,
    /// `tokenFile`.
    #[serde(rename = "tokenFile", default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    /// `as`: the user to impersonate.
    #[serde(rename = "as", default, skip_serializing_if = "Option::is_none")]
    pub impersonate: Option<String>,
    /// `as-uid`.
    #[serde(rename = "as-uid", default, skip_serializing_if = "Option::is_none")]
    pub impersonate_uid: Option<String>,
    /// `as-groups`.
    #[serde(rename = "as-groups", default, skip_serializing_if = "Option::is_none")]
    pub impersonate_groups: Option<Vec<String>>,
    /// `as-user-extra`.
    #[serde(
        rename = "as-user-extra",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub impersonate_user_extra: Option<BTreeMap<String, Vec<String>>>,
    /// `username` (basic auth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `password` (basic auth, secret).
    #[serde(default, with = "secret_opt", skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretString>,
    /// `auth-provider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_provider: Option<AuthProviderConfig>,
    /// `exec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecConfig>,
    /// `extensions`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub extensions: Vec<NamedExtension>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub other: OtherFields,
}

/// `users[].user.auth-provider`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthProviderConfig {
    /// `name` (`oidc`, `gcp`, `azure`, …).
    #[serde(default)]
    pub name: String,
    /// `config`; every value is treated as secret.
    #[serde(default, with = "secret_map", skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, SecretString>>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub other: OtherFields,
}

/// `users[].user.exec`.
///
/// `Debug` shows the command, the number of arguments (plugins take secrets such as
/// `--client-secret=…` as arguments), the `env` names (values are secret) and the names
/// of unknown fields only.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ExecConfig {
    /// `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// `args`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// `env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<ExecEnvVar>>,
    /// `apiVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `installHint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_hint: Option<String>,
    /// `provideClusterInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provide_cluster_info: Option<bool>,
    /// `interactiveMode` (`Never`, `IfAvailable`, `Always`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive_mode: Option<String>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub other: OtherFields,
}

impl std::fmt::Debug for ExecConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env_names: Option<Vec<&str>> = self
            .env
            .as_ref()
            .map(|env| env.iter().map(|v| v.name.as_str()).collect());
        let other_keys: Vec<&str> = self.other.keys().map(String::as_str).collect();
        f.debug_struct("ExecConfig")
            .field("command", &self.command)
            .field(
                "args",
                &self
                    .args
                    .as_ref()
                    .map(|a| format!("<{} redacted>", a.len())),
            )
            .field("env", &env_names)
            .field("api_version", &self.api_version)
            .field("install_hint", &self.install_hint)
            .field("provide_cluster_info", &self.provide_cluster_info)
            .field("interactive_mode", &self.interactive_mode)
            .field("other", &other_keys)
            .finish()
    }
}

/// An `exec.env` entry; the value is secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExecEnvVar {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `value` (secret).
    #[serde(default = "empty_secret", with = "secret_plain")]
    pub value: SecretString,
}

impl ExecEnvVar {
    /// An env entry.
    pub fn new(name: impl Into<String>, value: impl Into<SecretString>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// An entry of `contexts`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NamedContext {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `context`.
    #[serde(default, deserialize_with = "nullable")]
    pub context: Context,
    /// The file this entry was read from.
    #[serde(skip)]
    pub origin: Option<PathBuf>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub other: OtherFields,
}

/// `contexts[].context`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Context {
    /// `cluster`: the name of a `clusters` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// `user`: the name of a `users` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `namespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `extensions`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub extensions: Vec<NamedExtension>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub other: OtherFields,
}

impl Kubeconfig {
    /// The cluster entry called `name`.
    pub fn cluster(&self, name: &str) -> Option<&NamedCluster> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// The user entry called `name`.
    pub fn user(&self, name: &str) -> Option<&NamedAuthInfo> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The context entry called `name`.
    pub fn context(&self, name: &str) -> Option<&NamedContext> {
        self.contexts.iter().find(|c| c.name == name)
    }

    /// `current-context` when set and non-empty.
    pub fn current_context(&self) -> Option<&str> {
        self.current_context.as_deref().filter(|c| !c.is_empty())
    }
}

fn empty_secret() -> SecretString {
    SecretString::new("")
}

/// Reads `null` like an absent field.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads a secret string without ever echoing a wrongly typed value into the error.
mod secret_visitor {
    use serde::de::{self, Deserializer, Unexpected, Visitor};
    use std::fmt;

    struct SecretVisitor;

    impl<'de> Visitor<'de> for SecretVisitor {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(E::invalid_type(
                Unexpected::Other("a boolean (value hidden)"),
                &self,
            ))
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(E::invalid_type(
                Unexpected::Other("a number (value hidden)"),
                &self,
            ))
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(E::invalid_type(
                Unexpected::Other("a number (value hidden)"),
                &self,
            ))
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(E::invalid_type(
                Unexpected::Other("a number (value hidden)"),
                &self,
            ))
        }
    }

    /// A string, or `None` for null; any other value is an error that hides it.
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

mod secret_plain {
    use crate::secret::SecretString;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.expose_secret())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        Ok(super::secret_visitor::deserialize(d)?
            .unwrap_or_default()
            .into())
    }
}

mod secret_opt {
    use crate::secret::SecretString;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        v: &Option<SecretString>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(v.expose_secret()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SecretString>, D::Error> {
        Ok(super::secret_visitor::deserialize(d)?.map(SecretString::from))
    }
}

mod secret_map {
    use crate::secret::SecretString;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    type Map = BTreeMap<String, SecretString>;

    /// A map value read without echoing a wrongly typed value.
    struct Hidden(Option<String>);

    impl<'de> Deserialize<'de> for Hidden {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            super::secret_visitor::deserialize(d).map(Hidden)
        }
    }

    pub(super) fn serialize<S: Serializer>(v: &Option<Map>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(map) => s.collect_map(map.iter().map(|(k, v)| (k, v.expose_secret()))),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Map>, D::Error> {
        let raw = Option::<BTreeMap<String, Hidden>>::deserialize(d)?;
        Ok(raw.map(|m| {
            m.into_iter()
                .map(|(k, v)| (k, SecretString::from(v.0.unwrap_or_default())))
                .collect()
        }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cluster_debug_hides_url_credentials() {
        let cluster = Cluster {
            server: Some("https://admin:server-pw@10.0.0.1:6443".to_owned()),
            proxy_url: Some("socks5://u:proxy-pw@proxy:1080".to_owned()),
            ..Cluster::default()
        };
        let shown = format!("{cluster:?}");
        assert!(
            !shown.contains("server-pw") && !shown.contains("proxy-pw"),
            "{shown}"
        );
        assert!(
            shown.contains("https://<redacted>@10.0.0.1:6443"),
            "{shown}"
        );
        assert!(shown.contains("socks5://<redacted>@proxy:1080"), "{shown}");
    }

    use super::*;

    fn error_chain(e: &dyn std::error::Error) -> String {
        let mut text = format!("{e} {e:?}");
        let mut source = e.source();
        while let Some(s) = source {
            text.push_str(&format!(" {s} {s:?}"));
            source = s.source();
        }
        text
    }

    #[test]
    fn mistyped_secrets_are_not_echoed() {
        for doc in [
            "users: [{name: u, user: {token: 98765432101}}]",
            "users: [{name: u, user: {password: 98765432101}}]",
            "users: [{name: u, user: {auth-provider: {name: oidc, config: {id-token: 98765432101}}}}]",
            "users: [{name: u, user: {exec: {command: x, env: [{name: A, value: 98765432101}]}}}]",
        ] {
            let error = Kubeconfig::from_yaml(doc).unwrap_err();
            let text = error_chain(&error);
            assert!(!text.contains("98765432101"), "{text}");
        }
    }

    #[test]
    fn secrets_read_as_strings_and_null() {
        let kc = Kubeconfig::from_yaml(
            "users: [{name: u, user: {token: abc, password: null, auth-provider: {name: x, config: {k: null}}}}]",
        )
        .unwrap();
        let user = &kc.users[0].user;
        assert_eq!(user.token.as_ref().unwrap().expose_secret(), "abc");
        assert!(user.password.is_none());
        assert!(!format!("{kc:?}").contains("abc"));
    }
}
