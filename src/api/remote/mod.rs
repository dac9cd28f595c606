//! Streams to and from pods through the API server: `exec`, `attach` (WebSocket,
//! `v5.channel.k8s.io` with `v4.channel.k8s.io` fallback) — see `docs/streaming.md`.

mod error;
mod exec;
mod ws;

pub use error::StreamError;
pub use exec::{
    AttachParams, AttachedProcess, DEFAULT_CONTAINER_ANNOTATION, ExitStatus, PROTOCOL_V4,
    PROTOCOL_V5, ProcessOutput, ProcessStdin,
};
