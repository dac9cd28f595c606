//! The controller runtime: caches kept in sync with the server, shared informers, a
//! rate-limited work queue and a controller loop — client-go's `tools/cache`,
//! `util/workqueue` and controller pattern.
//!
//! * [`Store`] / [`Reader`]: a thread-safe cache of `Arc<K>` keyed by [`ObjectKey`], with
//!   named indexes ([`indexers`]) and a transform hook.
//! * [`Reflector`]: keeps a store equal to the server — paginated or streaming list,
//!   watch, resume, relist on 410 with [`Tombstone`]s, jittered [`Backoff`].
//! * [`SharedInformer`] + [`InformerFactory`]: one watch per collection, any number of
//!   [`EventHandler`]s; typed, dynamic and metadata-only ([`MetadataOnly`]).
//! * [`WorkQueue`] + [`RateLimiter`]s: de-duplicating, one worker per key, delays,
//!   client-go's default controller rate limiter, metrics ([`QueueMetrics`]).
//! * [`Controller`]: reconcile loop with owned and related triggers; [`finalizer`],
//!   [`update_status`], [`retry_on_conflict`].
//! * [`leader`]: leader election on `coordination.k8s.io/v1` Leases with a local-deadline
//!   fence; [`events`]: an `events.k8s.io/v1` recorder with series aggregation.
//!
//! ```no_run
//! # async fn demo(client: k8s_client::Client) {
//! use k8s_client::api::Api;
//! use k8s_client::runtime::{HandlerFns, InformerFactory, ReflectorConfig};
//! use k8s_openapi::api::core::v1::Pod;
//! use std::sync::Arc;
//!
//! let factory = InformerFactory::new();
//! let pods = factory.informer(Api::<Pod>::all(client), ReflectorConfig::default());
//! pods.add_handler(HandlerFns::new().on_add(|p: &Arc<Pod>| println!("{:?}", p.metadata.name)));
//! factory.start();
//! factory.wait_for_cache_sync().await;
//! println!("{} pods cached", pods.reader().len());
//! # }
//! ```
//!
//! See `docs/runtime.md` for the semantics and a controller walkthrough.

mod backoff;
mod controller;
pub mod events;
mod factory;
mod finalizer;
mod informer;
pub mod leader;
mod listwatch;
mod object;
mod queue;
mod rate_limit;
mod reflector;
mod store;

pub use backoff::Backoff;
pub use controller::{Action, Controller, Request};
pub use factory::InformerFactory;
pub use finalizer::{FinalizerError, FinalizerEvent, finalizer, retry_on_conflict, update_status};
pub use informer::{DEFAULT_HANDLER_BUFFER, EventHandler, HandlerFns, HandlerId, SharedInformer};
pub use listwatch::{EventStream, ListWatch, MetadataOnly};
pub use object::{InvalidKey, Object, ObjectKey};
pub use queue::{QueueMetrics, WorkQueue};
pub use rate_limit::{
    ItemExponential, MaxOf, RateLimiter, TokenBucket, default_controller_rate_limiter,
};
pub use reflector::{Change, Deletion, Reflector, ReflectorConfig, Tombstone};
pub use store::{IndexFn, Reader, ReplaceDiff, Store, TransformFn, UnknownIndex, indexers};
