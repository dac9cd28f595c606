//! The [`Config`] constructors: kubeconfig, in-cluster, and inference.

use super::env::{Env, SystemEnv};
use super::error::ConfigError;
use super::kubeconfig::Kubeconfig;
use super::options::KubeconfigOptions;
use super::resolved::Config;

impl Config {
    /// Infers the configuration the way kubectl users expect, in this order:
    ///
    /// 1. the kubeconfig: the files in `KUBECONFIG`, else `~/.kube/config`, with the
    ///    current context;
    /// 2. else the in-cluster service-account environment.
    ///
    /// When both fail, [`ConfigError::Infer`] carries both reasons.
    pub fn infer() -> Result<Self, ConfigError> {
        Self::infer_with(&SystemEnv)
    }

    /// [`Config::infer`] with an injected environment.
    pub fn infer_with(env: &dyn Env) -> Result<Self, ConfigError> {
        match Self::from_kubeconfig_with(&KubeconfigOptions::default(), env) {
            Ok(config) => Ok(config),
            Err(kubeconfig) => {
                tracing::debug!(
                    error = &kubeconfig as &dyn std::error::Error,
                    "no usable kubeconfig; trying in-cluster config"
                );
                Self::incluster_with(env).map_err(|incluster| ConfigError::Infer {
                    kubeconfig: Box::new(kubeconfig),
                    incluster: Box::new(incluster),
                })
            }
        }
    }

    /// Reads the kubeconfig (`options.kubeconfig`, else `KUBECONFIG`, else
    /// `~/.kube/config`) and resolves it with `options`.
    pub fn from_kubeconfig(options: &KubeconfigOptions) -> Result<Self, ConfigError> {
        Self::from_kubeconfig_with(options, &SystemEnv)
    }

    /// [`Config::from_kubeconfig`] with an injected environment.
    pub fn from_kubeconfig_with(
        options: &KubeconfigOptions,
        env: &dyn Env,
    ) -> Result<Self, ConfigError> {
        let kubeconfig = match &options.kubeconfig {
            Some(path) => Kubeconfig::read_from_with(env, path)?,
            None => Kubeconfig::read_with(env)?,
        };
        Self::from_custom_kubeconfig_with(kubeconfig, options, env)
    }

    /// Resolves an already loaded (or hand-built) [`Kubeconfig`] with `options`.
    /// Relative paths resolve against each entry's origin file, else the working directory.
    pub fn from_custom_kubeconfig(
        kubeconfig: Kubeconfig,
        options: &KubeconfigOptions,
    ) -> Result<Self, ConfigError> {
        Self::from_custom_kubeconfig_with(kubeconfig, options, &SystemEnv)
    }

    /// [`Config::from_custom_kubeconfig`] reading referenced files through `env`.
    pub fn from_custom_kubeconfig_with(
        kubeconfig: Kubeconfig,
        options: &KubeconfigOptions,
        env: &dyn Env,
    ) -> Result<Self, ConfigError> {
        super::resolve::resolve(&kubeconfig, options, env)
    }

    /// The in-cluster config: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`
    /// (an IPv6 host bracketed), the service-account token as
    /// [`AuthConfig::TokenFile`](super::AuthConfig::TokenFile) (re-read by the client),
    /// `ca.crt` as the CA file, and the namespace from `POD_NAMESPACE`, else the
    /// `namespace` file, else `default`.
    pub fn incluster() -> Result<Self, ConfigError> {
        Self::incluster_with(&SystemEnv)
    }

    /// [`Config::incluster`] with an injected environment: with a
    /// [`FakeEnv`](super::FakeEnv) rooted at a temporary directory, the files are read from
    /// `<root>/var/run/secrets/kubernetes.io/serviceaccount/`, and the `Config` points at
    /// those real paths.
    pub fn incluster_with(env: &dyn Env) -> Result<Self, ConfigError> {
        super::incluster::incluster(env)
    }
}
