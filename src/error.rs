//! The crate's top-level [`Error`], gathering each module's own error enum, and the
//! API server's [`Status`] object.
//!
//! Every message states what failed at its own layer and where (file, context, field,
//! URL, HTTP status and `Status.reason`); the underlying cause is reached through
//! [`std::error::Error::source`], never pasted into the message. So `{}` on an error
//! shows one layer; [`Error::report`] (or [`Report::new`] for any error) shows the whole
//! chain:
//!
//! ```
//! use k8s_client::Error;
//! let err: Error = k8s_client::config::Kubeconfig::from_yaml("[").unwrap_err().into();
//! // One line, causes joined with ": ", for logs:
//! assert!(err.report().to_string().starts_with("configuration failed: parsing kubeconfig"));
//! // `{:#}`: one cause per line, for a program's final error message:
//! eprintln!("error: {:#}", err.report());
//! ```

use serde::{Deserialize, Serialize};

/// Any error this crate returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Locating, reading or validating configuration failed.
    #[error("configuration failed")]
    Config(#[from] crate::config::ConfigError),
    /// Obtaining or refreshing a credential failed.
    #[error("authentication failed")]
    Auth(#[from] crate::auth::AuthError),
    /// Building the HTTP client, connecting, or exchanging bytes failed.
    #[error("transport failed")]
    Transport(#[from] crate::transport::TransportError),
    /// Discovery failed (unknown resource name, cache directory, address lookup).
    #[error("discovery failed")]
    Discovery(#[from] crate::discovery::DiscoveryError),
    /// Configuring, binding or serving the local proxy failed.
    #[cfg(feature = "proxy")]
    #[error("local proxy failed")]
    Proxy(#[from] crate::proxy::ProxyError),
    /// Building a typed API request or reading a watch stream failed (not the server's answer).
    #[error("typed API request failed")]
    Request(#[from] crate::api::RequestError),
    /// An exec, attach or port-forward stream failed after it was set up.
    #[error("streaming to or from a pod failed")]
    Stream(#[from] crate::api::StreamError),
    /// The API server answered with a non-2xx status.
    ///
    /// Transparent: the message is the [`ApiError`]'s own (method, URL, status,
    /// `Status.reason` and message), and it is not repeated as a source.
    #[error(transparent)]
    Api(#[from] Box<ApiError>),
    /// A response body could not be decoded into the expected type.
    #[error("decoding {type_name} from {url} failed")]
    Decode {
        /// The request URL.
        url: String,
        /// The Rust type that was expected.
        type_name: &'static str,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// A protobuf response body could not be decoded into the expected type.
    #[cfg(feature = "protobuf")]
    #[error("decoding {type_name} from protobuf from {url} failed")]
    DecodeProtobuf {
        /// The request URL.
        url: String,
        /// The Rust type that was expected.
        type_name: &'static str,
        /// The protobuf decoder's error.
        #[source]
        source: crate::codec::ProtobufError,
    },
}

impl Error {
    /// Shows this error with all its causes: `{}` on one line, `{:#}` one cause per
    /// line. See [`Report`].
    pub fn report(&self) -> Report<'_> {
        Report::new(self)
    }

    /// The API error, when the server answered with a non-2xx status.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status code of an API error.
    pub fn code(&self) -> Option<u16> {
        self.api().map(|e| e.code)
    }

    /// The `Status.reason` of an API error (`NotFound`, `Conflict`, …).
    pub fn reason(&self) -> Option<&str> {
        self.api()
            .and_then(|e| e.status.as_ref()?.reason.as_deref())
    }

    /// The `Status.message` of an API error (the server's human-readable text).
    pub fn message(&self) -> Option<&str> {
        self.api()
            .and_then(|e| e.status.as_ref()?.message.as_deref())
    }

    fn is_code(&self, code: u16) -> bool {
        self.code() == Some(code)
    }

    /// 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        self.is_code(404)
    }

    /// 409 Conflict (not `AlreadyExists`).
    pub fn is_conflict(&self) -> bool {
        self.is_code(409) && self.reason() != Some("AlreadyExists")
    }

    /// 409 with reason `AlreadyExists`.
    pub fn is_already_exists(&self) -> bool {
        self.is_code(409) && self.reason() == Some("AlreadyExists")
    }

    /// 403 Forbidden.
    pub fn is_forbidden(&self) -> bool {
        self.is_code(403)
    }

    /// 401 Unauthorized.
    pub fn is_unauthorized(&self) -> bool {
        self.is_code(401)
    }

    /// 410 Gone (an expired `resourceVersion` or continue token).
    pub fn is_gone(&self) -> bool {
        self.is_code(410)
    }
}

/// A non-2xx answer from the API server.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ApiError {
    /// The request method.
    pub method: http::Method,
    /// The request URL (without credentials).
    pub url: String,
    /// The HTTP status code.
    pub code: u16,
    /// The decoded `Status` body, when the server sent one.
    pub status: Option<Status>,
    /// The start of the body when it was not a `Status` (at most 1 KiB).
    pub body: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} answered {}", self.method, self.url, self.code)?;
        if let Some(status) = &self.status {
            if let Some(reason) = &status.reason {
                write!(f, " {reason}")?;
            }
            if let Some(message) = &status.message {
                write!(f, ": {message}")?;
            }
        } else if let Some(body) = &self.body {
            write!(f, ": {body}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// The API server's `meta/v1` `Status` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Status {
    /// `Success` or `Failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// A human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A machine-readable reason (`NotFound`, `Forbidden`, `Expired`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Extended data about the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// The HTTP status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shows an error with its whole [`source`](std::error::Error::source) chain; from
/// [`Error::report`] or [`Report::new`] (for any error, e.g. a `Box<dyn Error>`).
///
/// `{}` joins the messages with `": "` on one line (for logs); `{:#}` puts each cause
/// on its own line after `caused by: ` (for a program's final error message). A cause
/// whose text its wrapper already ends with (some errors of other crates paste their
/// cause into their message) is shown once.
///
/// ```
/// use k8s_client::error::Report;
/// #[derive(Debug)]
/// struct Outer(std::io::Error);
/// impl std::fmt::Display for Outer {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("reading the token failed")
///     }
/// }
/// impl std::error::Error for Outer {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
///         Some(&self.0)
///     }
/// }
/// let err = Outer(std::io::Error::other("permission denied"));
/// assert_eq!(Report::new(&err).to_string(), "reading the token failed: permission denied");
/// assert_eq!(
///     format!("{:#}", Report::new(&err)),
///     "reading the token failed\n  caused by: permission denied"
/// );
/// ```
#[derive(Clone, Copy)]
pub struct Report<'a> {
    error: &'a (dyn std::error::Error + 'a),
}

impl<'a> Report<'a> {
    /// A report of `error` and its causes.
    pub fn new(error: &'a (dyn std::error::Error + 'a)) -> Self {
        Self { error }
    }
}

impl std::fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.error.to_string();
        f.write_str(&shown)?;
        let mut source = self.error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !shown.ends_with(&text) {
                if f.alternate() {
                    write!(f, "\n  caused by: {text}")?;
                } else {
                    write!(f, ": {text}")?;
                }
            }
            shown = text;
            source = cause.source();
        }
        Ok(())
    }
}

impl std::fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod report_tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn every_cause_once_in_order() {
        let err = Layer(
            "a failed",
            Some(Box::new(Layer(
                "b failed: root",
                Some(Box::new(Layer("root", None))),
            ))),
        );
        assert_eq!(Report::new(&err).to_string(), "a failed: b failed: root");
        assert_eq!(
            format!("{:#}", Report::new(&err)),
            "a failed\n  caused by: b failed: root"
        );
        assert_eq!(
            format!("{:?}", Report::new(&err)),
            "a failed: b failed: root"
        );
        let single = Layer("alone", None);
        assert_eq!(format!("{:#}", Report::new(&single)), "alone");
    }

    #[test]
    fn the_crate_error_reports_its_chain() {
        let err: Error = crate::api::RequestError::ApplyWithoutFieldManager.into();
        assert_eq!(err.to_string(), "typed API request failed");
        assert_eq!(
            err.report().to_string(),
            "typed API request failed: server-side apply needs a field manager (PatchParams::apply(\"name\"))"
        );
    }
}
