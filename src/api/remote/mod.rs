//! Streams to and from pods through the API server: `exec`, `attach` (WebSocket,
//! `v5.channel.k8s.io` with `v4.channel.k8s.io` fallback) and `portforward` — see `docs/streaming.md`.

mod cp;
mod error;
mod exec;
mod forward_target;
mod logs;
mod portforward;
mod tar_io;
mod ws;

pub use cp::{CopyLocation, CopyParams, UploadEnd};
pub use error::StreamError;
pub use exec::{
    AttachParams, AttachedProcess, DEFAULT_CONTAINER_ANNOTATION, ExitStatus, PROTOCOL_V4,
    PROTOCOL_V5, ProcessOutput, ProcessStdin,
};
pub use forward_target::{ForwardTarget, PortMapping, RemotePort, ResolvedForward};
pub use logs::{
    DEFAULT_MAX_LOG_REQUESTS, LogLine, LogSelection, LogStream, MAX_LINE,
    SELECTOR_DEFAULT_TAIL_LINES,
};
pub use portforward::{PORTFORWARD_PROTOCOL, PortStream, Portforwarder};
pub use tar_io::{CopyReport, SkipReason, SkippedEntry};
