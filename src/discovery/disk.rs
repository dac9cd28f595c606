//! The opt-in disk cache in kubectl's layout: [`DiskCache`].

use super::DiscoveryError;
use super::error::WriteCacheError;
use super::types::{APIGroupList, APIResourceList};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// A source of the current time (injectable for tests of expiry).
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// kubectl's discovery cache: one directory per server, in kubectl's layout and with
/// kubectl's expiry, so that kubectl and this crate share one cache:
///
/// ```text
/// $KUBECACHEDIR (else ~/.kube/cache)
/// └── discovery/<host_port>/            e.g. discovery/127.0.0.1_6443/
///     ├── servergroups.json             APIGroupList, core group first
///     ├── v1/serverresources.json       APIResourceList of the core group
///     └── apps/v1/serverresources.json  one per group version
/// ```
///
/// `<host_port>` is the cluster URL without `https://`/`http://`, every character other
/// than ASCII letters, digits, `_`, `/`, `.`, `(`, `)` replaced by `_`. A file is used
/// while its modification time is less than the TTL (6 hours) old; files are written to
/// a temporary file and renamed into place; a file that does not decode (or is not the
/// expected kind) is ignored, and rewritten after the next fetch.
#[derive(Clone)]
pub struct DiskCache {
    dir: PathBuf,
    ttl: Duration,
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Files this process wrote since the last invalidation.
    ours: HashSet<PathBuf>,
    /// After `invalidate()`, only our own files are used (kubectl's rule).
    invalidated: bool,
}

impl fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskCache")
            .field("dir", &self.dir)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl DiskCache {
    /// kubectl's time to live of a cache file: 6 hours.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(6 * 60 * 60);

    /// The cache kubectl uses for `cluster_url`: under `$KUBECACHEDIR`, else
    /// `$HOME/.kube/cache`.
    pub fn for_cluster(cluster_url: &url::Url) -> Result<Self, DiscoveryError> {
        let root = cache_root(|name| std::env::var_os(name))?;
        Ok(Self::for_cluster_in(root, cluster_url))
    }

    /// The cache for `cluster_url` under the cache root `root` (what `$KUBECACHEDIR`
    /// or `--cache-dir` names): `root/discovery/<host_port>`. A user name and password
    /// in the URL are left out of the directory name (kubectl keeps them), so they never
    /// reach the file system, paths in messages, or `Debug`.
    pub fn for_cluster_in(root: impl Into<PathBuf>, cluster_url: &url::Url) -> Self {
        let mut dir = root.into().join("discovery");
        let server = crate::secret::url_for_display(cluster_url);
        for part in server_dir_name(&server).split('/') {
            if !matches!(part, "" | "." | "..") {
                dir.push(part);
            }
        }
        Self::at(dir)
    }

    /// A cache in exactly `dir` (holding `servergroups.json`).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            ttl: Self::DEFAULT_TTL,
            clock: Arc::new(SystemClock),
            state: Arc::default(),
        }
    }

    /// Sets how long a file stays valid after it was written (by its mtime).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the clock expiry is measured with.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The directory of this server's cache.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The time to live of a file.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// `<dir>/servergroups.json`.
    pub fn groups_path(&self) -> PathBuf {
        self.dir.join("servergroups.json")
    }

    /// `<dir>/<group>/<version>/serverresources.json` (`<dir>/v1/…` for the core group);
    /// `None` when `group_version` is not a safe relative path.
    pub fn resources_path(&self, group_version: &str) -> Option<PathBuf> {
        let mut path = self.dir.clone();
        for part in group_version.split('/') {
            let safe = !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if !safe {
                return None;
            }
            path.push(part);
        }
        Some(path.join("serverresources.json"))
    }

    /// Makes every file not written by this process after now count as missing.
    pub fn invalidate(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.ours.clear();
        state.invalidated = true;
    }

    pub(crate) async fn read_groups(&self) -> Option<APIGroupList> {
        let list: APIGroupList = self.read(&self.groups_path()).await?;
        (list.kind.as_deref() == Some("APIGroupList")).then_some(list)
    }

    pub(crate) async fn read_resources(&self, group_version: &str) -> Option<APIResourceList> {
        let path = self.resources_path(group_version)?;
        let list: APIResourceList = self.read(&path).await?;
        (list.kind.as_deref() == Some("APIResourceList") && list.group_version == group_version)
            .then_some(list)
    }

    pub(crate) async fn write_groups(&self, list: &APIGroupList) -> Result<(), WriteCacheError> {
        let list = APIGroupList {
            kind: Some("APIGroupList".to_owned()),
            api_version: Some("v1".to_owned()),
            groups: list.groups.clone(),
        };
        self.write(&self.groups_path(), &list).await
    }

    pub(crate) async fn write_resources(
        &self,
        list: &APIResourceList,
    ) -> Result<(), WriteCacheError> {
        let Some(path) = self.resources_path(&list.group_version) else {
            return Ok(());
        };
        let list = APIResourceList {
            kind: Some("APIResourceList".to_owned()),
            api_version: Some("v1".to_owned()),
            ..list.clone()
        };
        self.write(&path, &list).await
    }

    /// The decoded file, or `None` when it is missing, not ours after an invalidation,
    /// expired, unreadable or corrupt.
    async fn read<T: DeserializeOwned>(&self, path: &Path) -> Option<T> {
        {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.invalidated && !state.ours.contains(path) {
                return None;
            }
        }
        let modified = tokio::fs::metadata(path).await.ok()?.modified().ok()?;
        let expires = modified.checked_add(self.ttl)?;
        if self.clock.now() > expires {
            tracing::debug!(path = %path.display(), "discovery cache file expired");
            return None;
        }
        let bytes = tokio::fs::read(path).await.ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "ignoring corrupt discovery cache file");
                None
            }
        }
    }

    /// Writes `value` as JSON to a temporary file next to `path`, then renames it over
    /// `path` (directories `0750`, file `0660`, as kubectl).
    async fn write<T: Serialize>(&self, path: &Path, value: &T) -> Result<(), WriteCacheError> {
        let fail = |source| WriteCacheError {
            path: path.to_owned(),
            source,
        };
        let bytes = serde_json::to_vec(value).map_err(|e| fail(e.into()))?;
        let parent = path.parent().unwrap_or(Path::new("."));
        let mut dirs = tokio::fs::DirBuilder::new();
        dirs.recursive(true);
        #[cfg(unix)]
        dirs.mode(0o750);
        dirs.create(parent).await.map_err(fail)?;
        let temp = temp_name(path);
        let result = async {
            tokio::fs::write(&temp, &bytes).await?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                tokio::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o660)).await?;
            }
            tokio::fs::rename(&temp, path).await
        }
        .await;
        if let Err(source) = result {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(fail(source));
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.ours.insert(path.to_owned());
        Ok(())
    }
}

/// `serverresources.json.<unique>` next to `path`.
fn temp_name(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let mut name = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(format!(
        ".{}{}{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    path.with_file_name(name)
}

/// kubectl's cache root: `$KUBECACHEDIR`, else `<home>/.kube/cache`.
fn cache_root(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, DiscoveryError> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(dir) = set("KUBECACHEDIR") {
        return Ok(PathBuf::from(dir));
    }
    let home = set("HOME")
        .or_else(|| cfg!(windows).then(|| set("USERPROFILE")).flatten())
        .ok_or(DiscoveryError::NoCacheDirectory)?;
    Ok(PathBuf::from(home).join(".kube").join("cache"))
}

/// kubectl's directory name for a server: the scheme removed, every character other than
/// ASCII alphanumerics and `_/.()` replaced by `_`.
pub fn server_dir_name(server: &str) -> String {
    let schemeless = server
        .replacen("https://", "", 1)
        .replacen("http://", "", 1);
    schemeless
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | '(' | ')') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_match_kubectl() {
        assert_eq!(server_dir_name("https://127.0.0.1:6443"), "127.0.0.1_6443");
        assert_eq!(
            server_dir_name("https://127.0.0.1:6443/"),
            "127.0.0.1_6443/"
        );
        assert_eq!(server_dir_name("http://[::1]:8080"), "___1__8080");
        assert_eq!(
            server_dir_name("https://k8s.example.com/prefix"),
            "k8s.example.com/prefix"
        );
        assert_eq!(server_dir_name("https://h:1/a?b=c&d"), "h_1/a_b_c_d");
        assert_eq!(server_dir_name("https://ü.example:1"), "_.example_1");

        let url: url::Url = "https://127.0.0.1:6443".parse().unwrap();
        let cache = DiskCache::for_cluster_in("/c", &url);
        assert_eq!(cache.dir(), Path::new("/c/discovery/127.0.0.1_6443"));
        let url: url::Url = "https://h.example:6443/../../etc".parse().unwrap();
        assert_eq!(
            DiskCache::for_cluster_in("/c", &url).dir(),
            Path::new("/c/discovery/h.example_6443/etc")
        );
        assert_eq!(
            cache.resources_path("apps/v1").unwrap(),
            Path::new("/c/discovery/127.0.0.1_6443/apps/v1/serverresources.json")
        );
        assert_eq!(
            cache.resources_path("v1").unwrap(),
            Path::new("/c/discovery/127.0.0.1_6443/v1/serverresources.json")
        );
        assert!(cache.resources_path("../v1").is_none());
        assert!(cache.resources_path("a//v1").is_none());
    }

    #[test]
    fn cache_root_prefers_kubecachedir() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        assert_eq!(
            cache_root(env(&[("KUBECACHEDIR", "/kc"), ("HOME", "/h")])).unwrap(),
            Path::new("/kc")
        );
        assert_eq!(
            cache_root(env(&[("KUBECACHEDIR", ""), ("HOME", "/h")])).unwrap(),
            Path::new("/h/.kube/cache")
        );
        assert!(matches!(
            cache_root(env(&[])),
            Err(DiscoveryError::NoCacheDirectory)
        ));
    }

    #[derive(Debug)]
    struct FixedClock(SystemTime);
    impl Clock for FixedClock {
        fn now(&self) -> SystemTime {
            self.0
        }
    }

    #[tokio::test]
    async fn write_read_expire_corrupt_invalidate() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DiskCache::at(tmp.path().join("srv"));
        let mut list = APIResourceList::new("apps/v1");
        list.resources.push(Default::default());
        cache.write_resources(&list).await.unwrap();
        let path = cache.resources_path("apps/v1").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(
                r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"apps/v1""#
            ),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o660);
        }
        assert_eq!(cache.read_resources("apps/v1").await.unwrap(), list);
        // no temporary files left behind
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["serverresources.json"]);

        // expiry by mtime: 6 h + 1 s later the file is ignored.
        let later = SystemTime::now() + DiskCache::DEFAULT_TTL + Duration::from_secs(1);
        let expired = cache.clone().with_clock(Arc::new(FixedClock(later)));
        assert!(expired.read_resources("apps/v1").await.is_none());
        let within = SystemTime::now() + DiskCache::DEFAULT_TTL - Duration::from_secs(60);
        assert!(
            cache
                .clone()
                .with_clock(Arc::new(FixedClock(within)))
                .read_resources("apps/v1")
                .await
                .is_some()
        );

        // corrupt or wrong-kind files are ignored
        std::fs::write(&path, b"{not json").unwrap();
        assert!(cache.read_resources("apps/v1").await.is_none());
        std::fs::write(&path, br#"{"groupVersion":"apps/v1","resources":[]}"#).unwrap();
        assert!(cache.read_resources("apps/v1").await.is_none());

        // after invalidation, files this process did not write (since) are ignored
        cache.write_resources(&list).await.unwrap();
        let other_process = DiskCache::at(tmp.path().join("srv"));
        other_process.invalidate();
        assert!(other_process.read_resources("apps/v1").await.is_none());
        other_process.write_resources(&list).await.unwrap();
        assert!(other_process.read_resources("apps/v1").await.is_some());
    }
}
