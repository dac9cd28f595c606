//! Talking to the server: pure request building, and the live fetch of every group
//! and resource (aggregated discovery first, else one request per group version).

use super::aggregated::{ACCEPT_AGGREGATED, ACCEPT_LEGACY, APIGroupDiscoveryList, Split};
use super::types::{
    APIGroup, APIGroupList, APIResourceList, APIVersions, GroupVersionForDiscovery,
};
use super::{DiscoveryError, is_aggregated_content_type};
use crate::client::response::api_error;
use crate::client::{Body, Client};
use crate::error::Error;
use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{ACCEPT, CONTENT_TYPE};
use std::sync::atomic::{AtomicU64, Ordering};

/// A `GET` of `path` with `Accept: accept` (no I/O).
pub(crate) fn get_request(path: &str, accept: &str) -> http::Request<Vec<u8>> {
    let mut req = http::Request::new(Vec::new());
    *req.uri_mut() = http::Uri::try_from(path).unwrap_or_else(|_| http::Uri::from_static("/"));
    req.headers_mut().insert(
        ACCEPT,
        http::HeaderValue::try_from(accept)
            .unwrap_or_else(|_| http::HeaderValue::from_static(ACCEPT_LEGACY)),
    );
    req
}

/// The path of a group version's resources: `/api/v1` for the core `v1`,
/// `/apis/<group>/<version>` otherwise. Only DNS-name characters are accepted, so the
/// result is always a well-formed path.
pub fn resources_path(group_version: &str) -> Result<String, DiscoveryError> {
    let invalid = || DiscoveryError::InvalidGroupVersion {
        group_version: group_version.to_owned(),
    };
    let valid = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            && !part.starts_with('.')
    };
    let (group, version) = match group_version.split_once('/') {
        None if valid(group_version) => ("", group_version),
        Some((group, version)) if valid(group) && valid(version) && !version.contains('.') => {
            (group, version)
        }
        _ => return Err(invalid()),
    };
    crate::path::group_version(group, version)
        .map(crate::path::PathBuilder::finish)
        .map_err(|_| invalid())
}

/// Issues discovery requests through a [`Client`] and counts them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fetcher<'a> {
    pub client: &'a Client,
    pub requests: &'a AtomicU64,
    pub concurrency: usize,
    pub aggregated: bool,
}

/// One discovery document as received.
pub(crate) struct Answer {
    pub content_type: Option<String>,
    pub body: Bytes,
    pub url: String,
}

impl Answer {
    pub fn is_aggregated(&self) -> bool {
        self.content_type
            .as_deref()
            .is_some_and(is_aggregated_content_type)
    }

    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|source| Error::Decode {
            url: self.url.clone(),
            type_name: std::any::type_name::<T>(),
            source,
        })
    }
}

/// Everything fetched live.
pub(crate) struct Live {
    pub groups: Vec<APIGroup>,
    pub resources: Vec<APIResourceList>,
    pub failures: Vec<DiscoveryError>,
    pub aggregated: bool,
}

impl Fetcher<'_> {
    /// The request URL for messages: the cluster URL (without user info) and `path`.
    pub fn url(&self, path: &str) -> String {
        let base = self.client.cluster_url();
        let host_and_prefix = &base[url::Position::BeforeHost..url::Position::AfterPath];
        format!(
            "{}://{}{path}",
            base.scheme(),
            host_and_prefix.trim_end_matches('/')
        )
    }

    /// `GET path`, status checked, with the reply's `Content-Type`.
    pub async fn get(&self, path: &str, accept: &str) -> Result<Answer, Error> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(path, accept, "discovery request");
        let url = self.url(path);
        let response = self
            .client
            .send(get_request(path, accept).map(Body::from))
            .await?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.into_body().collect_bytes().await?;
        if !status.is_success() {
            return Err(api_error(http::Method::GET, url, status.as_u16(), &body));
        }
        Ok(Answer {
            content_type,
            body,
            url,
        })
    }

    /// `GET path` as `application/json`, decoded as `T`.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.get(path, ACCEPT_LEGACY).await?.decode()
    }

    /// `GET /api/v1` or `/apis/<group>/<version>`. The answer is keyed by the group
    /// version requested: one naming another group version is an error.
    pub async fn resources(&self, group_version: &str) -> Result<APIResourceList, Error> {
        let path = resources_path(group_version)?;
        let mut list: APIResourceList = self.get_json(&path).await?;
        if list.group_version.is_empty() {
            list.group_version = group_version.to_owned();
        }
        if list.group_version != group_version {
            tracing::debug!(
                requested = group_version,
                "discovery answer names another group version"
            );
            return Err(mismatch(group_version, &list.group_version).into());
        }
        Ok(list)
    }

    fn accept(&self) -> &'static str {
        if self.aggregated {
            ACCEPT_AGGREGATED
        } else {
            ACCEPT_LEGACY
        }
    }

    /// `/api`: the core group, aggregated (with resources) or legacy (without).
    async fn core(&self) -> Result<(Split, bool), Error> {
        let answer = match self.get("/api", self.accept()).await {
            Ok(answer) => answer,
            // client-go tolerates 404 here (aggregated API servers may not serve /api):
            // no core group, and nothing that would force the legacy fallback.
            Err(e) if e.is_not_found() => return Ok((Split::default(), true)),
            Err(e) => return Err(e),
        };
        if answer.is_aggregated() {
            return Ok((answer.decode::<APIGroupDiscoveryList>()?.split(), true));
        }
        let versions: APIVersions = answer.decode()?;
        let mut split = Split::default();
        if !versions.versions.is_empty() {
            split.groups.push(core_group(&versions));
        }
        Ok((split, false))
    }

    /// `/apis`: the named groups, aggregated (with resources) or legacy (without).
    async fn named(&self) -> Result<(Split, bool), Error> {
        let answer = self.get("/apis", self.accept()).await?;
        if answer.is_aggregated() {
            return Ok((answer.decode::<APIGroupDiscoveryList>()?.split(), true));
        }
        let list: APIGroupList = answer.decode()?;
        Ok((
            Split {
                groups: list.groups,
                ..Split::default()
            },
            false,
        ))
    }

    /// Every group and resource. Both `/api` and `/apis` aggregated: done; otherwise
    /// each group version is fetched, `concurrency` at a time, and failures are kept
    /// per group version.
    pub async fn everything(&self) -> Result<Live, Error> {
        let (core, named) = futures_util::future::join(self.core(), self.named()).await;
        let ((core, core_aggregated), (named, named_aggregated)) = (core?, named?);
        let mut groups = core.groups;
        groups.extend(named.groups);
        let mut failures: Vec<DiscoveryError> = core
            .stale
            .into_iter()
            .chain(named.stale)
            .map(|group_version| DiscoveryError::StaleGroupVersion { group_version })
            .collect();
        if core_aggregated && named_aggregated {
            let mut resources = core.resources;
            resources.extend(named.resources);
            return Ok(Live {
                groups,
                resources,
                failures,
                aggregated: true,
            });
        }
        failures.extend(drop_foreign_versions(&mut groups));
        let group_versions = distinct_group_versions(&groups);
        let (resources, failed) = self.resources_of(group_versions).await;
        failures.extend(failed);
        Ok(Live {
            groups,
            resources,
            failures,
            aggregated: false,
        })
    }

    /// The resources of each group version, fetched `concurrency` at a time; the
    /// results in the order given, failures apart.
    pub async fn resources_of(
        &self,
        group_versions: Vec<String>,
    ) -> (Vec<APIResourceList>, Vec<DiscoveryError>) {
        let mut results: Vec<(usize, String, Result<APIResourceList, Error>)> =
            futures_util::stream::iter(group_versions.into_iter().enumerate())
                .map(|(i, gv)| async move {
                    let result = self.resources(&gv).await;
                    (i, gv, result)
                })
                .buffer_unordered(self.concurrency.max(1))
                .collect()
                .await;
        results.sort_by_key(|(i, _, _)| *i);
        let mut resources = Vec::with_capacity(results.len());
        let mut failures = Vec::new();
        for (_, group_version, result) in results {
            match result {
                Ok(list) => resources.push(list),
                Err(source) => {
                    tracing::debug!(%group_version, error = %source, "group version discovery failed");
                    failures.push(DiscoveryError::GroupVersion {
                        group_version,
                        source: Box::new(source),
                    });
                }
            }
        }
        (resources, failures)
    }
}

/// The error for a document of `served` received for `requested`.
fn mismatch(requested: &str, served: &str) -> DiscoveryError {
    const KEEP: usize = 100;
    let served = match served.char_indices().nth(KEEP) {
        Some((end, _)) => format!("{}…", &served[..end]),
        None => served.to_owned(),
    };
    DiscoveryError::GroupVersionMismatch {
        requested: requested.to_owned(),
        served,
    }
}

/// The group versions of `groups`, each once, in their order.
pub(crate) fn distinct_group_versions(groups: &[APIGroup]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    groups
        .iter()
        .flat_map(|g| g.versions.iter().map(|v| v.group_version.clone()))
        .filter(|gv| seen.insert(gv.clone()))
        .collect()
}

/// Removes from each named group of a legacy `/apis` answer the versions whose
/// `groupVersion` is not `<group>/<version>`, so no group's resources are fetched or
/// filed under another group; one failure each.
pub(crate) fn drop_foreign_versions(groups: &mut [APIGroup]) -> Vec<DiscoveryError> {
    let mut failures = Vec::new();
    for group in groups.iter_mut() {
        let expected = |version: &str| super::types::group_version(&group.name, version);
        let mut foreign = Vec::new();
        group.versions.retain(|v| {
            let want = expected(&v.version);
            let ok = v.group_version == want && !v.version.contains('/');
            if !ok {
                foreign.push(mismatch(&want, &v.group_version));
            }
            ok
        });
        failures.extend(foreign);
        let preferred = &group.preferred_version;
        if preferred.group_version != expected(&preferred.version) {
            group.preferred_version = group.versions.first().cloned().unwrap_or_default();
        }
    }
    failures
}

/// The core group as an [`APIGroup`] (name `""`), from `/api`'s versions.
pub(crate) fn core_group(versions: &APIVersions) -> APIGroup {
    let versions: Vec<_> = versions
        .versions
        .iter()
        .map(|v| GroupVersionForDiscovery::new("", v))
        .collect();
    APIGroup {
        preferred_version: versions.first().cloned().unwrap_or_default(),
        versions,
        ..APIGroup::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_paths() {
        assert_eq!(resources_path("v1").unwrap(), "/api/v1");
        assert_eq!(resources_path("apps/v1").unwrap(), "/apis/apps/v1");
        assert_eq!(
            resources_path("metrics.k8s.io/v1beta1").unwrap(),
            "/apis/metrics.k8s.io/v1beta1"
        );
        for bad in [
            "",
            "/v1",
            "apps/",
            "a/b/c",
            "../v1",
            "apps/v1?x=1",
            "apps/v 1",
            "a/.v1",
        ] {
            assert!(resources_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn requests_carry_accept() {
        let req = get_request("/apis", ACCEPT_AGGREGATED);
        assert_eq!(req.method(), http::Method::GET);
        assert_eq!(req.uri(), "/apis");
        assert_eq!(req.headers()[ACCEPT], ACCEPT_AGGREGATED);
        assert!(req.body().is_empty());
    }

    #[test]
    fn errors_keep_status_or_body() {
        let e = api_error(
            http::Method::GET,
            "https://h/apis/x/v1".into(),
            503,
            br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"service unavailable","reason":"ServiceUnavailable","code":503}"#,
        );
        assert_eq!(e.code(), Some(503));
        assert_eq!(e.reason(), Some("ServiceUnavailable"));
        let e = api_error(
            http::Method::GET,
            "u".into(),
            503,
            "é".repeat(1000).as_bytes(),
        );
        let body = e.api().unwrap().body.clone().unwrap();
        assert!(body.trim_end_matches('…').len() <= 1024);
        assert!(body.trim_end_matches('…').chars().all(|c| c == 'é'));
    }

    #[test]
    fn urls_in_messages_have_no_credentials_and_keep_the_prefix() {
        let config = crate::Config::new(
            "https://admin:hunter2@h.example:6443/prefix/"
                .parse()
                .unwrap(),
        );
        let client = Client::try_from(config).unwrap();
        let requests = AtomicU64::new(0);
        let fetcher = Fetcher {
            client: &client,
            requests: &requests,
            concurrency: 1,
            aggregated: true,
        };
        assert_eq!(fetcher.url("/api"), "https://h.example:6443/prefix/api");
        let discovery = super::super::Discovery::new(fetcher.client.clone());
        let debug = format!("{discovery:?}");
        assert!(
            debug.contains("h.example:6443") && !debug.contains("hunter2"),
            "{debug}"
        );
        let plain_client =
            Client::try_from(crate::Config::new("http://[::1]:8080".parse().unwrap())).unwrap();
        let plain = Fetcher {
            client: &plain_client,
            ..fetcher
        };
        assert_eq!(plain.url("/apis"), "http://[::1]:8080/apis");
    }

    #[test]
    fn core_group_from_api_versions() {
        let v: APIVersions = serde_json::from_str(r#"{"versions":["v1"]}"#).unwrap();
        let g = core_group(&v);
        assert_eq!(g.name, "");
        assert_eq!(g.preferred_version.group_version, "v1");
    }
}
