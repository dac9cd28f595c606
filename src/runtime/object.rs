//! What the runtime needs of a cached object: its metadata, and the key it is stored under.

use crate::api::{DynamicObject, PartialObjectMetadata, Resource};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::fmt;

/// An object the runtime can cache: anything with `ObjectMeta`.
///
/// Implemented for every [`Resource`] (k8s-openapi types, [`DynamicObject`]) and for
/// [`PartialObjectMetadata`] (metadata-only informers).
pub trait Object: Send + Sync + 'static {
    /// The object's metadata.
    fn object_meta(&self) -> &ObjectMeta;
    /// The object's metadata, mutable (for transforms).
    fn object_meta_mut(&mut self) -> &mut ObjectMeta;
}

impl<K> Object for K
where
    K: Resource + Send + Sync + 'static,
{
    fn object_meta(&self) -> &ObjectMeta {
        self.meta()
    }
    fn object_meta_mut(&mut self) -> &mut ObjectMeta {
        self.meta_mut()
    }
}

impl Object for PartialObjectMetadata {
    fn object_meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn object_meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

// `DynamicObject` is covered by the blanket implementation; named here for the docs.
const _: fn() = || {
    fn is_object<T: Object>() {}
    is_object::<DynamicObject>();
};

/// The key of an object in a store and a work queue: namespace (if any) and name —
/// client-go's `namespace/name` key.
///
/// ```
/// use k8s_client::runtime::ObjectKey;
/// let key = ObjectKey::namespaced("default", "web");
/// assert_eq!(key.to_string(), "default/web");
/// assert_eq!("default/web".parse::<ObjectKey>().unwrap(), key);
/// assert_eq!(ObjectKey::cluster("node-1").to_string(), "node-1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ObjectKey {
    /// The key of a namespaced object.
    pub fn namespaced(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    /// The key of a cluster-scoped object.
    pub fn cluster(name: impl Into<String>) -> Self {
        Self {
            namespace: None,
            name: name.into(),
        }
    }

    /// The key of `obj` (an empty namespace counts as none).
    pub fn of<K: Object + ?Sized>(obj: &K) -> Self {
        let meta = obj.object_meta();
        Self {
            namespace: meta.namespace.clone().filter(|ns| !ns.is_empty()),
            name: meta.name.clone().unwrap_or_default(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A string that is not a `namespace/name` or `name` key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid object key {key:?}: expected \"namespace/name\" or \"name\"")]
#[non_exhaustive]
pub struct InvalidKey {
    /// The string.
    pub key: String,
}

impl std::str::FromStr for ObjectKey {
    type Err = InvalidKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidKey { key: s.to_owned() };
        match s.split_once('/') {
            None if !s.is_empty() => Ok(Self::cluster(s)),
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(Self::namespaced(ns, name))
            }
            _ => Err(invalid()),
        }
    }
}
