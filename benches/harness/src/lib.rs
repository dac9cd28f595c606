//! Shared pieces of the k8s-client benchmark: the command-line protocol every
//! benchmarked client speaks (so the harness can run ours, the raw limit and the
//! peers the same way), a minimal HTTP/2 client used for the raw limit and for
//! loading the data set, and the data set itself.

pub mod dataset;
pub mod protocol;
pub mod raw;
