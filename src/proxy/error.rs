//! [`ProxyError`]: what can fail while configuring, binding or serving a [`Proxy`](super::Proxy).

use std::path::PathBuf;

/// Configuring, binding or serving the local proxy failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// One of the comma-separated regular expressions of a filter option does not compile.
    #[error("invalid regular expression {pattern:?} in --{option}")]
    InvalidPattern {
        /// The option's kubectl flag name (`accept-hosts`, `reject-paths`, …).
        option: &'static str,
        /// The pattern that failed.
        pattern: String,
        /// The regex compiler's error.
        #[source]
        source: regex::Error,
    },
    /// `unix_socket` was combined with a non-default `port` (kubectl refuses this too).
    #[error("cannot set --unix-socket and --port at the same time")]
    UnixSocketAndPort,
    /// `api_prefix` and `www_prefix` are the same path while `www` is set.
    #[error("--api-prefix and --www-prefix are both {prefix:?}")]
    SamePrefix {
        /// The shared prefix (with its trailing slash).
        prefix: String,
    },
    /// The `www` directory cannot be used.
    #[error("static file directory {path} is not a readable directory")]
    StaticDir {
        /// The `www` directory.
        path: PathBuf,
        /// The file system's error, when there was one.
        #[source]
        source: Option<std::io::Error>,
    },
    /// `address` is neither an IP literal nor a resolvable host name.
    #[error("cannot resolve --address {address:?}")]
    ResolveAddress {
        /// The `address` option.
        address: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },
    /// `address` resolved to no IP address.
    #[error("--address {address:?} resolves to no IP address")]
    NoAddress {
        /// The `address` option.
        address: String,
    },
    /// Listening on a TCP address failed (port in use, address not local, …).
    #[error("listening on {address} failed")]
    Bind {
        /// The address, as `127.0.0.1:8001` or `[::1]:8001`.
        address: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Creating or listening on the unix socket failed.
    #[error("listening on unix socket {path} failed")]
    BindUnix {
        /// The `unix_socket` path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}
