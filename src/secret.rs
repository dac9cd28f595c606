//! Redacting holders for credentials.
//!
//! Tokens, passwords, private keys, exec-plugin environment values and exec output are
//! kept in [`SecretString`] or [`SecretBytes`]. Their `Debug` output is always
//! `<redacted>`, they never implement `Display`, and their memory is zeroed on drop
//! (through the `secrecy` crate). Reading the value needs an explicit `expose_secret()`.

use secrecy::{ExposeSecret, SecretBox, SecretSlice};
use std::fmt;

/// A URL for messages, logs and `Debug`: without user name and password (a cluster or
/// proxy URL may carry credentials).
pub(crate) fn url_for_display(url: &url::Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    // Only fails for URLs that cannot have credentials, which then have none.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// `scheme://user:pass@host…` as `scheme://<redacted>@host…`.
pub(crate) fn redact_userinfo(value: &str) -> String {
    let start = value.find("://").map_or(0, |i| i + 3);
    let authority_end = value[start..]
        .find(['/', '?', '#'])
        .map_or(value.len(), |i| start + i);
    match value[start..authority_end].rfind('@') {
        Some(at) => format!("{}<redacted>{}", &value[..start], &value[start + at..]),
        None => value.to_owned(),
    }
}

/// A secret UTF-8 string (a token, a password, an exec env value).
///
/// ```
/// use k8s_client::SecretString;
/// let token = SecretString::from("abc123");
/// assert_eq!(format!("{token:?}"), "<redacted>");
/// assert_eq!(token.expose_secret(), "abc123");
/// ```
#[derive(Clone)]
pub struct SecretString(SecretBox<str>);

impl SecretString {
    /// Wraps a string.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretBox::new(value.into().into_boxed_str()))
    }

    /// The secret value. Never log or format it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.expose_secret().is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        self.expose_secret() == other.expose_secret()
    }
}

impl Eq for SecretString {}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Secret bytes (a private key PEM, decoded `client-key-data`).
///
/// ```
/// use k8s_client::SecretBytes;
/// let key = SecretBytes::from(b"-----BEGIN PRIVATE KEY-----".to_vec());
/// assert_eq!(format!("{key:?}"), "<redacted>");
/// ```
#[derive(Clone)]
pub struct SecretBytes(SecretSlice<u8>);

impl SecretBytes {
    /// Wraps bytes.
    pub fn new(value: Vec<u8>) -> Self {
        Self(SecretSlice::from(value))
    }

    /// The secret bytes. Never log or format them.
    pub fn expose_secret(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(value: Vec<u8>) -> Self {
        Self::new(value)
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        self.expose_secret() == other.expose_secret()
    }
}

impl Eq for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretString::from("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{:#?}", Some(&s)).contains("hunter2"));
        let b = SecretBytes::from(b"hunter2".to_vec());
        assert!(!format!("{b:?}").contains("hunter2"));
    }
}
