//! The one support tree of the integration tests. Every `tests/*.rs` includes it the
//! same way, `mod support;`, and uses what it needs:
//!
//! | module | gives |
//! |---|---|
//! | [`eventually`](mod@eventually) | [`eventually`] (poll a check until it holds, with a deadline) and [`within`] |
//! | [`server`] | [`Upstream`](server::Upstream), the one local HTTP(S) server, and [`TestCa`](server::TestCa) certificates |
//! | [`env`] | the shared control plane, [`admin_client`](env::admin_client), namespaces (`testenv`) |
//! | [`api`] | typed-API fixtures: `setup`, labelled ConfigMaps, `next_ok` (`testenv`) |
//! | [`requests`] | one-call JSON requests through our client: `create`, `delete`, `whoami`, tokens |
//! | [`auth`] | the exec test plugin, the OIDC issuer, JWTs, key fixtures |
//! | [`logs`] | log capture and the secret-leak check |
//! | [`proxy`] | our proxy and `kubectl proxy`, raw HTTP/1.1 to either (`proxy`) |
//! | [`runtime`] | the watch-cutting relay of the runtime tests |
//! | [`streams`] | pods that run on simulated nodes (`testenv`) |
//! | [`kubectl`] | running kubectl for differential tests |
//!
//! Only what a test binary calls is code-generated for it; the rest is type-checked
//! once per binary (see docs/testing.md for the cost). Machinery of one binary alone
//! stays with it: the soak suite's is in `tests/soak/`.
#![allow(dead_code)]

pub mod auth;
pub mod eventually;
pub mod kubectl;
pub mod logs;
pub mod requests;
pub mod runtime;
pub mod server;

#[cfg(feature = "testenv")]
pub mod api;
#[cfg(feature = "testenv")]
pub mod env;
#[cfg(feature = "proxy")]
pub mod proxy;
#[cfg(feature = "testenv")]
pub mod streams;

#[allow(unused_imports)]
pub use eventually::{eventually, within};

/// An error and its sources, one per line (for a test's panic message).
pub fn chain(e: &dyn std::error::Error) -> String {
    format!("{:#}", k8s_client::error::Report::new(e))
}

/// The config `kubectl --kubeconfig path` uses, with the changes `tweak` makes to the
/// options (`--context`, `--token`, …).
pub fn kubeconfig_config(
    path: &std::path::Path,
    tweak: impl FnOnce(&mut k8s_client::config::KubeconfigOptions),
) -> k8s_client::Config {
    let mut options = k8s_client::config::KubeconfigOptions::default();
    options.kubeconfig = Some(path.to_owned());
    tweak(&mut options);
    k8s_client::Config::from_kubeconfig(&options).expect("the kubeconfig loads")
}
