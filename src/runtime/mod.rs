//! Building blocks for controllers: leader election on Leases and an `events.k8s.io/v1` events recorder.
pub mod events;
pub mod leader;
