//! # k8s-client
//!
//! A Kubernetes client for Rust — the analogue of client-go. It reads kubeconfig files
//! exactly as kubectl does (or the service-account files inside a pod), authenticates
//! with every kind of credential clusters hand out, and gives you discovery, typed and
//! dynamic API access, watches, logs, the API server proxy, and a `kubectl proxy`-style
//! local proxy — over rustls and HTTP/2.
//!
//! ## Quick start
//!
//! ```toml
//! [dependencies]
//! k8s-client = "0.1"
//! # Pick the Kubernetes version of the generated types, as with kube-rs:
//! k8s-openapi = { version = "0.29", features = ["latest"] }
//! tokio = { version = "1", features = ["full"] }
//! ```
//!
//! ```no_run
//! use k8s_client::api::{Api, ListParams};
//! use k8s_client::Client;
//! use k8s_openapi::api::core::v1::Pod;
//!
//! # async fn demo() -> Result<(), k8s_client::Error> {
//! let client = Client::try_default().await?;    // kubeconfig, else in-cluster
//!
//! // What `curl $APISERVER/api` shows, with serverAddressByClientCIDRs.
//! let versions = client.discovery().api_versions().await?;
//! println!("{}", serde_json::to_string_pretty(&versions).unwrap());
//!
//! let pods: Api<Pod> = Api::default_namespaced(client);
//! for pod in pods.list(&ListParams::default()).await?.items {
//!     println!("{}", pod.metadata.name.unwrap_or_default());
//! }
//! # Ok(()) }
//! ```
//!
//! ## Where the configuration comes from
//!
//! [`Config::infer`] tries, in order:
//! 1. the kubeconfig files: `KUBECONFIG` (split on `:`; missing files skipped; the first
//!    file to define a cluster, user or context wins it), else `~/.kube/config`;
//! 2. the in-cluster service account: `KUBERNETES_SERVICE_HOST`/`_PORT` and the files
//!    under `/var/run/secrets/kubernetes.io/serviceaccount/`.
//!
//! In-cluster is tried only when the kubeconfig names no server (client-go's rule); a
//! kubeconfig that is present but broken is an error of its own. If both fail, the
//! error carries both reasons. [`Error::report`] prints any error with its causes. [`Config::from_kubeconfig`] takes
//! kubectl's overrides (`--context`, `--namespace`, `--server`, `--token`, `--as`, …)
//! through [`config::KubeconfigOptions`]; [`config::view`] renders `kubectl config view`.
//! Every file and variable is read through an injectable [`config::Env`], so tests use a
//! fake one. See `docs/configuration.md`.
//!
//! ## Authentication
//!
//! Built in: bearer tokens, token files (re-read every minute and after a 401, as the
//! in-cluster token needs), client certificates (RSA and EC keys; files re-read when
//! they change), basic auth, `client.authentication.k8s.io` exec plugins (`v1`,
//! `v1beta1`: `aws eks get-token`, `gke-gcloud-auth-plugin`, `kubelogin`) and OIDC with
//! refresh written back to the kubeconfig. Bring your own with [`auth::AuthProvider`] and
//! [`ClientBuilder::auth_provider`]. Credentials are cached: one exec-plugin run per
//! credential lifetime however many requests wait for it, refreshed before expiry, and
//! refreshed once on a 401 (the request is retried once when that is safe). Secrets live
//! in [`SecretString`]/[`SecretBytes`] and never reach `Debug`, logs or errors.
//! See `docs/authentication.md` and `docs/client.md`.
//!
//! ## What the client does on the wire
//!
//! HTTP/2 by ALPN (HTTP/1.1 fallback), one connection pool per client (clones share it),
//! a client-go style User-Agent, impersonation headers, `proxy-url` (http, https,
//! socks5) or `HTTPS_PROXY`/`NO_PROXY`, retries of 429/5xx with `Retry-After` (client-go's
//! rule) and of idempotent requests on dropped connections, server `Warning` headers
//! logged once each. No client-side rate limit by default (opt in with
//! [`ClientBuilder::rate_limit`]); no gzip by default (see `docs/performance.md`).
//!
//! ## Controllers
//!
//! [`runtime`] is client-go's `tools/cache` and `workqueue` for Rust: a
//! [`runtime::SharedInformer`] keeps an indexed cache of `Arc`'d objects in sync with one
//! list + watch (resume, relist on 410, tombstones, backoff) and feeds any number of
//! handlers; a [`runtime::Controller`] turns changes into keys on a de-duplicating,
//! rate-limited [`runtime::WorkQueue`] and runs your reconcile for one key at a time,
//! with finalizer and status helpers. See `docs/runtime.md`.
//!
//! ## Modules
//!
//! | module | what |
//! |---|---|
//! | [`config`] | raw kubeconfig model, loading and merging, in-cluster, resolution, `config view` |
//! | [`auth`] | [`auth::AuthProvider`], the credential cache, built-in providers |
//! | [`client`] | [`Client`], [`ClientBuilder`], bodies, streams, upgrades |
//! | [`transport`] | TLS, proxies, retries, rate limiting, headers |
//! | [`discovery`] | `/version`, `/api`, `/apis`, aggregated discovery, caching, name mapping, address selection |
//! | [`api`] | `Api<K>`, dynamic objects, pagination, watch, logs, subresources, API server proxy, service-account tokens |
//! | [`proxy`] | a local `kubectl proxy` |
//! | [`runtime`] | caches, indexes, reflector, shared informers, work queue, controllers, finalizers, leader election on Leases, an `events.k8s.io/v1` events recorder |
//! | `testenv` (feature `testenv`) | a real local control plane for tests |
//!
//! ## Features
//!
//! Each Cargo feature is a capability; all but `testenv` (and `testing`) are on by
//! default. `default-features = false` leaves the client, configuration, authentication
//! (tokens, token files, client certificates, exec plugins), discovery and the typed and
//! dynamic API over JSON.
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `protobuf` | yes | built-in kinds read as protobuf (`codec`) |
//! | `runtime` | yes | [`runtime`]: informers, controllers, work queue, leader election, events |
//! | `proxy` | yes | [`proxy`]: an in-process `kubectl proxy` (hyper's server side) |
//! | `oidc` | yes | the `oidc` kubeconfig auth-provider |
//! | `socks` | yes | `socks5://` proxy URLs |
//! | `gzip` | yes | [`ClientBuilder::gzip`] |
//! | `testing` | no | `testing::MockTransport`: an in-memory [`client::Transport`] for unit tests without a cluster |
//! | `testenv` | no | `testenv::TestEnv` starts etcd, kube-apiserver and kube-controller-manager on loopback with a fresh PKI — envtest for Rust. Binaries come from `KUBEBUILDER_ASSETS` or are built into `~/.cache/k8s-client/testenv/` |
//!
//! A kubeconfig that needs a feature the build leaves out fails with an error naming
//! the feature (`AuthError::FeatureDisabled`, `TransportError::SocksDisabled`).
//!
//! The library depends on k8s-openapi without choosing a Kubernetes version, so the
//! application picks one (`features = ["latest"]` or `v1_33` … `v1_37`).
//!
//! YAML is parsed with `serde_yaml_ng`, the maintained continuation of the deprecated
//! `serde_yaml` with the same API and the same libyaml-based parser.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod api;
pub mod auth;
pub mod client;
#[cfg(feature = "protobuf")]
pub mod codec;
pub mod config;
pub mod discovery;
pub mod error;
mod path;
#[cfg(feature = "proxy")]
pub mod proxy;
#[cfg(feature = "runtime")]
pub mod runtime;
mod secret;
#[cfg(feature = "testenv")]
pub mod testenv;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transport;

pub use api::{Api, ApiResource, DynamicObject, Resource};
pub use client::{Client, ClientBuilder};
pub use config::Config;
pub use discovery::Discovery;
pub use error::{Error, Result};
pub use secret::{SecretBytes, SecretString};

/// The README's code, compiled (and the examples without a cluster run) as doctests.
#[cfg(all(doctest, feature = "testing", feature = "testenv", feature = "proxy"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
