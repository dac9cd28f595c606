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
    /// In-cluster configuration is tried only when the kubeconfig names no server to
    /// talk to (client-go's "empty config": [`ConfigError::NoConfiguration`] — no files,
    /// or no current context — or a context whose cluster is undefined or has no
    /// server); when both fail, [`ConfigError::Infer`] carries both reasons. A
    /// kubeconfig that is present but cannot be used (unreadable, unparsable, naming a
    /// missing context or file, invalid) is an error,
    /// [`ConfigError::UnusableKubeconfig`], and in-cluster configuration is not tried:
    /// client-go's deferred loading (what kubectl and `rest.InClusterConfig` users
    /// get) does the same, while kube-rs falls back on any kubeconfig error. Falling
    /// back would quietly point a program meant for the kubeconfig's cluster at the
    /// cluster it runs in, with the pod's service-account rights. When the in-cluster
    /// environment is present in that case, a `warn` log says it was not used.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), k8s_client::Error> {
    /// use k8s_client::{Client, Config};
    ///
    /// let config = Config::infer()?;
    /// let namespace = config.default_namespace.clone();
    /// let client = Client::try_from(config)?;
    /// let path = format!("/api/v1/namespaces/{namespace}/pods");
    /// let pods: serde_json::Value = client
    ///     .request(http::Request::get(path).body(Vec::new()).unwrap())
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn infer() -> Result<Self, ConfigError> {
        Self::infer_with(&SystemEnv)
    }

    /// [`Config::infer`] with an injected environment.
    pub fn infer_with(env: &dyn Env) -> Result<Self, ConfigError> {
        match Self::from_kubeconfig_with(&KubeconfigOptions::default(), env) {
            Ok(config) => Ok(config),
            // client-go's "empty config": nothing names a server to talk to.
            Err(
                kubeconfig @ (ConfigError::NoConfiguration
                | ConfigError::ClusterNotFound { .. }
                | ConfigError::MissingServer { .. }),
            ) => {
                tracing::debug!("no kubeconfig configuration; trying in-cluster config");
                Self::incluster_with(env).map_err(|incluster| ConfigError::Infer {
                    kubeconfig: Box::new(kubeconfig),
                    incluster: Box::new(incluster),
                })
            }
            Err(kubeconfig) => {
                if env.var("KUBERNETES_SERVICE_HOST").is_some() {
                    tracing::warn!(
                        error = %crate::error::Report::new(&kubeconfig),
                        "the kubeconfig cannot be used; not falling back to the in-cluster configuration"
                    );
                }
                Err(ConfigError::UnusableKubeconfig {
                    source: Box::new(kubeconfig),
                })
            }
        }
    }

    /// Reads the kubeconfig (`options.kubeconfig`, else `KUBECONFIG`, else
    /// `~/.kube/config`) and resolves it with `options`, as
    /// `kubectl --kubeconfig … --context … --namespace …` would.
    ///
    /// ```no_run
    /// use k8s_client::Config;
    /// use k8s_client::config::KubeconfigOptions;
    ///
    /// let mut options = KubeconfigOptions::default();
    /// options.kubeconfig = Some("/etc/kubernetes/admin.conf".into());
    /// options.context = Some("staging".into());
    /// options.namespace = Some("kube-system".into());
    /// let config = Config::from_kubeconfig(&options)?;
    /// assert_eq!(config.default_namespace, "kube-system");
    /// # Ok::<(), k8s_client::config::ConfigError>(())
    /// ```
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
