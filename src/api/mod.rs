//! Typed and dynamic API access.
//!
//! * [`Resource`]: what a type needs for its URLs (implemented for every k8s-openapi
//!   resource, and for [`DynamicObject`] described by an [`ApiResource`]);
//! * [`Request`]: pure request building for every verb;
//! * parameters: [`ListParams`], [`WatchParams`], [`PostParams`], [`PatchParams`] with
//!   [`Patch`], [`DeleteParams`], [`LogParams`];
//! * [`WatchEvent`]s decoded from a bounded line decoder.

mod apiserver_proxy;
mod core;
mod error;
mod pager;
mod params;
mod request;
mod resource;
mod sa_token;
mod subresource;
mod watch;
mod watch_all;

pub use apiserver_proxy::{ApiserverProxy, ProxyKind, ProxyTarget};
pub use core::{Api, Deleted};
pub use error::RequestError;
pub use pager::{DEFAULT_PAGE_SIZE, ListStream};
pub use params::{
    DEFAULT_MAX_EVENT_SIZE, DeleteParams, FieldValidation, ListParams, LogParams, Patch,
    PatchParams, PostParams, Preconditions, PropagationPolicy, VersionMatch, WatchParams,
};
pub use request::{ACCEPT_PARTIAL_METADATA, ACCEPT_PARTIAL_METADATA_LIST, Request};
pub use resource::{
    ApiResource, DynamicObject, ObjectList, PartialObjectMetadata, Resource, ScopeKind, TypeMeta,
};
pub use sa_token::{SERVICE_ACCOUNT_NAME_ANNOTATION, SERVICE_ACCOUNT_TOKEN_TYPE, TokenSecret};
pub use subresource::{ServiceAccountToken, TokenParams};
pub use watch::{Bookmark, BookmarkMeta, WatchEvent};
pub use watch_all::WatchAllEvent;
