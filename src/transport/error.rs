//! Errors of the `transport` module.

/// A boxed error from a library below this crate (TLS, HTTP), kept as the `source`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    /// A PEM file or inline PEM data could not be parsed.
    #[error("the {what} PEM from {location} is malformed")]
    InvalidPem {
        /// Which item (`certificate-authority`, `client-certificate`, `client-key`).
        what: &'static str,
        /// The file, or `inline data`.
        location: String,
        /// The parser's error.
        #[source]
        source: BoxError,
    },
    /// PEM data held no certificate.
    #[error("the {what} PEM from {location} holds no certificate")]
    NoCertificates {
        /// Which item.
        what: &'static str,
        /// The file, or `inline data`.
        location: String,
    },
    /// PEM data held no private key.
    #[error("the client key PEM from {location} holds no private key")]
    NoPrivateKey {
        /// The file, or `client-key-data`.
        location: String,
    },
    /// A certificate was rejected as a trust anchor.
    #[error("a {what} certificate from {location} is not usable")]
    InvalidCertificate {
        /// Which item.
        what: &'static str,
        /// The file, or `inline data`.
        location: String,
        /// The TLS library's error.
        #[source]
        source: BoxError,
    },
    /// The client certificate and key do not form a usable identity.
    #[error("the client certificate and key are not usable together")]
    ClientCertificate {
        /// The TLS library's error.
        #[source]
        source: BoxError,
    },
    /// `tls-server-name` is not a DNS name or IP address.
    #[error("tls-server-name {name:?} is not a valid server name")]
    InvalidTlsServerName {
        /// The value given.
        name: String,
        /// The parser's error.
        #[source]
        source: BoxError,
    },
    /// Setting up TLS (protocol versions, verifier, system trust store) failed.
    #[error("setting up TLS failed")]
    TlsSetup {
        /// The TLS library's error.
        #[source]
        source: BoxError,
    },
    /// A `socks5://` proxy URL, and the crate's `socks` feature is off.
    #[error("SOCKS5 proxy URLs need the crate feature \"socks\", which this build does not enable")]
    SocksDisabled,
    /// The proxy URL has a scheme other than http, https, socks5 or socks5h.
    #[error("proxy URL scheme {scheme:?} is not supported (use http, https, socks5 or socks5h)")]
    UnsupportedProxyScheme {
        /// The scheme given.
        scheme: String,
    },
    /// A proxy URL could not be parsed.
    #[error("proxy {source_name} is not a valid URL")]
    InvalidProxyUrl {
        /// Where it came from (`proxy-url`, `HTTPS_PROXY`, …).
        source_name: String,
        /// The parser's error.
        #[source]
        source: url::ParseError,
    },
    /// A header value configured for every request is not a valid HTTP header value.
    #[error("the {name} header value is not a valid HTTP header value")]
    InvalidHeader {
        /// The header name.
        name: String,
    },
    /// The rate limiter settings are unusable.
    #[error(
        "rate limit of {qps} requests per second with burst {burst} is invalid (qps must be finite and at least 0.001, burst from 1 to 1000000)"
    )]
    InvalidRateLimit {
        /// Requests per second given.
        qps: f64,
        /// Burst given.
        burst: u32,
    },
    /// Building the HTTP client failed.
    #[error("building the HTTP client failed")]
    Build {
        /// The HTTP library's error.
        #[source]
        source: BoxError,
    },
    /// The request URI could not be resolved against the cluster URL.
    #[error("request URI {uri} cannot be resolved against the cluster URL")]
    InvalidUri {
        /// The request URI.
        uri: String,
        /// The parser's error.
        #[source]
        source: url::ParseError,
    },
    /// The URL parser would change the request's path (a `\`, a dot segment, also as
    /// `%2e`, or a character it escapes differently), so the server would receive another
    /// path than the one built: refused.
    #[error(
        "request URI {uri} is refused: the URL parser would send it as {parsed} (backslash, dot segment or unescaped character)"
    )]
    NonCanonicalUri {
        /// The request URI (path and query; scheme and host when absolute).
        uri: String,
        /// The path and query the URL parser made of it.
        parsed: String,
    },
    /// The TLS handshake failed (unknown CA, name mismatch, rejected client certificate…).
    #[error("TLS handshake with {url} failed")]
    Tls {
        /// The request URL.
        url: String,
        /// The chain down to the TLS library's error.
        #[source]
        source: BoxError,
    },
    /// An extra API server endpoint cannot be used.
    #[error("API server endpoint {url} cannot be used: {reason}")]
    InvalidEndpoint {
        /// The endpoint (credentials redacted).
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Connecting to the server (or the proxy) failed.
    #[error("connecting to {url} failed")]
    Connect {
        /// The request URL.
        url: String,
        /// The HTTP library's error.
        #[source]
        source: BoxError,
    },
    /// The request timed out.
    #[error("{method} {url} timed out")]
    Timeout {
        /// The request method.
        method: http::Method,
        /// The request URL.
        url: String,
        /// The HTTP library's error.
        #[source]
        source: BoxError,
    },
    /// The request timeout passed while the request waited for a credential (an exec
    /// plugin or a token source that hangs); nothing was sent.
    #[error("{method} {url} timed out after {timeout:?} waiting for a credential from {provider}")]
    CredentialTimeout {
        /// The request method.
        method: http::Method,
        /// The request URL.
        url: String,
        /// The auth provider (`exec`, `token-file`, …).
        provider: String,
        /// The request timeout.
        timeout: std::time::Duration,
    },
    /// Sending the request or receiving the response head failed.
    #[error("{method} {url} failed")]
    Request {
        /// The request method.
        method: http::Method,
        /// The request URL.
        url: String,
        /// The HTTP library's error.
        #[source]
        source: BoxError,
    },
    /// Reading the response body failed.
    #[error("reading the response body of {url} failed")]
    ResponseBody {
        /// The request URL.
        url: String,
        /// The HTTP library's error.
        #[source]
        source: BoxError,
    },
    /// A streaming request body produced an error.
    #[error("the request body stream failed")]
    RequestBody {
        /// The stream's error.
        #[source]
        source: BoxError,
    },
    /// A custom [`Transport`](crate::client::Transport) could not exchange the request.
    #[error("{method} {url} through the custom transport failed")]
    Custom {
        /// The request method.
        method: http::Method,
        /// The request URL (without credentials).
        url: String,
        /// The transport's error, with its kind.
        #[source]
        source: crate::client::SendError,
    },
    /// A connection upgrade was asked of a client whose custom
    /// [`Transport`](crate::client::Transport) cannot upgrade connections.
    #[error("{url}: connection upgrades need the built-in HTTP transport")]
    UpgradeUnsupported {
        /// The request URL.
        url: String,
    },
    /// The connection upgrade (exec, attach, port-forward) failed after the 101 answer.
    #[error("upgrading the connection of {url} failed")]
    Upgrade {
        /// The request URL.
        url: String,
        /// The HTTP library's error.
        #[source]
        source: BoxError,
    },
}
