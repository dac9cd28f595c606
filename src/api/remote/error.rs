//! [`StreamError`]: failures of exec, attach and port-forward streams.

use crate::error::Status;

/// A streaming connection (exec, attach, port-forward) failed after, or while, it was
/// set up. Refusals by the API server (pod or container not found, forbidden) are
/// [`Error::Api`](crate::Error::Api) instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The system random number generator failed (WebSocket key or mask).
    #[error("the system random number generator failed")]
    Random,
    /// The request path could not be turned into an HTTP request.
    #[error("the streaming request path {path} is not a valid URI")]
    InvalidPath {
        /// The path and query.
        path: String,
    },
    /// The server switched protocols but its `Sec-WebSocket-Accept` does not match our key.
    #[error("the server's WebSocket handshake for {path} has a wrong Sec-WebSocket-Accept")]
    BadAccept {
        /// The path and query.
        path: String,
    },
    /// The server chose none of the offered subprotocols.
    #[error(
        "the server chose the subprotocol {chosen:?} for {path}, none of the offered {offered}"
    )]
    NoProtocol {
        /// The path and query.
        path: String,
        /// The offered subprotocols.
        offered: String,
        /// What the server answered (empty when nothing).
        chosen: String,
    },
    /// Reading from the connection failed.
    #[error("reading from the streaming connection failed")]
    Read(#[source] std::io::Error),
    /// Writing to the connection failed.
    #[error("writing to the streaming connection failed")]
    Write(#[source] std::io::Error),
    /// The connection ended inside a frame.
    #[error("the streaming connection ended inside a WebSocket frame")]
    Truncated,
    /// The server sent nothing, not even the answer to a ping, for `limit`
    /// ([`STREAM_SILENCE_LIMIT`](crate::api::STREAM_SILENCE_LIMIT)): the connection counts
    /// as lost.
    #[error(
        "the server sent nothing for {limit:?}, not even a ping's answer; the connection counts as lost"
    )]
    Silent {
        /// How long the silence lasted.
        limit: std::time::Duration,
    },
    /// The server broke the WebSocket protocol.
    #[error("the server broke the WebSocket protocol: {0}")]
    Protocol(&'static str),
    /// A message was larger than this client accepts.
    #[error("the server sent a WebSocket message larger than {limit} bytes")]
    MessageTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The connection closed before the server reported how the process ended.
    #[error("the streaming connection closed before the exit status arrived")]
    NoStatus,
    /// The status channel carried something that is not a `Status` object.
    #[error("the exit status sent by the server is not a Status object")]
    BadStatus(#[source] serde_json::Error),
    /// The remote command could not run or failed without an exit code (the server's
    /// `Status`; a non-zero exit code is not an error but an [`ExitStatus`](super::ExitStatus)).
    #[error("the remote command failed: {}", describe(.0))]
    Failed(Box<Status>),
    /// The stream was already closed or taken (stdin after closing, resize without a
    /// TTY connection).
    #[error("the {what} of this stream is no longer open")]
    NotOpen {
        /// Which part.
        what: &'static str,
    },
    /// The server's port-forward error channel reported a failure for a port.
    #[error("forwarding to port {port} failed on the node: {message}")]
    PortForward {
        /// The remote port.
        port: u16,
        /// The kubelet's message.
        message: String,
    },
    /// Following these logs needs more concurrent streams than allowed (kubectl's
    /// `--max-log-requests` check, same numbers).
    #[error(
        "you are attempting to follow {requested} log streams, but maximum allowed concurrency is {max}; raise LogSelection::max_log_requests (kubectl --max-log-requests) to increase the limit"
    )]
    TooManyLogStreams {
        /// The streams the pods and containers need.
        requested: usize,
        /// [`LogSelection::max_log_requests`](super::LogSelection::max_log_requests).
        max: usize,
    },
    /// A local file or directory to copy into a pod could not be read.
    #[error("reading {path} to copy it failed")]
    CopySource {
        /// The local path.
        path: std::path::PathBuf,
        /// The file system's error.
        source: std::io::Error,
    },
    /// A local file or directory of a copy out of a pod could not be written.
    #[error("writing {path} while copying from the pod failed")]
    CopyDestination {
        /// The local path.
        path: std::path::PathBuf,
        /// The file system's error.
        source: std::io::Error,
    },
    /// A local file changed size while it was being copied into a pod.
    #[error("{path} changed while it was being copied")]
    SourceChanged {
        /// The local path.
        path: std::path::PathBuf,
    },
    /// The tar stream from the pod is not a valid archive.
    #[error("the tar stream from the pod is not a valid archive")]
    Tar(#[source] std::io::Error),
    /// The pod's tar stream has an entry that is not below the copied path: it was
    /// tampered with (kubectl: "tar contents corrupted").
    #[error("the pod's tar stream has the entry {entry:?}, outside the copied path {prefix:?}")]
    TarOutsidePath {
        /// The entry's name.
        entry: String,
        /// The copied path as tar names it.
        prefix: String,
    },
    /// `tar` in the container failed (its exit code when the server reported one, and
    /// the start of its stderr).
    #[error("tar in the container failed (exit code {}): {stderr}", code.map_or("unknown".to_owned(), |c| c.to_string()))]
    RemoteTar {
        /// The exit code, when known.
        code: Option<i32>,
        /// The first 4 KiB of its stderr.
        stderr: String,
    },
    /// The server speaks `v4.channel.k8s.io`, which cannot close stdin, so the
    /// container's `tar` would never see the upload end.
    #[error("the server cannot close stdin (v4.channel.k8s.io); copy with UploadEnd::ByteCount")]
    StdinNotClosable,
    /// A `kubectl cp` file spec is not `[NAMESPACE/]POD:PATH` or a local path.
    #[error("the copy location {spec:?} is not of the form [[namespace/]pod:]file/path")]
    BadCopySpec {
        /// The spec.
        spec: String,
    },
    /// A port-forward target is not kubectl's `[TYPE/]NAME`.
    #[error("the port-forward target {spec:?} is not [pod|svc|deploy|rs|sts/]NAME")]
    BadForwardTarget {
        /// The spec.
        spec: String,
    },
    /// A port mapping is not `[LOCAL]:REMOTE` with ports 1–65535 or a port name.
    #[error("the port mapping {spec:?} is not LOCAL:REMOTE, :REMOTE or REMOTE")]
    BadPortMapping {
        /// The spec.
        spec: String,
    },
    /// The Service or workload selects no pods by label (kubectl's message).
    #[error("invalid {} '{name}': {kind} is defined without a selector", kind.to_lowercase())]
    NoSelector {
        /// `Service`, `Deployment`, `ReplicaSet` or `StatefulSet`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// No pod matches the selector of the Service or workload.
    #[error("no pods found for {target}")]
    NoPods {
        /// `KIND/NAME`.
        target: String,
    },
    /// The chosen pod is not running (kubectl's message).
    #[error("unable to forward port because pod is not running. Current status={phase}")]
    PodNotRunning {
        /// The pod.
        pod: String,
        /// Its phase.
        phase: String,
    },
    /// The Service has no port with this number (kubectl's message).
    #[error("Service {service} does not have a service port {port}")]
    NoServicePort {
        /// The Service.
        service: String,
        /// The port asked for.
        port: u16,
    },
    /// The Service has no port with this name (kubectl's message).
    #[error("Service '{service}' does not have a named port '{name}'")]
    NoNamedServicePort {
        /// The Service.
        service: String,
        /// The port name asked for.
        name: String,
    },
    /// No container of the pod has a port with this name (kubectl's message).
    #[error("Pod '{pod}' does not have a named port '{name}'")]
    NoNamedContainerPort {
        /// The pod.
        pod: String,
        /// The port name.
        name: String,
    },
    /// Port-forward over SPDY failed (the connection, or one forwarded connection on it).
    #[error("port-forward over SPDY failed")]
    Spdy(#[from] super::spdy::SpdyError),
    /// A port-forward data channel did not start with the expected port number.
    #[error("the server's port-forward stream for port {port} did not start with that port")]
    PortMismatch {
        /// The remote port asked for.
        port: u16,
    },
}

fn describe(status: &Status) -> String {
    match (&status.reason, &status.message) {
        (Some(r), Some(m)) => format!("{r}: {m}"),
        (Some(r), None) => r.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => "no reason given".to_owned(),
    }
}
