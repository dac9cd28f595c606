//! Configuration: the raw kubeconfig model, loading and merging, in-cluster config,
//! resolution into a [`Config`], and `kubectl config view`.

mod error;
mod resolved;

pub use error::ConfigError;
pub use resolved::*;
