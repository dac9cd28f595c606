//! Errors of the `config` module.

/// Locating, reading, parsing or validating configuration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The cluster URL is not a valid URL.
    #[error("cluster server {server:?} is not a valid URL")]
    InvalidServer {
        /// The value given.
        server: String,
        /// The parser's error.
        #[source]
        source: url::ParseError,
    },
}
