//! [`RequestError`]: failures of the typed API layer that are not the server's answer.

pub use crate::path::PathProblem;
use crate::path::Refused;

/// Building a request or reading a stream failed in the typed API layer.
///
/// The server's own answers (404, 409, 410, …) are [`Error::Api`](crate::Error::Api).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A value cannot be exactly one URL path segment: it is empty, `.` or `..`, or it
    /// contains `/` or `%` (client-go's `IsValidPathSegmentName`); for the name, scheme and
    /// port of a proxy target, also `:` (the API server splits the target at `:`).
    /// Refused before any I/O; every other character is percent-encoded.
    #[error("{what} {value:?} cannot be used as a URL path segment")]
    InvalidName {
        /// What the value is (`name`, `namespace`, `subresource`, `resource`, `group`,
        /// `version`, `proxy target name`, …).
        what: &'static str,
        /// The rejected value.
        value: String,
    },
    /// A path given as text (to [`Request::new`](super::Request::new) or as the path on a
    /// proxied target) is not in canonical encoded form. Refused before any I/O.
    #[error("{what} {path:?} is refused: {problem}")]
    InvalidPath {
        /// What the path is (`collection path`, `proxied path`).
        what: &'static str,
        /// The rejected path.
        path: String,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// A namespace was given for a cluster-scoped kind
    /// ([`Api::namespaced_with`](super::Api::namespaced_with) with an
    /// [`ApiResource`](super::ApiResource) whose `namespaced` is false). Refused before
    /// any I/O by every verb of the handle: the request would otherwise go to the
    /// cluster-wide collection, which is not what a namespaced handle promises. Use
    /// [`Api::all_with`](super::Api::all_with) for cluster-scoped kinds.
    #[error("{kind} is cluster-scoped; it cannot be addressed in namespace {namespace:?}")]
    ClusterScoped {
        /// The kind.
        kind: String,
        /// The namespace that was given.
        namespace: String,
    },
    /// Serialising a request body to JSON failed.
    #[error("serialising the {type_name} request body failed")]
    Serialize {
        /// The Rust type being serialised.
        type_name: &'static str,
        /// The serialiser's error.
        #[source]
        source: serde_json::Error,
    },
    /// Server-side apply needs a field manager.
    #[error("server-side apply needs a field manager (PatchParams::apply(\"name\"))")]
    ApplyWithoutFieldManager,
    /// `force` is only meaningful for server-side apply.
    #[error("force is only valid with Patch::Apply")]
    ForceWithoutApply,
    /// A watch event did not fit in the configured maximum.
    #[error("a watch event from {url} exceeds the maximum event size of {limit} bytes")]
    EventTooLarge {
        /// The watch URL.
        url: String,
        /// The configured limit (`WatchParams::max_event_size`).
        limit: usize,
    },
    /// A TokenRequest was answered without `status.token`.
    #[error("the TokenRequest for service account {namespace}/{name} was answered without a token")]
    TokenMissing {
        /// The service account's namespace.
        namespace: String,
        /// The service account's name.
        name: String,
    },
    /// The token controller did not fill a service-account token Secret in time.
    #[error(
        "the token controller did not fill Secret {namespace}/{name} within {timeout:?} (is kube-controller-manager running?)"
    )]
    TokenNotFilled {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// How long was waited.
        timeout: std::time::Duration,
    },
    /// A service-account token Secret was deleted while waiting for its token.
    #[error(
        "Secret {namespace}/{name} was deleted before it got a token (does service account {service_account} exist?)"
    )]
    TokenSecretDeleted {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The service account named by the Secret's annotation.
        service_account: String,
    },
    /// A Secret with the requested name exists but is not a service-account token Secret
    /// for that service account, so the token controller will never fill it.
    #[error(
        "Secret {namespace}/{name} exists but is not a kubernetes.io/service-account-token Secret of service account {service_account}"
    )]
    NotATokenSecret {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The service account that was asked for.
        service_account: String,
    },
}

impl From<Refused> for RequestError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Segment { what, value } => RequestError::InvalidName { what, value },
            Refused::Path {
                what,
                path,
                problem,
            } => RequestError::InvalidPath {
                what,
                path,
                problem,
            },
            Refused::ClusterScoped { kind, namespace } => {
                RequestError::ClusterScoped { kind, namespace }
            }
        }
    }
}
