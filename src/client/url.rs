//! Resolving request URIs against the cluster URL. Pure, no I/O.

use crate::transport::TransportError;

/// `uri` resolved against `base`: an absolute URI as it is; a path and query appended to
/// the base URL's own path (so `https://host/prefix` + `/api` is `https://host/prefix/api`).
/// `timeout` (a Go duration) is added as `?timeout=` unless the query already has one.
///
/// The path reaches the server byte for byte as written: a URI whose path the URL parser
/// would change — a `\`, a dot segment (also as `%2e`), a character it would escape — is
/// refused with [`TransportError::NonCanonicalUri`] instead of being sent somewhere else.
/// A relative URI made only of characters the parser keeps (every path the API builders
/// make) is kept as text ([`Resolved::Plain`]), sent as it is and parsed into a URL only
/// where one is needed; any other is joined to the base as text and parsed whole, and
/// the parsed path is checked against the joined one. (In the query the parser may
/// escape `'`, `"`, `<` or `>`; servers decode those back.)
pub(crate) fn resolve(
    base: &url::Url,
    uri: &http::Uri,
    timeout: Option<&str>,
) -> Result<Resolved, TransportError> {
    let path = match uri.path() {
        "" => "/",
        p => p,
    };
    if uri.scheme().is_none()
        && let Some(path_and_query) = plain(base, uri, path, timeout)
    {
        return Ok(Resolved::Plain(path_and_query));
    }
    let url = resolve_parsed(base, uri, path)?;
    Ok(Resolved::Parsed(with_timeout(url, timeout)))
}

/// A request URI resolved against the cluster URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// On the cluster URL's scheme, host and port: its path prefix, the request path and
    /// query (`timeout` added), made of bytes the URL parser keeps as they are.
    Plain(http::uri::PathAndQuery),
    /// Any other URI, parsed and checked.
    Parsed(url::Url),
}

impl Resolved {
    /// As a URL, on `base` (the cluster URL) when plain. A plain path that the parser
    /// would change after all is refused (never seen: every byte of it is one the parser
    /// keeps, see the property tests).
    pub(crate) fn to_url(&self, base: &url::Url) -> Result<url::Url, TransportError> {
        let text = match self {
            Resolved::Parsed(url) => return Ok(url.clone()),
            Resolved::Plain(text) => text,
        };
        let path = text.path();
        let mut url = base.clone();
        url.set_path(path);
        url.set_query(text.query());
        url.set_fragment(None);
        if url.path() != path {
            return Err(TransportError::NonCanonicalUri {
                uri: text.as_str().to_owned(),
                parsed: url[url::Position::BeforePath..url::Position::AfterQuery].to_owned(),
            });
        }
        Ok(url)
    }

    /// The URL for messages and logs (never user information); `origin` is the cluster
    /// URL's [`shown_origin`].
    pub(crate) fn shown(&self, origin: &str) -> String {
        match self {
            Resolved::Plain(text) => {
                let mut shown = String::with_capacity(origin.len() + text.as_str().len());
                shown.push_str(origin);
                shown.push_str(text.as_str());
                shown
            }
            Resolved::Parsed(url) => for_display(url),
        }
    }
}

/// `scheme://host[:port]` of `base` as [`for_display`] shows it: the part before the path.
pub(crate) fn shown_origin(base: &url::Url) -> String {
    let shown: url::Url = for_display(base)
        .parse()
        .expect("a URL without credentials parses again");
    shown[..url::Position::BeforePath].to_owned()
}

/// `uri` resolved by parsing the joined text as a whole URL, refused if the parser
/// changes its path.
fn resolve_parsed(
    base: &url::Url,
    uri: &http::Uri,
    path: &str,
) -> Result<url::Url, TransportError> {
    let shown = || display_uri(uri);
    let invalid = |source| TransportError::InvalidUri {
        uri: shown(),
        source,
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
    let url = url::Url::parse(&text).map_err(invalid)?;
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
    Ok(url)
}

/// `url` with `?timeout=` added unless its query already has one.
fn with_timeout(mut url: url::Url, timeout: Option<&str>) -> url::Url {
    if let Some(query) = query_with_timeout(url.query(), timeout) {
        url.set_query(Some(&query));
    }
    url
}

/// `query` with `timeout=` appended (form-encoded), or `None` when there is no timeout or
/// the query already has a `timeout` key: the one rule for both [`with_timeout`] and
/// the plain route's text.
fn query_with_timeout(query: Option<&str>, timeout: Option<&str>) -> Option<String> {
    let timeout = timeout?;
    if query.is_some_and(|q| url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "timeout"))
    {
        return None;
    }
    let mut text = match query {
        Some(q) if !q.is_empty() => format!("{q}&"),
        _ => String::new(),
    };
    let start = text.len();
    url::form_urlencoded::Serializer::for_suffix(&mut text, start).append_pair("timeout", timeout);
    Some(text)
}

/// The common case, as text, without parsing the cluster URL again: a relative path and
/// query made only of bytes the URL parser keeps as they are, and no dot segment, on an
/// `http`/`https` cluster URL: its path prefix, the path, the query and `timeout` (the
/// same text [`with_timeout`] makes of a parsed URL). When there is no prefix and no
/// `timeout` to add, that text is `uri`'s own path and query, kept as they are. `None`
/// sends the URI through the full parse.
fn plain(
    base: &url::Url,
    uri: &http::Uri,
    path: &str,
    timeout: Option<&str>,
) -> Option<http::uri::PathAndQuery> {
    let query = uri.query();
    if !plain_path(path)
        || !query.is_none_or(|q| q.bytes().all(|b| QUERY_BYTES[usize::from(b)]))
        || !matches!(base.scheme(), "https" | "http")
    {
        return None;
    }
    let prefix = base.path().trim_end_matches('/');
    let with_timeout = query_with_timeout(query, timeout);
    if prefix.is_empty()
        && with_timeout.is_none()
        && let Some(own) = uri.path_and_query().filter(|pq| pq.path() == path)
    {
        return Some(own.clone());
    }
    let mut text = String::with_capacity(
        prefix.len()
            + path.len()
            + query.map_or(0, |q| q.len() + 1)
            + timeout.map_or(0, |t| t.len() + 10),
    );
    text.push_str(prefix);
    text.push_str(path);
    if let Some(query) = with_timeout.as_deref().or(query) {
        text.push('?');
        text.push_str(query);
    }
    http::uri::PathAndQuery::from_maybe_shared(bytes::Bytes::from(text)).ok()
}

/// A table of the bytes in `allowed` besides ASCII letters and digits.
const fn byte_table(allowed: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < allowed.len() {
        table[allowed[i] as usize] = true;
        i += 1;
    }
    table
}

/// Bytes the path parser of a special scheme keeps as they are (no `\`, which it reads
/// as `/`; `%` only as the start of an escape that is not a dot, checked separately).
const PATH_BYTES: [bool; 256] = byte_table(b"-._~!$&'()*+,;=:@/%");

/// [`PATH_BYTES`] without `.` and `%`: a path of these alone has no dot segment.
const SIMPLE_PATH_BYTES: [bool; 256] = byte_table(b"-_~!$&'()*+,;=:@/");

/// Bytes the query parser of a special scheme keeps as they are (it escapes `'`).
const QUERY_BYTES: [bool; 256] = byte_table(b"-._~!$&()*+,;=:@/?%");

/// Whether `path` starts with `/`, holds only [`PATH_BYTES`], and has no dot segment
/// (`.` or `..`) and no `%2e` (which the parser reads as a dot), in one pass.
fn plain_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    if bytes.iter().all(|&b| SIMPLE_PATH_BYTES[usize::from(b)]) {
        return true;
    }
    // Bytes of the current segment so far, while they are all dots (at most 3 tracked).
    let mut dots: Option<usize> = Some(0);
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        if !PATH_BYTES[usize::from(b)] {
            return false;
        }
        match b {
            b'/' => {
                if matches!(dots, Some(1 | 2)) {
                    return false;
                }
                dots = Some(0);
            }
            b'.' => dots = dots.map(|n| (n + 1).min(3)),
            b'%' => {
                if bytes.get(i + 1) == Some(&b'2')
                    && bytes
                        .get(i + 2)
                        .is_some_and(|c| c.eq_ignore_ascii_case(&b'e'))
                {
                    return false;
                }
                dots = None;
            }
            _ => dots = None,
        }
    }
    !matches!(dots, Some(1 | 2))
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
        let base: url::Url = base.parse().unwrap();
        resolve(&base, &uri.parse().unwrap(), timeout)
            .unwrap()
            .to_url(&base)
            .unwrap()
            .to_string()
    }

    /// The plain route's text as a URL, `None` where the URI goes through the full parse.
    fn resolve_plain(base: &url::Url, path: &str, query: Option<&str>) -> Option<url::Url> {
        let uri: http::Uri = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        }
        .parse()
        .ok()?;
        plain(base, &uri, path, None).map(|text| Resolved::Plain(text).to_url(base).unwrap())
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
            let parsed_base: url::Url = base.parse().unwrap();
            let url = resolve(&parsed_base, &uri.parse().unwrap(), None)
                .unwrap()
                .to_url(&parsed_base)
                .unwrap();
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
                let base_url: url::Url = base.parse().unwrap();
                let url = resolve(&base_url, req.uri(), None).unwrap().to_url(&base_url).unwrap();
                let prefix = base.split_once("//").unwrap().1.trim_start_matches(|c| c != '/');
                proptest::prop_assert_eq!(
                    url.path(),
                    format!("{}{}", prefix.trim_end_matches('/'), req.uri().path())
                );
            }
        }
    }

    #[test]
    fn api_paths_take_the_plain_route() {
        let base: url::Url = "https://10.0.0.1:6443/prefix/".parse().unwrap();
        for (path, query) in [
            ("/api/v1/namespaces/bench/configmaps/probe", None),
            (
                "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:a:b",
                Some("limit=500&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ%3D%3D"),
            ),
            (
                "/api/v1/pods",
                Some("labelSelector=app+in+%28a%2Cb%29&watch=1"),
            ),
            ("/api/v1/namespaces/%C3%BC/pods/a%20b", None),
        ] {
            let url = resolve_plain(&base, path, query).unwrap();
            assert_eq!(url.path(), format!("/prefix{path}"));
            assert_eq!(url.query(), query);
        }
        for (path, query) in [
            ("/api/v1/./pods", None),
            ("/api/v1/x/..", None),
            ("/api/v1/%2E%2e/pods", None),
            ("/api/v1/a\\b", None),
            ("/api/v1/a\"b", None),
            ("/api/v1/ü", None),
            ("/api", Some("x='1'")),
            ("/api", Some("x=<1>")),
        ] {
            assert!(
                resolve_plain(&base, path, query).is_none(),
                "{path} {query:?}"
            );
        }
        let ftp: url::Url = "ftp://h/".parse().unwrap();
        assert!(resolve_plain(&ftp, "/api", None).is_none());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// The plain route gives exactly the URL the whole parse gives, for any relative
        /// URI `http::Uri` accepts.
        #[test]
        fn the_plain_route_equals_the_whole_parse(
            path in proptest::prop_oneof![
                r#"/[a-zA-Z0-9./\\%#?'"<>{}|^`\[\]!$&()*+,;=:@~ \x{80}-\x{10FFFF}-]{0,24}"#,
                "/[a-z0-9./%:@~-]{0,24}",
            ],
            query in proptest::option::of(r#"[a-zA-Z0-9./\\%?'"<>{}|^`\[\]!$&()*+,;=:@~ -]{0,16}"#),
            base in proptest::sample::select(vec![
                "https://h:6443", "https://h/k8s/clusters/c-1/", "http://user:pw@[::1]:8080/p",
                "https://h/p?q=1#f", "https://user@H.example:443/",
            ]),
            timeout in proptest::option::of(proptest::sample::select(vec!["30s", "1m0.5s"])),
        ) {
            let text = match &query {
                Some(q) => format!("{path}?{q}"),
                None => path.clone(),
            };
            let Ok(uri) = text.parse::<http::Uri>() else {
                return Ok(());
            };
            let base: url::Url = base.parse().unwrap();
            let path = match uri.path() {
                "" => "/",
                p => p,
            };
            // (The second path strategy reaches this branch in most cases.)
            if let Some(text) = plain(&base, &uri, path, timeout) {
                let parsed = resolve_parsed(&base, &uri, path).map(|u| with_timeout(u, timeout));
                let plain = Resolved::Plain(text.clone());
                let url = plain.to_url(&base);
                proptest::prop_assert_eq!(
                    url.as_ref().ok().map(url::Url::as_str),
                    parsed.as_ref().ok().map(url::Url::as_str)
                );
                let parsed = parsed.unwrap();
                // The text sent as it is equals what the URL sends, and shows the same.
                proptest::prop_assert_eq!(
                    text.as_str(),
                    &parsed[url::Position::BeforePath..url::Position::AfterQuery]
                );
                proptest::prop_assert_eq!(text.path(), parsed.path());
                proptest::prop_assert_eq!(text.query(), parsed.query());
                proptest::prop_assert_eq!(plain.shown(&shown_origin(&base)), for_display(&parsed));
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

        /// The one-pass check accepts exactly the paths of allowed bytes whose segments
        /// are not `.` or `..` and hold no `%2e` in either case.
        #[test]
        fn the_one_pass_path_check_keeps_its_definition(path in r#"/?[a-zA-Z0-9./\\%2eE:@~ \x{80}-]{0,16}"#) {
            let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b);
            let plain_segment = |segment: &str| {
                segment != "."
                    && segment != ".."
                    && !segment.as_bytes().windows(3).any(|w| w.eq_ignore_ascii_case(b"%2e"))
            };
            let defined = path.starts_with('/')
                && path.bytes().all(allowed)
                && path[1..].split('/').all(plain_segment);
            proptest::prop_assert_eq!(plain_path(&path), defined, "{}", path);
        }
    }

    #[test]
    fn display_drops_credentials() {
        let u: url::Url = "https://user:pw@h/api".parse().unwrap();
        assert_eq!(for_display(&u), "https://h/api");
    }
}
