//! The error type of [`crate::testenv`].

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// A failure to locate, install or start the local control plane.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestEnvError {
    /// `KUBEBUILDER_ASSETS` points at a directory that lacks a required binary.
    #[error(
        "KUBEBUILDER_ASSETS={dir} has no executable `{binary}`; put it there or unset KUBEBUILDER_ASSETS"
    )]
    AssetsIncomplete {
        /// The directory named by `KUBEBUILDER_ASSETS`.
        dir: PathBuf,
        /// The missing binary.
        binary: &'static str,
    },
    /// The binaries of the pinned release are not in the cache.
    #[error(
        "control-plane binaries for Kubernetes {version} are not installed in {dir}; run `cargo xtask testenv-install` or set KUBEBUILDER_ASSETS"
    )]
    NotInstalled {
        /// The pinned Kubernetes version.
        version: &'static str,
        /// The cache directory that was searched.
        dir: PathBuf,
    },
    /// Neither `XDG_CACHE_HOME` nor `HOME` is set, so there is no cache directory.
    #[error(
        "no cache directory for control-plane binaries: set XDG_CACHE_HOME or HOME, or set KUBEBUILDER_ASSETS"
    )]
    NoCacheDir,
    /// The Go toolchain needed to build the binaries is missing.
    #[error(
        "the Go toolchain was not found (looked for `go` on PATH and {fallback}); install Go {min_go} or newer (https://go.dev/dl/), or set KUBEBUILDER_ASSETS to a directory holding etcd, kube-apiserver and kube-controller-manager"
    )]
    GoMissing {
        /// The fallback location that was tried.
        fallback: &'static str,
        /// The minimum Go version the pinned release needs.
        min_go: String,
    },
    /// A Go command could not be started.
    #[error("starting `{command}` in {dir} failed")]
    GoSpawn {
        /// The command line.
        command: String,
        /// Its working directory.
        dir: PathBuf,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// A Go command (download, tidy, build) failed.
    #[error(
        "`{command}` in {dir} exited with {status}; full log: {log}\n--- last lines of the log ---\n{tail}"
    )]
    GoFailed {
        /// The command line.
        command: String,
        /// Its working directory.
        dir: PathBuf,
        /// Its exit status.
        status: ExitStatus,
        /// The file holding its complete output.
        log: PathBuf,
        /// The last lines of that output.
        tail: String,
    },
    /// The module file of `k8s.io/kubernetes` has no usable content.
    #[error("the go.mod of k8s.io/kubernetes {version} ({path}) lists no `./staging` replacements")]
    KubernetesModFile {
        /// The pinned Kubernetes version.
        version: &'static str,
        /// The downloaded module file.
        path: PathBuf,
    },
    /// The JSON printed by `go mod download -json` could not be decoded.
    #[error("decoding the output of `go mod download -json {module}` failed")]
    GoModDownloadOutput {
        /// The module that was downloaded.
        module: String,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// A file-system operation failed.
    #[error("{action} {path} failed")]
    Io {
        /// What was being done (`creating`, `writing`, `reading`, …).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Generating the test PKI (CA, serving and client certificates) failed.
    #[error("generating the {what} for the test control plane failed")]
    Pki {
        /// Which certificate or key.
        what: &'static str,
        /// The generator's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No free loopback port could be reserved.
    #[error("reserving a free port on 127.0.0.1 failed")]
    FreePort(#[source] std::io::Error),
    /// A control-plane process could not be spawned.
    #[error("starting {process} failed: `{command}`")]
    Spawn {
        /// `etcd`, `kube-apiserver`, `kube-controller-manager`, `kube-scheduler` or `kwok`.
        process: &'static str,
        /// The full command line.
        command: String,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// A control-plane process exited during start-up.
    #[error(
        "{} exited during start-up with {status}: `{}`\n--- last 20 lines of {} ---\n{}",
        report.process, report.command, report.log.display(), report.tail
    )]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// The process, its command line and its log.
        report: Box<ProcessReport>,
    },
    /// A control-plane process did not become ready in time.
    #[error(
        "{} did not become ready within {timeout:?} ({waiting_for}): `{}`\n--- last 20 lines of {} ---\n{}",
        report.process, report.command, report.log.display(), report.tail
    )]
    NotReady {
        /// What was polled.
        waiting_for: String,
        /// The start-up deadline.
        timeout: Duration,
        /// The process, its command line and its log.
        report: Box<ProcessReport>,
    },
    /// A required binary is not available (for example `kube-controller-manager`
    /// under a `KUBEBUILDER_ASSETS` directory that lacks it).
    #[error(
        "the control plane was asked to run {binary}, but {dir} has no such executable; add it or disable it in the builder"
    )]
    MissingBinary {
        /// The missing binary.
        binary: &'static str,
        /// The directory the binaries come from.
        dir: PathBuf,
    },
    /// A simulated-node feature was used on an environment started without nodes.
    #[error(
        "the test environment runs no simulated nodes; start it with `TestEnv::builder().nodes(n)`"
    )]
    NoNodes,
    /// Registering a simulated node with the API server failed.
    #[error("registering the simulated node {node} failed (HTTP status: {status:?})")]
    NodeRegistration {
        /// The node's name.
        node: String,
        /// The API server's answer, `None` when the request failed without one.
        status: Option<u16>,
    },
    /// An API server index outside the environment's servers.
    #[error("the environment has {count} API servers; there is no API server {index}")]
    NoSuchApiServer {
        /// The index asked for.
        index: usize,
        /// How many API servers the environment runs.
        count: usize,
    },
    /// Routable API server or node addresses were asked for without the privilege to
    /// add them.
    #[error(
        "routable addresses need root (CAP_NET_ADMIN) to add addresses to `lo`; run as root or leave TestEnvBuilder::routable_apiservers and TestEnvBuilder::routable_nodes off"
    )]
    NotRoot,
    /// The TLS front of routable simulated nodes could not be started.
    #[error("{action} the simulated kubelet's TLS front on {address} failed")]
    KubeletFront {
        /// What was being done (`listening on`, …).
        action: &'static str,
        /// The address (port 0 before one is chosen).
        address: std::net::SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `ip` could not be run.
    #[error("running `{command}` failed")]
    AddressSpawn {
        /// The command line.
        command: String,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// `ip` failed to add an address to `lo`.
    #[error("`{command}` exited with {status}: {stderr}")]
    AddressCommand {
        /// The command line.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },
    /// Every block of routable addresses is already in use on `lo`.
    #[error(
        "every block of {range} is already in use on `lo` (other environments, or addresses left by a killed test process: `ip addr show dev lo`)"
    )]
    NoFreeAddresses {
        /// The range the addresses are taken from.
        range: &'static str,
    },
    /// More (or fewer) API servers were asked for than an environment can run.
    #[error("an environment runs 1 to {max} API servers, not {requested}")]
    ApiServerCount {
        /// The number asked for.
        requested: usize,
        /// The most an environment runs.
        max: usize,
    },
    /// The environment was shut down; its processes cannot be controlled any more.
    #[error("the control plane was shut down; etcd cannot be controlled any more")]
    ShutDown,
}

/// Which control-plane process failed, how it was started, and the end of its log.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProcessReport {
    /// `etcd`, `kube-apiserver`, `kube-controller-manager`, `kube-scheduler` or `kwok`.
    pub process: &'static str,
    /// The full command line.
    pub command: String,
    /// Its log file.
    pub log: PathBuf,
    /// The last 20 lines of its log.
    pub tail: String,
}
