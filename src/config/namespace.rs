//! Checking namespace names from a kubeconfig, an override or the in-cluster files.
//!
//! kubectl takes any string and puts it into request paths, leaving the API server to
//! reject it; a namespace such as `a/b` or `..` would then change which path is
//! requested. We refuse anything that is not a DNS-1123 label while resolving the
//! configuration, naming where the value came from.

use super::error::ConfigError;
use std::fmt;
use std::path::PathBuf;

/// The longest namespace name (a DNS-1123 label).
pub const MAX_NAMESPACE_LEN: usize = 63;

/// Where a namespace value came from, for [`ConfigError::InvalidNamespace`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NamespaceOrigin {
    /// The `namespace` field of a kubeconfig context.
    Context {
        /// The context's name.
        context: String,
        /// The kubeconfig file that defined the context, when read from a file.
        file: Option<PathBuf>,
    },
    /// [`KubeconfigOptions::namespace`](super::KubeconfigOptions::namespace) (`--namespace`).
    Override,
    /// An environment variable ([`POD_NAMESPACE`](super::POD_NAMESPACE_ENV)).
    EnvVar {
        /// The variable's name.
        name: &'static str,
    },
    /// A file (the in-cluster service-account `namespace` file).
    File {
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Display for NamespaceOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamespaceOrigin::Context {
                context,
                file: Some(file),
            } => write!(
                f,
                "field namespace of context {context:?} in {}",
                file.display()
            ),
            NamespaceOrigin::Context {
                context,
                file: None,
            } => write!(f, "field namespace of context {context:?}"),
            NamespaceOrigin::Override => f.write_str("the namespace override"),
            NamespaceOrigin::EnvVar { name } => write!(f, "environment variable {name}"),
            NamespaceOrigin::File { path } => write!(f, "file {}", path.display()),
        }
    }
}

/// Whether `name` is a DNS-1123 label: 1 to 63 characters of `a-z`, `0-9` and `-`,
/// starting and ending with a letter or digit.
pub fn is_valid_namespace(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAMESPACE_LEN
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
}

/// `value`, or the error naming `origin`.
pub(super) fn check_namespace(
    value: String,
    origin: NamespaceOrigin,
) -> Result<String, ConfigError> {
    if is_valid_namespace(&value) {
        Ok(value)
    } else {
        Err(ConfigError::InvalidNamespace {
            value: shorten(&value),
            origin,
        })
    }
}

/// The value as kept in the error: at most 100 characters (a hostile file can hold
/// megabytes in one field).
fn shorten(value: &str) -> String {
    const KEEP: usize = 100;
    match value.char_indices().nth(KEEP) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_1123_labels() {
        for good in ["default", "a", "kube-system", "0", "a-1", &"a".repeat(63)] {
            assert!(is_valid_namespace(good), "{good:?}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a_b",
            "a.b",
            "a/b",
            "..",
            " a",
            "a\n",
            "ä",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_namespace(bad), "{bad:?}");
        }
    }

    #[test]
    fn errors_name_the_origin_and_stay_short() {
        let err = check_namespace(
            "x".repeat(10_000),
            NamespaceOrigin::Context {
                context: "dev".into(),
                file: Some("/home/u/.kube/config".into()),
            },
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("context \"dev\" in /home/u/.kube/config") && text.len() < 400,
            "{text}"
        );
        let err = check_namespace(
            "a/b".into(),
            NamespaceOrigin::EnvVar {
                name: "POD_NAMESPACE",
            },
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("environment variable POD_NAMESPACE"),
            "{err}"
        );
    }
}
