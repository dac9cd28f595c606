//! The injectable source of environment variables and files that `config` reads.
//!
//! [`SystemEnv`] is the real process environment and filesystem. [`FakeEnv`] serves
//! variables from a map and files from a directory that stands in for `/`, so tests
//! need no real `/var/run/secrets` and never call `std::env::set_var`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Where configuration reads environment variables and files from.
pub trait Env: Send + Sync {
    /// The value of an environment variable.
    fn var(&self, name: &str) -> Option<OsString>;

    /// The real path that `path` (as written in a kubeconfig or a well-known location)
    /// denotes. Paths put into a [`Config`](crate::Config) go through this, so the client
    /// reads the same files later.
    fn host_path(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }

    /// Reads a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(self.host_path(path))
    }

    /// Whether a file exists.
    fn exists(&self, path: &Path) -> bool {
        self.host_path(path).exists()
    }

    /// The user's home directory (`$HOME`; on Windows `%HOME%`, `%USERPROFILE%`, or
    /// `%HOMEDRIVE%%HOMEPATH%`, like client-go).
    fn home_dir(&self) -> Option<PathBuf> {
        let non_empty = |name: &str| self.var(name).filter(|v| !v.is_empty());
        if let Some(home) = non_empty("HOME") {
            return Some(PathBuf::from(home));
        }
        if cfg!(windows) {
            if let Some(profile) = non_empty("USERPROFILE") {
                return Some(PathBuf::from(profile));
            }
            if let (Some(drive), Some(path)) = (non_empty("HOMEDRIVE"), non_empty("HOMEPATH")) {
                let mut joined = drive;
                joined.push(path);
                return Some(PathBuf::from(joined));
            }
        }
        None
    }
}

/// The real process environment and filesystem.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemEnv;

impl Env for SystemEnv {
    fn var(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }
}

/// An environment for tests: variables from a map, files under a root directory that
/// stands in for `/` (absolute paths are looked up below it; relative ones are taken
/// relative to it).
///
/// ```
/// use k8s_client::config::{Env, FakeEnv};
/// let env = FakeEnv::new("/tmp/fixture").with_var("KUBERNETES_SERVICE_HOST", "10.0.0.1");
/// assert_eq!(env.var("KUBERNETES_SERVICE_HOST").unwrap(), "10.0.0.1");
/// assert_eq!(
///     env.host_path("/var/run/secrets/x".as_ref()),
///     std::path::Path::new("/tmp/fixture/var/run/secrets/x"),
/// );
/// ```
#[derive(Clone, Debug, Default)]
pub struct FakeEnv {
    root: PathBuf,
    vars: HashMap<String, OsString>,
}

impl FakeEnv {
    /// An environment with no variables whose filesystem is `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            vars: HashMap::new(),
        }
    }

    /// Sets a variable.
    pub fn with_var(mut self, name: impl Into<String>, value: impl Into<OsString>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Sets a variable in place.
    pub fn set_var(&mut self, name: impl Into<String>, value: impl Into<OsString>) {
        self.vars.insert(name.into(), value.into());
    }

    /// The directory that stands in for `/`.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Env for FakeEnv {
    fn var(&self, name: &str) -> Option<OsString> {
        self.vars.get(name).cloned()
    }

    fn host_path(&self, path: &Path) -> PathBuf {
        if path.starts_with(&self.root) {
            return path.to_path_buf();
        }
        let mut mapped = self.root.clone();
        for component in path.components() {
            if let Component::Normal(part) = component {
                mapped.push(part);
            } else if component == Component::ParentDir {
                mapped.pop();
            }
        }
        mapped
    }
}
