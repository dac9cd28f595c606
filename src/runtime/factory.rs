//! [`InformerFactory`]: hands out one shared informer per collection and selector, so
//! every part of a program asking for the same objects shares one watch.

use super::informer::SharedInformer;
use super::listwatch::{ListWatch, MetadataOnly};
use super::object::Object;
use super::reflector::ReflectorConfig;
use crate::api::{Api, PartialObjectMetadata, Resource};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    object: TypeId,
    collection: String,
    labels: Option<String>,
    fields: Option<String>,
}

/// Shared informers keyed by object type, collection (group, version, resource,
/// namespace) and selectors: the second request for the same key gets the first
/// informer, so both share one list + watch and one cache.
///
/// The first request's [`ReflectorConfig`] (resync, page size, …) is the informer's;
/// later requests for the same key share it as it is.
///
/// ```no_run
/// # async fn demo(client: k8s_client::Client) {
/// use k8s_client::api::Api;
/// use k8s_client::runtime::{InformerFactory, ReflectorConfig};
/// use k8s_openapi::api::core::v1::Pod;
/// let factory = InformerFactory::new();
/// let a = factory.informer(Api::<Pod>::all(client.clone()), ReflectorConfig::default());
/// let b = factory.informer(Api::<Pod>::all(client), ReflectorConfig::default());
/// factory.start();
/// a.wait_until_synced().await;
/// assert_eq!(a.reader().len(), b.reader().len()); // one watch, one cache
/// # }
/// ```
#[derive(Clone, Default)]
pub struct InformerFactory {
    informers: Arc<Mutex<HashMap<Key, Starter>>>,
}

struct Starter {
    informer: Box<dyn AnyInformer>,
    started: bool,
}

/// The type-erased view of a `SharedInformer<K>` the factory keeps.
trait AnyInformer: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn start(&self);
    fn stop(&self);
    fn synced(&self) -> BoxFuture<'static, bool>;
}

impl<K: Object> AnyInformer for SharedInformer<K> {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn start(&self) {
        SharedInformer::start(self);
    }
    fn stop(&self) {
        SharedInformer::stop(self);
    }
    fn synced(&self) -> BoxFuture<'static, bool> {
        let reader = self.reader();
        Box::pin(async move { reader.wait_until_synced().await })
    }
}

impl fmt::Debug for InformerFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let map = self.informers.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("InformerFactory")
            .field(
                "collections",
                &map.keys()
                    .map(|k| k.collection.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl InformerFactory {
    /// An empty factory.
    pub fn new() -> Self {
        Self::default()
    }

    /// The informer of `K` objects in `api`'s collection with `config`'s selectors,
    /// created on first request. Typed and dynamic (`Api<DynamicObject>`) alike.
    pub fn informer<K>(&self, api: Api<K>, config: ReflectorConfig) -> SharedInformer<K>
    where
        K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        self.get_or_create(api, config)
    }

    /// The metadata-only informer (`PartialObjectMetadata`) of `api`'s collection.
    pub fn metadata_informer<K>(
        &self,
        api: Api<K>,
        config: ReflectorConfig,
    ) -> SharedInformer<PartialObjectMetadata>
    where
        K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        self.get_or_create(MetadataOnly(api), config)
    }

    fn get_or_create<K: Object, L: ListWatch<K>>(
        &self,
        lw: L,
        config: ReflectorConfig,
    ) -> SharedInformer<K> {
        let key = Key {
            object: TypeId::of::<K>(),
            collection: lw.collection().to_owned(),
            labels: config.watch.label_selector.clone(),
            fields: config.watch.field_selector.clone(),
        };
        let mut map = self.informers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = map.get(&key)
            && let Some(informer) = existing
                .informer
                .as_any()
                .downcast_ref::<SharedInformer<K>>()
        {
            return informer.clone();
        }
        let informer = SharedInformer::new(lw, config);
        map.insert(
            key,
            Starter {
                informer: Box::new(informer.clone()),
                started: false,
            },
        );
        informer
    }

    /// Starts every informer not started yet (informers requested later need another
    /// `start`, or their own [`SharedInformer::start`]).
    pub fn start(&self) {
        let mut map = self.informers.lock().unwrap_or_else(|e| e.into_inner());
        for s in map.values_mut() {
            if !s.started {
                s.informer.start();
                s.started = true;
            }
        }
    }

    /// Stops every informer of this factory.
    pub fn stop(&self) {
        let map = self.informers.lock().unwrap_or_else(|e| e.into_inner());
        for s in map.values() {
            s.informer.stop();
        }
    }

    /// Waits until every informer started so far has synced (`false` if one was dropped
    /// before syncing).
    pub async fn wait_for_cache_sync(&self) -> bool {
        let waits: Vec<_> = {
            let map = self.informers.lock().unwrap_or_else(|e| e.into_inner());
            map.values()
                .filter(|s| s.started)
                .map(|s| s.informer.synced())
                .collect()
        };
        futures_util::future::join_all(waits)
            .await
            .into_iter()
            .all(|ok| ok)
    }
}
