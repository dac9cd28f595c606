//! Configuration: the raw kubeconfig model, loading and merging, in-cluster config,
//! resolution into a [`Config`], and `kubectl config view`.
//!
//! # Configuration
//!
//! [`Config::infer`] finds the configuration the way kubectl does:
//!
//! 1. the kubeconfig: the files listed in `KUBECONFIG` (merged, first definition wins),
//!    else `~/.kube/config`, using its `current-context`;
//! 2. else, inside a pod, the service-account token, `ca.crt` and namespace under
//!    `/var/run/secrets/kubernetes.io/serviceaccount/` with `KUBERNETES_SERVICE_HOST`
//!    and `KUBERNETES_SERVICE_PORT`.
//!
//! ```no_run
//! # fn main() -> Result<(), k8s_client::config::ConfigError> {
//! let config = k8s_client::Config::infer()?;
//! println!("talking to {} in namespace {}", config.cluster_url, config.default_namespace);
//! # Ok(()) }
//! ```
//!
//! To pick a context or override settings like kubectl's flags, use
//! [`Config::from_kubeconfig`] with [`KubeconfigOptions`]; to work with the files
//! themselves, [`Kubeconfig`]. Every file and environment access goes through an
//! [`Env`], so tests can use [`FakeEnv`] instead of the real process environment.
//! `docs/configuration.md` lists the exact rules.
//!
//! ```
//! use k8s_client::config::{Kubeconfig, KubeconfigOptions};
//! let kubeconfig = Kubeconfig::from_yaml(r#"
//! clusters: [{name: dev, cluster: {server: "https://10.0.0.1:6443"}}]
//! users: [{name: me, user: {token: s3cr3t}}]
//! contexts: [{name: dev, context: {cluster: dev, user: me, namespace: apps}}]
//! current-context: dev
//! "#)?;
//! let config = k8s_client::Config::from_custom_kubeconfig(kubeconfig, &KubeconfigOptions::default())?;
//! assert_eq!(config.default_namespace, "apps");
//! assert!(!format!("{config:?}").contains("s3cr3t"));
//! # Ok::<(), k8s_client::config::ConfigError>(())
//! ```

mod env;
mod error;
mod incluster;
mod infer;
pub mod kubeconfig;
mod loader;
mod namespace;
mod options;
mod resolve;
mod resolved;
mod validate;
mod view;

pub use env::{Env, FakeEnv, SystemEnv};
pub use error::{ConfigError, EntryKind};
pub use incluster::{POD_NAMESPACE_ENV, SERVICE_ACCOUNT_DIR, SERVICE_HOST_ENV, SERVICE_PORT_ENV};
pub use kubeconfig::Kubeconfig;
pub use loader::{KUBECONFIG, kubeconfig_paths};
pub use namespace::{MAX_NAMESPACE_LEN, NamespaceOrigin, is_valid_namespace};
pub use options::KubeconfigOptions;
pub use resolved::*;
pub use view::{OutputFormat, ViewOptions, load_for_view, view, view_document, view_with};
