//! What the API needs to know about a resource type: the [`Resource`] trait, implemented
//! for every k8s-openapi resource, and [`ApiResource`] + [`DynamicObject`] for untyped access.

use super::error::RequestError;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A Kubernetes resource type: where its URLs live and how to reach its metadata.
///
/// Implemented for every k8s-openapi type with `ObjectMeta` metadata that is namespaced or
/// cluster-scoped (subresource types such as `Eviction` or `TokenRequest` have their own
/// methods on [`Api`](crate::api::Api)), and for [`DynamicObject`], whose type information
/// is an [`ApiResource`] known only at run time.
pub trait Resource: Sized {
    /// The run-time type information: `()` for k8s-openapi types, [`ApiResource`] for
    /// [`DynamicObject`].
    type DynamicType: Clone + Send + Sync + 'static;

    /// Where objects live, as a type: k8s-openapi's `NamespaceResourceScope` or
    /// `ClusterResourceScope` for its kinds, [`DynamicResourceScope`] when only the
    /// [`DynamicType`](Self::DynamicType) knows. [`Api::namespaced`](crate::api::Api::namespaced)
    /// exists only for `NamespaceResourceScope`, so a namespaced handle on a
    /// cluster-scoped kind does not compile.
    type Scope;

    /// The API group (`""` for the core group).
    fn group(dt: &Self::DynamicType) -> Cow<'_, str>;
    /// The API version (`v1`, `v1beta1`, …).
    fn version(dt: &Self::DynamicType) -> Cow<'_, str>;
    /// The kind (`Pod`).
    fn kind(dt: &Self::DynamicType) -> Cow<'_, str>;
    /// The lower-case plural used in URLs (`pods`).
    fn plural(dt: &Self::DynamicType) -> Cow<'_, str>;
    /// Whether objects live in a namespace.
    fn namespaced(dt: &Self::DynamicType) -> bool;

    /// `group/version`, or just `version` for the core group.
    fn api_version(dt: &Self::DynamicType) -> Cow<'_, str> {
        let group = Self::group(dt);
        if group.is_empty() {
            Self::version(dt)
        } else {
            Cow::Owned(format!("{group}/{}", Self::version(dt)))
        }
    }

    /// The URL prefix of the group version: `/api/v1` or `/apis/{group}/{version}`, each
    /// value percent-encoded as one path segment; [`RequestError::InvalidName`] names a
    /// group or version that cannot be one (empty version, `.`, `..`, `/` or `%`).
    fn url_prefix(dt: &Self::DynamicType) -> Result<String, RequestError> {
        Ok(crate::path::group_version(&Self::group(dt), &Self::version(dt))?.finish())
    }

    /// Fills in what the server leaves out of list items and watch events for this type:
    /// for [`DynamicObject`], `apiVersion` and `kind` from the [`ApiResource`] (the API
    /// server omits them from the items of built-in lists), so a listed object can be
    /// sent back as is. Nothing for k8s-openapi types, which know their own.
    fn complete(&mut self, dt: &Self::DynamicType) {
        let _ = dt;
    }

    /// The object's metadata.
    fn meta(&self) -> &ObjectMeta;
    /// The object's metadata, mutable.
    fn meta_mut(&mut self) -> &mut ObjectMeta;

    /// The decoders of the protobuf form of this type: `Some` for the k8s-openapi kinds
    /// the API server serves as protobuf (see [`BuiltIn`](crate::codec::BuiltIn)), `None`
    /// for everything else ([`DynamicObject`], custom resources), which is read as JSON.
    /// Only this crate can make [`Decoders`](crate::codec::Decoders): keep the default.
    #[cfg(feature = "protobuf")]
    fn protobuf() -> Option<crate::codec::Decoders<Self>> {
        None
    }
}

/// The [`Resource::Scope`] of [`DynamicObject`]: whether objects live in a namespace is
/// known only at run time, from [`ApiResource::namespaced`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DynamicResourceScope;

/// Maps a k8s-openapi scope marker to "namespaced or not".
///
/// Implemented for `NamespaceResourceScope` and `ClusterResourceScope` only, so that
/// subresource types cannot be used with [`Api`](crate::api::Api) by mistake.
pub trait ScopeKind {
    /// True for namespaced resources.
    const NAMESPACED: bool;
}

impl ScopeKind for k8s_openapi::NamespaceResourceScope {
    const NAMESPACED: bool = true;
}

impl ScopeKind for k8s_openapi::ClusterResourceScope {
    const NAMESPACED: bool = false;
}

/// The k8s-openapi types this crate knows ([`BuiltIn`](crate::codec::BuiltIn), which
/// holds their protobuf decoders); without the `protobuf` feature, every type.
#[cfg(feature = "protobuf")]
use crate::codec::BuiltIn as Known;
#[cfg(not(feature = "protobuf"))]
use known::Known;
#[cfg(not(feature = "protobuf"))]
mod known {
    pub trait Known {}
    impl<T> Known for T {}
}

impl<K> Resource for K
where
    K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + Known,
    K::Scope: ScopeKind,
{
    type DynamicType = ();
    type Scope = K::Scope;

    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::GROUP)
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::VERSION)
    }
    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::KIND)
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::URL_PATH_SEGMENT)
    }
    fn namespaced(_: &()) -> bool {
        <K::Scope as ScopeKind>::NAMESPACED
    }
    fn api_version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::API_VERSION)
    }
    fn meta(&self) -> &ObjectMeta {
        self.metadata()
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.metadata_mut()
    }
    #[cfg(feature = "protobuf")]
    fn protobuf() -> Option<crate::codec::Decoders<K>> {
        <K as crate::codec::BuiltIn>::protobuf()
    }
}

/// The run-time description of a resource type, for [`DynamicObject`].
///
/// Build it by hand, or from discovery. Nothing is checked when it is built (the values
/// may come from the server): an [`Api`](crate::api::Api) using it percent-encodes the
/// group, version and plural as one path segment each, and every verb fails with
/// [`RequestError::InvalidName`] naming a value that cannot be one (empty version or
/// plural, `.`, `..`, or containing `/` or `%`), before any I/O.
///
/// ```
/// use k8s_client::api::ApiResource;
/// let crontabs = ApiResource::new("stable.example.com", "v1", "CronTab", "crontabs", true);
/// assert_eq!(crontabs.api_version, "stable.example.com/v1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ApiResource {
    /// The API group (`""` for the core group).
    pub group: String,
    /// The version.
    pub version: String,
    /// `group/version`, or `version` for the core group.
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// The lower-case plural used in URLs.
    pub plural: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
}

impl ApiResource {
    /// Describes a resource by hand.
    pub fn new(
        group: impl Into<String>,
        version: impl Into<String>,
        kind: impl Into<String>,
        plural: impl Into<String>,
        namespaced: bool,
    ) -> Self {
        let group = group.into();
        let version = version.into();
        let api_version = if group.is_empty() {
            version.clone()
        } else {
            format!("{group}/{version}")
        };
        Self {
            group,
            version,
            api_version,
            kind: kind.into(),
            plural: plural.into(),
            namespaced,
        }
    }

    /// The description of a statically typed resource.
    pub fn of<K: Resource<DynamicType = ()>>() -> Self {
        Self::new(
            K::group(&()),
            K::version(&()),
            K::kind(&()),
            K::plural(&()),
            K::namespaced(&()),
        )
    }
}

/// An object of any kind: type information, metadata, and the rest as JSON.
///
/// ```
/// use k8s_client::api::{ApiResource, DynamicObject};
/// let ar = ApiResource::new("", "v1", "ConfigMap", "configmaps", true);
/// let cm = DynamicObject::new("settings", &ar)
///     .within("default")
///     .data(serde_json::json!({ "data": { "mode": "fast" } }));
/// assert_eq!(cm.types.as_ref().unwrap().kind, "ConfigMap");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DynamicObject {
    /// `apiVersion` and `kind` (absent in some server answers, e.g. list items).
    #[serde(flatten, default)]
    pub types: Option<TypeMeta>,
    /// The object's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Every other top-level field (`spec`, `status`, `data`, …).
    #[serde(flatten)]
    pub data: serde_json::Value,
}

impl DynamicObject {
    /// A new object of type `resource` named `name`.
    pub fn new(name: impl Into<String>, resource: &ApiResource) -> Self {
        Self {
            types: Some(TypeMeta {
                api_version: resource.api_version.clone(),
                kind: resource.kind.clone(),
            }),
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            data: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the namespace.
    #[must_use]
    pub fn within(mut self, namespace: impl Into<String>) -> Self {
        self.metadata.namespace = Some(namespace.into());
        self
    }

    /// Sets the fields besides `apiVersion`, `kind` and `metadata`.
    #[must_use]
    pub fn data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

impl Resource for DynamicObject {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.group)
    }
    fn version(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.version)
    }
    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.kind)
    }
    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.plural)
    }
    fn namespaced(dt: &ApiResource) -> bool {
        dt.namespaced
    }
    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.api_version)
    }
    fn complete(&mut self, dt: &ApiResource) {
        if self.types.is_none() && !dt.kind.is_empty() {
            self.types = Some(TypeMeta {
                api_version: dt.api_version.clone(),
                kind: dt.kind.clone(),
            });
        }
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// `apiVersion` and `kind` of an object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeMeta {
    /// `group/version` or `version`.
    pub api_version: String,
    /// The kind.
    pub kind: String,
}

/// The metadata of an object without its body, as returned for
/// `Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PartialObjectMetadata {
    /// `meta.k8s.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `PartialObjectMetadata`.
    #[serde(default)]
    pub kind: String,
    /// The object's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}

/// One page of a list: its items and the list metadata (`resourceVersion`, `continue`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "K: Deserialize<'de>", serialize = "K: Serialize"))]
#[non_exhaustive]
pub struct ObjectList<K> {
    /// The list's metadata.
    #[serde(default)]
    pub metadata: ListMeta,
    /// The objects (a JSON `null` is read as empty).
    #[serde(default = "Vec::new", deserialize_with = "null_as_empty")]
    pub items: Vec<K>,
}

/// A list's continue token, if there is a next page (an empty token means none).
pub(crate) fn continue_token(meta: &ListMeta) -> Option<&str> {
    meta.continue_.as_deref().filter(|c| !c.is_empty())
}

impl<K> ObjectList<K> {
    /// The continue token for the next page, if there is one.
    pub fn continue_token(&self) -> Option<&str> {
        continue_token(&self.metadata)
    }

    /// The list's `resourceVersion`.
    pub fn resource_version(&self) -> Option<&str> {
        self.metadata.resource_version.as_deref()
    }
}

impl<K> IntoIterator for ObjectList<K> {
    type Item = K;
    type IntoIter = std::vec::IntoIter<K>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

fn null_as_empty<'de, D, K>(d: D) -> Result<Vec<K>, D::Error>
where
    D: serde::Deserializer<'de>,
    K: Deserialize<'de>,
{
    Ok(Option::<Vec<K>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};

    #[test]
    fn static_types_know_their_urls() {
        assert_eq!(Pod::url_prefix(&()).unwrap(), "/api/v1");
        assert_eq!(Pod::plural(&()), "pods");
        assert!(Pod::namespaced(&()));
        assert!(!Namespace::namespaced(&()));
        type Deploy = k8s_openapi::api::apps::v1::Deployment;
        assert_eq!(Deploy::url_prefix(&()).unwrap(), "/apis/apps/v1");
        assert_eq!(Deploy::api_version(&()), "apps/v1");
        let ar = ApiResource::of::<ConfigMap>();
        assert_eq!(
            ar,
            ApiResource::new("", "v1", "ConfigMap", "configmaps", true)
        );
    }

    #[test]
    fn dynamic_object_round_trips() {
        let json = r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"a","namespace":"n"},"spec":{"x":1}}"#;
        let obj: DynamicObject = serde_json::from_str(json).unwrap();
        assert_eq!(obj.types.as_ref().unwrap().kind, "CronTab");
        assert_eq!(obj.metadata.name.as_deref(), Some("a"));
        assert_eq!(obj.data["spec"]["x"], 1);
        assert!(obj.data.get("metadata").is_none());
        let back: serde_json::Value = serde_json::to_value(&obj).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
        let ar = ApiResource::new("stable.example.com", "v1", "CronTab", "crontabs", true);
        assert_eq!(
            DynamicObject::url_prefix(&ar).unwrap(),
            "/apis/stable.example.com/v1"
        );
    }

    #[test]
    fn dynamic_list_items_get_their_type() {
        let ar = ApiResource::new("", "v1", "ConfigMap", "configmaps", true);
        let mut item: DynamicObject =
            serde_json::from_str(r#"{"metadata":{"name":"a"},"data":{"k":"v"}}"#).unwrap();
        assert!(item.types.is_none());
        item.complete(&ar);
        let json = serde_json::to_value(&item).unwrap();
        assert_eq!(
            (json["apiVersion"].as_str(), json["kind"].as_str()),
            (Some("v1"), Some("ConfigMap"))
        );
        // A kind the object names itself is kept; an unknown kind is not invented.
        let mut other =
            DynamicObject::new("b", &ApiResource::new("x", "v2", "Other", "others", false));
        other.complete(&ar);
        assert_eq!(other.types.unwrap().kind, "Other");
        let mut bare: DynamicObject = serde_json::from_str(r#"{"metadata":{}}"#).unwrap();
        bare.complete(&ApiResource::new("", "v1", "", "configmaps", true));
        assert!(bare.types.is_none());
    }

    #[test]
    fn list_with_null_items_is_empty() {
        let list: ObjectList<ConfigMap> = serde_json::from_str(
            r#"{"metadata":{"resourceVersion":"5","continue":""},"items":null}"#,
        )
        .unwrap();
        assert!(list.items.is_empty());
        assert_eq!(list.continue_token(), None);
        assert_eq!(list.resource_version(), Some("5"));
    }
}
