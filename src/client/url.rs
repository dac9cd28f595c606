//! Resolving request URIs against the cluster URL. Pure, no I/O.

use crate::transport::TransportError;

/// `uri` resolved against `base`: an absolute URI as it is; a path and query appended to
/// the base URL's own path (so `https://host/prefix` + `/api` is `https://host/prefix/api`).
/// `timeout` (a Go duration) is added as `?timeout=` unless the query already has one.
///
/// The path reaches the server byte for byte as written: the URL is parsed from the
/// joined text (no `set_path`, which re-normalises), and a URI whose path the URL parser
/// would change — a `\`, a dot segment (also as `%2e`), a character it would escape — is
/// refused with [`TransportError::NonCanonicalUri`] instead of being sent somewhere else.
/// (In the query the parser may escape `'`, `"`, `<` or `>`; servers decode those back.)
pub(crate) fn resolve(
    base: &url::Url,
    uri: &http::Uri,
    timeout: Option<&str>,
) -> Result<url::Url, TransportError> {
    let shown = || display_uri(uri);
    let invalid = |source| TransportError::InvalidUri {
        uri: shown(),
        source,
    };
    let path = match uri.path() {
        "" => "/",
        p => p,
    };
    let (text, want_path) = if uri.scheme().is_some() {
        (uri.to_string(), path.to_owned())
    } else {
        let prefix = base.path().trim_end_matches('/');
        let joined = if path.starts_with('/') {
            format!("{prefix}{path}")
        } else {
            format!("{prefix}/{path}")
        };
        let mut text = base[..url::Position::BeforePath].to_owned();
        text.push_str(&joined);
        if let Some(q) = uri.query() {
            text.push('?');
            text.push_str(q);
        }
        (text, joined)
    };
    let mut url = url::Url::parse(&text).map_err(invalid)?;
    // Only the path is compared: the parser may escape a few query characters (`'`, `"`,
    // `<`, `>`), which every server decodes back to the same query.
    if url.path() != want_path || url.fragment().is_some() {
        return Err(TransportError::NonCanonicalUri {
            uri: shown(),
            parsed: match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_owned(),
            },
        });
    }
    if let Some(timeout) = timeout
        && !url.query_pairs().any(|(k, _)| k == "timeout")
    {
        let added: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("timeout", timeout)
            .finish();
        let query = match url.query() {
            Some(q) if !q.is_empty() => format!("{q}&{added}"),
            _ => added,
        };
        url.set_query(Some(&query));
    }
    Ok(url)
}

/// The request URI for messages: its path and query, with scheme and host when it is
/// absolute, never user information.
fn display_uri(uri: &http::Uri) -> String {
    let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
    match (uri.scheme_str(), uri.host()) {
        (Some(scheme), Some(host)) => match uri.port_u16() {
            Some(port) => format!("{scheme}://{host}:{port}{pq}"),
            None => format!("{scheme}://{host}{pq}"),
        },
        _ => pq.to_owned(),
    }
}

/// The URL for messages and logs: without user name and password.
pub(crate) use crate::secret::url_for_display as for_display;

#[cfg(test)]
mod tests {
    use super::*;

    fn r(base: &str, uri: &str, timeout: Option<&str>) -> String {
        resolve(&base.parse().unwrap(), &uri.parse().unwrap(), timeout)
            .unwrap()
            .to_string()
    }

    #[test]
    fn paths_join_the_base_prefix() {
        assert_eq!(
            r("https://10.0.0.1:6443", "/api/v1/pods?limit=1", None),
            "https://10.0.0.1:6443/api/v1/pods?limit=1"
        );
        assert_eq!(
            r("https://h/k8s/clusters/c-1/", "/api?x=1", None),
            "https://h/k8s/clusters/c-1/api?x=1"
        );
        assert_eq!(
            r("https://h/prefix", "/version", None),
            "https://h/prefix/version"
        );
        assert_eq!(
            r("https://[::1]:6443", "/api", None),
            "https://[::1]:6443/api"
        );
        assert_eq!(
            r("https://h", "https://other:1/x?y=2", None),
            "https://other:1/x?y=2"
        );
    }

    #[test]
    fn timeout_is_added_once() {
        assert_eq!(
            r("https://h", "/api", Some("30s")),
            "https://h/api?timeout=30s"
        );
        assert_eq!(
            r("https://h", "/api?limit=5", Some("30s")),
            "https://h/api?limit=5&timeout=30s"
        );
        assert_eq!(
            r("https://h", "/api?timeout=5s", Some("30s")),
            "https://h/api?timeout=5s"
        );
    }

    fn refused(base: &str, uri: &str) -> (String, String) {
        match resolve(&base.parse().unwrap(), &uri.parse().unwrap(), None) {
            Err(TransportError::NonCanonicalUri { uri, parsed }) => (uri, parsed),
            other => panic!("{uri}: expected NonCanonicalUri, got {other:?}"),
        }
    }

    #[test]
    fn paths_are_kept_byte_for_byte() {
        for (base, uri) in [
            ("https://h", "/api/v1/namespaces/a%5Cb/configmaps/x%23y"),
            (
                "https://h/prefix/",
                "/api/v1/namespaces/victim%23/configmaps",
            ),
            (
                "https://h",
                "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:a:b",
            ),
            ("https://h", "/api/v1/namespaces/%C3%BC/pods/a%20b"),
            ("https://h", "/api/v1/x/..."),
            ("https://h", "/a$&+,;=@~b|^[]!*'()"),
        ] {
            let url = resolve(&base.parse().unwrap(), &uri.parse().unwrap(), None).unwrap();
            let prefix = base.trim_start_matches("https://h").trim_end_matches('/');
            assert_eq!(url.path(), format!("{prefix}{uri}"), "{uri}");
        }
    }

    #[test]
    fn paths_the_parser_would_change_are_refused() {
        for uri in [
            "/api/v1/namespaces/tenant/configmaps/x/../../../victim/configmaps/db",
            "/api/v1/./pods",
            "/api/v1/%2e%2e/pods",
            "/api/v1/.%2E/pods",
            "/api/v1/namespaces/a\\b",
            "/api/v1/namespaces/a\"b",
            "/api/v1/namespaces/a{b}",
            "/api/v1/namespaces/%C3%BC/ü",
        ] {
            // `http::Uri` accepts all of these as they are.
            let parsed: http::Uri = uri.parse().unwrap();
            let (shown, changed) = refused("https://h/prefix", &parsed.to_string());
            assert_eq!(shown, parsed.to_string());
            assert_ne!(changed, format!("/prefix{}", parsed.path()));
        }
        let (shown, parsed) = refused("https://h", "https://user:pw@other:8443/a/../b?x=1");
        assert_eq!(shown, "https://other:8443/a/../b?x=1");
        assert_eq!(parsed, "/b?x=1");
        assert!(!format!("{shown}{parsed}").contains("pw"));
    }

    #[test]
    fn backslashes_never_reach_the_wire_as_slashes() {
        // `http::Uri` accepts a raw backslash; the URL parser would turn it into `/` and
        // resolve the dot segments it makes.
        let (_, parsed) = refused("https://h", "/api/v1/namespaces/x\\..\\victim");
        assert_eq!(parsed, "/api/v1/namespaces/victim");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever the values, a path the builder accepts is joined to the cluster URL's
        /// prefix byte for byte.
        #[test]
        fn built_paths_resolve_unchanged(
            namespace in "[a-z./\\\\#?% :@~\\x00-\\x1f\\u{80}-\\u{10ffff}]{0,8}",
            name in "[a-z./\\\\#?% :@~\\x00-\\x1f\\u{80}-\\u{10ffff}]{0,8}",
        ) {
            let Ok(collection) = crate::api::collection_path("", "v1", Some(&namespace), "configmaps") else {
                return Ok(());
            };
            let Ok(req) = crate::api::Request::new(collection).get(&name) else {
                return Ok(());
            };
            for base in ["https://h:6443", "https://h/k8s/clusters/c-1/"] {
                let url = resolve(&base.parse().unwrap(), req.uri(), None).unwrap();
                let prefix = base.split_once("//").unwrap().1.trim_start_matches(|c| c != '/');
                proptest::prop_assert_eq!(
                    url.path(),
                    format!("{}{}", prefix.trim_end_matches('/'), req.uri().path())
                );
            }
        }
    }

    #[test]
    fn display_drops_credentials() {
        let u: url::Url = "https://user:pw@h/api".parse().unwrap();
        assert_eq!(for_display(&u), "https://h/api");
    }
}
