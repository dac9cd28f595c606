//! [`ListWatch`]: where a reflector gets its lists and watches — an [`Api<K>`] (typed or
//! dynamic), or [`MetadataOnly`] for `PartialObjectMetadata`.

use super::object::Object;
use crate::api::{
    Api, ListParams, ObjectList, PartialObjectMetadata, Resource, WatchEvent, WatchParams,
};
use crate::error::Error;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A stream of watch events.
pub type EventStream<K> = BoxStream<'static, Result<WatchEvent<K>, Error>>;

/// The list and watch calls of one collection, as a reflector makes them.
pub trait ListWatch<K: Object>: Send + Sync + 'static {
    /// One page of the list.
    fn list<'a>(&'a self, lp: &'a ListParams) -> BoxFuture<'a, Result<ObjectList<K>, Error>>;
    /// One watch from `resource_version`.
    fn watch<'a>(
        &'a self,
        wp: &'a WatchParams,
        resource_version: &'a str,
    ) -> BoxFuture<'a, Result<EventStream<K>, Error>>;
    /// The collection's path, e.g. `/api/v1/namespaces/default/pods` (for logs and for
    /// telling informers apart).
    fn collection(&self) -> &str;
}

impl<K> ListWatch<K> for Api<K>
where
    K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn list<'a>(&'a self, lp: &'a ListParams) -> BoxFuture<'a, Result<ObjectList<K>, Error>> {
        Box::pin(Api::list(self, lp))
    }

    fn watch<'a>(
        &'a self,
        wp: &'a WatchParams,
        resource_version: &'a str,
    ) -> BoxFuture<'a, Result<EventStream<K>, Error>> {
        Box::pin(Api::watch(self, wp, resource_version))
    }

    fn collection(&self) -> &str {
        self.request().collection()
    }
}

/// Lists and watches only the metadata of `K`'s objects (`PartialObjectMetadata`):
/// a metadata-only informer for when labels, owners and finalizers are all you need.
pub struct MetadataOnly<K: Resource>(pub Api<K>);

impl<K: Resource> std::fmt::Debug for MetadataOnly<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MetadataOnly").field(&self.0).finish()
    }
}

impl<K> ListWatch<PartialObjectMetadata> for MetadataOnly<K>
where
    K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn list<'a>(
        &'a self,
        lp: &'a ListParams,
    ) -> BoxFuture<'a, Result<ObjectList<PartialObjectMetadata>, Error>> {
        Box::pin(self.0.list_metadata(lp))
    }

    fn watch<'a>(
        &'a self,
        wp: &'a WatchParams,
        resource_version: &'a str,
    ) -> BoxFuture<'a, Result<EventStream<PartialObjectMetadata>, Error>> {
        Box::pin(self.0.watch_metadata(wp, resource_version))
    }

    fn collection(&self) -> &str {
        self.0.request().collection()
    }
}
