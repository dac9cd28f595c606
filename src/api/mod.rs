//! Typed and dynamic API access: the analogue of client-go's clientsets, dynamic client,
//! pager, reflector loop, and REST helpers for subresources and the API server proxy.
//!
//! * [`Api<K>`]: the verbs of one resource type in a namespace or cluster-wide — `get`,
//!   `list`, `create`, `replace`, `patch` (merge, JSON, strategic, server-side apply),
//!   `delete`, `delete_collection`, metadata-only reads, [`Api::list_stream`] (one page in
//!   memory at a time), [`Api::watch`] and [`Api::watch_all`] (list → watch → resume →
//!   relist on 410), and subresources (`status`, `scale`, eviction, logs, TokenRequest).
//! * [`Resource`]: what a type needs for its URLs; implemented for every k8s-openapi
//!   resource (pick a Kubernetes version feature of k8s-openapi in your application) and
//!   for [`DynamicObject`], described at run time by an [`ApiResource`].
//! * [`Request`]: the pure request builder behind every verb (no I/O, unit-tested).
//! * [`ApiserverProxy`] + [`ProxyTarget`]: reach pods, services and nodes through
//!   `…/proxy/…`, any method and body, streaming.
//! * Errors: the server's answers are [`Error::Api`](crate::Error::Api)
//!   (`is_not_found()`, `is_conflict()`, `is_gone()`, …); failures of this layer are
//!   [`RequestError`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use k8s_client::api::{Api, Patch, PatchParams, WatchParams};
//! use k8s_client::{Client, Config};
//! use k8s_openapi::api::core::v1::ConfigMap;
//!
//! let client = Client::try_from(Config::infer()?)?;
//! let cms: Api<ConfigMap> = Api::default_namespaced(client);
//! let applied = cms
//!     .patch(
//!         "settings",
//!         &PatchParams::apply("my-tool"),
//!         &Patch::Apply(serde_json::json!({
//!             "apiVersion": "v1", "kind": "ConfigMap",
//!             "metadata": {"name": "settings"}, "data": {"mode": "fast"}
//!         })),
//!     )
//!     .await?;
//! println!("applied at resourceVersion {:?}", applied.metadata.resource_version);
//! # Ok(()) }
//! ```
//!
//! See `docs/api.md` for the semantics of pagination, watches and errors.

mod apiserver_proxy;
mod core;
mod error;
pub(crate) mod pager;
mod params;
mod remote;
mod request;
mod resource;
mod sa_token;
mod subresource;
mod watch;
mod watch_all;

pub use apiserver_proxy::{ApiserverProxy, ProxyKind, ProxyTarget};
pub use core::{Api, Deleted};
pub use error::{PathProblem, RequestError};
pub use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
pub use pager::{DEFAULT_PAGE_SIZE, ListStream};
pub use params::{
    DEFAULT_MAX_EVENT_SIZE, DeleteParams, FieldValidation, ListParams, LogParams, Patch,
    PatchParams, PostParams, Preconditions, PropagationPolicy, VersionMatch, WatchParams,
};
pub use remote::{
    AttachParams, AttachedProcess, CopyLocation, CopyParams, CopyReport,
    DEFAULT_CONTAINER_ANNOTATION, DEFAULT_MAX_LOG_REQUESTS, ExitStatus, ForwardTarget, LogLine,
    LogSelection, LogStream, MAX_LINE, PORTFORWARD_PROTOCOL, PROTOCOL_V4, PROTOCOL_V5, PortMapping,
    PortStream, PortforwardProtocol, PortforwardSession, Portforwarder, ProcessOutput,
    ProcessStdin, RemotePort, ResolvedForward, SELECTOR_DEFAULT_TAIL_LINES, SPDY_MAX_FRAME,
    SPDY_MAX_HEADER_BLOCK, SPDY_TUNNEL_PROTOCOL, STREAM_PING_PERIOD, STREAM_SILENCE_LIMIT,
    SkipReason, SkippedEntry, SpdyError, StreamError, UploadEnd,
};
pub(crate) use request::collection_path;
pub use request::{ACCEPT_PARTIAL_METADATA, ACCEPT_PARTIAL_METADATA_LIST, Request};
pub use resource::{
    ApiResource, DynamicObject, DynamicResourceScope, ObjectList, PartialObjectMetadata, Resource,
    ScopeKind, TypeMeta,
};
pub use sa_token::{SERVICE_ACCOUNT_NAME_ANNOTATION, SERVICE_ACCOUNT_TOKEN_TYPE, TokenSecret};
pub use subresource::{ServiceAccountToken, TokenParams};
pub(crate) use watch::LineDecoder;
#[cfg(feature = "protobuf")]
pub(crate) use watch::status_error;
pub use watch::{Bookmark, BookmarkMeta, INITIAL_EVENTS_END_ANNOTATION, WatchEvent};
pub use watch_all::WatchAllEvent;
