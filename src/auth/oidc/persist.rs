//! Writing refreshed OIDC tokens back into the kubeconfig file the user entry came from.

use crate::auth::error::PersistError;
use serde_yaml_ng::{Mapping, Value};
use std::io::Write;
use std::path::Path;

/// Sets `users[name=user].user.auth-provider.config.<key>` for every `(key, value)` in
/// `updates`, keeping every other entry of the file, and replaces the file atomically:
/// a temporary file in the same directory, with the original's permissions, synced and
/// renamed over it.
pub(crate) fn write_back(
    path: &Path,
    user: &str,
    updates: &[(&str, &str)],
) -> Result<(), PersistError> {
    let original = std::fs::read(path)?;
    let permissions = std::fs::metadata(path)?.permissions();
    let mut document: Value = serde_yaml_ng::from_slice(&original)?;
    let config = auth_provider_config(&mut document, user).ok_or(PersistError::UserNotFound)?;
    for (key, value) in updates {
        config.insert(Value::from(*key), Value::from(*value));
    }
    let text = serde_yaml_ng::to_string(&document)?;
    replace(path, text.as_bytes(), permissions)?;
    Ok(())
}

fn auth_provider_config<'a>(document: &'a mut Value, user: &str) -> Option<&'a mut Mapping> {
    let users = document.get_mut("users")?.as_sequence_mut()?;
    let entry = users
        .iter_mut()
        .find(|u| u.get("name").and_then(Value::as_str) == Some(user))?;
    let provider = entry
        .get_mut("user")?
        .get_mut("auth-provider")?
        .as_mapping_mut()?;
    let config = provider
        .entry(Value::from("config"))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if config.is_null() {
        *config = Value::Mapping(Mapping::new());
    }
    config.as_mapping_mut()
}

fn replace(path: &Path, contents: &[u8], permissions: std::fs::Permissions) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut attempt = 0u32;
    let (tmp_path, mut tmp) = loop {
        let candidate = dir.join(format!(".{name}.{}.{attempt}.tmp", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(file) => break (candidate, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1
            }
            Err(e) => return Err(e),
        }
    };
    let result = (|| {
        tmp.set_permissions(permissions)?;
        tmp.write_all(contents)?;
        tmp.sync_all()?;
        drop(tmp);
        std::fs::rename(&tmp_path, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp_path);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_only_the_named_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nusers:\n- name: a\n  user:\n    auth-provider:\n      name: oidc\n      config:\n        id-token: old\n        client-id: c\n- name: b\n  user:\n    auth-provider:\n      name: oidc\n      config:\n        id-token: keep\n",
        )
        .unwrap();
        write_back(&path, "a", &[("id-token", "new"), ("refresh-token", "r2")]).unwrap();
        let v: Value = serde_yaml_ng::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let a = &v["users"][0]["user"]["auth-provider"]["config"];
        assert_eq!(a["id-token"].as_str(), Some("new"));
        assert_eq!(a["refresh-token"].as_str(), Some("r2"));
        assert_eq!(a["client-id"].as_str(), Some("c"));
        assert_eq!(
            v["users"][1]["user"]["auth-provider"]["config"]["id-token"].as_str(),
            Some("keep")
        );
        assert!(matches!(
            write_back(&path, "zzz", &[]),
            Err(PersistError::UserNotFound)
        ));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left behind"
        );
    }
}
