//! Discovery: what the API server serves, where to reach it, and kubectl-style names.
//!
//! - [`Discovery::server_version`] (`/version`), [`Discovery::api_versions`] (`/api`,
//!   with `serverAddressByClientCIDRs`), [`Discovery::api_groups`] (`/apis`) and
//!   [`Discovery::resources_for`] (`/api/v1`, `/apis/<group>/<version>`) return the
//!   server's documents as typed values, always fetched live.
//! - [`Discovery::groups_and_resources`] returns everything as one
//!   [`DiscoverySnapshot`], using aggregated discovery (two requests) and falling back to
//!   one request per group version, in parallel, on servers without it. Group versions
//!   that cannot be discovered (an aggregated API server that is down) are reported in
//!   [`DiscoverySnapshot::failures`] next to the partial result. The snapshot is cached
//!   in memory until [`Discovery::invalidate`], and optionally on disk in kubectl's
//!   layout ([`DiskCache`]).
//! - [`Discovery::resolve`] maps `po`, `deploy.apps`, `deployments.v1.apps` or a kind to
//!   a [`ResourceMapping`] the way `kubectl get` does, refreshing once on a miss.
//! - [`ServerAddressByClientCIDRs::select`] picks the server address for a client
//!   address; [`Discovery::local_route`] tells which local address this host uses to
//!   reach the server, and [`Discovery::server_address_from_here`] combines both.
//!
//! See `docs/discovery.md` for the details and the example values.

mod address;
mod aggregated;
mod disk;
mod error;
mod fetch;
mod mapper;
#[cfg(test)]
mod props;
mod snapshot;
mod types;

pub use address::{LocalRoute, ServerAddressByClientCIDR, ServerAddressByClientCIDRs, local_route};
pub use aggregated::{
    ACCEPT_AGGREGATED, ACCEPT_LEGACY, APIGroupDiscovery, APIGroupDiscoveryList,
    APIResourceDiscovery, APISubresourceDiscovery, APIVersionDiscovery, DiscoveryMetadata,
    GroupVersionKind, is_aggregated_content_type,
};
pub use disk::{Clock, DiskCache, SystemClock, server_dir_name};
pub use error::DiscoveryError;
pub use fetch::resources_path;
pub use snapshot::{DiscoverySnapshot, ResourceMapping, SnapshotSource, error_chain};
pub use types::{
    APIGroup, APIGroupList, APIResource, APIResourceList, APIVersions, GroupVersionForDiscovery,
    ServerVersion, group_version, split_group_version,
};

use crate::client::Client;
use crate::error::Result;
use fetch::{Fetcher, distinct_group_versions};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Discovery of one server through a [`Client`]. Cheap to clone; clones share the
/// in-memory cache, the disk cache and the request counter.
///
/// [`Client::discovery`] hands out handles on the client's own discovery cache: every
/// call, on the client or any of its clones, shares one cache for the life of the
/// client, so calling it per operation costs no extra discovery requests.
/// [`Discovery::new`] and [`Discovery::builder`] make a separate cache (with a disk
/// cache, other options, or to start cold).
///
/// ```no_run
/// # async fn demo(client: k8s_client::Client) -> k8s_client::Result<()> {
/// let discovery = client.discovery();
/// let api = discovery.api_versions().await?;
/// println!("{}", serde_json::to_string_pretty(&api).unwrap());
/// let deploy = discovery.resolve("deploy").await?;
/// assert_eq!((deploy.group.as_str(), deploy.resource.as_str()), ("apps", "deployments"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Discovery {
    client: Client,
    inner: Arc<Inner>,
}

/// The cache [`Client::discovery`] shares, kept in the client's extension slot.
struct ClientCache(Arc<Inner>);

/// The state of one discovery cache. It holds no [`Client`], so the client can keep
/// its own cache ([`Client::discovery`]) without a reference cycle.
struct Inner {
    requests: AtomicU64,
    concurrency: usize,
    aggregated: bool,
    disk: Option<DiskCache>,
    clock: Arc<dyn Clock>,
    refresh_on_miss_after: Duration,
    memory: RwLock<Option<Arc<DiscoverySnapshot>>>,
    /// Bumped by `invalidate()` (under the `memory` lock): a load that started before
    /// an invalidation does not store its snapshot.
    generation: AtomicU64,
    loading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("cluster_url", &self.fetcher().url(""))
            .field("disk_cache", &self.inner.disk)
            .field("aggregated", &self.inner.aggregated)
            .field("concurrency", &self.inner.concurrency)
            .field("requests", &self.request_count())
            .finish_non_exhaustive()
    }
}

/// Options of a [`Discovery`]; from [`Discovery::builder`].
#[derive(Debug)]
#[must_use]
pub struct DiscoveryBuilder {
    client: Client,
    disk: Option<DiskCache>,
    concurrency: usize,
    aggregated: bool,
    clock: Option<Arc<dyn Clock>>,
    refresh_on_miss_after: Duration,
}

impl DiscoveryBuilder {
    /// Caches discovery on disk in `cache` (kubectl's layout; see [`DiskCache`]).
    pub fn disk_cache(mut self, cache: DiskCache) -> Self {
        self.disk = Some(cache);
        self
    }

    /// Caches discovery on disk where kubectl does for this cluster
    /// (`$KUBECACHEDIR` or `~/.kube/cache`, then `discovery/<host_port>`).
    pub fn kubectl_disk_cache(self) -> std::result::Result<Self, DiscoveryError> {
        let cache = DiskCache::for_cluster(self.client.cluster_url())?;
        Ok(self.disk_cache(cache))
    }

    /// How many group versions legacy discovery fetches at once (default 16, min 1).
    pub fn concurrency(mut self, requests: usize) -> Self {
        self.concurrency = requests.max(1);
        self
    }

    /// Whether to ask for aggregated discovery (default `true`); `false` always uses
    /// legacy discovery, one request per group version.
    pub fn aggregated(mut self, enabled: bool) -> Self {
        self.aggregated = enabled;
        self
    }

    /// The clock used for the refresh-on-miss interval and, if set, the disk cache's
    /// expiry (for tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// A name that resolves to nothing refreshes a snapshot fetched from the server at
    /// least this long ago (default 30 s; snapshots read from the disk cache are
    /// always refreshed once on a miss, as kubectl does).
    pub fn refresh_on_miss_after(mut self, interval: Duration) -> Self {
        self.refresh_on_miss_after = interval;
        self
    }

    /// The [`Discovery`].
    pub fn build(self) -> Discovery {
        let disk = match (&self.clock, self.disk) {
            (Some(clock), Some(disk)) => Some(disk.with_clock(clock.clone())),
            (_, disk) => disk,
        };
        Discovery {
            client: self.client,
            inner: Arc::new(Inner {
                requests: AtomicU64::new(0),
                concurrency: self.concurrency,
                aggregated: self.aggregated,
                disk,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                refresh_on_miss_after: self.refresh_on_miss_after,
                memory: RwLock::default(),
                generation: AtomicU64::new(0),
                loading: tokio::sync::Mutex::new(()),
            }),
        }
    }
}

impl From<Client> for Discovery {
    fn from(client: Client) -> Self {
        Discovery::new(client)
    }
}

impl Client {
    /// The client's discovery: aggregated discovery, memory cache only. Every handle
    /// from this client and its clones shares one cache (and one request counter) for
    /// the life of the client; [`Discovery::invalidate`] on any of them clears it for
    /// all. Use [`Discovery::builder`] for a disk cache or other options.
    ///
    /// ```no_run
    /// # async fn demo(client: k8s_client::Client) -> k8s_client::Result<()> {
    /// // Cheap to call per operation: only the first call fetches.
    /// let pods = client.discovery().resolve("po").await?;
    /// let deploys = client.clone().discovery().resolve("deploy").await?;
    /// # Ok(()) }
    /// ```
    pub fn discovery(&self) -> Discovery {
        let shared = self.extension(|| ClientCache(Discovery::builder(self.clone()).build().inner));
        Discovery {
            client: self.clone(),
            inner: shared.0.clone(),
        }
    }
}

impl Discovery {
    /// A separate discovery cache with default options: aggregated discovery, memory
    /// cache only. [`Client::discovery`] shares the client's cache instead.
    pub fn new(client: Client) -> Self {
        Self::builder(client).build()
    }

    fn fetcher(&self) -> Fetcher<'_> {
        Fetcher {
            client: &self.client,
            requests: &self.inner.requests,
            concurrency: self.inner.concurrency,
            aggregated: self.inner.aggregated,
        }
    }

    /// Discovery with options (disk cache, concurrency, legacy only, clock).
    pub fn builder(client: Client) -> DiscoveryBuilder {
        DiscoveryBuilder {
            client,
            disk: None,
            concurrency: 16,
            aggregated: true,
            clock: None,
            refresh_on_miss_after: Duration::from_secs(30),
        }
    }

    /// The client requests go through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The disk cache, if enabled.
    pub fn disk_cache(&self) -> Option<&DiskCache> {
        self.inner.disk.as_ref()
    }

    /// How many HTTP requests this discovery (and its clones) has sent so far.
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// `GET /version`.
    pub async fn server_version(&self) -> Result<ServerVersion> {
        self.fetcher().get_json("/version").await
    }

    /// `GET /api`: the core group's versions and `serverAddressByClientCIDRs`.
    pub async fn api_versions(&self) -> Result<APIVersions> {
        self.fetcher().get_json("/api").await
    }

    /// `GET /apis`: the named groups with their versions and preferred version.
    pub async fn api_groups(&self) -> Result<APIGroupList> {
        self.fetcher().get_json("/apis").await
    }

    /// `GET /api/v1` (`group_version` `v1`) or `/apis/<group>/<version>`.
    pub async fn resources_for(&self, group_version: &str) -> Result<APIResourceList> {
        self.fetcher().resources(group_version).await
    }

    /// Every group, version and resource, from the memory cache, else the disk cache
    /// (if enabled and fresh), else the server. A group version that cannot be
    /// discovered is reported in [`DiscoverySnapshot::failures`]; only a failure of
    /// `/api` or `/apis` themselves fails the call.
    pub async fn groups_and_resources(&self) -> Result<Arc<DiscoverySnapshot>> {
        match self.cached() {
            Some(snapshot) => Ok(snapshot),
            None => self.load(None).await,
        }
    }

    /// Drops the memory cache and ignores the disk cache's files not written after
    /// now: the next call fetches from the server.
    pub fn invalidate(&self) {
        {
            let mut memory = self.inner.memory.write().unwrap_or_else(|e| e.into_inner());
            self.inner.generation.fetch_add(1, Ordering::SeqCst);
            *memory = None;
        }
        if let Some(disk) = &self.inner.disk {
            disk.invalidate();
        }
    }

    /// [`invalidate`](Self::invalidate), then [`groups_and_resources`](Self::groups_and_resources).
    pub async fn refresh(&self) -> Result<Arc<DiscoverySnapshot>> {
        self.invalidate();
        self.groups_and_resources().await
    }

    /// Resolves a kubectl-style name (`po`, `deploy.apps`, `deployments.v1.apps`, a
    /// kind) with [`DiscoverySnapshot::resolve`]; when nothing matches, refreshes the
    /// cache once (see [`DiscoveryBuilder::refresh_on_miss_after`]) and tries again.
    pub async fn resolve(&self, name: &str) -> Result<ResourceMapping> {
        let snapshot = self.groups_and_resources().await?;
        match snapshot.resolve(name) {
            Err(DiscoveryError::UnknownResource { .. }) if self.may_refresh(&snapshot) => {
                tracing::debug!(name, "unknown resource name, refreshing discovery once");
                Ok(self.load(Some(&snapshot)).await?.resolve(name)?)
            }
            other => Ok(other?),
        }
    }

    /// Which local address this host uses to reach the API server (see
    /// [`local_route`]). Through a proxy or NAT the server sees another address.
    pub async fn local_route(&self) -> Result<LocalRoute> {
        let url = self.client().cluster_url();
        let host = match url.host() {
            Some(url::Host::Domain(name)) => name.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => {
                return Err(DiscoveryError::NoHost {
                    url: crate::secret::url_for_display(url),
                }
                .into());
            }
        };
        let port = url.port_or_known_default().unwrap_or(443);
        Ok(local_route(&host, port).await?)
    }

    /// The `serverAddressByClientCIDRs` entry of `/api` for this host's local address
    /// towards the server: "which address should I use from here".
    pub async fn server_address_from_here(&self) -> Result<Option<ServerAddressByClientCIDR>> {
        let (versions, route) =
            futures_util::future::join(self.api_versions(), self.local_route()).await;
        Ok(versions?
            .server_address_by_client_cidrs
            .select(route?.local)
            .cloned())
    }

    fn cached(&self) -> Option<Arc<DiscoverySnapshot>> {
        self.inner
            .memory
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn may_refresh(&self, snapshot: &DiscoverySnapshot) -> bool {
        snapshot.source == SnapshotSource::DiskCache
            || self
                .inner
                .clock
                .now()
                .duration_since(snapshot.fetched_at)
                .unwrap_or_default()
                >= self.inner.refresh_on_miss_after
    }

    /// Loads a snapshot into the memory cache, one loader at a time. With `replace`,
    /// reloads unless another caller already replaced that snapshot.
    async fn load(
        &self,
        replace: Option<&Arc<DiscoverySnapshot>>,
    ) -> Result<Arc<DiscoverySnapshot>> {
        let _single_flight = self.inner.loading.lock().await;
        if let Some(current) = self.cached()
            && replace.is_none_or(|old| !Arc::ptr_eq(old, &current))
        {
            return Ok(current);
        }
        if replace.is_some()
            && let Some(disk) = &self.inner.disk
        {
            disk.invalidate();
        }
        let generation = self.inner.generation.load(Ordering::SeqCst);
        let snapshot = Arc::new(self.load_uncached().await?);
        let mut memory = self.inner.memory.write().unwrap_or_else(|e| e.into_inner());
        if self.inner.generation.load(Ordering::SeqCst) == generation {
            *memory = Some(snapshot.clone());
        }
        Ok(snapshot)
    }

    async fn load_uncached(&self) -> Result<DiscoverySnapshot> {
        let now = self.inner.clock.now();
        if let Some(disk) = &self.inner.disk
            && let Some(snapshot) = self.load_from_disk(disk).await
        {
            return Ok(snapshot);
        }
        let live = self.fetcher().everything().await?;
        if let Some(disk) = &self.inner.disk {
            let groups = APIGroupList {
                groups: live.groups.clone(),
                ..APIGroupList::default()
            };
            for list in &live.resources {
                log_write(disk.write_resources(list).await);
            }
            // Groups last: a reader that finds servergroups.json finds the lists too.
            log_write(disk.write_groups(&groups).await);
        }
        let source = if live.aggregated {
            SnapshotSource::Aggregated
        } else {
            SnapshotSource::Legacy
        };
        Ok(DiscoverySnapshot::new(
            live.groups,
            live.resources,
            live.failures,
            source,
            now,
        ))
    }

    /// The snapshot from the disk cache, fetching (and caching) group versions whose
    /// file is missing, expired or corrupt; `None` when `servergroups.json` is.
    async fn load_from_disk(&self, disk: &DiskCache) -> Option<DiscoverySnapshot> {
        let mut groups = disk.read_groups().await?.groups;
        // The cache directory is shared (kubectl, other tools): filter it like an answer.
        let foreign = fetch::drop_foreign_versions(&mut groups);
        let group_versions = distinct_group_versions(&groups);
        let mut found = std::collections::HashMap::new();
        let mut missing = Vec::new();
        for gv in group_versions.iter() {
            match disk.read_resources(gv).await {
                Some(list) => {
                    found.insert(gv.clone(), list);
                }
                None => missing.push(gv.clone()),
            }
        }
        tracing::debug!(dir = %disk.dir().display(), cached = found.len(), missing = missing.len(), "discovery from disk cache");
        let (fetched, mut failures) = self.fetcher().resources_of(missing).await;
        failures.extend(foreign);
        for list in fetched {
            log_write(disk.write_resources(&list).await);
            found.insert(list.group_version.clone(), list);
        }
        let resources = group_versions
            .iter()
            .filter_map(|gv| found.remove(gv))
            .collect();
        Some(DiscoverySnapshot::new(
            groups,
            resources,
            failures,
            SnapshotSource::DiskCache,
            self.inner.clock.now(),
        ))
    }
}

/// kubectl only logs a failed cache write; so do we.
fn log_write(result: std::result::Result<(), error::WriteCacheError>) {
    if let Err(error) = result {
        tracing::warn!(error = %crate::error::Report::new(&error), "discovery cache not written");
    }
}
