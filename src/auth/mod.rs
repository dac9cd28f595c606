//! Authentication: the [`AuthProvider`] trait, the credential cache, and the built-in providers.

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
}
