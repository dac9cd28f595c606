//! The pinned versions of the control-plane binaries: the one place they are recorded.
//!
//! The xtask reads these constants too, so changing a version here changes what
//! `cargo xtask testenv-install` builds and where the binaries are cached.

/// The Kubernetes release whose `kube-apiserver`, `kube-controller-manager` and
/// `kube-scheduler` are built.
///
/// It lies inside the range supported by the k8s-openapi version this crate uses
/// (0.29: Kubernetes 1.33–1.37).
pub const KUBERNETES_VERSION: &str = "v1.37.2";

/// The etcd release documented by [`KUBERNETES_VERSION`] (its `build/dependencies.yaml`).
pub const ETCD_VERSION: &str = "v3.7.0";

/// The Go module whose `main` package is the etcd server.
pub const ETCD_MAIN_PACKAGE: &str = "go.etcd.io/etcd/server/v3";

/// The kwok release whose `kwok` binary simulates nodes (it serves the kubelet API
/// for exec, attach, logs and port-forward). Built in its own Go module, so its
/// `k8s.io/*` requirements need not match [`KUBERNETES_VERSION`].
pub const KWOK_VERSION: &str = "v0.8.0";

/// The Go module of kwok.
pub const KWOK_MODULE: &str = "sigs.k8s.io/kwok";

/// The Go package whose `main` is the `kwok` binary.
pub const KWOK_MAIN_PACKAGE: &str = "sigs.k8s.io/kwok/cmd/kwok";

/// The published version of the `k8s.io/*` staging modules (`k8s.io/api`, …) that
/// belong to [`KUBERNETES_VERSION`]: `v1.X.Y` is published as `v0.X.Y`.
pub fn staging_version() -> String {
    format!("v0.{}", KUBERNETES_VERSION.trim_start_matches("v1."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_version_maps_major_one_to_zero() {
        assert!(KUBERNETES_VERSION.starts_with("v1."));
        assert_eq!(
            staging_version(),
            KUBERNETES_VERSION.replacen("v1.", "v0.", 1)
        );
    }
}
