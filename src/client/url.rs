//! Resolving request URIs against the cluster URL. Pure, no I/O.

use crate::transport::TransportError;

/// `uri` resolved against `base`: an absolute URI as it is; a path and query appended to
/// the base URL's own path (so `https://host/prefix` + `/api` is `https://host/prefix/api`).
/// `timeout` (a Go duration) is added as `?timeout=` unless the query already has one.
pub(crate) fn resolve(
    base: &url::Url,
    uri: &http::Uri,
    timeout: Option<&str>,
) -> Result<url::Url, TransportError> {
    let invalid = |source| TransportError::InvalidUri {
        uri: uri.to_string(),
        source,
    };
    let mut url = if uri.scheme().is_some() {
        url::Url::parse(&uri.to_string()).map_err(invalid)?
    } else {
        let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let prefix = base.path().trim_end_matches('/');
        let path = if path.starts_with('/') {
            format!("{prefix}{path}")
        } else {
            format!("{prefix}/{path}")
        };
        let mut url = base.clone();
        url.set_path(&path);
        url.set_query(query);
        url.set_fragment(None);
        url
    };
    if let Some(timeout) = timeout
        && !url.query_pairs().any(|(k, _)| k == "timeout")
    {
        url.query_pairs_mut().append_pair("timeout", timeout);
    }
    Ok(url)
}

/// The URL for messages and logs: without user name and password.
pub(crate) fn for_display(url: &url::Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    // Only fails for URLs that cannot have credentials, which then have none.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

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

    #[test]
    fn display_drops_credentials() {
        let u: url::Url = "https://user:pw@h/api".parse().unwrap();
        assert_eq!(for_display(&u), "https://h/api");
    }
}
