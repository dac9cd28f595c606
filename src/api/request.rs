//! Pure request building: paths, query parameters, headers and bodies for every verb.
//! Nothing here performs I/O; [`Api`](super::Api) hands the results to the `Client`.

use super::error::{PathProblem, RequestError};
use super::params::{
    DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams, Query, WatchParams,
};
use crate::path::{self, Refused};
use http::header::{ACCEPT, CONTENT_TYPE};
use serde::Serialize;
use std::borrow::Cow;

/// `Accept` for metadata-only reads of one object.
pub const ACCEPT_PARTIAL_METADATA: &str =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
/// `Accept` for metadata-only lists.
pub const ACCEPT_PARTIAL_METADATA_LIST: &str =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
const JSON: &str = "application/json";

type Built = Result<http::Request<Vec<u8>>, RequestError>;

/// Builds the HTTP requests of one resource collection, e.g. `/api/v1/namespaces/ns/pods`.
///
/// Names and subresources are percent-encoded as exactly one path segment each, or
/// refused with [`RequestError::InvalidName`] (empty, `.`, `..`, or containing `/` or `%`).
/// A collection path given as text must already be in canonical encoded form; otherwise
/// every verb fails with [`RequestError::InvalidPath`] before any I/O.
///
/// ```
/// use k8s_client::api::{ListParams, Request, RequestError};
/// let req = Request::new("/api/v1/namespaces/default/pods")
///     .list(&ListParams::default().limit(5))
///     .unwrap();
/// assert_eq!(req.uri(), "/api/v1/namespaces/default/pods?limit=5");
/// let cms = Request::new("/api/v1/namespaces/default/configmaps");
/// assert_eq!(cms.get("a b#c").unwrap().uri(), "/api/v1/namespaces/default/configmaps/a%20b%23c");
/// assert!(matches!(cms.get(".."), Err(RequestError::InvalidName { what: "name", .. })));
/// assert!(matches!(
///     Request::new("/api/v1/namespaces/x/../pods").get("a"),
///     Err(RequestError::InvalidPath { .. })
/// ));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    collection: String,
    refused: Option<Refused>,
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, RequestError> {
    serde_json::to_vec(value).map_err(|source| RequestError::Serialize {
        type_name: std::any::type_name::<T>(),
        source,
    })
}

fn build(
    method: http::Method,
    uri: String,
    accept: &'static str,
    body: Option<(Vec<u8>, &'static str)>,
) -> Built {
    // Every segment was encoded and the query form-encoded, so the URI parses.
    let Ok(parsed) = http::Uri::try_from(uri.as_str()) else {
        return Err(RequestError::InvalidPath {
            what: "request path",
            path: uri,
            problem: PathProblem::NotEncoded,
        });
    };
    let (body, content_type) = match body {
        Some((bytes, content_type)) => (bytes, Some(content_type)),
        None => (Vec::new(), None),
    };
    let mut req = http::Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = parsed;
    let headers = req.headers_mut();
    headers.insert(ACCEPT, http::HeaderValue::from_static(accept));
    if let Some(content_type) = content_type {
        headers.insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    }
    Ok(req)
}

/// `path?query` with the parameters `append` adds (just `path` when there are none).
fn with_query(path: String, append: impl FnOnce(&mut Query)) -> String {
    let mut q = Query::default();
    append(&mut q);
    q.finish(path)
}

impl Request {
    /// A builder for the collection at `collection`, given as encoded path text with no
    /// trailing slash. A path that is not in canonical form (a dot segment, also as
    /// `%2e`; an escaped `/`; an empty segment; a character that must be escaped) makes
    /// every verb fail with [`RequestError::InvalidPath`].
    pub fn new(collection: impl Into<String>) -> Self {
        let collection = collection.into();
        let refused = path::check_encoded("collection path", &collection).err();
        Self {
            collection,
            refused,
        }
    }

    /// A builder whose every verb fails with `refused` (a scope that could not be a path).
    pub(crate) fn refused(collection: String, refused: Refused) -> Self {
        Self {
            collection,
            refused: Some(refused),
        }
    }

    /// The collection path, e.g. `/apis/apps/v1/namespaces/ns/deployments` (for a refused
    /// scope, the part that could be built, and every verb fails).
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The collection path, or why it was refused.
    fn base(&self) -> Result<String, RequestError> {
        self.under([])
    }

    fn item(&self, name: &str) -> Result<String, RequestError> {
        self.under([("name", name)])
    }

    fn sub(&self, name: &str, subresource: &str) -> Result<String, RequestError> {
        self.under([("name", name), ("subresource", subresource)])
    }

    /// The collection's path (or why it was refused) with `segments` appended, each
    /// escaped as one segment, in one allocation of the right size.
    fn under<const N: usize>(
        &self,
        segments: [(&'static str, &str); N],
    ) -> Result<String, RequestError> {
        if let Some(r) = &self.refused {
            return Err(r.clone().into());
        }
        let mut escaped: [Cow<'_, str>; N] = std::array::from_fn(|_| Cow::Borrowed(""));
        for ((what, value), slot) in segments.into_iter().zip(&mut escaped) {
            *slot = path::segment(what, value)?;
        }
        let len = escaped.iter().map(|e| e.len() + 1).sum::<usize>();
        let mut path = String::with_capacity(self.collection.len() + len);
        path.push_str(&self.collection);
        for e in &escaped {
            path.push('/');
            path.push_str(e);
        }
        Ok(path)
    }

    fn list_as(&self, lp: &ListParams, accept: &'static str) -> Built {
        let path = with_query(self.base()?, |q| lp.append_query(q));
        let mut req = build(http::Method::GET, path, accept, None)?;
        if lp.limit.unwrap_or(0) == 0 {
            // The whole collection in one answer.
            req.extensions_mut().insert(crate::client::LargeResponse);
        }
        Ok(req)
    }

    /// `GET` one page of the collection.
    pub fn list(&self, lp: &ListParams) -> Built {
        self.list_as(lp, JSON)
    }

    /// `GET` one page of the collection's metadata only (`PartialObjectMetadataList`).
    pub fn list_metadata(&self, lp: &ListParams) -> Built {
        self.list_as(lp, ACCEPT_PARTIAL_METADATA_LIST)
    }

    /// `GET` one object.
    pub fn get(&self, name: &str) -> Built {
        build(http::Method::GET, self.item(name)?, JSON, None)
    }

    /// `GET` one object's metadata only (`PartialObjectMetadata`).
    pub fn get_metadata(&self, name: &str) -> Built {
        build(
            http::Method::GET,
            self.item(name)?,
            ACCEPT_PARTIAL_METADATA,
            None,
        )
    }

    /// `POST` a new object.
    pub fn create<T: Serialize>(&self, pp: &PostParams, object: &T) -> Built {
        let body = to_json(object)?;
        build(
            http::Method::POST,
            with_query(self.base()?, |q| pp.append_query(q)),
            JSON,
            Some((body, JSON)),
        )
    }

    /// `PUT` a whole object (its `metadata.resourceVersion` makes it a compare-and-swap).
    pub fn replace<T: Serialize>(&self, name: &str, pp: &PostParams, object: &T) -> Built {
        self.replace_at(self.item(name)?, pp, object)
    }

    fn replace_at<T: Serialize>(&self, path: String, pp: &PostParams, object: &T) -> Built {
        build(
            http::Method::PUT,
            with_query(path, |q| pp.append_query(q)),
            JSON,
            Some((to_json(object)?, JSON)),
        )
    }

    /// `PATCH` one object.
    pub fn patch<P: Serialize>(&self, name: &str, pp: &PatchParams, patch: &Patch<P>) -> Built {
        self.patch_at(self.item(name)?, pp, patch)
    }

    fn patch_at<P: Serialize>(&self, path: String, pp: &PatchParams, patch: &Patch<P>) -> Built {
        if patch.is_apply() && pp.field_manager.is_none() {
            return Err(RequestError::ApplyWithoutFieldManager);
        }
        if pp.force && !patch.is_apply() {
            return Err(RequestError::ForceWithoutApply);
        }
        build(
            http::Method::PATCH,
            with_query(path, |q| pp.append_query(q)),
            JSON,
            Some((to_json(patch.body())?, patch.content_type())),
        )
    }

    /// `DELETE` one object, with a `DeleteOptions` body.
    pub fn delete(&self, name: &str, dp: &DeleteParams) -> Built {
        build(
            http::Method::DELETE,
            self.item(name)?,
            JSON,
            Some((to_json(&dp.body())?, JSON)),
        )
    }

    /// `DELETE` the objects of the collection that match `lp`.
    pub fn delete_collection(&self, dp: &DeleteParams, lp: &ListParams) -> Built {
        build(
            http::Method::DELETE,
            with_query(self.base()?, |q| lp.append_query(q)),
            JSON,
            Some((to_json(&dp.body())?, JSON)),
        )
    }

    /// `GET ?watch=true` from `resource_version` (`""` = from the current state, which
    /// the server first replays as `ADDED` events).
    pub fn watch(&self, wp: &WatchParams, resource_version: &str) -> Built {
        build(
            http::Method::GET,
            with_query(self.base()?, |q| wp.append_query(q, resource_version)),
            JSON,
            None,
        )
    }

    /// A metadata-only watch: every event's object is a `PartialObjectMetadata`.
    pub fn watch_metadata(&self, wp: &WatchParams, resource_version: &str) -> Built {
        let mut req = self.watch(wp, resource_version)?;
        req.headers_mut().insert(
            ACCEPT,
            http::HeaderValue::from_static(ACCEPT_PARTIAL_METADATA),
        );
        Ok(req)
    }

    /// `GET` a subresource (`status`, `scale`, …).
    pub fn get_subresource(&self, subresource: &str, name: &str) -> Built {
        build(http::Method::GET, self.sub(name, subresource)?, JSON, None)
    }

    /// `PUT` a subresource.
    pub fn replace_subresource<T: Serialize>(
        &self,
        subresource: &str,
        name: &str,
        pp: &PostParams,
        object: &T,
    ) -> Built {
        self.replace_at(self.sub(name, subresource)?, pp, object)
    }

    /// `PATCH` a subresource.
    pub fn patch_subresource<P: Serialize>(
        &self,
        subresource: &str,
        name: &str,
        pp: &PatchParams,
        patch: &Patch<P>,
    ) -> Built {
        self.patch_at(self.sub(name, subresource)?, pp, patch)
    }

    /// `POST` to a subresource (`eviction`, `token`, `binding`).
    pub fn create_subresource<T: Serialize>(
        &self,
        subresource: &str,
        name: &str,
        pp: &PostParams,
        object: &T,
    ) -> Built {
        build(
            http::Method::POST,
            with_query(self.sub(name, subresource)?, |q| pp.append_query(q)),
            JSON,
            Some((to_json(object)?, JSON)),
        )
    }

    /// `GET pods/{name}/log`.
    pub fn logs(&self, name: &str, lp: &LogParams) -> Built {
        build(
            http::Method::GET,
            with_query(self.sub(name, "log")?, |q| lp.append_query(q)),
            "text/plain, */*",
            None,
        )
    }
}

/// The collection path of a resource: `/api/{version}` or `/apis/{group}/{version}`,
/// then `/namespaces/{namespace}` when given, then `/{plural}`; every value encoded as one
/// segment or refused.
pub(crate) fn collection_path(
    group: &str,
    version: &str,
    namespace: Option<&str>,
    plural: &str,
) -> Result<String, Refused> {
    let mut path = path::group_version(group, version)?;
    if let Some(ns) = namespace {
        path = path.fixed("namespaces").push("namespace", ns)?;
    }
    Ok(path.push("resource", plural)?.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::params::{FieldValidation, Preconditions};

    fn r() -> Request {
        Request::new("/api/v1/namespaces/ns/configmaps")
    }

    fn header(req: &http::Request<Vec<u8>>, name: http::HeaderName) -> &str {
        req.headers().get(name).unwrap().to_str().unwrap()
    }

    #[test]
    fn only_a_whole_collection_list_is_marked_as_a_large_response() {
        let large = |req: Built| {
            req.unwrap()
                .extensions()
                .get::<crate::client::LargeResponse>()
                .is_some()
        };
        assert!(large(r().list(&ListParams::default())));
        assert!(large(r().list_metadata(&ListParams::default())));
        assert!(large(r().list(&ListParams::default().limit(0))));
        assert!(!large(r().list(&ListParams::default().limit(500))));
        assert!(!large(r().get("x")));
    }

    #[test]
    fn paths() {
        assert_eq!(
            collection_path("apps", "v1", Some("ns"), "deployments").unwrap(),
            "/apis/apps/v1/namespaces/ns/deployments"
        );
        assert_eq!(
            collection_path("", "v1", None, "nodes").unwrap(),
            "/api/v1/nodes"
        );
        assert!(collection_path("", "v1", Some("a/b"), "pods").is_err());
        assert_eq!(
            r().get("cm").unwrap().uri(),
            "/api/v1/namespaces/ns/configmaps/cm"
        );
        for bad in ["", ".", "..", "a/b", "a%2F"] {
            assert!(
                matches!(
                    r().get(bad),
                    Err(RequestError::InvalidName { what: "name", .. })
                ),
                "{bad:?}"
            );
        }
        let req = r().get_subresource("status", "cm").unwrap();
        assert_eq!(req.uri(), "/api/v1/namespaces/ns/configmaps/cm/status");
    }

    #[test]
    fn create_and_replace() {
        let obj = serde_json::json!({"metadata": {"name": "a"}});
        let req = r()
            .create(
                &PostParams::default().validation(FieldValidation::Strict),
                &obj,
            )
            .unwrap();
        assert_eq!(req.method(), http::Method::POST);
        assert_eq!(
            req.uri(),
            "/api/v1/namespaces/ns/configmaps?fieldValidation=Strict"
        );
        assert_eq!(header(&req, CONTENT_TYPE), "application/json");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(req.body()).unwrap(),
            obj
        );
        let req = r()
            .replace("a", &PostParams::default().dry_run(), &obj)
            .unwrap();
        assert_eq!(req.method(), http::Method::PUT);
        assert_eq!(req.uri(), "/api/v1/namespaces/ns/configmaps/a?dryRun=All");
    }

    #[test]
    fn patches() {
        let p = serde_json::json!({"data": {"a": "b"}});
        let req = r()
            .patch("a", &PatchParams::default(), &Patch::Strategic(&p))
            .unwrap();
        assert_eq!(req.method(), http::Method::PATCH);
        assert_eq!(
            header(&req, CONTENT_TYPE),
            "application/strategic-merge-patch+json"
        );
        let req = r()
            .patch("a", &PatchParams::apply("me").force(), &Patch::Apply(&p))
            .unwrap();
        assert_eq!(header(&req, CONTENT_TYPE), "application/apply-patch+yaml");
        assert_eq!(
            req.uri(),
            "/api/v1/namespaces/ns/configmaps/a?force=true&fieldManager=me"
        );
        assert!(matches!(
            r().patch("a", &PatchParams::default(), &Patch::Apply(&p)),
            Err(RequestError::ApplyWithoutFieldManager)
        ));
        let mut pp = PatchParams::apply("me").force();
        pp.field_manager = None;
        assert!(matches!(
            r().patch("a", &pp.clone().force(), &Patch::Merge(&p)),
            Err(RequestError::ForceWithoutApply)
        ));
    }

    #[test]
    fn deletes() {
        let dp = DeleteParams::background().preconditions(Preconditions {
            uid: None,
            resource_version: Some("9".into()),
        });
        let req = r().delete("a", &dp).unwrap();
        assert_eq!(req.method(), http::Method::DELETE);
        let body: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
        assert_eq!(body["propagationPolicy"], "Background");
        assert_eq!(body["preconditions"]["resourceVersion"], "9");
        let req = r()
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().labels("x=y"),
            )
            .unwrap();
        assert_eq!(
            req.uri(),
            "/api/v1/namespaces/ns/configmaps?labelSelector=x%3Dy"
        );
    }

    #[test]
    fn metadata_watch_logs() {
        let req = r().get_metadata("a").unwrap();
        assert_eq!(header(&req, ACCEPT), ACCEPT_PARTIAL_METADATA);
        let req = r().list_metadata(&ListParams::default()).unwrap();
        assert_eq!(header(&req, ACCEPT), ACCEPT_PARTIAL_METADATA_LIST);
        let req = r().watch(&WatchParams::default(), "10").unwrap();
        assert_eq!(
            req.uri(),
            "/api/v1/namespaces/ns/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion=10"
        );
        let req = r().watch_metadata(&WatchParams::default(), "10").unwrap();
        assert_eq!(header(&req, ACCEPT), ACCEPT_PARTIAL_METADATA);
        assert!(req.uri().to_string().contains("watch=true"));
        let pods = Request::new("/api/v1/namespaces/ns/pods");
        let req = pods.logs("p", &LogParams::default().tail_lines(3)).unwrap();
        assert_eq!(req.uri(), "/api/v1/namespaces/ns/pods/p/log?tailLines=3");
        let req = pods
            .create_subresource(
                "eviction",
                "p",
                &PostParams::default(),
                &serde_json::json!({}),
            )
            .unwrap();
        assert_eq!(req.uri(), "/api/v1/namespaces/ns/pods/p/eviction");
    }
}
