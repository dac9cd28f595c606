//! The API server proxy: reach a pod, service or node through
//! `…/{pods|services}/{[scheme:]name[:port]}/proxy/{path}` and `/api/v1/nodes/{…}/proxy/{path}`.

use super::error::{PathProblem, RequestError};
use crate::Client;
use crate::client::Body;
use crate::error::Error;
use crate::path::{self, PathBuilder, Refused};

/// What the API server proxies to ([`ProxyTarget::kind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyKind {
    /// A pod (`/api/v1/namespaces/{ns}/pods/{target}/proxy`).
    Pod,
    /// A service (`/api/v1/namespaces/{ns}/services/{target}/proxy`).
    Service,
    /// A node's kubelet (`/api/v1/nodes/{target}/proxy`).
    Node,
}

/// A target of the API server proxy: `[scheme:]name[:port]`.
///
/// ```
/// use k8s_client::api::ProxyTarget;
/// let t = ProxyTarget::service("default", "web").scheme("https").port("8443");
/// assert_eq!(
///     t.path("/healthz?verbose=1").unwrap(),
///     "/api/v1/namespaces/default/services/https:web:8443/proxy/healthz?verbose=1"
/// );
/// assert_eq!(ProxyTarget::node("n1").port("10250").path("").unwrap(), "/api/v1/nodes/n1:10250/proxy/");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyTarget {
    kind: ProxyKind,
    namespace: Option<String>,
    name: String,
    scheme: Option<String>,
    port: Option<String>,
}

impl ProxyTarget {
    /// A pod in `namespace`.
    pub fn pod(namespace: &str, name: &str) -> Self {
        Self::new(ProxyKind::Pod, Some(namespace), name)
    }

    /// A service in `namespace`.
    pub fn service(namespace: &str, name: &str) -> Self {
        Self::new(ProxyKind::Service, Some(namespace), name)
    }

    /// A node (its kubelet).
    pub fn node(name: &str) -> Self {
        Self::new(ProxyKind::Node, None, name)
    }

    /// What the target is: a pod, a service or a node.
    ///
    /// ```
    /// use k8s_client::api::{ProxyKind, ProxyTarget};
    /// assert_eq!(ProxyTarget::pod("default", "web-0").kind(), ProxyKind::Pod);
    /// ```
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    fn new(kind: ProxyKind, namespace: Option<&str>, name: &str) -> Self {
        Self {
            kind,
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
            scheme: None,
            port: None,
        }
    }

    /// Sets the scheme the API server uses towards the target (`http` or `https`).
    #[must_use]
    pub fn scheme(mut self, scheme: &str) -> Self {
        self.scheme = Some(scheme.to_owned());
        self
    }

    /// Sets the port: a number, or a port name of the pod or service.
    #[must_use]
    pub fn port(mut self, port: impl ToString) -> Self {
        self.port = Some(port.to_string());
        self
    }

    /// `[scheme:]name[:port]`, each part encoded as path-segment text. The API server
    /// splits the target at `:`, so a part containing `:` is refused too.
    fn segment(&self) -> Result<String, Refused> {
        let part = |what: &'static str, value: &str| -> Result<String, Refused> {
            if value.contains(':') {
                return Err(Refused::Segment {
                    what,
                    value: value.to_owned(),
                });
            }
            Ok(path::segment(what, value)?.into_owned())
        };
        let mut s = String::new();
        if let Some(scheme) = &self.scheme {
            s.push_str(&part("proxy target scheme", scheme)?);
            s.push(':');
        }
        s.push_str(&part("proxy target name", &self.name)?);
        if let Some(port) = &self.port {
            s.push(':');
            s.push_str(&part("proxy target port", port)?);
        }
        Ok(s)
    }

    /// The API server path that proxies `path_and_query` (relative to the target's root)
    /// to the target.
    ///
    /// The path is split at `/` and every segment is decoded and percent-encoded again as
    /// one segment (so `a b` and `a%20b` both become `a%20b`, and a `%` that starts no
    /// escape becomes `%25`). A segment that is or decodes to `.` or `..`, or that decodes
    /// to text containing `/`, is refused with [`RequestError::InvalidPath`]: the proxied
    /// path can never climb out of the target's `…/proxy/` root. The query (after the
    /// first `?`) is kept, with characters that must be escaped (`#`, spaces, quotes,
    /// control and non-ASCII characters) percent-encoded.
    pub fn path(&self, path_and_query: &str) -> Result<String, RequestError> {
        let target = self.segment()?;
        let base = match self.kind {
            ProxyKind::Node => PathBuilder::new().fixed("api/v1/nodes"),
            ProxyKind::Pod | ProxyKind::Service => {
                let plural = if self.kind == ProxyKind::Pod {
                    "pods"
                } else {
                    "services"
                };
                let namespace = self.namespace.as_deref().unwrap_or_default();
                PathBuilder::new()
                    .fixed("api/v1/namespaces")
                    .push("namespace", namespace)?
                    .fixed(plural)
            }
        };
        let base = base.push_encoded(&target).fixed("proxy").finish();
        let (rest, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let mut out = format!("{base}/{}", path::proxied(rest)?);
        if let Some(q) = query {
            out.push('?');
            out.push_str(&path::query(q));
        }
        Ok(out)
    }

    /// Rewrites `req` (whose URI is the path and query on the target) to go through the
    /// API server proxy; method, headers and body are kept. The path is checked and
    /// re-encoded as [`ProxyTarget::path`] describes.
    pub fn rewrite<B>(&self, req: http::Request<B>) -> Result<http::Request<B>, RequestError> {
        let (mut parts, body) = req.into_parts();
        let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let path = self.path(pq)?;
        parts.uri = path.parse().map_err(|_| RequestError::InvalidPath {
            what: "proxy path",
            path: path.clone(),
            problem: PathProblem::NotEncoded,
        })?;
        Ok(http::Request::from_parts(parts, body))
    }
}

/// Sends requests to a [`ProxyTarget`] through the API server, with the client's
/// credentials, streaming both ways.
///
/// The answer is returned as is, whatever its status: the target's own status codes are
/// meaningful to the caller (and a `503` from the API server means "no endpoint").
///
/// ```no_run
/// # async fn demo(client: k8s_client::Client) -> Result<(), k8s_client::Error> {
/// use k8s_client::api::{ApiserverProxy, ProxyTarget};
/// let web = ApiserverProxy::new(client, ProxyTarget::service("default", "web").port(80));
/// let answer = web.get("/index.html").await?;
/// println!("{}", answer.status());
/// let body = answer.into_body().collect_bytes().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ApiserverProxy {
    client: Client,
    target: ProxyTarget,
}

impl ApiserverProxy {
    /// A proxy handle for `target`.
    pub fn new(client: Client, target: ProxyTarget) -> Self {
        Self { client, target }
    }

    /// The target.
    pub fn target(&self) -> &ProxyTarget {
        &self.target
    }

    /// Sends `req` (URI = path and query on the target; any method, headers and body).
    pub async fn send(&self, req: http::Request<Body>) -> Result<http::Response<Body>, Error> {
        let req = self.target.rewrite(req)?;
        self.client.send(req).await
    }

    /// `GET path_and_query` on the target.
    pub async fn get(&self, path_and_query: &str) -> Result<http::Response<Body>, Error> {
        let req = http::Request::get(self.target.path(path_and_query)?)
            .body(Body::empty())
            .map_err(|_| RequestError::InvalidPath {
                what: "proxy path",
                path: path_and_query.to_owned(),
                problem: PathProblem::NotEncoded,
            })?;
        self.client.send(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            ProxyTarget::pod("ns", "p").path("/").unwrap(),
            "/api/v1/namespaces/ns/pods/p/proxy/"
        );
        assert_eq!(
            ProxyTarget::pod("ns", "p")
                .port(8080)
                .path("metrics")
                .unwrap(),
            "/api/v1/namespaces/ns/pods/p:8080/proxy/metrics"
        );
        assert_eq!(
            ProxyTarget::node("n")
                .scheme("https")
                .port(10250)
                .path("/stats/summary")
                .unwrap(),
            "/api/v1/nodes/https:n:10250/proxy/stats/summary"
        );
        assert!(ProxyTarget::service("ns", "a/b").path("/").is_err());
        assert!(ProxyTarget::service("", "a").path("/").is_err());
    }

    #[test]
    fn rewrite_keeps_method_headers_body_and_query() {
        let req = http::Request::post("/submit?x=1")
            .header("x-test", "1")
            .body(vec![1u8, 2])
            .unwrap();
        let out = ProxyTarget::service("ns", "web")
            .port("http")
            .rewrite(req)
            .unwrap();
        assert_eq!(out.method(), http::Method::POST);
        assert_eq!(
            out.uri(),
            "/api/v1/namespaces/ns/services/web:http/proxy/submit?x=1"
        );
        assert_eq!(out.headers()["x-test"], "1");
        assert_eq!(out.body(), &[1, 2]);
    }
}
