//! API server endpoints from the `default/kubernetes` EndpointSlices
//! ([`ClientBuilder::discover_endpoints`](super::ClientBuilder::discover_endpoints)).
//!
//! A background task lists the EndpointSlices labelled
//! `kubernetes.io/service-name=kubernetes` in `default`, watches them, and gives the
//! ready addresses (with the port named `https`) to the endpoint set. Everything read is
//! treated as hostile: the response and each event are size-bounded, addresses and
//! ports are validated, and at most [`MAX_DISCOVERED_ENDPOINTS`] are used. TLS on a
//! discovered endpoint is verified against the cluster's name like any extra endpoint.
//! The task ends soon after the last clone of the client is dropped.

use super::{Client, Inner};
use crate::api::LineDecoder;
use crate::error::Error;
use futures_util::StreamExt;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Weak;
use std::time::Duration;

/// The most API server endpoints taken from the EndpointSlices; further ones are
/// ignored (a warning is logged).
pub const MAX_DISCOVERED_ENDPOINTS: usize = 32;
/// The most EndpointSlices followed (the list asks for at most this many).
const MAX_SLICES: usize = 500;
/// The largest EndpointSlice list or watch event read.
const MAX_BODY: usize = 4 << 20;
/// How long the server keeps a watch open before the task lists again.
const WATCH_SECONDS: u32 = 300;
/// Bounds the list request and the start of the watch.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The first and the longest wait after a failed list or watch.
pub(super) const RETRY_MIN: Duration = Duration::from_secs(1);
pub(super) const RETRY_MAX: Duration = Duration::from_secs(30);
/// How often the task checks that the client is still in use while it waits.
const ALIVE_CHECK: Duration = Duration::from_millis(500);

const SLICES: &str = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";
const SELECTOR: &str = "labelSelector=kubernetes.io%2Fservice-name%3Dkubernetes";
const SERVICE_LABEL: &str = "kubernetes.io/service-name";

/// Reading the EndpointSlices failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SliceError {
    /// The request failed or was refused.
    #[error("reading the default/kubernetes EndpointSlices failed")]
    Request(#[source] Error),
    /// The request did not complete in time.
    #[error("reading the default/kubernetes EndpointSlices took longer than {0:?}")]
    Timeout(Duration),
    /// The list or an event exceeds [`MAX_BODY`].
    #[error("an EndpointSlice list or event exceeds {MAX_BODY} bytes")]
    TooLarge,
    /// `/api` answered more than [`MAX_BODY`].
    #[error("the /api answer exceeds {MAX_BODY} bytes")]
    ApiTooLarge,
    /// `/api` answered something other than an APIVersions object.
    #[error("the /api answer could not be decoded")]
    ApiDecode(#[source] serde_json::Error),
    /// The list or an event is not the JSON expected.
    #[error("an EndpointSlice list or event could not be decoded")]
    Decode(#[source] serde_json::Error),
}

/// A list: `items` is required (an answer without it is not a list, not an empty one).
#[derive(Deserialize)]
struct SliceList {
    items: Vec<Slice>,
}

/// The fields of an EndpointSlice this module reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Slice {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    address_type: String,
    #[serde(default)]
    endpoints: Option<Vec<SliceEndpoint>>,
    #[serde(default)]
    ports: Option<Vec<SlicePort>>,
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct SliceEndpoint {
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    conditions: Option<Conditions>,
}

#[derive(Deserialize)]
struct Conditions {
    #[serde(default)]
    ready: Option<bool>,
}

#[derive(Deserialize)]
struct SlicePort {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    port: Option<i64>,
    #[serde(default)]
    protocol: Option<String>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    object: serde_json::Value,
}

/// Whether an address from a slice may be dialled: not unspecified, multicast,
/// broadcast or link-local (the API server's own validation also refuses these; a
/// link-local address would point at a node-local service such as a metadata server).
pub(super) fn dialable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast() || v4.is_link_local())
        }
        IpAddr::V6(v6) => {
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            !(v6.is_unspecified() || v6.is_multicast() || link_local)
                && v6
                    .to_ipv4_mapped()
                    .is_none_or(|v4| dialable(IpAddr::V4(v4)))
        }
    }
}

impl Slice {
    /// The `https://address:port` of each ready endpoint, validated: `scheme` is the
    /// cluster URL's. A slice of another service or namespace, without a valid port
    /// named `https`, or of address type `FQDN` gives nothing; an address that is not an
    /// IP of the slice's address type, or not [`dialable`], is skipped.
    pub(crate) fn endpoints(&self, scheme: &str) -> Vec<url::Url> {
        let ours = self
            .metadata
            .namespace
            .as_deref()
            .is_none_or(|n| n == "default")
            && self
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_LABEL))
                .is_some_and(|s| s == "kubernetes");
        let port = self.ports.iter().flatten().find(|p| {
            p.name.as_deref() == Some("https")
                && p.protocol.as_deref().is_none_or(|proto| proto == "TCP")
        });
        let port = port
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p != 0);
        let (Some(port), true) = (port, ours) else {
            return Vec::new();
        };
        let v6 = match self.address_type.as_str() {
            "IPv4" => false,
            "IPv6" => true,
            _ => return Vec::new(),
        };
        let mut out = Vec::new();
        for ep in self.endpoints.iter().flatten() {
            // A nil `ready` means ready (the EndpointSlice API's rule).
            if ep.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                continue;
            }
            // Addresses are fungible: consumers use the first.
            let Some(Ok(ip)) = ep.addresses.first().map(|a| a.parse::<IpAddr>()) else {
                continue;
            };
            if ip.is_ipv6() != v6 || !dialable(ip) {
                continue;
            }
            let host = match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            };
            if let Ok(url) = format!("{scheme}://{host}:{port}").parse() {
                out.push(url);
            }
            if out.len() >= MAX_DISCOVERED_ENDPOINTS {
                break;
            }
        }
        out
    }
}

/// Every slice's endpoints in slice-name order, without duplicates, at most
/// [`MAX_DISCOVERED_ENDPOINTS`].
pub(crate) fn merge(slices: &BTreeMap<String, Vec<url::Url>>) -> Vec<url::Url> {
    let mut out: Vec<url::Url> = Vec::new();
    let mut dropped = 0usize;
    for url in slices.values().flatten() {
        if out.contains(url) {
            continue;
        }
        if out.len() == MAX_DISCOVERED_ENDPOINTS {
            dropped += 1;
            continue;
        }
        out.push(url.clone());
    }
    if dropped > 0 {
        tracing::warn!(
            used = MAX_DISCOVERED_ENDPOINTS,
            ignored = dropped,
            "the default/kubernetes EndpointSlices list more API server endpoints than the client uses"
        );
    }
    out
}

/// Starts the discovery task on the current Tokio runtime.
pub(crate) fn spawn(inner: Weak<Inner>) {
    tokio::spawn(run(inner));
}

pub(super) fn client(weak: &Weak<Inner>) -> Option<Client> {
    weak.upgrade().map(|inner| Client { inner })
}

/// Waits `wait`; false if the client was dropped meanwhile.
pub(super) async fn pause(weak: &Weak<Inner>, wait: Duration) -> bool {
    let end = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < end {
        if weak.strong_count() == 0 {
            return false;
        }
        tokio::time::sleep_until(end.min(tokio::time::Instant::now() + ALIVE_CHECK)).await;
    }
    weak.strong_count() > 0
}

async fn run(weak: Weak<Inner>) {
    let mut slices: BTreeMap<String, Vec<url::Url>> = BTreeMap::new();
    let mut delay = RETRY_MIN;
    loop {
        let Some(client) = client(&weak) else { return };
        let scheme = client.inner.endpoints.cluster().scheme().to_owned();
        let listed = list(&client, &scheme).await;
        let stream = match listed {
            Ok(found) => {
                slices = found;
                apply(&client, &slices);
                watch(&client).await
            }
            Err(e) => Err(e),
        };
        drop(client);
        let stream = match stream {
            Ok(s) => {
                delay = RETRY_MIN;
                s
            }
            Err(error) => {
                tracing::warn!(%error, retry_s = delay.as_secs(), "API server endpoint discovery failed; keeping the current endpoints");
                if !pause(&weak, delay).await {
                    return;
                }
                delay = (delay * 2).min(RETRY_MAX);
                continue;
            }
        };
        match follow(&weak, stream, &mut slices, &scheme).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                tracing::debug!(%error, "EndpointSlice watch ended; listing again");
                if !pause(&weak, delay).await {
                    return;
                }
            }
        }
    }
}

fn apply(client: &Client, slices: &BTreeMap<String, Vec<url::Url>>) {
    let urls = merge(slices);
    if client.inner.endpoints.set_discovered(&urls) {
        tracing::info!(
            endpoints = urls.len(),
            "API server endpoints updated from the default/kubernetes EndpointSlices"
        );
    }
}

pub(super) async fn bounded<T>(
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, SliceError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
        Ok(r) => r.map_err(SliceError::Request),
        Err(_) => Err(SliceError::Timeout(REQUEST_TIMEOUT)),
    }
}

async fn list(
    client: &Client,
    scheme: &str,
) -> Result<BTreeMap<String, Vec<url::Url>>, SliceError> {
    let req = http::Request::get(format!("{SLICES}?{SELECTOR}&limit={MAX_SLICES}"))
        .body(Vec::new())
        .expect("a constant request");
    let body = read_bounded(client, req)
        .await?
        .ok_or(SliceError::TooLarge)?;
    let list: SliceList = serde_json::from_slice(&body).map_err(SliceError::Decode)?;
    Ok(list
        .items
        .iter()
        .map(|s| (s.metadata.name.clone(), s.endpoints(scheme)))
        .collect())
}

/// The whole body of `req`'s answer, or `None` if it exceeds [`MAX_BODY`].
pub(super) async fn read_bounded(
    client: &Client,
    req: http::Request<Vec<u8>>,
) -> Result<Option<Vec<u8>>, SliceError> {
    let mut stream = bounded(client.request_stream(req)).await?;
    let mut body = Vec::new();
    let read = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > MAX_BODY {
                return Ok(false);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(true)
    };
    Ok(bounded(read).await?.then_some(body))
}

async fn watch(client: &Client) -> Result<crate::client::BodyStream, SliceError> {
    let req = http::Request::get(format!(
        "{SLICES}?{SELECTOR}&watch=true&timeoutSeconds={WATCH_SECONDS}"
    ))
    .body(Vec::new())
    .expect("a constant request");
    bounded(client.request_stream(req)).await
}

/// Applies the watch's events until it ends (`Ok(true)`: list again) or the client is
/// dropped (`Ok(false)`).
async fn follow(
    weak: &Weak<Inner>,
    mut stream: crate::client::BodyStream,
    slices: &mut BTreeMap<String, Vec<url::Url>>,
    scheme: &str,
) -> Result<bool, SliceError> {
    let mut lines = LineDecoder::new(MAX_BODY);
    loop {
        let chunk = match tokio::time::timeout(ALIVE_CHECK, stream.next()).await {
            Err(_) => {
                if weak.strong_count() == 0 {
                    return Ok(false);
                }
                continue;
            }
            Ok(None) => return Ok(true),
            Ok(Some(chunk)) => chunk.map_err(SliceError::Request)?,
        };
        lines.push(&chunk);
        let mut changed = false;
        while let Some(line) = lines.next_line().map_err(|_| SliceError::TooLarge)? {
            let event: Event = serde_json::from_slice(&line).map_err(SliceError::Decode)?;
            match event.kind.as_str() {
                "ADDED" | "MODIFIED" | "DELETED" => {
                    let slice: Slice =
                        serde_json::from_value(event.object).map_err(SliceError::Decode)?;
                    let name = slice.metadata.name.clone();
                    if event.kind == "DELETED" {
                        slices.remove(&name);
                    } else if slices.len() >= MAX_SLICES && !slices.contains_key(&name) {
                        continue;
                    } else {
                        slices.insert(name, slice.endpoints(scheme));
                    }
                    changed = true;
                }
                // 410 Gone or another error: list again.
                "ERROR" => return Ok(true),
                _ => {}
            }
        }
        if changed {
            let Some(client) = client(weak) else {
                return Ok(false);
            };
            apply(&client, slices);
        }
    }
}

#[cfg(test)]
#[path = "endpoints_slice_tests.rs"]
mod tests;
