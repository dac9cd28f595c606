//! Errors of the `auth` module.

/// Obtaining or refreshing a credential failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Reading a token file failed.
    #[error("reading token file {path} failed")]
    TokenFile {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The credential could not be put into an HTTP header.
    #[error("the {provider} credential is not a valid HTTP header value")]
    InvalidHeader {
        /// The provider's name.
        provider: String,
    },
    /// This kind of authentication is not built into this version.
    #[error("{kind} authentication is not supported")]
    Unsupported {
        /// The kubeconfig auth kind.
        kind: &'static str,
    },
}
