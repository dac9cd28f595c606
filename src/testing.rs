//! Unit tests without a cluster (feature `testing`): [`MockTransport`] answers a
//! [`Client`]'s requests in memory and records them.
//!
//! Everything above the transport runs as in production — request building, headers,
//! credentials, retries on `Retry-After`, the `401` refresh, status checks, decoding — so
//! a test sees exactly what the API server would receive. For behaviour of the API
//! server itself (admission, watches, conflicts), test against a real one
//! (`testenv`).
//!
//! ```
//! use k8s_client::api::{Api, PostParams};
//! use k8s_client::testing::{MockTransport, json_response, status_response};
//! use k8s_openapi::api::core::v1::ConfigMap;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), k8s_client::Error> {
//! let mock = MockTransport::new(|req| match (req.method.as_str(), req.path()) {
//!     ("POST", "/api/v1/namespaces/default/configmaps") => json_response(201, &req.json()),
//!     _ => status_response(404, "NotFound", "not found"),
//! });
//! let cms: Api<ConfigMap> = Api::default_namespaced(mock.client());
//!
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! let created = cms.create(&PostParams::default(), &cm).await?;
//! assert_eq!(created.metadata.name.as_deref(), Some("settings"));
//! assert!(cms.get("missing").await.unwrap_err().is_not_found());
//!
//! let sent = mock.requests();
//! assert_eq!(sent.len(), 2);
//! assert_eq!(sent[0].json()["metadata"]["name"], "settings");
//! assert_eq!(sent[1].path(), "/api/v1/namespaces/default/configmaps/missing");
//! # Ok(()) }
//! ```

use crate::client::{Body, SendError, SendErrorKind, Transport};
use crate::{Client, Config};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use std::fmt;
use std::sync::{Arc, Mutex};

/// The cluster URL of [`MockTransport::client`] (`.invalid`: never resolvable).
pub const MOCK_SERVER: &str = "https://mock.k8s.invalid:6443";

/// A request as the transport received it (the body read whole).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method.
    pub method: http::Method,
    /// The absolute URI.
    pub uri: http::Uri,
    /// The headers (an `Authorization` value is marked sensitive: Debug hides it).
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl RecordedRequest {
    /// The path (`/api/v1/namespaces/default/pods`).
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The query string, if any (`limit=500&labelSelector=app%3Dweb`).
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

type Handler = dyn Fn(&RecordedRequest) -> Result<http::Response<Bytes>, SendError> + Send + Sync;

/// An in-memory [`Transport`]: every request is recorded and answered by a handler.
/// Cheap to clone; clones share the handler and the record.
#[derive(Clone)]
pub struct MockTransport {
    handler: Arc<Handler>,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl fmt::Debug for MockTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockTransport")
            .field("requests", &self.requests.lock().map(|r| r.len()).ok())
            .finish_non_exhaustive()
    }
}

impl MockTransport {
    /// Answers every request with `handler`.
    pub fn new(
        handler: impl Fn(&RecordedRequest) -> http::Response<Bytes> + Send + Sync + 'static,
    ) -> Self {
        Self::fallible(move |req| Ok(handler(req)))
    }

    /// Like [`new`](Self::new), with a handler that can also fail the exchange (a lost
    /// connection, a timeout), to test how the client reacts.
    pub fn fallible(
        handler: impl Fn(&RecordedRequest) -> Result<http::Response<Bytes>, SendError>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self {
            handler: Arc::new(handler),
            requests: Arc::default(),
        }
    }

    /// A client for [`MOCK_SERVER`] (namespace `default`, no credentials) sending
    /// through this transport. For other settings use
    /// `Client::builder(config).transport(mock.clone())`.
    pub fn client(&self) -> Client {
        let config = Config::new(MOCK_SERVER.parse().expect("a valid URL"));
        Client::builder(config)
            .transport(self.clone())
            .build()
            .expect("a client with a mock transport needs no I/O to build")
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Transport for MockTransport {
    fn send(
        &self,
        request: http::Request<Body>,
    ) -> BoxFuture<'static, Result<http::Response<Body>, SendError>> {
        let this = self.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = body
                .collect_bytes()
                .await
                .map_err(|e| SendError::new(SendErrorKind::NotSent, e))?;
            let recorded = RecordedRequest {
                method: parts.method,
                uri: parts.uri,
                headers: parts.headers,
                body,
            };
            this.requests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(recorded.clone());
            let response = (this.handler)(&recorded)?;
            Ok(response.map(Body::from))
        })
    }
}

/// A response with `status` and `body` as JSON (`Content-Type: application/json`).
/// `Content-Length` is set, as the API server does for such answers.
pub fn json_response(status: u16, body: &impl serde::Serialize) -> http::Response<Bytes> {
    let body = serde_json::to_vec(body).expect("a serialisable body");
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(Bytes::from(body))
        .expect("a valid status code")
}

/// A failure answer as the API server sends it: a `Status` object with `code`,
/// `reason` (`NotFound`, `Conflict`, …) and `message`.
pub fn status_response(code: u16, reason: &str, message: &str) -> http::Response<Bytes> {
    json_response(
        code,
        &serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
    use k8s_openapi::api::core::v1::ConfigMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn api_verbs_build_the_requests_the_server_expects() {
        let mock = MockTransport::new(|req| match req.method.as_str() {
            "GET" => json_response(
                200,
                &serde_json::json!({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {}, "items": []}),
            ),
            "PATCH" => json_response(
                200,
                &serde_json::json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "a b"}}),
            ),
            _ => json_response(
                200,
                &serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
            ),
        });
        let cms: Api<ConfigMap> = Api::namespaced(mock.client(), "team-a");
        cms.list(&ListParams::default().labels("app=web").limit(5))
            .await
            .unwrap();
        let patch = Patch::Apply(serde_json::json!({"data": {"k": "v"}}));
        cms.patch("a b", &PatchParams::apply("me").force(), &patch)
            .await
            .unwrap();
        cms.delete("a b", &DeleteParams::default()).await.unwrap();

        let sent = mock.requests();
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[0].path(), "/api/v1/namespaces/team-a/configmaps");
        assert_eq!(sent[0].query(), Some("labelSelector=app%3Dweb&limit=5"));
        assert_eq!(sent[0].uri.host(), Some("mock.k8s.invalid"));
        assert_eq!(sent[1].method, http::Method::PATCH);
        assert_eq!(sent[1].path(), "/api/v1/namespaces/team-a/configmaps/a%20b");
        assert_eq!(
            sent[1].headers[http::header::CONTENT_TYPE],
            "application/apply-patch+yaml"
        );
        assert_eq!(sent[1].query(), Some("force=true&fieldManager=me"));
        assert_eq!(sent[1].json()["data"]["k"], "v");
        assert_eq!(sent[2].method, http::Method::DELETE);
        assert!(
            sent.iter()
                .all(|r| r.headers.contains_key(http::header::USER_AGENT))
        );
    }

    #[tokio::test]
    async fn credentials_and_retries_apply_above_the_transport() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let mock = MockTransport::fallible(move |_| match seen.fetch_add(1, Ordering::SeqCst) {
            0 => Err(SendError::new(
                SendErrorKind::ConnectionLost,
                std::io::Error::from(std::io::ErrorKind::ConnectionReset),
            )),
            1 => Ok(http::Response::builder()
                .status(429)
                .header(http::header::RETRY_AFTER, "0")
                .body(Bytes::new())
                .unwrap()),
            _ => Ok(json_response(200, &serde_json::json!({"ok": true}))),
        });
        let mut config = Config::new(MOCK_SERVER.parse().unwrap());
        config.auth = crate::config::AuthConfig::Token("s3cr3t".into());
        let client = Client::builder(config)
            .transport(mock.clone())
            .build()
            .unwrap();
        let req = http::Request::get("/version").body(Vec::new()).unwrap();
        let answer: serde_json::Value = client.request(req).await.unwrap();
        assert_eq!(answer["ok"], true);
        let sent = mock.requests();
        // Lost connection (an idempotent GET: resent), 429 with Retry-After, success.
        assert_eq!(sent.len(), 3);
        for r in &sent {
            assert_eq!(r.headers[http::header::AUTHORIZATION], "Bearer s3cr3t");
            assert!(r.headers[http::header::AUTHORIZATION].is_sensitive());
            assert!(!format!("{r:?}").contains("s3cr3t"));
        }

        // A POST is not resent after a lost connection; the error keeps the kind.
        let mock = MockTransport::fallible(|_| {
            Err(SendError::new(
                SendErrorKind::ConnectionLost,
                std::io::Error::from(std::io::ErrorKind::ConnectionReset),
            ))
        });
        let req = http::Request::post("/api/v1/namespaces")
            .body(b"{}".to_vec())
            .unwrap();
        let err = mock
            .client()
            .request::<serde_json::Value>(req)
            .await
            .unwrap_err();
        assert_eq!(mock.requests().len(), 1);
        let crate::Error::Transport(crate::transport::TransportError::Custom {
            source, url, ..
        }) = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(source.kind(), SendErrorKind::ConnectionLost);
        assert_eq!(url, "https://mock.k8s.invalid:6443/api/v1/namespaces");

        // Upgrades need the built-in stack.
        let req = http::Request::get("/api/v1/namespaces/d/pods/p/exec")
            .body(Body::empty())
            .unwrap();
        let err = mock.client().send_upgrade(req).await.unwrap_err();
        assert!(matches!(
            err,
            crate::Error::Transport(crate::transport::TransportError::UpgradeUnsupported { .. })
        ));
    }

    #[tokio::test]
    async fn the_request_hook_sees_every_call_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let mock = MockTransport::new(move |req| {
            if req.path().ends_with("/busy") && seen.fetch_add(1, Ordering::SeqCst) == 0 {
                return http::Response::builder()
                    .status(503)
                    .header(http::header::RETRY_AFTER, "0")
                    .body(Bytes::new())
                    .unwrap();
            }
            if req.path().ends_with("/missing") {
                return status_response(404, "NotFound", "configmaps \"missing\" not found");
            }
            json_response(
                200,
                &serde_json::json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "n"}}),
            )
        });
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let client = Client::builder(Config::new(MOCK_SERVER.parse().unwrap()))
            .transport(mock.clone())
            .rate_limit(1000.0, 1)
            .on_request(move |e| sink.lock().unwrap().push(e.clone()))
            .build()
            .unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "prod");
        cms.get("web-0").await.unwrap();
        let busy = http::Request::put("/api/v1/namespaces/prod/configmaps/busy")
            .body(b"{\"data\":{}}".to_vec())
            .unwrap();
        client.request::<serde_json::Value>(busy).await.unwrap();
        assert!(cms.get("missing").await.unwrap_err().is_not_found());

        let events = events.lock().unwrap().clone();
        assert_eq!(events.len(), 3, "{events:#?}");
        let get = &events[0];
        assert_eq!(get.method, http::Method::GET);
        assert_eq!(
            get.path_template,
            "/api/v1/namespaces/{namespace}/configmaps/{name}"
        );
        assert_eq!(get.status, Some(200));
        assert_eq!(get.tries, 1);
        assert_eq!(get.request_bytes, Some(0));
        let body =
            serde_json::json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "n"}});
        let body_len = serde_json::to_vec(&body).unwrap().len() as u64;
        assert_eq!(get.response_bytes, Some(body_len));
        let put = &events[1];
        assert_eq!(put.method, http::Method::PUT);
        assert_eq!(put.status, Some(200));
        assert_eq!(put.tries, 2, "503 with Retry-After, then 200");
        assert_eq!(put.request_bytes, Some(11));
        let missing = &events[2];
        assert_eq!(missing.status, Some(404));
        assert_eq!(
            missing.path_template,
            "/api/v1/namespaces/{namespace}/configmaps/{name}"
        );
        // One token of burst: the later calls waited for the limiter.
        assert!(
            events
                .iter()
                .skip(1)
                .any(|e| e.rate_limit_wait > std::time::Duration::ZERO)
        );
        assert!(events.iter().all(|e| e.latency >= e.rate_limit_wait));
    }
}
