//! Handling one request: route, filter, then forward through the [`Client`] (streaming
//! both ways), pass an upgrade through, or serve a static file.

use super::filter::{Filter, host_without_port};
use super::headers::{append_forwarded_for, is_upgrade_request, remove_hop_by_hop};
use super::route::{Route, Router, redirect_body, upstream_url};
use crate::Client;
use crate::client::{Body, NoRetryAfter, UpgradeOutcome};
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::IpAddr;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::services::ServeDir;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of every response the proxy writes.
pub(crate) type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// Everything a request handler needs, shared by all connections.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) router: Router,
    pub(crate) filter: Option<Filter>,
    pub(crate) append_server_path: bool,
    pub(crate) static_files: Option<ServeDir>,
    /// Connections and upgraded tunnels run here, so shutdown can wait for them.
    pub(crate) tasks: TaskTracker,
    /// Cancelled when the shutdown grace period is over: ends what is still running.
    pub(crate) stop: CancellationToken,
}

/// Handles one request and logs it (method, path, status, duration) at debug level.
pub(crate) async fn handle(
    shared: &Shared,
    req: Request<Incoming>,
    peer: Option<IpAddr>,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = dispatch(shared, req, peer).await;
    tracing::debug!(
        target: "k8s_client::proxy",
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "proxied request"
    );
    response
}

async fn dispatch(
    shared: &Shared,
    req: Request<Incoming>,
    peer: Option<IpAddr>,
) -> Response<ProxyBody> {
    let route = shared.router.route(req.uri().path(), req.uri().query());
    match route {
        Route::BadRequest(bad) => {
            tracing::debug!(
                target: "k8s_client::proxy",
                method = %req.method(),
                reason = %bad,
                "refused request target"
            );
            text(
                StatusCode::BAD_REQUEST,
                &format!("400 Bad Request: {bad}\n"),
            )
        }
        Route::Redirect(location) => redirect(req.method(), &location),
        Route::NotFound => text(StatusCode::NOT_FOUND, "404 page not found\n"),
        Route::Static(path) => serve_static(shared, req, &path).await,
        Route::Api(path) => {
            // `path` is decoded and clean: the filter decides on it, and exactly it is
            // forwarded (`upstream_url` encodes it canonically).
            if let Some(filter) = &shared.filter {
                let host = request_host(&req);
                if !filter.accept(req.method().as_str(), &path, host_without_port(host)) {
                    tracing::debug!(
                        target: "k8s_client::proxy",
                        method = %req.method(),
                        path = %path,
                        host,
                        "filter rejected request"
                    );
                    return text(StatusCode::FORBIDDEN, "Forbidden\n");
                }
            }
            let url = upstream_url(
                shared.client.cluster_url(),
                shared.append_server_path,
                &path,
                req.uri().query(),
            );
            if is_upgrade_request(req.headers()) {
                upgrade(shared, req, &url, peer).await
            } else {
                forward(shared, req, &url, peer).await
            }
        }
    }
}

/// The host the request is for, as Go's server sets `Request.Host`: the authority of
/// an absolute-form target or of an HTTP/2 request (`:authority`), else the `Host`
/// header.
fn request_host(req: &Request<Incoming>) -> &str {
    req.uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or("")
}

/// The upstream request's head: the incoming one minus `Host`, plus `X-Forwarded-For`.
fn upstream_head(
    parts: &http::request::Parts,
    url: &str,
    peer: Option<IpAddr>,
    keep_hop_by_hop: bool,
) -> Result<http::request::Builder, http::Error> {
    let mut headers = parts.headers.clone();
    if !keep_hop_by_hop {
        remove_hop_by_hop(&mut headers, true);
    }
    headers.remove(header::HOST);
    if let Some(ip) = peer {
        append_forwarded_for(&mut headers, ip);
    }
    let uri: http::Uri = url.parse()?;
    let mut builder = Request::builder().method(parts.method.clone()).uri(uri);
    if let Some(h) = builder.headers_mut() {
        *h = headers;
    }
    Ok(builder)
}

async fn forward(
    shared: &Shared,
    req: Request<Incoming>,
    url: &str,
    peer: Option<IpAddr>,
) -> Response<ProxyBody> {
    let (parts, incoming) = req.into_parts();
    let body = if hyper::body::Body::is_end_stream(&incoming) {
        Body::empty()
    } else {
        Body::from_stream(incoming.into_data_stream())
    };
    let mut upstream = match upstream_head(&parts, url, peer, false).and_then(|b| b.body(body)) {
        Ok(r) => r,
        Err(e) => return upstream_error(&parts.method, url, &e),
    };
    // Relay a 429/5xx with Retry-After as it is, like kubectl proxy: the caller decides.
    upstream.extensions_mut().insert(NoRetryAfter);
    match shared.client.send(upstream).await {
        Ok(response) => relay(response),
        Err(e) => upstream_error(&parts.method, url, &e),
    }
}

/// The API server's response, hop-by-hop headers removed, body streamed as it arrives
/// (hyper writes each chunk out as soon as it is read: no flush interval).
fn relay(response: Response<Body>) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    remove_hop_by_hop(&mut parts.headers, false);
    Response::from_parts(parts, body.map_err(BoxError::from).boxed_unsync())
}

async fn upgrade(
    shared: &Shared,
    mut req: Request<Incoming>,
    url: &str,
    peer: Option<IpAddr>,
) -> Response<ProxyBody> {
    let downstream = hyper::upgrade::on(&mut req);
    let (parts, _) = req.into_parts();
    let upstream = match upstream_head(&parts, url, peer, true).and_then(|b| b.body(Body::empty()))
    {
        Ok(r) => r,
        Err(e) => return upstream_error(&parts.method, url, &e),
    };
    let (head, upstream_io) = match shared.client.send_upgrade(upstream).await {
        Err(e) => return upstream_error(&parts.method, url, &e),
        Ok(UpgradeOutcome::Response(response)) => {
            // The server's error answer is relayed unchanged, as kubectl does; a
            // redirect too (kubectl answers 500), never followed: the caller decides.
            // Any other answer to an upgrade request is a protocol violation.
            if response.status().is_redirection() || response.status().as_u16() >= 400 {
                return relay(response);
            }
            let message = format!(
                "invalid upgrade response: status code {}\n",
                response.status().as_u16()
            );
            tracing::error!(target: "k8s_client::proxy", url, "{}", message.trim_end());
            return text(StatusCode::INTERNAL_SERVER_ERROR, &message);
        }
        Ok(UpgradeOutcome::Upgraded { response, io }) => (response, io),
    };
    let stop = shared.stop.clone();
    let path = parts.uri.path().to_owned();
    shared.tasks.spawn(async move {
        let mut upstream_io = upstream_io;
        let copied = tokio::select! {
            _ = stop.cancelled() => return,
            downstream = downstream => match downstream {
                Ok(upgraded) => {
                    let mut downstream = TokioIo::new(upgraded);
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        r = tokio::io::copy_bidirectional(&mut downstream, &mut upstream_io) => r,
                    }
                }
                Err(e) => Err(std::io::Error::other(e)),
            },
        };
        match copied {
            Ok((up, down)) => tracing::debug!(
                target: "k8s_client::proxy",
                path,
                bytes_to_server = up,
                bytes_to_client = down,
                "upgraded connection closed"
            ),
            Err(e) => tracing::debug!(
                target: "k8s_client::proxy",
                path,
                error = %e,
                "upgraded connection ended with an error"
            ),
        }
    });
    let (head_parts, ()) = head.into_parts();
    let mut response = Response::new(empty());
    *response.status_mut() = head_parts.status;
    *response.headers_mut() = head_parts.headers;
    response
}

async fn serve_static(shared: &Shared, req: Request<Incoming>, path: &str) -> Response<ProxyBody> {
    let Some(files) = &shared.static_files else {
        return text(StatusCode::NOT_FOUND, "404 page not found\n");
    };
    let (mut parts, body) = req.into_parts();
    let rewritten = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    match rewritten.parse() {
        Ok(uri) => parts.uri = uri,
        Err(_) => return text(StatusCode::BAD_REQUEST, "400 Bad Request\n"),
    }
    match files
        .clone()
        .try_call(Request::from_parts(parts, body))
        .await
    {
        Ok(response) if response.status() == StatusCode::NOT_FOUND => {
            text(StatusCode::NOT_FOUND, "404 page not found\n")
        }
        Ok(response) if response.status().is_redirection() => {
            // A directory asked for without its slash. The file service only knows the
            // path below the prefix; Go answers 301 to the slashed directory.
            let below = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("/");
            let prefix = shared.router.www_prefix().unwrap_or("/");
            let mut moved = Response::new(empty());
            *moved.status_mut() = StatusCode::MOVED_PERMANENTLY;
            if let Ok(location) =
                HeaderValue::from_str(&format!("{}{below}", prefix.trim_end_matches('/')))
            {
                moved.headers_mut().insert(header::LOCATION, location);
            }
            moved
        }
        Ok(response) => response.map(|b| b.map_err(BoxError::from).boxed_unsync()),
        Err(e) => {
            tracing::error!(target: "k8s_client::proxy", path, error = %e, "reading a static file failed");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error\n",
            )
        }
    }
}

/// kubectl's responder: `500` with the error's text (ours never contains secrets).
fn upstream_error(
    method: &Method,
    url: &str,
    error: &(dyn std::error::Error + 'static),
) -> Response<ProxyBody> {
    let mut message = crate::error::Report::new(error).to_string();
    tracing::error!(target: "k8s_client::proxy", %method, url, error = %message, "error while proxying request");
    message.push('\n');
    text(StatusCode::INTERNAL_SERVER_ERROR, &message)
}

fn empty() -> ProxyBody {
    Full::new(Bytes::new())
        .map_err(|e| match e {})
        .boxed_unsync()
}

/// A plain-text answer as Go's `http.Error` writes it.
pub(crate) fn text(status: StatusCode, body: &str) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::copy_from_slice(body.as_bytes()))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `301 Moved Permanently`, with Go's small HTML body for GET and HEAD.
fn redirect(method: &Method, location: &str) -> Response<ProxyBody> {
    let mut response = if method == Method::GET || method == Method::HEAD {
        let mut r = Response::new(
            Full::new(Bytes::from(redirect_body(location)))
                .map_err(|e| match e {})
                .boxed_unsync(),
        );
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r
    } else {
        Response::new(empty())
    };
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
