//! Finding, reading and merging kubeconfig files with clientcmd's rules.

use super::env::{Env, SystemEnv};
use super::error::{ConfigError, EntryKind};
use super::kubeconfig::{Kubeconfig, NamedExtension, Preferences};
use base64::Engine as _;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The environment variable listing kubeconfig files.
pub const KUBECONFIG: &str = "KUBECONFIG";

/// The kubeconfig files to merge, in precedence order: the entries of `KUBECONFIG`
/// (split on the platform's path-list separator, empty entries skipped, duplicates
/// removed), else `~/.kube/config`.
pub fn kubeconfig_paths(env: &dyn Env) -> Vec<PathBuf> {
    if let Some(list) = env.var(KUBECONFIG).filter(|v| !v.is_empty()) {
        let mut seen = HashSet::new();
        return std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .filter(|p| seen.insert(p.clone()))
            .collect();
    }
    env.home_dir()
        .map(|home| vec![home.join(".kube").join("config")])
        .unwrap_or_default()
}

impl Kubeconfig {
    /// Reads and merges the files named by `KUBECONFIG`, else `~/.kube/config`, from the
    /// real environment. Missing files are skipped; none existing gives an empty config.
    pub fn read() -> Result<Self, ConfigError> {
        Self::read_with(&SystemEnv)
    }

    /// [`Kubeconfig::read`] with an injected environment.
    pub fn read_with(env: &dyn Env) -> Result<Self, ConfigError> {
        Self::read_paths(env, &kubeconfig_paths(env))
    }

    /// Reads the files in `paths`, skipping missing ones, and merges them (first wins).
    pub fn read_paths(env: &dyn Env, paths: &[PathBuf]) -> Result<Self, ConfigError> {
        let mut merged = Kubeconfig::default();
        for path in paths {
            if !env.exists(path) {
                tracing::debug!(path = %path.display(), "kubeconfig file does not exist; skipped");
                continue;
            }
            merged = merged.merge(Self::read_from_with(env, path)?);
        }
        Ok(merged)
    }

    /// Reads one kubeconfig file (an explicit `--kubeconfig`: it must exist).
    pub fn read_from(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::read_from_with(&SystemEnv, path.as_ref())
    }

    /// [`Kubeconfig::read_from`] with an injected environment.
    pub fn read_from_with(env: &dyn Env, path: &Path) -> Result<Self, ConfigError> {
        let bytes = env
            .read(path)
            .map_err(|source| ConfigError::ReadKubeconfig {
                path: path.to_path_buf(),
                source,
            })?;
        let mut config = Self::parse(&bytes, Some(path))?;
        let origin = Some(path.to_path_buf());
        config
            .clusters
            .iter_mut()
            .for_each(|e| e.origin.clone_from(&origin));
        config
            .users
            .iter_mut()
            .for_each(|e| e.origin.clone_from(&origin));
        config
            .contexts
            .iter_mut()
            .for_each(|e| e.origin.clone_from(&origin));
        Ok(config)
    }

    /// Parses kubeconfig YAML or JSON text.
    ///
    /// ```
    /// let kc = k8s_client::config::Kubeconfig::from_yaml(
    ///     "clusters: [{name: c, cluster: {server: 'https://10.0.0.1'}}]",
    /// )?;
    /// assert_eq!(kc.clusters[0].cluster.server.as_deref(), Some("https://10.0.0.1"));
    /// # Ok::<(), k8s_client::config::ConfigError>(())
    /// ```
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        Self::parse(text.as_bytes(), None)
    }

    /// Decodes (UTF-8, or UTF-8/UTF-16 with a byte-order mark), parses the first YAML
    /// document, and checks what kubectl checks while loading: base64 of the `*-data`
    /// fields and unique entry names.
    pub fn parse(bytes: &[u8], path: Option<&Path>) -> Result<Self, ConfigError> {
        let file = path.map(Path::to_path_buf);
        let text = decode(bytes).ok_or_else(|| ConfigError::Encoding { file: file.clone() })?;
        let config = parse_first_document(&text, file.as_ref())?;
        config.check_loaded(file.as_ref())?;
        Ok(config)
    }

    /// Writes the config back as YAML: every field read is kept (including unknown
    /// ones); comments are lost.
    pub fn to_yaml(&self) -> Result<String, ConfigError> {
        serde_yaml_ng::to_string(self).map_err(ConfigError::RenderYaml)
    }

    fn check_loaded(&self, file: Option<&PathBuf>) -> Result<(), ConfigError> {
        check_unique(
            EntryKind::Cluster,
            self.clusters.iter().map(|e| &e.name),
            file,
        )?;
        check_unique(EntryKind::User, self.users.iter().map(|e| &e.name), file)?;
        check_unique(
            EntryKind::Context,
            self.contexts.iter().map(|e| &e.name),
            file,
        )?;
        for c in &self.clusters {
            let data = c.cluster.certificate_authority_data.as_deref();
            check_base64(
                data,
                EntryKind::Cluster,
                &c.name,
                "certificate-authority-data",
                file,
            )?;
        }
        for u in &self.users {
            let cert = u.user.client_certificate_data.as_deref();
            check_base64(
                cert,
                EntryKind::User,
                &u.name,
                "client-certificate-data",
                file,
            )?;
            let key = u.user.client_key_data.as_ref().map(|k| k.expose_secret());
            check_base64(key, EntryKind::User, &u.name, "client-key-data", file)?;
        }
        Ok(())
    }

    /// Merges `other` into `self` with clientcmd's rules: for clusters, users, contexts
    /// and extensions the first definition of a name wins the whole entry;
    /// `current-context` and each preference: the first non-empty value wins.
    pub fn merge(mut self, other: Kubeconfig) -> Kubeconfig {
        fn merge_named<T>(into: &mut Vec<T>, from: Vec<T>, name: impl Fn(&T) -> &str) {
            for entry in from {
                if !into.iter().any(|e| name(e) == name(&entry)) {
                    into.push(entry);
                }
            }
        }
        merge_named(&mut self.clusters, other.clusters, |e| &e.name);
        merge_named(&mut self.users, other.users, |e| &e.name);
        merge_named(&mut self.contexts, other.contexts, |e| &e.name);
        if self.current_context().is_none() {
            self.current_context = other.current_context.filter(|c| !c.is_empty());
        }
        if let Some(prefs) = other.preferences {
            let mine = self.preferences.get_or_insert_with(Preferences::default);
            if mine.colors != Some(true) && prefs.colors.is_some() {
                mine.colors = mine.colors.filter(|c| *c).or(prefs.colors);
            }
            merge_named(&mut mine.extensions, prefs.extensions, |e| &e.name);
            for (k, v) in prefs.other {
                mine.other.entry(k).or_insert(v);
            }
        }
        merge_named(
            &mut self.extensions,
            other.extensions,
            |e: &NamedExtension| &e.name,
        );
        self.api_version = self.api_version.or(other.api_version);
        self.kind = self.kind.or(other.kind);
        for (k, v) in other.other {
            self.other.entry(k).or_insert(v);
        }
        self
    }
}

/// Decodes a kubeconfig's bytes as YAML does: a UTF-16 (LE/BE) or UTF-8 byte-order
/// mark selects the encoding; without one the text must be UTF-8.
fn decode(bytes: &[u8]) -> Option<String> {
    let utf16 = |rest: &[u8], from: fn([u8; 2]) -> u16| {
        if !rest.len().is_multiple_of(2) {
            return None;
        }
        let units: Vec<u16> = rest.chunks_exact(2).map(|c| from([c[0], c[1]])).collect();
        String::from_utf16(&units).ok()
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8(rest.to_vec()).ok(),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes),
        _ => String::from_utf8(bytes.to_vec()).ok(),
    }
}

/// Parses the first YAML document (kubectl ignores the rest); an empty file or an empty
/// first document is an empty config.
fn parse_first_document(text: &str, file: Option<&PathBuf>) -> Result<Kubeconfig, ConfigError> {
    use serde::Deserialize as _;
    let parse_error = |source: serde_yaml_ng::Error| ConfigError::Parse {
        file: file.cloned(),
        line: source.location().map(|l| l.line()),
        column: source.location().map(|l| l.column()),
        source,
    };
    let Some(document) = serde_yaml_ng::Deserializer::from_str(text).next() else {
        return Ok(Kubeconfig::default());
    };
    let value = serde_yaml_ng::Value::deserialize(document).map_err(parse_error)?;
    if value.is_null() {
        return Ok(Kubeconfig::default());
    }
    serde_yaml_ng::from_value(value).map_err(parse_error)
}

fn check_unique<'a>(
    kind: EntryKind,
    names: impl Iterator<Item = &'a String>,
    file: Option<&PathBuf>,
) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(ConfigError::DuplicateEntry {
                file: file.cloned(),
                kind,
                name: name.clone(),
            });
        }
    }
    Ok(())
}

/// Decodes a `*-data` field as Go's `encoding/json` does for `[]byte` (standard
/// alphabet, padded; line breaks ignored).
pub(crate) fn decode_base64(data: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let cleaned: String = data.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    base64::engine::general_purpose::STANDARD.decode(cleaned)
}

fn check_base64(
    data: Option<&str>,
    kind: EntryKind,
    entry: &str,
    field: &'static str,
    file: Option<&PathBuf>,
) -> Result<(), ConfigError> {
    match data {
        Some(data) => decode_base64(data)
            .map(drop)
            .map_err(|source| ConfigError::InvalidBase64 {
                file: file.cloned(),
                kind,
                entry: entry.to_owned(),
                field,
                source,
            }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FakeEnv;

    #[test]
    fn decodes_boms_and_rejects_bad_utf16() {
        assert_eq!(decode(b"\xEF\xBB\xBFa: 1").as_deref(), Some("a: 1"));
        assert_eq!(decode(b"\xFF\xFEa\x00:\x00").as_deref(), Some("a:"));
        assert_eq!(decode(b"\xFE\xFF\x00a\x00:").as_deref(), Some("a:"));
        assert_eq!(decode(b"\xFF\xFEa"), None, "odd length");
        assert_eq!(decode(b"\xC3\x28"), None, "invalid UTF-8");
    }

    #[test]
    fn kubeconfig_paths_split_skip_empty_and_dedupe() {
        let sep = if cfg!(windows) { ";" } else { ":" };
        let list = ["", "/a", "/b", "", "/a", "/c"].join(sep);
        let env = FakeEnv::new("/r").with_var(KUBECONFIG, list);
        let expected: Vec<PathBuf> = ["/a", "/b", "/c"].iter().map(PathBuf::from).collect();
        assert_eq!(kubeconfig_paths(&env), expected);
        let home = FakeEnv::new("/r").with_var("HOME", "/home/me");
        assert_eq!(
            kubeconfig_paths(&home),
            vec![PathBuf::from("/home/me/.kube/config")]
        );
        let empty = FakeEnv::new("/r")
            .with_var(KUBECONFIG, "")
            .with_var("HOME", "/h");
        assert_eq!(
            kubeconfig_paths(&empty),
            vec![PathBuf::from("/h/.kube/config")]
        );
    }

    #[test]
    fn merge_first_wins() {
        let a = Kubeconfig::from_yaml(
            "current-context: ''\nclusters: [{name: x, cluster: {server: a}}]\npreferences: {colors: false}",
        )
        .unwrap();
        let b = Kubeconfig::from_yaml(
            "current-context: b\nclusters: [{name: x, cluster: {server: b}}, {name: y, cluster: {server: b}}]\npreferences: {colors: true}",
        )
        .unwrap();
        let merged = a.merge(b);
        assert_eq!(merged.current_context(), Some("b"));
        assert_eq!(
            merged.cluster("x").unwrap().cluster.server.as_deref(),
            Some("a")
        );
        assert_eq!(
            merged.cluster("y").unwrap().cluster.server.as_deref(),
            Some("b")
        );
        assert_eq!(merged.preferences.unwrap().colors, Some(true));
    }

    #[test]
    fn parse_error_has_line_and_column() {
        let err = Kubeconfig::from_yaml("a: 1\nb: [\n").unwrap_err();
        match &err {
            ConfigError::Parse {
                line: Some(_),
                column: Some(_),
                ..
            } => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("line"), "{err}");
    }

    #[test]
    fn multi_document_reads_first() {
        let kc =
            Kubeconfig::from_yaml("current-context: one\n---\ncurrent-context: two\n").unwrap();
        assert_eq!(kc.current_context(), Some("one"));
        assert_eq!(Kubeconfig::from_yaml("").unwrap(), Kubeconfig::default());
    }
}
