//! Streams to and from pods through the API server: `exec`, `attach` (WebSocket,
//! `v5.channel.k8s.io` with `v4.channel.k8s.io` fallback) and `portforward` — see `docs/streaming.md`.

mod error;
mod exec;
mod portforward;
mod ws;

pub use error::StreamError;
pub use exec::{
    AttachParams, AttachedProcess, DEFAULT_CONTAINER_ANNOTATION, ExitStatus, PROTOCOL_V4,
    PROTOCOL_V5, ProcessOutput, ProcessStdin,
};
pub use portforward::{PORTFORWARD_PROTOCOL, PortStream, Portforwarder};
