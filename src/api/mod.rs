//! Typed and dynamic API access.
//!
//! * [`Resource`]: what a type needs for its URLs (implemented for every k8s-openapi
//!   resource, and for [`DynamicObject`] described by an [`ApiResource`]);
//! * [`Request`]: pure request building for every verb;
//! * parameters: [`ListParams`], [`WatchParams`], [`PostParams`], [`PatchParams`] with
//!   [`Patch`], [`DeleteParams`], [`LogParams`];
//! * [`WatchEvent`]s decoded from a bounded line decoder.

mod error;
mod params;
mod request;
mod resource;
mod watch;

pub use error::RequestError;
pub use params::{
    DEFAULT_MAX_EVENT_SIZE, DeleteParams, FieldValidation, ListParams, LogParams, Patch,
    PatchParams, PostParams, Preconditions, PropagationPolicy, VersionMatch, WatchParams,
};
pub use request::{ACCEPT_PARTIAL_METADATA, ACCEPT_PARTIAL_METADATA_LIST, Request};
pub use resource::{
    ApiResource, DynamicObject, ObjectList, PartialObjectMetadata, Resource, ScopeKind, TypeMeta,
};
pub use watch::{Bookmark, BookmarkMeta, WatchEvent};
