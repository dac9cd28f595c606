//! # k8s-client
//!
//! A Kubernetes client for Rust: the analogue of client-go.
//!
//! (The crate tour grows with the crate; see the README.)
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod api;
pub mod auth;
pub mod client;
pub mod config;
pub mod discovery;
pub mod error;
pub mod proxy;
mod secret;
#[cfg(feature = "testenv")]
pub mod testenv;
pub mod transport;

pub use client::{Client, ClientBuilder};
pub use config::Config;
pub use error::{Error, Result};
pub use secret::{SecretBytes, SecretString};
