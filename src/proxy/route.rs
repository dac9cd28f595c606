//! Where a request goes: the API, the static files, a redirect, 400 or 404.
//!
//! The raw target is checked and decoded once ([`target::decode`]); routing works on
//! the decoded path. This reproduces what kubectl's proxy gets from Go's
//! `http.ServeMux` and its own `stripLeaveSlash`: non-canonical paths (`//`, `.`, `..`,
//! encoded or not) are redirected to their clean form, a prefix asked for without its
//! trailing slash is redirected to it, the longest matching prefix wins, anything else
//! is `404 page not found`. Pure: no I/O.

use super::options::with_trailing_slash;
use super::target::{self, BadTarget, clean_path, encode_path};

/// The outcome of routing one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `400 Bad Request`: the target is refused outright, never forwarded.
    BadRequest(BadTarget),
    /// `301 Moved Permanently` to this location (encoded path and query).
    Redirect(String),
    /// `404 page not found`.
    NotFound,
    /// Proxy to the API server: the decoded, clean path after the prefix was handled,
    /// starting with `/`. The filter decides on it and exactly it is forwarded
    /// (encoded by [`upstream_url`]).
    Api(String),
    /// Serve a static file; the (encoded) path below `www_prefix`, starting with `/`.
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

    /// Routes a request by its raw (percent-encoded) path and raw query.
    ///
    /// Unlike Go's `ServeMux`, a `CONNECT` request's path is checked and cleaned too:
    /// no method gets a path past the filter that the API server would read differently.
    pub(crate) fn route(&self, raw_path: &str, raw_query: Option<&str>) -> Route {
        let target = match target::decode(raw_path, raw_query) {
            Ok(t) => t,
            Err(bad) => return Route::BadRequest(bad),
        };
        let with_query = |p: &str| match &target.query {
            Some(q) => format!("{}?{q}", encode_path(p)),
            None => encode_path(p),
        };
        let path = target.path.as_str();
        // Go cleans the decoded path, so `%2e%2e` and `%2F%2F` count as `..` and `//`.
        let clean = clean_path(path);
        if clean != path {
            return Route::Redirect(with_query(&clean));
        }
        let patterns = std::iter::once(&self.api_prefix).chain(self.www_prefix.as_ref());
        if !path.ends_with('/') {
            let slashed = format!("{path}/");
            if patterns.clone().any(|p| *p == slashed) {
                return Route::Redirect(with_query(&slashed));
            }
        }
        let best = patterns
            .filter(|p| path.starts_with(p.as_str()))
            .max_by_key(|p| p.len());
        match best {
            None => Route::NotFound,
            Some(p) if Some(p) == self.www_prefix.as_ref() => {
                Route::Static(encode_path(&format!("/{}", &path[p.len()..])))
            }
            Some(p) if p.starts_with("/api") => Route::Api(path.to_owned()),
            Some(p) => {
                // kubectl's stripLeaveSlash: drop the prefix, keep a leading slash. The
                // prefix itself gives `/` (kubectl's filter sees an empty path there):
                // the filter sees exactly what the API server gets.
                let rest = &path[p.len()..];
                if rest.starts_with('/') {
                    Route::Api(rest.to_owned())
                } else {
                    Route::Api(format!("/{rest}"))
                }
            }
        }
    }
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
/// path too when `append_server_path` is set, then the request's decoded, clean path
/// (what the filter saw) encoded by [`encode_path`], and the raw query.
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
    url.push_str(&join_paths(base, &encode_path(path)));
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

    fn get(router: &Router, path: &str) -> Route {
        router.route(path, None)
    }

    #[test]
    fn default_prefix_serves_everything_with_the_path_unchanged() {
        let r = Router::new("/", None);
        assert_eq!(get(&r, "/api/v1/pods"), Route::Api("/api/v1/pods".into()));
        assert_eq!(get(&r, "/"), Route::Api("/".into()));
        assert_eq!(get(&r, "/apis/"), Route::Api("/apis/".into()));
        assert_eq!(get(&r, "/static/x"), Route::Api("/static/x".into()));
    }

    #[test]
    fn custom_prefix_is_stripped_and_others_are_404() {
        let r = Router::new("/custom", None);
        assert_eq!(get(&r, "/custom/api/v1"), Route::Api("/api/v1".into()));
        assert_eq!(get(&r, "/custom/"), Route::Api("/".into()));
        assert_eq!(get(&r, "/custom"), Route::Redirect("/custom/".into()));
        assert_eq!(
            r.route("/custom", Some("a=b")),
            Route::Redirect("/custom/?a=b".into())
        );
        assert_eq!(get(&r, "/api/v1"), Route::NotFound);
        assert_eq!(get(&r, "/customer"), Route::NotFound);
        // An empty query is no query (Go's `RawQuery` is empty too).
        assert_eq!(
            r.route("/custom/.", Some("")),
            Route::Redirect("/custom".into())
        );
        assert_eq!(
            r.route("/custom", Some("")),
            Route::Redirect("/custom/".into())
        );
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
    fn unclean_paths_redirect_after_decoding() {
        let r = Router::new("/", None);
        assert_eq!(get(&r, "/api/../x"), Route::Redirect("/x".into()));
        assert_eq!(get(&r, "//api//v1/"), Route::Redirect("/api/v1/".into()));
        assert_eq!(get(&r, "/api/./v1"), Route::Redirect("/api/v1".into()));
        // Encoded dots and slashes are dots and slashes: no way around the filter.
        assert_eq!(
            get(&r, "/apis/%2e%2e/api/v1/namespaces/a/pods/b/exec"),
            Route::Redirect("/api/v1/namespaces/a/pods/b/exec".into())
        );
        assert_eq!(
            get(&r, "/api/v1/namespaces/a/pods/b%2F..%2Fc%2F%2Fexec"),
            Route::Redirect("/api/v1/namespaces/a/pods/c/exec".into())
        );
        assert_eq!(get(&r, "/a%20b/./c"), Route::Redirect("/a%20b/c".into()));
        assert_eq!(
            r.route("/a/./b", Some("x=%2F")),
            Route::Redirect("/a/b?x=%2F".into())
        );
    }

    #[test]
    fn api_paths_are_decoded_once() {
        let r = Router::new("/", None);
        assert_eq!(
            get(&r, "/api/v1/namespaces/a%2Fb"),
            Route::Api("/api/v1/namespaces/a/b".into())
        );
        assert_eq!(
            get(&r, "/api/v1/namespaces/a/pods/b/%65xec"),
            Route::Api("/api/v1/namespaces/a/pods/b/exec".into())
        );
        assert_eq!(
            get(&r, "/api/v1/namespaces/a/pods/b/%252e%252e"),
            Route::Api("/api/v1/namespaces/a/pods/b/%2e%2e".into())
        );
        let custom = Router::new("/custom", None);
        assert_eq!(
            get(&custom, "/custom%2Fapi/v1"),
            Route::Api("/api/v1".into())
        );
    }

    #[test]
    fn bad_targets_are_refused_before_routing() {
        let r = Router::new("/custom", Some("/static"));
        for (raw, why) in [
            (
                r"/custom/api\v1/namespaces/default/pods/p/exec",
                BadTarget::Backslash,
            ),
            (r"/static/..\..\etc", BadTarget::Backslash),
            ("/custom/api/v1/x%5C", BadTarget::EncodedBackslash),
            ("/nowhere%00", BadTarget::EncodedControl),
            ("/custom/%zz", BadTarget::InvalidEscape),
        ] {
            assert_eq!(get(&r, raw), Route::BadRequest(why), "{raw}");
        }
        assert_eq!(
            r.route("/custom/api", Some(r"a=\")),
            Route::BadRequest(BadTarget::Backslash)
        );
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
