//! A real local control plane (etcd + kube-apiserver + kube-controller-manager) for tests.
