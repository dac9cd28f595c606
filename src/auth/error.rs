//! Errors of the `auth` module.
//!
//! No message ever contains a token, password, key, exec-plugin argument, environment
//! value or plugin output: only paths, plugin command names, exit codes, URLs, HTTP
//! statuses and kubeconfig field names.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Obtaining or refreshing a credential failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Reading a token file failed (and no earlier token was available).
    #[error("reading token file {path} failed")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A token file holds no token (and no earlier token was available).
    #[error("token file {path} is empty")]
    EmptyTokenFile {
        /// The file.
        path: PathBuf,
    },
    /// The credential could not be put into an HTTP header.
    #[error("the {provider} credential is not a valid HTTP header value")]
    InvalidHeader {
        /// The provider's name.
        provider: String,
    },
    /// An exec plugin's failure (see [`ExecError`]).
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// An OIDC auth-provider's failure (see [`OidcError`]).
    #[error(transparent)]
    Oidc(#[from] OidcError),
    /// The kubeconfig asks for something this build of the crate leaves out.
    #[error("{what} needs the crate feature {feature:?}, which this build does not enable")]
    FeatureDisabled {
        /// What was asked for.
        what: &'static str,
        /// The Cargo feature that provides it.
        feature: &'static str,
    },
    /// An in-tree auth-provider that kubectl removed (`gcp`, `azure`); the message is kubectl's.
    #[error("{message}")]
    RemovedAuthProvider {
        /// The provider's name.
        name: &'static str,
        /// kubectl's message, naming the replacement credential plugin.
        message: &'static str,
    },
    /// A user-defined [`AuthProvider`](super::AuthProvider) failed.
    #[error("the {provider} auth provider failed")]
    Provider {
        /// The provider's [`name`](super::AuthProvider::name).
        provider: String,
        /// What went wrong (must not contain the credential).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The [`CredentialCache`](super::CredentialCache) has no credential: the fetch this
    /// request waited for failed, or one failed less than
    /// [`FAILED_FETCH_BACKOFF`](super::FAILED_FETCH_BACKOFF) ago. Every request that
    /// shares the failure gets this error; [`cause`](Self::cause) is the provider's error.
    #[error("no {provider} credential: the last fetch failed")]
    Unavailable {
        /// The provider's [`name`](super::AuthProvider::name).
        provider: String,
        /// The provider's error, shared by every request that waited for that fetch.
        #[source]
        source: Arc<AuthError>,
    },
    /// An `auth-provider` name that is not built in (kubectl's message).
    #[error("no Auth Provider found for name {name:?}")]
    UnknownAuthProvider {
        /// The name from the kubeconfig.
        name: String,
    },
}

impl AuthError {
    /// The provider's own error: through [`Unavailable`](Self::Unavailable) (a failure
    /// shared by the credential cache) to the error the provider returned.
    ///
    /// ```
    /// use k8s_client::auth::AuthError;
    /// let err = AuthError::provider("vault", std::io::Error::other("sealed"));
    /// assert!(matches!(err.cause(), AuthError::Provider { .. }));
    /// ```
    pub fn cause(&self) -> &AuthError {
        match self {
            Self::Unavailable { source, .. } => source.cause(),
            other => other,
        }
    }

    /// The error a user-defined provider returns when it cannot produce a credential.
    pub fn provider(
        provider: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Provider {
            provider: provider.into(),
            source: source.into(),
        }
    }
}

/// Running a `client.authentication.k8s.io` exec plugin failed.
///
/// Messages name the plugin's command and, when it ran, its exit code; never its
/// arguments, environment values, stdout or stderr.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The `apiVersion` is not `client.authentication.k8s.io/v1` or `/v1beta1`
    /// (kubectl's message; `v1alpha1` was removed in Kubernetes 1.24).
    #[error("exec plugin: invalid apiVersion {api_version:?}")]
    InvalidApiVersion {
        /// The configured apiVersion.
        api_version: String,
    },
    /// The command does not exist (kubectl's message, with the `installHint`).
    #[error("exec: executable {command} not found{help}")]
    NotFound {
        /// The plugin's command.
        command: String,
        /// kubectl's explanation and the configured `installHint`.
        help: String,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// The command could not be started for another reason (permissions, …).
    #[error("exec: executable {command} could not be started")]
    Spawn {
        /// The plugin's command.
        command: String,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the plugin or reading its output failed.
    #[error("exec: waiting for executable {command} failed")]
    Wait {
        /// The plugin's command.
        command: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The plugin exited with a non-zero code (kubectl's message).
    #[error("exec: executable {command} failed with exit code {code}")]
    Failed {
        /// The plugin's command.
        command: String,
        /// Its exit code.
        code: i32,
    },
    /// The plugin was killed by a signal.
    #[error("exec: executable {command} was terminated by a signal")]
    Terminated {
        /// The plugin's command.
        command: String,
    },
    /// The plugin did not finish within the timeout; it was killed.
    #[error("exec: executable {command} did not finish within {timeout:?} and was killed")]
    Timeout {
        /// The plugin's command.
        command: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The plugin printed more than [`MAX_EXEC_OUTPUT`](super::MAX_EXEC_OUTPUT) bytes on
    /// stdout; it was killed and its output dropped.
    #[error("exec: executable {command} printed more than {limit} bytes and was killed")]
    OutputTooLarge {
        /// The plugin's command.
        command: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The plugin's `interactiveMode` cannot be honoured (kubectl's message).
    #[error("exec plugin {command} cannot support interactive mode: {reason}")]
    Interactive {
        /// The plugin's command.
        command: String,
        /// Why (`standard input is not a terminal`).
        reason: &'static str,
    },
    /// Encoding `KUBERNETES_EXEC_INFO` failed.
    #[error("exec plugin {command}: encoding KUBERNETES_EXEC_INFO failed")]
    EncodeInfo {
        /// The plugin's command.
        command: String,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// The plugin's stdout is not a usable `ExecCredential`.
    #[error("exec plugin {command}: {problem}")]
    Output {
        /// The plugin's command.
        command: String,
        /// What is wrong with the output (never the output itself).
        problem: ExecOutputProblem,
    },
}

/// What is wrong with an exec plugin's output. Never contains the output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExecOutputProblem {
    /// stdout is not a JSON object.
    #[error("stdout is not a JSON ExecCredential object")]
    NotJson,
    /// `kind` is not `ExecCredential`.
    #[error("stdout is not of kind ExecCredential")]
    WrongKind,
    /// `apiVersion` differs from the configured one.
    #[error(
        "plugin is configured to use API version {configured}, plugin returned another version"
    )]
    VersionMismatch {
        /// The configured apiVersion.
        configured: String,
    },
    /// No `status` field (kubectl's message).
    #[error("exec plugin didn't return a status field")]
    NoStatus,
    /// Neither a token nor a certificate/key pair (kubectl's message).
    #[error("exec plugin didn't return a token or cert/key pair")]
    NoCredential,
    /// Only one of `clientCertificateData` and `clientKeyData` (kubectl's message).
    #[error("exec plugin returned only certificate or key, not both")]
    CertOrKeyOnly,
    /// A status field has the wrong JSON type.
    #[error("status.{field} has the wrong type")]
    FieldType {
        /// The field.
        field: &'static str,
    },
    /// `status.expirationTimestamp` is not an RFC 3339 time.
    #[error("status.expirationTimestamp is not an RFC 3339 time")]
    Expiration,
    /// `clientCertificateData` holds no PEM certificate.
    #[error("status.clientCertificateData holds no PEM certificate")]
    Certificate,
    /// `clientKeyData` holds no PEM private key.
    #[error("status.clientKeyData holds no PEM private key")]
    Key,
}

/// The OIDC auth-provider failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// A required config key is missing (kubectl's message).
    #[error("oidc auth-provider: Must provide {key}")]
    MissingKey {
        /// The config key (`idp-issuer-url`, `client-id`).
        key: &'static str,
    },
    /// No valid `id-token` and no `refresh-token` (kubectl's message).
    #[error("oidc auth-provider: No valid id-token, and cannot refresh without refresh-token")]
    NoRefreshToken,
    /// The `id-token` (from the kubeconfig or the issuer) is not a JWT with an `exp` claim.
    #[error("oidc auth-provider: the {source_name} is not a valid JWT")]
    InvalidIdToken {
        /// `id-token` from the kubeconfig, or the issuer's `id_token`.
        source_name: &'static str,
    },
    /// `idp-certificate-authority-data` is not base64.
    #[error("oidc auth-provider: idp-certificate-authority-data is not valid base64")]
    CaData {
        /// The decoder's error.
        #[source]
        source: base64::DecodeError,
    },
    /// Reading `idp-certificate-authority` failed.
    #[error("oidc auth-provider: reading idp-certificate-authority {path} failed")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The idp CA holds no usable PEM certificate.
    #[error("oidc auth-provider: the idp certificate authority holds no usable PEM certificate")]
    CaPem,
    /// Building the HTTPS client for the issuer failed.
    #[error("oidc auth-provider: building the HTTPS client for the issuer failed")]
    HttpClient {
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A request to the issuer failed (connection, TLS, timeout).
    #[error("oidc auth-provider: request to {url} failed")]
    Request {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The issuer answered with a non-success HTTP status.
    #[error("oidc auth-provider: {url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The discovery document has no `token_endpoint` (or is not JSON).
    #[error("oidc auth-provider: the discovery document at {url} has no token_endpoint")]
    NoTokenEndpoint {
        /// The discovery URL.
        url: String,
    },
    /// The token response is not JSON or has no `id_token` (kubectl's explanation).
    #[error(
        "oidc auth-provider: token response from {url} did not contain an id_token, either the scope \"openid\" wasn't requested upon login, or the provider doesn't support id_tokens as part of the refresh response"
    )]
    NoIdToken {
        /// The token endpoint.
        url: String,
    },
    /// The issuer's answer is longer than [`MAX_ISSUER_RESPONSE`](crate::auth::MAX_ISSUER_RESPONSE).
    #[error("oidc auth-provider: the answer from {url} is longer than {limit} bytes")]
    ResponseTooLarge {
        /// The URL.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// Writing the refreshed tokens back to the kubeconfig failed.
    #[error("oidc auth-provider: could not persist new tokens to {path} (user {user:?})")]
    Persist {
        /// The kubeconfig file.
        path: PathBuf,
        /// The user entry.
        user: String,
        /// What went wrong.
        #[source]
        source: PersistError,
    },
}

/// Why refreshed OIDC tokens could not be written back to a kubeconfig file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// Reading, writing or renaming failed.
    #[error("file I/O failed")]
    Io(#[from] std::io::Error),
    /// The file is not valid YAML.
    #[error("the file is not valid YAML")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// The file has no such user entry with an `auth-provider`.
    #[error("the file has no users[] entry of that name with an auth-provider")]
    UserNotFound,
    /// Another writer (kubectl, another client) held the lock file for too long.
    #[error("the lock file {} was held by another writer for {waited:?}", .lock.display())]
    Locked {
        /// The lock file (`<kubeconfig>.lock`).
        lock: std::path::PathBuf,
        /// How long we waited.
        waited: std::time::Duration,
    },
}
