//! Where a request goes: the API, the static files, a redirect, or 404.
//!
//! This reproduces what kubectl's proxy gets from Go's `http.ServeMux` and its own
//! `stripLeaveSlash`: non-canonical paths (`//`, `.`, `..`) are redirected to their
//! clean form, a prefix asked for without its trailing slash is redirected to it, the
//! longest matching prefix wins, anything else is `404 page not found`. Pure: no I/O.

use super::options::with_trailing_slash;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// What Go's `url.URL.EscapedPath` escapes in a path: all but unreserved characters
/// and `$&+,/:;=@`.
const PATH_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b',')
    .remove(b'/')
    .remove(b':')
    .remove(b';')
    .remove(b'=')
    .remove(b'@');

/// The outcome of routing one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `301 Moved Permanently` to this location (path and query).
    Redirect(String),
    /// `404 page not found`.
    NotFound,
    /// Proxy to the API server; the path (still percent-encoded) after the prefix was
    /// handled. It may be empty (the prefix itself was asked for).
    Api(String),
    /// Serve a static file; the path below `www_prefix`, starting with `/`.
    Static(String),
}

/// The proxy's two mount points.
#[derive(Clone, Debug)]
pub(crate) struct Router {
    api_prefix: String,
    www_prefix: Option<String>,
}

impl Router {
    /// `www_prefix` only when static files are served (`www` is set).
    pub(crate) fn new(api_prefix: &str, www_prefix: Option<&str>) -> Self {
        Self {
            api_prefix: with_trailing_slash(api_prefix),
            www_prefix: www_prefix.map(with_trailing_slash),
        }
    }

    /// The static files' prefix (with its trailing slash), when they are served.
    pub(crate) fn www_prefix(&self) -> Option<&str> {
        self.www_prefix.as_deref()
    }

    /// Routes a request by its method, percent-encoded path and raw query.
    pub(crate) fn route(&self, method: &http::Method, path: &str, query: Option<&str>) -> Route {
        let with_query = |p: String| match query {
            Some(q) => format!("{p}?{q}"),
            None => p,
        };
        if method != http::Method::CONNECT {
            // Go cleans the decoded path, so `%2e%2e` counts as `..` too.
            let decoded = percent_decode_str(path).decode_utf8_lossy();
            let clean = clean_path(&decoded);
            if clean != decoded {
                return Route::Redirect(with_query(
                    utf8_percent_encode(&clean, PATH_ESCAPE).to_string(),
                ));
            }
        }
        let patterns = std::iter::once(&self.api_prefix).chain(self.www_prefix.as_ref());
        if !path.ends_with('/') {
            let slashed = format!("{path}/");
            if patterns.clone().any(|p| *p == slashed) {
                return Route::Redirect(with_query(slashed));
            }
        }
        let best = patterns
            .filter(|p| path.starts_with(p.as_str()))
            .max_by_key(|p| p.len());
        match best {
            None => Route::NotFound,
            Some(p) if Some(p) == self.www_prefix.as_ref() => {
                Route::Static(format!("/{}", &path[p.len()..]))
            }
            Some(p) if p.starts_with("/api") => Route::Api(path.to_owned()),
            Some(p) => {
                // kubectl's stripLeaveSlash: drop the prefix, keep a leading slash.
                let rest = &path[p.len()..];
                if rest.is_empty() || rest.starts_with('/') {
                    Route::Api(rest.to_owned())
                } else {
                    Route::Api(format!("/{rest}"))
                }
            }
        }
    }
}

/// Go's `cleanPath` of `net/http`: rooted, `.`/`..`/`//` resolved, trailing slash kept.
pub(crate) fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut clean = String::with_capacity(path.len() + 1);
    for part in &parts {
        clean.push('/');
        clean.push_str(part);
    }
    if clean.is_empty() || path.ends_with('/') {
        clean.push('/');
    }
    clean
}

/// Go's `singleJoiningSlash` (how a reverse proxy joins the target's path and the
/// request's path).
pub(crate) fn join_paths(base: &str, path: &str) -> String {
    match (base.ends_with('/'), path.starts_with('/')) {
        (true, true) => format!("{base}{}", &path[1..]),
        (false, false) => format!("{base}/{path}"),
        _ => format!("{base}{path}"),
    }
}

/// The upstream URL for an API request: scheme and authority of the cluster URL, its
/// path too when `append_server_path` is set, then the request's path and query.
pub(crate) fn upstream_url(
    cluster: &url::Url,
    append_server_path: bool,
    path: &str,
    query: Option<&str>,
) -> String {
    let mut url = format!("{}://{}", cluster.scheme(), authority(cluster));
    let base = if append_server_path {
        cluster.path()
    } else {
        ""
    };
    url.push_str(&join_paths(base, path));
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

fn authority(url: &url::Url) -> String {
    let host = match url.host() {
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(host) => host.to_string(),
        None => String::new(),
    };
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// The body Go's `http.Redirect` writes for GET and HEAD.
pub(crate) fn redirect_body(location: &str) -> String {
    let mut escaped = String::with_capacity(location.len());
    for c in location.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&#34;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    format!("<a href=\"{escaped}\">Moved Permanently</a>.\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn get(router: &Router, path: &str) -> Route {
        router.route(&Method::GET, path, None)
    }

    #[test]
    fn default_prefix_serves_everything_with_the_path_unchanged() {
        let r = Router::new("/", None);
        assert_eq!(get(&r, "/api/v1/pods"), Route::Api("/api/v1/pods".into()));
        assert_eq!(get(&r, "/"), Route::Api("".into()));
        assert_eq!(get(&r, "/apis/"), Route::Api("/apis/".into()));
        assert_eq!(get(&r, "/static/x"), Route::Api("/static/x".into()));
    }

    #[test]
    fn custom_prefix_is_stripped_and_others_are_404() {
        let r = Router::new("/custom", None);
        assert_eq!(get(&r, "/custom/api/v1"), Route::Api("/api/v1".into()));
        assert_eq!(get(&r, "/custom/"), Route::Api("".into()));
        assert_eq!(get(&r, "/custom"), Route::Redirect("/custom/".into()));
        assert_eq!(
            r.route(&Method::GET, "/custom", Some("a=b")),
            Route::Redirect("/custom/?a=b".into())
        );
        assert_eq!(get(&r, "/api/v1"), Route::NotFound);
        assert_eq!(get(&r, "/customer"), Route::NotFound);
    }

    #[test]
    fn prefixes_starting_with_api_are_not_stripped() {
        // kubectl only strips prefixes that do not start with "/api".
        let r = Router::new("/api/", None);
        assert_eq!(get(&r, "/api/v1/pods"), Route::Api("/api/v1/pods".into()));
        assert_eq!(get(&r, "/apis/apps/v1"), Route::NotFound);
    }

    #[test]
    fn static_prefix_wins_when_longer() {
        let r = Router::new("/", Some("/static"));
        assert_eq!(
            get(&r, "/static/a/b.html"),
            Route::Static("/a/b.html".into())
        );
        assert_eq!(get(&r, "/static/"), Route::Static("/".into()));
        assert_eq!(get(&r, "/static"), Route::Redirect("/static/".into()));
        assert_eq!(get(&r, "/api"), Route::Api("/api".into()));
    }

    #[test]
    fn unclean_paths_redirect_except_connect() {
        let r = Router::new("/", None);
        assert_eq!(get(&r, "/api/../x"), Route::Redirect("/x".into()));
        assert_eq!(get(&r, "//api//v1/"), Route::Redirect("/api/v1/".into()));
        assert_eq!(get(&r, "/api/./v1"), Route::Redirect("/api/v1".into()));
        assert_eq!(
            r.route(&Method::CONNECT, "/api/../x", None),
            Route::Api("/api/../x".into())
        );
        // Encoded dots are dots: no way around the filter's path patterns.
        assert_eq!(
            get(&r, "/apis/%2e%2e/api/v1/namespaces/a/pods/b/exec"),
            Route::Redirect("/api/v1/namespaces/a/pods/b/exec".into())
        );
        assert_eq!(get(&r, "/a%20b/./c"), Route::Redirect("/a%20b/c".into()));
        assert_eq!(
            get(&r, "/api/v1/namespaces/a%2Fb"),
            Route::Api("/api/v1/namespaces/a%2Fb".into())
        );
    }

    #[test]
    fn clean_path_matches_go() {
        for (input, want) in [
            ("", "/"),
            ("/", "/"),
            ("/..", "/"),
            ("/a/b/../c/", "/a/c/"),
            ("/a/./b", "/a/b"),
            ("a/b", "/a/b"),
            ("/a//b//", "/a/b/"),
        ] {
            assert_eq!(clean_path(input), want, "{input}");
        }
    }

    #[test]
    fn upstream_url_drops_or_appends_the_server_path() {
        let plain: url::Url = "https://127.0.0.1:6443".parse().unwrap();
        let sub: url::Url = "https://example.test/k8s/clusters/c1".parse().unwrap();
        let v6: url::Url = "https://[::1]:6443/".parse().unwrap();
        assert_eq!(
            upstream_url(&plain, false, "/api/v1", Some("watch=1")),
            "https://127.0.0.1:6443/api/v1?watch=1"
        );
        assert_eq!(
            upstream_url(&plain, true, "", None),
            "https://127.0.0.1:6443/"
        );
        assert_eq!(
            upstream_url(&sub, false, "/api", None),
            "https://example.test/api"
        );
        assert_eq!(
            upstream_url(&sub, true, "/api", None),
            "https://example.test/k8s/clusters/c1/api"
        );
        assert_eq!(
            upstream_url(&v6, false, "/api", None),
            "https://[::1]:6443/api"
        );
        assert_eq!(upstream_url(&sub, false, "", None), "https://example.test/");
    }

    #[test]
    fn redirect_body_is_gos() {
        assert_eq!(
            redirect_body("/custom/"),
            "<a href=\"/custom/\">Moved Permanently</a>.\n\n"
        );
        assert_eq!(
            redirect_body("/a?b=1&c"),
            "<a href=\"/a?b=1&amp;c\">Moved Permanently</a>.\n\n"
        );
    }
}
