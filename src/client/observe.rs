//! Per-request observations for metrics: [`RequestEvent`], given to the hook of
//! [`ClientBuilder::on_request`](super::ClientBuilder::on_request) once per call, and the
//! path templates that keep metric labels bounded.

use std::sync::Arc;
use std::time::Duration;

/// One finished call of a [`Client`](super::Client) (all its tries), for metrics.
///
/// ```
/// use k8s_client::client::RequestEvent;
/// fn record(e: &RequestEvent) {
///     // e.g. a Prometheus histogram labelled by method, path template and status:
///     let status = e.status.map_or("error".to_owned(), |s| s.to_string());
///     println!("{} {} {status} {:?} tries={}", e.method, e.path_template, e.latency, e.tries);
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestEvent {
    /// The method.
    pub method: http::Method,
    /// The path with object names and namespaces replaced (see [`path_template`]):
    /// `/api/v1/namespaces/{namespace}/pods/{name}`. Bounded, so fit for a metric label.
    pub path_template: String,
    /// The final answer's status; `None` when no answer came (connection failure,
    /// timeout, credential failure).
    pub status: Option<u16>,
    /// From the call to the final answer's head (or the failure), waits included.
    pub latency: Duration,
    /// How many times the request was sent (`1` without retries).
    pub tries: u32,
    /// Time spent waiting for the client-side rate limiter, over all tries.
    pub rate_limit_wait: Duration,
    /// The request body's size, when it was whole (`None` for a streamed body).
    pub request_bytes: Option<u64>,
    /// The answer's `Content-Length`, when it sent one (a streamed or chunked answer
    /// has none; the body is read after the hook runs).
    pub response_bytes: Option<u64>,
}

pub(crate) type RequestHook = Arc<dyn Fn(&RequestEvent) + Send + Sync>;

/// The template of a request path: the API prefix, group and version and resource
/// names are kept; namespace and object names become `{namespace}` and `{name}`, and
/// anything below a subresource (a proxied path) becomes `{path}`. Paths outside
/// `/api` and `/apis` (`/version`, `/readyz`, `/openapi/v3`) are kept as they are.
///
/// ```
/// use k8s_client::client::path_template;
/// assert_eq!(path_template("/api/v1/namespaces/default/pods/web-0"), "/api/v1/namespaces/{namespace}/pods/{name}");
/// assert_eq!(path_template("/apis/apps/v1/deployments"), "/apis/apps/v1/deployments");
/// assert_eq!(path_template("/api/v1/namespaces/kube-system"), "/api/v1/namespaces/{name}");
/// assert_eq!(
///     path_template("/api/v1/namespaces/d/services/web:80/proxy/metrics"),
///     "/api/v1/namespaces/{namespace}/services/{name}/proxy/{path}"
/// );
/// ```
pub fn path_template(path: &str) -> String {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let prefix_len = match segments.as_slice() {
        ["api", _, ..] => 2,
        ["apis", _, _, ..] => 3,
        _ => return path.to_owned(),
    };
    let mut out: Vec<&str> = segments[..prefix_len].to_vec();
    let mut rest = &segments[prefix_len..];
    if let ["watch", tail @ ..] = rest {
        out.push("watch");
        rest = tail;
    }
    match rest {
        // A namespace object and its subresources.
        ["namespaces", _] => {
            out.extend(["namespaces", "{name}"]);
            rest = &[];
        }
        ["namespaces", _, sub @ ("status" | "finalize")] => {
            out.extend(["namespaces", "{name}", sub]);
            rest = &[];
        }
        ["namespaces", _, tail @ ..] => {
            out.extend(["namespaces", "{namespace}"]);
            rest = tail;
        }
        _ => {}
    }
    match rest {
        [] => {}
        [resource] => out.push(resource),
        [resource, _] => out.extend([*resource, "{name}"]),
        [resource, _, sub] => out.extend([*resource, "{name}", sub]),
        [resource, _, sub, ..] => out.extend([*resource, "{name}", sub, "{path}"]),
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::path_template;
    use proptest::prelude::*;

    #[test]
    fn templates_of_the_api_paths() {
        for (path, template) in [
            ("/api", "/api"),
            ("/api/v1", "/api/v1"),
            ("/apis", "/apis"),
            ("/apis/apps", "/apis/apps"),
            ("/apis/apps/v1", "/apis/apps/v1"),
            ("/api/v1/pods", "/api/v1/pods"),
            ("/api/v1/nodes/n1", "/api/v1/nodes/{name}"),
            ("/api/v1/nodes/n1/status", "/api/v1/nodes/{name}/status"),
            ("/api/v1/namespaces", "/api/v1/namespaces"),
            ("/api/v1/namespaces/ns", "/api/v1/namespaces/{name}"),
            (
                "/api/v1/namespaces/ns/finalize",
                "/api/v1/namespaces/{name}/finalize",
            ),
            (
                "/api/v1/namespaces/ns/pods",
                "/api/v1/namespaces/{namespace}/pods",
            ),
            (
                "/api/v1/namespaces/ns/pods/p/log",
                "/api/v1/namespaces/{namespace}/pods/{name}/log",
            ),
            (
                "/apis/apps/v1/namespaces/ns/deployments/d/scale",
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
            ),
            (
                "/api/v1/watch/namespaces/ns/pods/p",
                "/api/v1/watch/namespaces/{namespace}/pods/{name}",
            ),
            (
                "/api/v1/namespaces/ns/pods/p/proxy/a/b/c",
                "/api/v1/namespaces/{namespace}/pods/{name}/proxy/{path}",
            ),
            ("/version", "/version"),
            ("/readyz", "/readyz"),
        ] {
            assert_eq!(path_template(path), template, "{path}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Names never reach the template: whatever the namespace and name, a path of
        /// a namespaced object has the same template.
        #[test]
        fn names_never_reach_the_template(ns in "[a-z0-9.-]{1,20}", name in "[^/]{1,30}") {
            let path = format!("/apis/apps/v1/namespaces/{ns}/deployments/{name}");
            prop_assert_eq!(
                path_template(&path),
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
            );
        }
    }
}
