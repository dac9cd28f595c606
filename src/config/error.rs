//! Errors of the `config` module.

use std::fmt;
use std::path::{Path, PathBuf};

/// Which kind of kubeconfig entry an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryKind {
    /// A `clusters` entry.
    Cluster,
    /// A `users` entry.
    User,
    /// A `contexts` entry.
    Context,
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntryKind::Cluster => "cluster",
            EntryKind::User => "user",
            EntryKind::Context => "context",
        })
    }
}

/// `" in <file>"` when the file is known.
fn in_file(file: &Option<PathBuf>) -> String {
    file.as_deref()
        .map(|f| format!(" in {}", f.display()))
        .unwrap_or_default()
}

fn at(line: &Option<usize>, column: &Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        _ => String::new(),
    }
}

fn show(path: &Path) -> std::path::Display<'_> {
    path.display()
}

/// Locating, reading, parsing or validating configuration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The cluster URL is not a valid URL.
    #[error("cluster server {server:?} is not a valid URL")]
    InvalidServer {
        /// The value given, with any user name and password replaced by `<redacted>`.
        server: String,
        /// The parser's error.
        #[source]
        source: url::ParseError,
    },
    /// A kubeconfig file could not be read.
    #[error("reading kubeconfig {} failed", show(.path))]
    ReadKubeconfig {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A kubeconfig is neither UTF-8 nor UTF-16 with a byte-order mark.
    #[error("kubeconfig{} is not UTF-8 text (nor UTF-16 with a byte-order mark)", in_file(.file))]
    Encoding {
        /// The file, when read from one.
        file: Option<PathBuf>,
    },
    /// A kubeconfig is not valid YAML or does not match the kubeconfig schema.
    #[error("parsing kubeconfig{}{} failed", in_file(.file), at(.line, .column))]
    Parse {
        /// The file, when read from one.
        file: Option<PathBuf>,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// 1-based column of the error, when known.
        column: Option<usize>,
        /// The YAML error.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// Two entries of one list in one file have the same name.
    #[error("{kind} {name:?} is defined twice{}", in_file(.file))]
    DuplicateEntry {
        /// The file.
        file: Option<PathBuf>,
        /// The list.
        kind: EntryKind,
        /// The repeated name.
        name: String,
    },
    /// A `*-data` field is not valid base64.
    #[error("{field} of {kind} {entry:?}{} is not valid base64", in_file(.file))]
    InvalidBase64 {
        /// The file.
        file: Option<PathBuf>,
        /// The entry's kind.
        kind: EntryKind,
        /// The entry's name.
        entry: String,
        /// The field.
        field: &'static str,
        /// The decoder's error.
        #[source]
        source: base64::DecodeError,
    },
    /// PEM data (inline or from a file) holds no valid PEM block.
    #[error("{field} of {kind} {entry:?}{} is not valid PEM", in_file(.file))]
    InvalidPem {
        /// The kubeconfig file of the entry.
        file: Option<PathBuf>,
        /// The entry's kind.
        kind: EntryKind,
        /// The entry's name.
        entry: String,
        /// The field.
        field: &'static str,
        /// The PEM parser's error, when it failed (none when it found no block).
        #[source]
        source: Option<pem::PemError>,
    },
    /// A file named by a kubeconfig field could not be read.
    #[error("reading {field} {} of {kind} {entry:?}{} failed", show(.path), in_file(.file))]
    ReadReferencedFile {
        /// The kubeconfig file of the entry.
        file: Option<PathBuf>,
        /// The entry's kind.
        kind: EntryKind,
        /// The entry's name.
        entry: String,
        /// The field naming the file.
        field: &'static str,
        /// The (resolved) path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No kubeconfig context is selected and no server was given.
    #[error("no configuration has been provided: no current-context, no --context and no --server")]
    NoConfiguration,
    /// The selected context does not exist.
    #[error("context {name:?} does not exist")]
    ContextNotFound {
        /// The context's name.
        name: String,
    },
    /// A cluster named by a context or an override does not exist.
    #[error("cluster {name:?} does not exist")]
    ClusterNotFound {
        /// The cluster's name.
        name: String,
    },
    /// A user named by an override (or needed by `--minify`) does not exist.
    #[error("user {name:?} does not exist")]
    UserNotFound {
        /// The user's name.
        name: String,
    },
    /// The cluster has no `server`.
    #[error("cluster {cluster:?}{} has no server", in_file(.file))]
    MissingServer {
        /// The cluster's name (empty when no cluster is selected).
        cluster: String,
        /// The kubeconfig file of the entry.
        file: Option<PathBuf>,
    },
    /// Both a file and inline data are given for the same thing.
    #[error("{kind} {entry:?}{} sets both {file_field} and {data_field}", in_file(.file))]
    FileAndData {
        /// The kubeconfig file of the entry.
        file: Option<PathBuf>,
        /// The entry's kind.
        kind: EntryKind,
        /// The entry's name.
        entry: String,
        /// The file field.
        file_field: &'static str,
        /// The data field.
        data_field: &'static str,
    },
    /// `insecure-skip-tls-verify` is set together with a CA.
    #[error("cluster {cluster:?}{} sets insecure-skip-tls-verify together with a certificate authority", in_file(.file))]
    InsecureWithCa {
        /// The cluster's name.
        cluster: String,
        /// The kubeconfig file of the entry.
        file: Option<PathBuf>,
    },
    /// A client certificate without a key, or a key without a certificate.
    #[error("user {user:?}{} sets {present} but not {missing}", in_file(.file))]
    IncompleteClientCertificate {
        /// The user's name.
        user: String,
        /// The kubeconfig file of the entry.
        file: Option<PathBuf>,
        /// The field that is set.
        present: &'static str,
        /// The field that is missing.
        missing: &'static str,
    },
    /// More than one of token, basic auth is set.
    #[error("user {user:?}{} has more than one authentication method ({}); only one is allowed", in_file(.file), .methods.join(", "))]
    MultipleAuthMethods {
        /// The user's name.
        user: String,
        /// The kubeconfig file of the entry.
        file: Option<PathBuf>,
        /// The methods found.
        methods: Vec<&'static str>,
    },
    /// `auth-provider` and `exec` are both set.
    #[error("user {user:?}{} sets both auth-provider and exec", in_file(.file))]
    AuthProviderWithExec {
        /// The user's name.
        user: String,
        /// The kubeconfig file of the entry.
        file: Option<PathBuf>,
    },
    /// A required field of an exec plugin is missing.
    #[error("exec plugin of user {user:?}{} has no {field}", in_file(.file))]
    ExecMissingField {
        /// The user's name.
        user: String,
        /// The kubeconfig file of the entry.
        file: Option<PathBuf>,
        /// `command`, `apiVersion`, `interactiveMode`, or `env[].name`.
        field: &'static str,
    },
    /// An exec plugin's `interactiveMode` or `apiVersion` has an unknown value.
    #[error("exec plugin of user {user:?}{} has invalid {field} {value:?}", in_file(.file))]
    ExecInvalidField {
        /// The user's name.
        user: String,
        /// The kubeconfig file of the entry.
        file: Option<PathBuf>,
        /// The field.
        field: &'static str,
        /// The value found.
        value: String,
    },
    /// `as-uid`, `as-groups` or `as-user-extra` without `as`.
    #[error("user {user:?}{} requests uid, groups or user-extra impersonation without impersonating a user", in_file(.file))]
    ImpersonationWithoutUser {
        /// The user's name.
        user: String,
        /// The kubeconfig file of the entry.
        file: Option<PathBuf>,
    },
    /// `proxy-url` is not a valid URL or has an unsupported scheme.
    #[error("proxy-url {url:?} of cluster {cluster:?}{} is not an http, https or socks5 URL", in_file(.file))]
    InvalidProxyUrl {
        /// The cluster's name.
        cluster: String,
        /// The kubeconfig file of the entry.
        file: Option<PathBuf>,
        /// The value, with any user name and password replaced by `<redacted>`.
        url: String,
        /// The parser's error, when it did not parse.
        #[source]
        source: Option<url::ParseError>,
    },
    /// An impersonation or header value cannot be sent as an HTTP header.
    #[error("impersonation value for {field} of user {user:?} is not a valid HTTP header value")]
    InvalidHeaderValue {
        /// The user's name.
        user: String,
        /// The field.
        field: &'static str,
    },
    /// An in-cluster environment variable is missing or empty.
    #[error("in-cluster configuration needs environment variable {name}, which is not set")]
    MissingEnv {
        /// The variable.
        name: &'static str,
    },
    /// An in-cluster service-account file could not be read.
    #[error("reading in-cluster file {} failed", show(.path))]
    ReadInClusterFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A namespace (of the context, the override, `POD_NAMESPACE` or the in-cluster
    /// `namespace` file) is not a DNS-1123 label.
    #[error(
        "namespace {value:?} from {origin} is not a valid namespace name (at most 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit)"
    )]
    InvalidNamespace {
        /// The value found (cut after 100 characters).
        value: String,
        /// Where it came from.
        origin: super::namespace::NamespaceOrigin,
    },
    /// Neither a kubeconfig nor the in-cluster environment gave a config.
    #[error("no usable configuration: the kubeconfig and the in-cluster environment both failed")]
    Infer {
        /// Why the kubeconfig failed (also the `source`).
        #[source]
        kubeconfig: Box<ConfigError>,
        /// Why the in-cluster config failed.
        incluster: Box<ConfigError>,
    },
    /// [`Config::infer`](crate::Config::infer) found a kubeconfig that cannot be used;
    /// in-cluster configuration is not tried then (client-go's rule).
    #[error(
        "the kubeconfig is present but cannot be used (in-cluster configuration is not tried when a kubeconfig is present)"
    )]
    UnusableKubeconfig {
        /// Why the kubeconfig cannot be used.
        #[source]
        source: Box<ConfigError>,
    },
    /// `--minify` needs a current context.
    #[error("current-context must exist in order to minify")]
    MinifyWithoutContext,
    /// Rendering the config as YAML failed.
    #[error("rendering the config as YAML failed")]
    RenderYaml(#[source] serde_yaml_ng::Error),
    /// Rendering the config as JSON failed.
    #[error("rendering the config as JSON failed")]
    RenderJson(#[source] serde_json::Error),
}
