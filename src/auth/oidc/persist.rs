//! Writing refreshed OIDC tokens back into the kubeconfig file the user entry came from.
//!
//! The protocol follows kubectl (client-go `clientcmd`), so both never write the file at
//! the same time:
//!
//! 1. take the lock `<file>.lock` (created with `O_CREAT|O_EXCL`; removed afterwards) —
//!    the same name kubectl uses for the path it was given;
//! 2. read the file (through symlinks) and change only this user's `auth-provider.config`;
//! 3. replace the real file (the symlink target; the symlink stays): a temporary file
//!    next to it with the original's permissions, synced, renamed over it. When the
//!    rename cannot work — the file is a bind mount (`EBUSY`), the directory is on
//!    another device (`EXDEV`) or not writable (`EACCES`/`EPERM`) — the file is rewritten
//!    in place instead.
//!
//! kubectl fails at once when the lock exists; we wait up to [`LOCK_WAIT`] for it (a
//! kubectl holds it for milliseconds), then give up. A stale lock is never removed.

use crate::auth::error::PersistError;
use serde_yaml_ng::{Mapping, Value};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a write-back waits for a lock held by someone else.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(1);
/// Pause between attempts to take the lock.
const LOCK_RETRY: Duration = Duration::from_millis(25);

/// The file operations of a write-back that can fail for reasons of the environment;
/// tests replace them to make a rename fail.
pub(crate) trait Fs {
    /// Renames `from` over `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
}

/// The real file system.
pub(crate) struct RealFs;

impl Fs for RealFs {
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
}

/// Sets `users[name=user].user.auth-provider.config.<key>` for every `(key, value)` in
/// `updates`, keeping every other entry of the file (see the module docs for locking,
/// symlinks and the in-place fallback).
pub(crate) fn write_back(
    path: &Path,
    user: &str,
    updates: &[(&str, &str)],
) -> Result<(), PersistError> {
    write_back_with(&RealFs, path, user, updates)
}

pub(crate) fn write_back_with(
    fs: &dyn Fs,
    path: &Path,
    user: &str,
    updates: &[(&str, &str)],
) -> Result<(), PersistError> {
    let _lock = Lock::acquire(path)?;
    // Through symlinks: the real file is replaced, the link is left alone.
    let target = std::fs::canonicalize(path)?;
    let original = std::fs::read(&target)?;
    let permissions = std::fs::metadata(&target)?.permissions();
    let mut document: Value = serde_yaml_ng::from_slice(&original)?;
    let config = auth_provider_config(&mut document, user).ok_or(PersistError::UserNotFound)?;
    for (key, value) in updates {
        config.insert(Value::from(*key), Value::from(*value));
    }
    let text = serde_yaml_ng::to_string(&document)?;
    match replace(fs, &target, text.as_bytes(), permissions) {
        Ok(()) => Ok(()),
        Err(error) if rename_impossible(&error) => {
            tracing::debug!(path = %target.display(), %error, "cannot replace the kubeconfig by renaming; rewriting it in place");
            overwrite(&target, text.as_bytes())?;
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// Errors after which the file can still be written in place: a bind-mounted file, a
/// directory on another device, a directory we may not write to.
fn rename_impossible(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ResourceBusy
            | io::ErrorKind::CrossesDevices
            | io::ErrorKind::PermissionDenied
            | io::ErrorKind::ReadOnlyFilesystem
    )
}

/// kubectl's lock: `<path>.lock`, created exclusively, removed on drop.
struct Lock {
    path: Option<PathBuf>,
}

impl Lock {
    fn acquire(file: &Path) -> Result<Self, PersistError> {
        let mut name = file.as_os_str().to_owned();
        name.push(".lock");
        let lock = PathBuf::from(name);
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                // client-go creates the lock with mode 0.
                options.mode(0o000);
            }
            match options.open(&lock) {
                Ok(_) => return Ok(Self { path: Some(lock) }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if Instant::now() >= deadline {
                        return Err(PersistError::Locked {
                            lock,
                            waited: LOCK_WAIT,
                        });
                    }
                    std::thread::sleep(LOCK_RETRY);
                }
                // Where no lock file can be created, nobody (kubectl included) can hold
                // one; the file itself may still be writable (a mounted file).
                Err(e) if rename_impossible(&e) => {
                    tracing::debug!(lock = %lock.display(), error = %e, "cannot create the kubeconfig lock file; writing without it");
                    return Ok(Self { path: None });
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let Some(path) = &self.path
            && let Err(error) = std::fs::remove_file(path)
        {
            tracing::warn!(lock = %path.display(), %error, "could not remove the kubeconfig lock file");
        }
    }
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

/// Replaces `path` atomically: a synced temporary file in the same directory, renamed
/// over it.
fn replace(
    fs: &dyn Fs,
    path: &Path,
    contents: &[u8],
    permissions: std::fs::Permissions,
) -> io::Result<()> {
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
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(e),
        }
    };
    let result = (|| {
        tmp.set_permissions(permissions)?;
        tmp.write_all(contents)?;
        tmp.sync_all()?;
        drop(tmp);
        fs.rename(&tmp_path, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp_path);
    }
    result
}

/// Rewrites `path` in place (same inode): the new contents from the start, then cut to
/// their length, then synced.
fn overwrite(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(contents)?;
    file.set_len(contents.len() as u64)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_USERS: &str = "apiVersion: v1\nkind: Config\nusers:\n- name: a\n  user:\n    auth-provider:\n      name: oidc\n      config:\n        id-token: old\n        client-id: c\n- name: b\n  user:\n    auth-provider:\n      name: oidc\n      config:\n        id-token: keep\n";

    #[test]
    fn updates_only_the_named_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, TWO_USERS).unwrap();
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
            "no temp or lock file left behind"
        );
    }

    /// A file system whose rename always fails with `kind`.
    struct FailingRename(io::ErrorKind);

    impl Fs for FailingRename {
        fn rename(&self, _: &Path, _: &Path) -> io::Result<()> {
            Err(io::Error::from(self.0))
        }
    }

    #[test]
    fn falls_back_to_writing_in_place_when_rename_cannot_work() {
        for kind in [
            io::ErrorKind::ResourceBusy,
            io::ErrorKind::CrossesDevices,
            io::ErrorKind::PermissionDenied,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("config");
            // Longer than the result, so the in-place write must cut the rest.
            std::fs::write(&path, format!("{TWO_USERS}# {}\n", "x".repeat(4096))).unwrap();
            #[cfg(unix)]
            let inode = {
                use std::os::unix::fs::MetadataExt;
                std::fs::metadata(&path).unwrap().ino()
            };
            write_back_with(&FailingRename(kind), &path, "a", &[("id-token", "new")])
                .unwrap_or_else(|e| panic!("{kind:?}: {e:?}"));
            let text = std::fs::read_to_string(&path).unwrap();
            let v: Value = serde_yaml_ng::from_str(&text).unwrap();
            assert_eq!(
                v["users"][0]["user"]["auth-provider"]["config"]["id-token"].as_str(),
                Some("new"),
                "{kind:?}"
            );
            assert!(!text.contains("xxxx"), "{kind:?}: the old tail was cut");
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode, "same file");
            }
            assert_eq!(
                std::fs::read_dir(dir.path()).unwrap().count(),
                1,
                "{kind:?}: no temp or lock file left behind"
            );
        }
    }

    #[test]
    fn other_rename_failures_leave_the_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, TWO_USERS).unwrap();
        let err = write_back_with(
            &FailingRename(io::ErrorKind::StorageFull),
            &path,
            "a",
            &[("id-token", "new")],
        )
        .unwrap_err();
        assert!(matches!(err, PersistError::Io(_)), "{err:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), TWO_USERS);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
