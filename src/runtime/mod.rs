//! The controller runtime: caches kept in sync with the server, shared informers, a
//! rate-limited work queue and a controller loop — client-go's `tools/cache`,
//! `util/workqueue` and controller pattern.
//!
//! See `docs/runtime.md`.

mod backoff;
mod controller;
mod factory;
mod finalizer;
mod informer;
mod listwatch;
mod object;
mod queue;
mod rate_limit;
mod reflector;
mod store;

pub use backoff::Backoff;
pub use controller::{Action, Controller, Request};
pub use factory::InformerFactory;
pub use finalizer::{
    FinalizerError, FinalizerEvent, finalizer, retry_on_conflict, update_status,
};
pub use informer::{DEFAULT_HANDLER_BUFFER, EventHandler, HandlerFns, HandlerId, SharedInformer};
pub use listwatch::{EventStream, ListWatch, MetadataOnly};
pub use object::{InvalidKey, Object, ObjectKey};
pub use queue::{QueueMetrics, WorkQueue};
pub use rate_limit::{
    ItemExponential, MaxOf, RateLimiter, TokenBucket, default_controller_rate_limiter,
};
pub use reflector::{Change, Deletion, Reflector, ReflectorConfig, Tombstone};
pub use store::{IndexFn, ReplaceDiff, Reader, Store, TransformFn, UnknownIndex, indexers};
