//! The API server proxy: reach a pod, service or node through
//! `…/{pods|services}/{[scheme:]name[:port]}/proxy/{path}` and `/api/v1/nodes/{…}/proxy/{path}`.

use super::error::RequestError;
use super::request::check_segment;
use crate::Client;
use crate::client::Body;
use crate::error::Error;

/// What the API server proxies to.
#[derive(Clone, Debug, PartialEq, Eq)]
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

    /// `[scheme:]name[:port]`.
    fn segment(&self) -> Result<String, RequestError> {
        check_segment("name", &self.name)?;
        let mut s = String::new();
        if let Some(scheme) = &self.scheme {
            check_segment("scheme", scheme)?;
            s.push_str(scheme);
            s.push(':');
        }
        s.push_str(&self.name);
        if let Some(port) = &self.port {
            check_segment("port", port)?;
            s.push(':');
            s.push_str(port);
        }
        Ok(s)
    }

    /// The API server path that proxies `path_and_query` (relative to the target's root)
    /// to the target.
    pub fn path(&self, path_and_query: &str) -> Result<String, RequestError> {
        let seg = self.segment()?;
        let base = match (&self.kind, &self.namespace) {
            (ProxyKind::Node, _) => format!("/api/v1/nodes/{seg}/proxy"),
            (kind, Some(ns)) => {
                check_segment("namespace", ns)?;
                let plural = if *kind == ProxyKind::Pod {
                    "pods"
                } else {
                    "services"
                };
                format!("/api/v1/namespaces/{ns}/{plural}/{seg}/proxy")
            }
            (_, None) => unreachable!("pod and service targets always have a namespace"),
        };
        let rest = path_and_query.strip_prefix('/').unwrap_or(path_and_query);
        Ok(format!("{base}/{rest}"))
    }

    /// Rewrites `req` (whose URI is the path and query on the target) to go through the
    /// API server proxy; method, headers and body are kept.
    pub fn rewrite<B>(&self, req: http::Request<B>) -> Result<http::Request<B>, RequestError> {
        let (mut parts, body) = req.into_parts();
        let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let path = self.path(pq)?;
        parts.uri = path.parse().map_err(|_| RequestError::InvalidName {
            what: "proxy path",
            value: path.clone(),
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
            .map_err(|_| RequestError::InvalidName {
                what: "proxy path",
                value: path_and_query.to_owned(),
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
