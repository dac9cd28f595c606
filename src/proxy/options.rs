//! [`ProxyOptions`]: `kubectl proxy`'s flags, with kubectl's names and defaults.

use super::ProxyError;
use super::filter::{Filter, Patterns};
use std::path::PathBuf;
use std::time::Duration;

/// kubectl's default for `--accept-hosts`.
pub const DEFAULT_ACCEPT_HOSTS: &str = r"^localhost$,^127\.0\.0\.1$,^\[::1\]$";
/// kubectl's default for `--accept-paths`.
pub const DEFAULT_ACCEPT_PATHS: &str = "^.*";
/// kubectl's default for `--reject-paths`: exec and attach are refused.
pub const DEFAULT_REJECT_PATHS: &str = "^/api/.*/pods/.*/exec,^/api/.*/pods/.*/attach";
/// kubectl's default for `--reject-methods` (matches no method).
pub const DEFAULT_REJECT_METHODS: &str = "^$";
/// kubectl's default `--port`.
pub const DEFAULT_PORT: u16 = 8001;

/// The options of a [`Proxy`](super::Proxy), named after `kubectl proxy`'s flags and
/// with the same defaults — except `address`, see there.
///
/// The four filter options take kubectl's form: comma-separated regular expressions,
/// each matched anywhere in the value (anchor with `^…$`), the empty string matching
/// nothing.
///
/// ```
/// use k8s_client::proxy::ProxyOptions;
/// let mut options = ProxyOptions::default();
/// assert_eq!(options.port, 8001);
/// assert_eq!(options.api_prefix, "/");
/// options.port = 0; // pick a free port; the bound address is reported
/// options.reject_methods = "^POST$,^PUT$,^PATCH$,^DELETE$".into(); // read-only proxy
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyOptions {
    /// `--port`: the TCP port to serve on; `0` picks a free one (default 8001).
    pub port: u16,
    /// `--address`: the IP address (or host name) to serve on. IPv6 literals are
    /// accepted with or without brackets (`::1`, `[::1]`).
    ///
    /// `None` (the default) serves on BOTH `127.0.0.1` and `::1`, so that
    /// `curl http://localhost:8001/` and `curl http://[::1]:8001/` both work; kubectl
    /// serves on `127.0.0.1` only. An explicit address binds exactly that address.
    pub address: Option<String>,
    /// `--unix-socket`: serve on this unix socket (created with mode 0600) instead of TCP.
    pub unix_socket: Option<PathBuf>,
    /// `--accept-hosts`: hosts (the `Host` header without its port) that are served.
    pub accept_hosts: String,
    /// `--accept-paths`: paths that are served.
    pub accept_paths: String,
    /// `--reject-paths`: paths that are refused even when `accept_paths` matches.
    pub reject_paths: String,
    /// `--reject-methods`: HTTP methods that are refused (e.g. `POST,PUT,PATCH`).
    pub reject_methods: String,
    /// `--api-prefix`: where the API is served (default `/`). A trailing slash is added.
    pub api_prefix: String,
    /// `--www`: also serve static files from this directory under `www_prefix`.
    pub www: Option<PathBuf>,
    /// `--www-prefix`: where static files are served (default `/static/`).
    pub www_prefix: String,
    /// `--disable-filter`: serve every request. Dangerous: any web page you visit can
    /// then use your credentials through the proxy (cross-site request forgery, DNS
    /// rebinding).
    pub disable_filter: bool,
    /// `--keepalive`: TCP keep-alive period of the proxy's accepted connections;
    /// zero (the default) leaves keep-alive off.
    pub keepalive: Duration,
    /// `--append-server-path`: prepend the path of the cluster's server URL
    /// (`https://host/some/path`) to each proxied request path.
    pub append_server_path: bool,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        Self {
            port: DEFAULT_PORT,
            address: None,
            unix_socket: None,
            accept_hosts: DEFAULT_ACCEPT_HOSTS.to_owned(),
            accept_paths: DEFAULT_ACCEPT_PATHS.to_owned(),
            reject_paths: DEFAULT_REJECT_PATHS.to_owned(),
            reject_methods: DEFAULT_REJECT_METHODS.to_owned(),
            api_prefix: "/".to_owned(),
            www: None,
            www_prefix: "/static/".to_owned(),
            disable_filter: false,
            keepalive: Duration::ZERO,
            append_server_path: false,
        }
    }
}

impl ProxyOptions {
    /// The filter these options describe; `None` when `disable_filter` is set.
    pub(crate) fn compile_filter(&self) -> Result<Option<Filter>, ProxyError> {
        if self.disable_filter {
            return Ok(None);
        }
        Ok(Some(Filter {
            accept_paths: Patterns::compile("accept-paths", &self.accept_paths)?,
            reject_paths: Patterns::compile("reject-paths", &self.reject_paths)?,
            accept_hosts: Patterns::compile("accept-hosts", &self.accept_hosts)?,
            reject_methods: Patterns::compile("reject-methods", &self.reject_methods)?,
        }))
    }

    /// Checks the combination of options, as kubectl's `Validate` does.
    pub(crate) fn validate(&self) -> Result<(), ProxyError> {
        if self.unix_socket.is_some() && self.port != DEFAULT_PORT {
            return Err(ProxyError::UnixSocketAndPort);
        }
        if let Some(www) = &self.www {
            match std::fs::metadata(www) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(ProxyError::StaticDir {
                        path: www.clone(),
                        source: None,
                    });
                }
                Err(source) => {
                    return Err(ProxyError::StaticDir {
                        path: www.clone(),
                        source: Some(source),
                    });
                }
            }
            if with_trailing_slash(&self.www_prefix) == with_trailing_slash(&self.api_prefix) {
                return Err(ProxyError::SamePrefix {
                    prefix: with_trailing_slash(&self.api_prefix),
                });
            }
        }
        Ok(())
    }
}

/// kubectl's `Complete`: prefixes always end with a slash.
pub(crate) fn with_trailing_slash(prefix: &str) -> String {
    if prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kubectls() {
        let o = ProxyOptions::default();
        assert_eq!(o.port, 8001);
        assert_eq!(o.address, None);
        assert_eq!(o.accept_hosts, r"^localhost$,^127\.0\.0\.1$,^\[::1\]$");
        assert_eq!(o.accept_paths, "^.*");
        assert_eq!(
            o.reject_paths,
            "^/api/.*/pods/.*/exec,^/api/.*/pods/.*/attach"
        );
        assert_eq!(o.reject_methods, "^$");
        assert_eq!(o.api_prefix, "/");
        assert_eq!(o.www_prefix, "/static/");
        assert!(!o.disable_filter);
        assert_eq!(o.keepalive, Duration::ZERO);
        assert!(!o.append_server_path);
        assert!(o.compile_filter().unwrap().is_some());
        o.validate().unwrap();
    }

    #[test]
    fn disable_filter_gives_no_filter() {
        let o = ProxyOptions {
            disable_filter: true,
            accept_hosts: "(".into(),
            ..ProxyOptions::default()
        };
        assert!(o.compile_filter().unwrap().is_none());
    }

    #[test]
    fn unix_socket_with_port_is_refused() {
        let o = ProxyOptions {
            unix_socket: Some("/tmp/x.sock".into()),
            port: 9000,
            ..ProxyOptions::default()
        };
        assert!(matches!(o.validate(), Err(ProxyError::UnixSocketAndPort)));
    }

    #[test]
    fn www_must_be_a_directory_and_prefixes_must_differ() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let o = ProxyOptions {
            www: Some(file.clone()),
            ..ProxyOptions::default()
        };
        let err = o.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "static file directory {} is not a readable directory",
                file.display()
            )
        );
        let o = ProxyOptions {
            www: Some(dir.path().join("missing")),
            ..ProxyOptions::default()
        };
        assert!(matches!(
            o.validate(),
            Err(ProxyError::StaticDir {
                source: Some(_),
                ..
            })
        ));
        let o = ProxyOptions {
            www: Some(dir.path().to_owned()),
            www_prefix: "/".into(),
            ..ProxyOptions::default()
        };
        assert!(matches!(o.validate(), Err(ProxyError::SamePrefix { .. })));
        let o = ProxyOptions {
            www: Some(dir.path().to_owned()),
            ..ProxyOptions::default()
        };
        o.validate().unwrap();
    }
}
