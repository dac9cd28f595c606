//! `client.authentication.k8s.io` exec credential plugins (`users[].user.exec`).

mod protocol;

use super::error::ExecError;
use super::{AuthError, AuthProvider, BoxFuture, Credential};
use crate::config::{ExecConfig, ExecInteractiveMode};
use crate::secret::SecretBytes;
use std::io::IsTerminal;
use std::process::Stdio;
use std::time::Duration;

/// The environment variable that carries the `ExecCredential` input to the plugin.
pub const EXEC_INFO_ENV: &str = "KUBERNETES_EXEC_INFO";

/// The default bound on a non-interactive plugin run.
///
/// client-go sets none; a hung plugin would then hang every request forever. Five
/// minutes leaves room for browser-based logins (`kubelogin`, `gke-gcloud-auth-plugin`)
/// that run without a terminal. Interactive runs (the plugin reads from our terminal)
/// are not bounded by default.
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(300);

/// The most a plugin may print on stdout. An `ExecCredential` with a token, or a client
/// certificate chain and key, is a few KiB; a plugin that prints more is killed and its
/// output dropped, so a broken or hostile plugin cannot make the client buffer without
/// end. (Its stderr is the client process's own and is never read.)
pub const MAX_EXEC_OUTPUT: usize = 1024 * 1024;

const INSTALL_HELP: &str = "\n\nIt looks like you are trying to use a client-go credential plugin that is not installed.\n\nTo learn more about this feature, consult the documentation available at:\n      https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins";

/// Runs an exec credential plugin (`aws eks get-token`, `gke-gcloud-auth-plugin`,
/// `kubelogin`, …) and turns its `ExecCredential` into a [`Credential`].
///
/// Every [`fetch`](AuthProvider::fetch) runs the plugin once; put the provider behind a
/// [`CredentialCache`](super::CredentialCache) (the client does) to run it once per
/// credential lifetime (`status.expirationTimestamp`, or until the server answers 401),
/// however many requests wait for it.
///
/// The plugin gets our environment plus `env` and [`EXEC_INFO_ENV`]; its stderr is ours;
/// its stdin is ours only when it runs interactively (kubectl's `interactiveMode` rules:
/// `Never`; `IfAvailable` when our stdin is a terminal; `Always` requires one).
/// It runs under `tokio::process`, so waiting for it blocks no runtime thread.
#[derive(Clone)]
pub struct ExecProvider {
    config: ExecConfig,
    mode: ExecInteractiveMode,
    timeout: Option<Duration>,
    interactive_timeout: Option<Duration>,
}

impl ExecProvider {
    /// A provider for `config`; fails (with kubectl's message) on any `apiVersion`
    /// other than `client.authentication.k8s.io/v1` and `/v1beta1`.
    pub fn new(config: ExecConfig) -> Result<Self, ExecError> {
        if !protocol::API_VERSIONS.contains(&config.api_version.as_str()) {
            return Err(ExecError::InvalidApiVersion {
                api_version: config.api_version.clone(),
            });
        }
        // v1beta1 defaults to IfAvailable; config resolution rejects a v1 entry without one.
        let mode = config
            .interactive_mode
            .unwrap_or(ExecInteractiveMode::IfAvailable);
        Ok(Self {
            config,
            mode,
            timeout: Some(DEFAULT_EXEC_TIMEOUT),
            interactive_timeout: None,
        })
    }

    /// Bounds a non-interactive run (default [`DEFAULT_EXEC_TIMEOUT`]; `None`: unbounded).
    /// A plugin still running at the deadline is killed.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Bounds an interactive run (default: unbounded, a person may be typing).
    pub fn with_interactive_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.interactive_timeout = timeout;
        self
    }

    /// The plugin's configuration.
    pub fn config(&self) -> &ExecConfig {
        &self.config
    }

    fn command(&self) -> String {
        self.config.command.clone()
    }

    async fn run(&self) -> Result<Credential, ExecError> {
        let interactive = protocol::interactive(self.mode, std::io::stdin().is_terminal())
            .map_err(|reason| ExecError::Interactive {
                command: self.command(),
                reason,
            })?;
        let cluster = if self.config.provide_cluster_info {
            self.config.cluster.as_ref()
        } else {
            None
        };
        let info = protocol::exec_info(&self.config.api_version, interactive, cluster).map_err(
            |source| ExecError::EncodeInfo {
                command: self.command(),
                source,
            },
        )?;

        let mut command = tokio::process::Command::new(&self.config.command);
        command
            .args(&self.config.args)
            .envs(
                self.config
                    .env
                    .iter()
                    .map(|(name, value)| (name, value.expose_secret())),
            )
            .env(EXEC_INFO_ENV, info)
            .stdin(if interactive {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);

        tracing::debug!(command = %self.config.command, interactive, "running exec credential plugin");
        let child = command.spawn().map_err(|source| self.spawn_error(source))?;
        let timeout = if interactive {
            self.interactive_timeout
        } else {
            self.timeout
        };
        let (status, stdout) = match timeout {
            // Dropping the future drops the child, which kills it.
            Some(limit) => tokio::time::timeout(limit, self.collect(child))
                .await
                .map_err(|_| ExecError::Timeout {
                    command: self.command(),
                    timeout: limit,
                })?,
            None => self.collect(child).await,
        }?;
        if !status.success() {
            return Err(match status.code() {
                Some(code) => ExecError::Failed {
                    command: self.command(),
                    code,
                },
                None => ExecError::Terminated {
                    command: self.command(),
                },
            });
        }
        let credential =
            protocol::parse_output(&self.config.command, &self.config.api_version, &stdout)?;
        tracing::debug!(
            command = %self.config.command,
            token = credential.authorization.is_some(),
            client_certificate = credential.client_identity.is_some(),
            expires = ?credential.expires_at,
            "exec credential plugin returned a credential"
        );
        Ok(credential)
    }

    /// Reads at most [`MAX_EXEC_OUTPUT`] bytes of stdout, then waits for the exit.
    async fn collect(
        &self,
        mut child: tokio::process::Child,
    ) -> Result<(std::process::ExitStatus, SecretBytes), ExecError> {
        use tokio::io::AsyncReadExt;
        let wait_error = |source| ExecError::Wait {
            command: self.command(),
            source,
        };
        let mut stdout = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            pipe.take(MAX_EXEC_OUTPUT as u64 + 1)
                .read_to_end(&mut stdout)
                .await
                .map_err(wait_error)?;
        }
        let stdout = SecretBytes::new(stdout);
        if stdout.expose_secret().len() > MAX_EXEC_OUTPUT {
            // Best effort: `kill_on_drop` kills it anyway when `child` goes out of scope.
            let _ = child.start_kill();
            return Err(ExecError::OutputTooLarge {
                command: self.command(),
                limit: MAX_EXEC_OUTPUT,
            });
        }
        let status = child.wait().await.map_err(wait_error)?;
        Ok((status, stdout))
    }

    fn spawn_error(&self, source: std::io::Error) -> ExecError {
        if source.kind() != std::io::ErrorKind::NotFound {
            return ExecError::Spawn {
                command: self.command(),
                source,
            };
        }
        let mut help = INSTALL_HELP.to_owned();
        if let Some(hint) = self
            .config
            .install_hint
            .as_deref()
            .filter(|h| !h.is_empty())
        {
            help.push_str("\n\n");
            help.push_str(hint);
        }
        ExecError::NotFound {
            command: self.command(),
            help,
            source,
        }
    }
}

/// Shows the command, apiVersion and mode; never the arguments or environment values.
impl std::fmt::Debug for ExecProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecProvider")
            .field("command", &self.config.command)
            .field("api_version", &self.config.api_version)
            .field(
                "args",
                &format_args!("<{} redacted>", self.config.args.len()),
            )
            .field(
                "env",
                &self
                    .config
                    .env
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .field("interactive_mode", &self.mode)
            .field("provide_cluster_info", &self.config.provide_cluster_info)
            .field("timeout", &self.timeout)
            .field("interactive_timeout", &self.interactive_timeout)
            .finish()
    }
}

impl AuthProvider for ExecProvider {
    fn name(&self) -> &str {
        "exec"
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Credential, AuthError>> {
        Box::pin(async move { Ok(self.run().await?) })
    }
}
