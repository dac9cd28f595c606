//! HTTP transport: rustls TLS, HTTP/2, proxies, retries, rate limiting, user agent.

/// Building the HTTP client, connecting, or exchanging bytes failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Reading a TLS file failed.
    #[error("reading {what} file {path} failed")]
    ReadFile {
        /// Which file (`certificate-authority`, `client-certificate`, …).
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
