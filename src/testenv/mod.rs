//! A real local control plane (etcd + kube-apiserver + kube-controller-manager) for tests.
//!
//! The analogue of controller-runtime's `envtest`: [`TestEnv`] starts the three
//! programs as child processes on free loopback ports with a freshly generated PKI and
//! hands out kubeconfigs for an admin (client certificate, `system:masters`), a static
//! bearer-token admin, and a user without RBAC rights (for real 403s), plus the raw
//! pieces (server URL, CA, tokens, certificate and key), and signs client certificates
//! for any user and group ([`TestEnv::issue_client_certificate`]).
//!
//! Binaries come from `KUBEBUILDER_ASSETS` or from the cache filled by
//! [`Binaries::install`] (`cargo xtask testenv-install`); see [`install`] and
//! [`versions`].
//!
//! ```no_run
//! use k8s_client::testenv::TestEnv;
//!
//! let env = TestEnv::builder().controller_manager(true).start()?;
//! println!("export KUBECONFIG={}", env.admin_kubeconfig().display());
//! // … run requests against env.server_url() …
//! drop(env); // stops every process and removes the temporary directory
//! # Ok::<(), k8s_client::testenv::TestEnvError>(())
//! ```
//!
//! For a test binary with many tests, share one environment through [`shared`].
//!
//! With [`TestEnvBuilder::nodes`], kube-scheduler and kwok join the control plane:
//! pods are scheduled onto simulated nodes and reach `Running`, and `exec`, `attach`,
//! `log` and `portforward` reach a real kubelet endpoint (see
//! [`TestEnvBuilder::nodes`] for what each one does). [`shared_with_nodes`] shares one
//! such environment per process.

mod env;
mod error;
mod faults;
pub mod install;
mod kubeconfig;
mod kubelet_front;
mod multi;
mod nodes;
mod pki;
mod probe;
mod process;
pub mod versions;

pub use env::{
    KEEP_ENV, NOPERM_USER, SERVICE_ACCOUNT_ISSUER, TMPDIR_ENV, TOKEN_USER, TestEnv, TestEnvBuilder,
};
pub use error::{ProcessReport, TestEnvError};
pub use install::Binaries;
pub use multi::{MAX_APISERVERS, ROUTABLE_RANGE};

use std::sync::OnceLock;

/// One environment per process, started with the defaults on first use.
///
/// It is not tied to any async runtime, so tests on different runtimes share it. It is
/// stopped when the process exits normally (an `atexit` hook; the test harness exits
/// that way); if the process is killed, the kernel kills the children. The first
/// start's error is returned to every caller.
pub fn shared() -> Result<&'static TestEnv, &'static TestEnvError> {
    static SHARED: OnceLock<Result<TestEnv, TestEnvError>> = OnceLock::new();
    extern "C" fn stop_shared() {
        if let Some(Ok(env)) = SHARED.get() {
            env.shutdown();
        }
    }
    SHARED
        .get_or_init(|| {
            let env = TestEnv::start()?;
            register_atexit(stop_shared);
            Ok(env)
        })
        .as_ref()
}

/// The pod port that [`shared_with_nodes`] forwards (see
/// [`TestEnvBuilder::forward_pod_port`]).
pub const SHARED_FORWARDED_POD_PORT: u16 = 8080;

/// A second pod port that [`shared_with_nodes`] forwards.
pub const SHARED_FORWARDED_POD_PORT_2: u16 = 9090;

/// One environment per process with two simulated nodes (see
/// [`TestEnvBuilder::nodes`]) and the pod ports [`SHARED_FORWARDED_POD_PORT`] and
/// [`SHARED_FORWARDED_POD_PORT_2`] forwarded; otherwise like [`shared`].
pub fn shared_with_nodes() -> Result<&'static TestEnv, &'static TestEnvError> {
    static SHARED: OnceLock<Result<TestEnv, TestEnvError>> = OnceLock::new();
    extern "C" fn stop_shared() {
        if let Some(Ok(env)) = SHARED.get() {
            env.shutdown();
        }
    }
    SHARED
        .get_or_init(|| {
            let env = TestEnv::builder()
                .nodes(2)
                .forward_pod_port(SHARED_FORWARDED_POD_PORT)
                .forward_pod_port(SHARED_FORWARDED_POD_PORT_2)
                .start()?;
            register_atexit(stop_shared);
            Ok(env)
        })
        .as_ref()
}

fn register_atexit(hook: extern "C" fn()) {
    #[allow(unsafe_code)]
    // SAFETY: atexit(3) only stores the pointer of a function that takes no
    // arguments, never unwinds (shutdown does not panic) and is valid for the
    // whole program.
    unsafe {
        libc::atexit(hook);
    }
}
