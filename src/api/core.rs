//! [`Api<K>`]: the verbs of one resource type in one namespace (or cluster-wide).

use super::error::RequestError;
use super::params::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use super::request::{Request, collection_path};
use super::resource::{ObjectList, PartialObjectMetadata, Resource};
use super::watch::{WatchEvent, decode_stream};
use crate::Client;
use crate::error::{Error, Status};
use crate::path::Refused;
use futures_util::stream::{BoxStream, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;

/// Typed access to one resource type, scoped to a namespace or to all namespaces.
///
/// ```no_run
/// # async fn demo(client: k8s_client::Client) -> Result<(), k8s_client::Error> {
/// use k8s_client::api::{Api, ListParams};
/// use k8s_openapi::api::core::v1::Pod;
/// let pods: Api<Pod> = Api::namespaced(client, "default");
/// for pod in pods.list(&ListParams::default().limit(50)).await? {
///     println!("{}", pod.metadata.name.unwrap_or_default());
/// }
/// # Ok(()) }
/// ```
pub struct Api<K: Resource> {
    pub(crate) client: Client,
    pub(crate) request: Request,
    pub(crate) namespace: Option<String>,
    pub(crate) dyntype: K::DynamicType,
    _k: PhantomData<fn() -> K>,
}

impl<K: Resource> Clone for Api<K> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            request: self.request.clone(),
            namespace: self.namespace.clone(),
            dyntype: self.dyntype.clone(),
            _k: PhantomData,
        }
    }
}

impl<K: Resource> fmt::Debug for Api<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("collection", &self.request.collection())
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl<K: Resource<DynamicType = (), Scope = NamespaceResourceScope>> Api<K> {
    /// Objects in `namespace`.
    ///
    /// Only for namespaced kinds: for a cluster-scoped kind it does not compile (use
    /// [`Api::all`]).
    ///
    /// ```compile_fail
    /// # fn demo(client: k8s_client::Client) {
    /// use k8s_openapi::api::core::v1::Namespace;
    /// let namespaces: k8s_client::Api<Namespace> = k8s_client::Api::namespaced(client, "default");
    /// # }
    /// ```
    ///
    /// A namespace that cannot be one URL path segment (empty, `.`, `..`, or containing
    /// `/` or `%`) does not panic here: every verb of the handle fails with
    /// [`RequestError::InvalidName`] before any I/O. Other characters are percent-encoded.
    pub fn namespaced(client: Client, namespace: &str) -> Self {
        Self::namespaced_with(client, namespace, &())
    }

    /// Objects in the namespace of the client's configuration (the kubeconfig context's
    /// namespace, the pod's namespace in-cluster, else `default`). Only for namespaced
    /// kinds, like [`Api::namespaced`].
    pub fn default_namespaced(client: Client) -> Self {
        Self::default_namespaced_with(client, &())
    }
}

impl<K: Resource<DynamicType = ()>> Api<K> {
    /// Objects of all namespaces (list and watch), or cluster-scoped objects.
    pub fn all(client: Client) -> Self {
        Self::all_with(client, &())
    }
}

impl<K: Resource> Api<K> {
    /// `explicit`: the caller chose the namespace (refused for a cluster-scoped kind);
    /// otherwise it is the config's default, ignored for a cluster-scoped kind.
    fn build(
        client: Client,
        namespace: Option<&str>,
        explicit: bool,
        dyntype: &K::DynamicType,
    ) -> Self {
        let namespaced = K::namespaced(dyntype);
        let (group, version, plural) = (K::group(dyntype), K::version(dyntype), K::plural(dyntype));
        // A value that cannot be a path segment is reported first, then the scope.
        let scoped = namespace.filter(|_| namespaced);
        let request = match (
            collection_path(&group, &version, scoped, &plural),
            namespace,
        ) {
            (Err(refused), _) => Request::refused(String::new(), refused),
            (Ok(_), Some(ns)) if explicit && !namespaced => Request::refused(
                String::new(),
                Refused::ClusterScoped {
                    kind: K::kind(dyntype).into_owned(),
                    namespace: ns.to_owned(),
                },
            ),
            (Ok(path), _) => Request::new(path),
        };
        let namespace = namespace.filter(|_| namespaced);
        Self {
            client,
            request,
            namespace: namespace.map(str::to_owned),
            dyntype: dyntype.clone(),
            _k: PhantomData,
        }
    }

    /// Like [`Api::namespaced`], with run-time type information (for [`DynamicObject`](super::DynamicObject)).
    ///
    /// The group, version and plural (for an [`ApiResource`](super::ApiResource) possibly
    /// from the server's discovery documents) are checked like the namespace: a value that
    /// cannot be one path segment makes every verb fail with [`RequestError::InvalidName`]
    /// naming it, before any I/O; this constructor never panics.
    ///
    /// A kind that is not namespaced (`ApiResource::namespaced` false) cannot be
    /// addressed in a namespace: every verb fails with [`RequestError::ClusterScoped`],
    /// before any I/O. Use [`Api::all_with`] for it.
    pub fn namespaced_with(client: Client, namespace: &str, dyntype: &K::DynamicType) -> Self {
        Self::build(client, Some(namespace), true, dyntype)
    }

    /// Like [`Api::all`], with run-time type information.
    pub fn all_with(client: Client, dyntype: &K::DynamicType) -> Self {
        Self::build(client, None, false, dyntype)
    }

    /// Like [`Api::default_namespaced`], with run-time type information. For a kind that
    /// is not namespaced, the config's namespace is ignored (as `kubectl get` ignores its
    /// context's namespace for cluster-scoped kinds): the handle is cluster-wide.
    pub fn default_namespaced_with(client: Client, dyntype: &K::DynamicType) -> Self {
        let ns = client.default_namespace().to_owned();
        Self::build(client, Some(&ns), false, dyntype)
    }

    /// The namespace this handle is scoped to (`None`: all namespaces or cluster-scoped).
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The pure request builder of this collection.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The run-time type information.
    pub fn dyntype(&self) -> &K::DynamicType {
        &self.dyntype
    }
}

/// What a `DELETE` answered: the object (still present: finalizers, graceful or
/// foreground deletion) or a `Status` (gone at once).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Deleted<T> {
    /// The object, now carrying a `deletionTimestamp`.
    Object(T),
    /// The server's `Status` (`Success`).
    Status(Status),
}

#[derive(serde::Deserialize)]
struct KindOnly {
    #[serde(default)]
    kind: String,
    #[serde(default, rename = "apiVersion")]
    api_version: String,
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], url: &str) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|source| Error::Decode {
        url: url.to_owned(),
        type_name: std::any::type_name::<T>(),
        source,
    })
}

fn decode_deleted<T: DeserializeOwned>(bytes: &[u8], url: &str) -> Result<Deleted<T>, Error> {
    let head: KindOnly = decode(bytes, url)?;
    if head.kind == "Status" && head.api_version == "v1" {
        Ok(Deleted::Status(decode(bytes, url)?))
    } else {
        Ok(Deleted::Object(decode(bytes, url)?))
    }
}

impl<K> Api<K>
where
    K: Resource + Serialize + DeserializeOwned + Send + 'static,
{
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        req: Result<http::Request<Vec<u8>>, RequestError>,
    ) -> Result<T, Error> {
        self.client.request(req?).await
    }

    /// `GET` one object.
    pub async fn get(&self, name: &str) -> Result<K, Error> {
        #[cfg(feature = "protobuf")]
        if self.uses_protobuf() {
            return self.get_negotiated(self.request.get(name)).await;
        }
        self.send_json(self.request.get(name)).await
    }

    /// `GET` one object; `None` when it does not exist (404).
    pub async fn get_opt(&self, name: &str) -> Result<Option<K>, Error> {
        match self.get(name).await {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET` only the metadata of one object (`PartialObjectMetadata`).
    pub async fn get_metadata(&self, name: &str) -> Result<PartialObjectMetadata, Error> {
        self.send_json(self.request.get_metadata(name)).await
    }

    /// `GET` one page of objects. Follow [`ObjectList::continue_token`] for the next page,
    /// or use [`Api::list_stream`]. An expired continue token is a 410
    /// ([`Error::is_gone`]).
    pub async fn list(&self, lp: &ListParams) -> Result<ObjectList<K>, Error> {
        #[cfg(feature = "protobuf")]
        let mut list: ObjectList<K> = if self.uses_protobuf() {
            self.list_negotiated(self.request.list(lp)).await?
        } else {
            self.send_json(self.request.list(lp)).await?
        };
        #[cfg(not(feature = "protobuf"))]
        let mut list: ObjectList<K> = self.send_json(self.request.list(lp)).await?;
        for item in &mut list.items {
            item.complete(&self.dyntype);
        }
        Ok(list)
    }

    /// `GET` one page of metadata only (`PartialObjectMetadataList`).
    pub async fn list_metadata(
        &self,
        lp: &ListParams,
    ) -> Result<ObjectList<PartialObjectMetadata>, Error> {
        self.send_json(self.request.list_metadata(lp)).await
    }

    /// `POST` a new object; returns it as stored.
    pub async fn create(&self, pp: &PostParams, object: &K) -> Result<K, Error> {
        self.send_json(self.request.create(pp, object)).await
    }

    /// `PUT` a whole object. With `metadata.resourceVersion` set, a concurrent change makes
    /// it fail with 409 Conflict ([`Error::is_conflict`]).
    pub async fn replace(&self, name: &str, pp: &PostParams, object: &K) -> Result<K, Error> {
        self.send_json(self.request.replace(name, pp, object)).await
    }

    /// `PATCH` an object with any [`Patch`] kind; server-side apply conflicts are 409.
    pub async fn patch<P: Serialize>(
        &self,
        name: &str,
        pp: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<K, Error> {
        self.send_json(self.request.patch(name, pp, patch)).await
    }

    /// `DELETE` one object.
    pub async fn delete(&self, name: &str, dp: &DeleteParams) -> Result<Deleted<K>, Error> {
        let req = self.request.delete(name, dp)?;
        let url = req.uri().to_string();
        let bytes = self.client.request_bytes(req).await?;
        decode_deleted(&bytes, &url)
    }

    /// `DELETE` every object matching `lp`: the list of objects being deleted, or a Status.
    pub async fn delete_collection(
        &self,
        dp: &DeleteParams,
        lp: &ListParams,
    ) -> Result<Deleted<ObjectList<K>>, Error> {
        let req = self.request.delete_collection(dp, lp)?;
        let url = req.uri().to_string();
        let bytes = self.client.request_bytes(req).await?;
        decode_deleted(&bytes, &url)
    }

    /// One watch request from `resource_version` (`""`: the current state first, as
    /// `ADDED` events). The stream ends when the server closes the watch
    /// (`timeoutSeconds`); resume by watching again from the last event's
    /// [`resource_version`](WatchEvent::resource_version). A too-old version ends it with
    /// a 410 error ([`Error::is_gone`]), as an HTTP status or as an `ERROR` event.
    /// [`Api::watch_all`] does all of that for you.
    pub async fn watch(
        &self,
        wp: &WatchParams,
        resource_version: &str,
    ) -> Result<BoxStream<'static, Result<WatchEvent<K>, Error>>, Error> {
        #[allow(unused_mut)]
        let mut req = self.request.watch(wp, resource_version)?;
        let url = req.uri().to_string();
        #[cfg(feature = "protobuf")]
        let events = if self.uses_protobuf() {
            crate::codec::accept_protobuf_watch(&mut req);
            match self.client.request_stream_negotiated(req).await? {
                (body, true) => {
                    crate::codec::watch::decode_stream::<K, _>(body, url, wp.max_event_size)
                }
                (body, false) => decode_stream::<K, _>(body, url, wp.max_event_size),
            }
        } else {
            decode_stream::<K, _>(
                self.client.request_stream(req).await?,
                url,
                wp.max_event_size,
            )
        };
        #[cfg(not(feature = "protobuf"))]
        let events = decode_stream::<K, _>(
            self.client.request_stream(req).await?,
            url,
            wp.max_event_size,
        );
        let dt = self.dyntype.clone();
        Ok(events
            .map(move |ev| {
                ev.map(|mut ev: WatchEvent<K>| {
                    if let WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) =
                        &mut ev
                    {
                        o.complete(&dt);
                    }
                    ev
                })
            })
            .boxed())
    }

    /// Like [`Api::watch`], with only the objects' metadata (`PartialObjectMetadata`) in
    /// the events: what a metadata-only cache needs, at a fraction of the bytes.
    pub async fn watch_metadata(
        &self,
        wp: &WatchParams,
        resource_version: &str,
    ) -> Result<BoxStream<'static, Result<WatchEvent<PartialObjectMetadata>, Error>>, Error> {
        let req = self.request.watch_metadata(wp, resource_version)?;
        let url = req.uri().to_string();
        let body = self.client.request_stream(req).await?;
        Ok(decode_stream::<PartialObjectMetadata, _>(
            body,
            url,
            wp.max_event_size,
        ))
    }

    /// `GET` a subresource as `T` (e.g. `scale` as `autoscaling/v1` `Scale`).
    pub async fn get_subresource<T: DeserializeOwned>(
        &self,
        subresource: &str,
        name: &str,
    ) -> Result<T, Error> {
        self.send_json(self.request.get_subresource(subresource, name))
            .await
    }

    /// `PATCH` a subresource.
    pub async fn patch_subresource<P: Serialize, T: DeserializeOwned>(
        &self,
        subresource: &str,
        name: &str,
        pp: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<T, Error> {
        self.send_json(self.request.patch_subresource(subresource, name, pp, patch))
            .await
    }

    /// `PUT` a subresource.
    pub async fn replace_subresource<B: Serialize, T: DeserializeOwned>(
        &self,
        subresource: &str,
        name: &str,
        pp: &PostParams,
        body: &B,
    ) -> Result<T, Error> {
        self.send_json(
            self.request
                .replace_subresource(subresource, name, pp, body),
        )
        .await
    }

    /// `POST` to a subresource.
    pub async fn create_subresource<B: Serialize, T: DeserializeOwned>(
        &self,
        subresource: &str,
        name: &str,
        pp: &PostParams,
        body: &B,
    ) -> Result<T, Error> {
        self.send_json(self.request.create_subresource(subresource, name, pp, body))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    #[test]
    fn delete_answers_are_told_apart() {
        let status =
            br#"{"kind":"Status","apiVersion":"v1","status":"Success","details":{"name":"a"}}"#;
        let d: Deleted<ConfigMap> = decode_deleted(status, "/x").unwrap();
        assert!(matches!(d, Deleted::Status(s) if s.status.as_deref() == Some("Success")));
        let obj = br#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","deletionTimestamp":"2024-01-01T00:00:00Z"}}"#;
        let d: Deleted<ConfigMap> = decode_deleted(obj, "/x").unwrap();
        assert!(matches!(d, Deleted::Object(cm) if cm.metadata.name.as_deref() == Some("a")));
        let err = decode_deleted::<ConfigMap>(b"{", "/x").unwrap_err();
        assert!(matches!(err, Error::Decode { .. }));
    }

    /// A client whose every request would fail to connect: an answer proves no I/O.
    fn offline_client() -> Client {
        let mut config = crate::Config::new("https://127.0.0.1:1".parse().unwrap());
        config.default_namespace = "team-a".into();
        Client::try_from(config).unwrap()
    }

    #[tokio::test]
    async fn a_namespace_for_a_cluster_scoped_dynamic_kind_is_refused_before_io() {
        let nodes = super::super::ApiResource::new("", "v1", "Node", "nodes", false);
        let api: Api<super::super::DynamicObject> =
            Api::namespaced_with(offline_client(), "team-a", &nodes);
        let err = api.get("n1").await.unwrap_err();
        assert!(
            matches!(&err, Error::Request(RequestError::ClusterScoped { kind, namespace })
                if kind == "Node" && namespace == "team-a"),
            "{err:?}"
        );
        let Error::Request(inner) = &err else {
            unreachable!()
        };
        assert_eq!(
            inner.to_string(),
            "Node is cluster-scoped; it cannot be addressed in namespace \"team-a\""
        );
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(matches!(
            err,
            Error::Request(RequestError::ClusterScoped { .. })
        ));
        // The config's default namespace is ignored for such a kind, as kubectl does.
        let api: Api<super::super::DynamicObject> =
            Api::default_namespaced_with(offline_client(), &nodes);
        assert_eq!(api.namespace(), None);
        assert_eq!(api.request().collection(), "/api/v1/nodes");
        // A namespaced dynamic kind keeps its namespace.
        let cms = super::super::ApiResource::new("", "v1", "ConfigMap", "configmaps", true);
        let api: Api<super::super::DynamicObject> =
            Api::default_namespaced_with(offline_client(), &cms);
        assert_eq!(api.namespace(), Some("team-a"));
        assert_eq!(
            api.request().collection(),
            "/api/v1/namespaces/team-a/configmaps"
        );
    }

    #[test]
    fn typed_scopes_come_from_k8s_openapi() {
        use k8s_openapi::api::core::v1::Namespace;
        let namespaces: Api<Namespace> = Api::all(offline_client());
        assert_eq!(namespaces.request().collection(), "/api/v1/namespaces");
        let cms: Api<ConfigMap> = Api::default_namespaced(offline_client());
        assert_eq!(
            cms.request().collection(),
            "/api/v1/namespaces/team-a/configmaps"
        );
    }
}
