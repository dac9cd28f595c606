//! The request filter: kubectl's `FilterServer`, with the same order of checks.
//!
//! A request is accepted when its path matches none of `reject_paths`, its method
//! matches none of `reject_methods`, its path matches one of `accept_paths` and its host
//! (the `Host` header without the port) matches one of `accept_hosts`. Every other
//! request gets `403` with the body `Forbidden\n`.

use super::ProxyError;
use regex::Regex;

/// A compiled list of the comma-separated regular expressions of one option.
///
/// Like kubectl's `MakeRegexpArray`: the empty string is the empty list (it matches
/// nothing), otherwise the string is split at every comma and each part is compiled;
/// matching is unanchored, so use `^…$` to match a whole value.
#[derive(Clone, Debug)]
pub(crate) struct Patterns(Vec<Regex>);

impl Patterns {
    pub(crate) fn compile(option: &'static str, list: &str) -> Result<Self, ProxyError> {
        if list.is_empty() {
            return Ok(Self(Vec::new()));
        }
        list.split(',')
            .map(|pattern| {
                Regex::new(pattern).map_err(|source| ProxyError::InvalidPattern {
                    option,
                    pattern: pattern.to_owned(),
                    source,
                })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn matches(&self, value: &str) -> bool {
        self.0.iter().any(|re| re.is_match(value))
    }
}

/// kubectl's request filter, applied to API requests (not to static files).
#[derive(Clone, Debug)]
pub(crate) struct Filter {
    pub(crate) accept_paths: Patterns,
    pub(crate) reject_paths: Patterns,
    pub(crate) accept_hosts: Patterns,
    pub(crate) reject_methods: Patterns,
}

impl Filter {
    /// Whether a request is let through. `path` is the decoded path after the API
    /// prefix was handled, `host` the `Host` header with the port removed.
    pub(crate) fn accept(&self, method: &str, path: &str, host: &str) -> bool {
        if self.reject_paths.matches(path) || self.reject_methods.matches(method) {
            return false;
        }
        self.accept_paths.matches(path) && self.accept_hosts.matches(host)
    }
}

/// The host part of a `Host` header value: `localhost:8001` → `localhost`,
/// `127.0.0.1` → `127.0.0.1`, `[::1]:8001` → `[::1]`, `[::1]` → `[::1]`.
///
/// IPv6 literals keep their brackets with or without a port, so the default
/// `^\[::1\]$` accepts `curl http://[::1]:8001/`. kubectl strips the brackets only when
/// a port is present and therefore rejects that request (kubernetes/kubernetes#77496);
/// this is a deliberate difference.
pub(crate) fn host_without_port(header: &str) -> &str {
    if header.starts_with('[') {
        return match header.find(']') {
            Some(end) => &header[..=end],
            None => header,
        };
    }
    match header.split_once(':') {
        Some((host, port)) if !port.contains(':') => host,
        _ => header,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::ProxyOptions;

    fn default_filter() -> Filter {
        ProxyOptions::default().compile_filter().unwrap().unwrap()
    }

    #[test]
    fn defaults_accept_loopback_hosts_and_reject_exec_attach() {
        let f = default_filter();
        assert!(f.accept("GET", "/api/v1/namespaces", "localhost"));
        assert!(f.accept("GET", "/api/v1/namespaces", "127.0.0.1"));
        assert!(f.accept("GET", "/api/v1/namespaces", "[::1]"));
        assert!(f.accept("POST", "/apis/apps/v1/deployments", "localhost"));
        assert!(!f.accept("GET", "/api/v1/namespaces", "evil.example"));
        assert!(!f.accept("GET", "/api/v1/namespaces", "localhost.evil.example"));
        assert!(!f.accept("GET", "/api/v1/namespaces", ""));
        assert!(!f.accept("POST", "/api/v1/namespaces/a/pods/b/exec", "localhost"));
        assert!(!f.accept("GET", "/api/v1/namespaces/a/pods/b/attach", "localhost"));
        // Port forwarding is not rejected by default, as in kubectl.
        assert!(f.accept(
            "GET",
            "/api/v1/namespaces/a/pods/b/portforward",
            "localhost"
        ));
    }

    #[test]
    fn reject_wins_over_accept_and_empty_list_matches_nothing() {
        let f = Filter {
            accept_paths: Patterns::compile("accept-paths", "^.*").unwrap(),
            reject_paths: Patterns::compile("reject-paths", "^/secret").unwrap(),
            accept_hosts: Patterns::compile("accept-hosts", "").unwrap(),
            reject_methods: Patterns::compile("reject-methods", "POST,PUT").unwrap(),
        };
        // accept_hosts is empty: nothing is accepted.
        assert!(!f.accept("GET", "/api", "localhost"));
        let f = Filter {
            accept_hosts: Patterns::compile("accept-hosts", "^localhost$").unwrap(),
            ..f
        };
        assert!(f.accept("GET", "/api", "localhost"));
        assert!(!f.accept("GET", "/secret/x", "localhost"));
        assert!(!f.accept("POST", "/api", "localhost"));
        assert!(!f.accept("PUT", "/api", "localhost"));
        assert!(f.accept("DELETE", "/api", "localhost"));
    }

    #[test]
    fn bad_pattern_names_the_option_and_pattern() {
        let err = Patterns::compile("reject-paths", "^/ok,(unclosed").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid regular expression "(unclosed" in --reject-paths"#
        );
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn host_port_is_stripped_and_ipv6_keeps_brackets() {
        assert_eq!(host_without_port("localhost:8001"), "localhost");
        assert_eq!(host_without_port("localhost"), "localhost");
        assert_eq!(host_without_port("127.0.0.1:80"), "127.0.0.1");
        assert_eq!(host_without_port("[::1]:8001"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
        assert_eq!(host_without_port("::1"), "::1");
        assert_eq!(host_without_port(""), "");
    }
}
