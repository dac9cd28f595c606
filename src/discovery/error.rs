//! [`DiscoveryError`]: what can fail in discovery itself (requests to the server fail
//! with the crate's [`Error::Api`](crate::Error::Api) / transport errors as usual).

use std::path::PathBuf;

/// A discovery failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// No resource of the server matches a kubectl-style name.
    #[error("the server doesn't have a resource type \"{name}\"")]
    UnknownResource {
        /// The name as given (`po`, `deploy.apps`, `widgets.v1.example.com`).
        name: String,
    },
    /// A resource name was empty or malformed.
    #[error("invalid resource name \"{name}\"")]
    InvalidResourceName {
        /// The name as given.
        name: String,
    },
    /// A group version string was empty or malformed.
    #[error("invalid group version \"{group_version}\" (want \"v1\" or \"group/version\")")]
    InvalidGroupVersion {
        /// The string as given.
        group_version: String,
    },
    /// Aggregated discovery marked a group version `Stale`: its aggregated API server
    /// did not answer the API server's last discovery request.
    #[error("discovery of {group_version} is stale: its API service is not available")]
    StaleGroupVersion {
        /// `group/version`.
        group_version: String,
    },
    /// The server answered the request for one group version with another group
    /// version's document (`/apis/a/v1` answered with `groupVersion: b/v1`), or listed a
    /// version under a group it does not belong to. The document is not used for either.
    #[error("discovery of {requested} returned the document of {served}")]
    GroupVersionMismatch {
        /// The group version requested (`group/version`, or `v1`).
        requested: String,
        /// The `groupVersion` the server put in its answer (cut after 100 characters).
        served: String,
    },
    /// Fetching the resources of one group version failed (in a partial result).
    #[error("discovering the resources of {group_version} failed")]
    GroupVersion {
        /// `group/version`.
        group_version: String,
        /// The request's error (often [`Error::Api`](crate::Error::Api) with 503).
        #[source]
        source: Box<crate::Error>,
    },
    /// Neither `$KUBECACHEDIR` nor a home directory is set, so the default disk cache
    /// directory is unknown.
    #[error("no discovery cache directory: neither KUBECACHEDIR nor HOME is set")]
    NoCacheDirectory,
    /// The API server's host name did not resolve.
    #[error("resolving the API server host {host} failed")]
    ResolveServer {
        /// The host name.
        host: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },
    /// The operating system has no route to the API server's address.
    #[error("finding the local address towards {host} port {port} failed")]
    NoRoute {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The cluster URL has no host (so no address to route to).
    #[error("the cluster URL {url} has no host")]
    NoHost {
        /// The URL (without user name and password).
        url: String,
    },
}

/// Writing a disk cache file failed. Discovery logs this (tracing WARN) and goes on
/// without the file, as kubectl does; it is never returned.
#[derive(Debug, thiserror::Error)]
#[error("writing discovery cache file {path} failed")]
pub(crate) struct WriteCacheError {
    pub(crate) path: PathBuf,
    #[source]
    pub(crate) source: std::io::Error,
}

impl DiscoveryError {
    /// The group version a per-group failure is about.
    pub fn group_version(&self) -> Option<&str> {
        match self {
            Self::StaleGroupVersion { group_version }
            | Self::GroupVersion { group_version, .. } => Some(group_version),
            Self::GroupVersionMismatch { requested, .. } => Some(requested),
            _ => None,
        }
    }
}
