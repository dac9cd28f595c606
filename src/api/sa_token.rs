//! The legacy service-account token flow: a `kubernetes.io/service-account-token` Secret
//! that the token controller (in kube-controller-manager) fills with a token and the
//! cluster's CA.

use super::core::Api;
use super::error::RequestError;
use super::params::{PostParams, WatchParams};
use super::watch::WatchEvent;
use crate::SecretString;
use crate::error::Error;
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use std::time::Duration;
use tokio::time::Instant;

/// The annotation naming the service account of a token Secret.
pub const SERVICE_ACCOUNT_NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
/// The Secret type the token controller fills.
pub const SERVICE_ACCOUNT_TOKEN_TYPE: &str = "kubernetes.io/service-account-token";

/// What the token controller put into a service-account token Secret.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenSecret {
    /// The Secret's name.
    pub name: String,
    /// `data.token`: a non-expiring bearer token (redacted in `Debug`).
    pub token: SecretString,
    /// `data["ca.crt"]`: the cluster CA bundle (PEM).
    pub ca_crt: Vec<u8>,
    /// `data.namespace`.
    pub namespace: String,
}

fn filled(secret: &Secret) -> Option<TokenSecret> {
    let data = secret.data.as_ref()?;
    let token = String::from_utf8(data.get("token")?.0.clone()).ok()?;
    if token.is_empty() {
        return None;
    }
    Some(TokenSecret {
        name: secret.metadata.name.clone().unwrap_or_default(),
        token: SecretString::from(token),
        ca_crt: data.get("ca.crt").map(|b| b.0.clone()).unwrap_or_default(),
        namespace: data
            .get("namespace")
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .unwrap_or_default(),
    })
}

/// Whether `secret` is a token Secret of `service_account` (type and annotation).
fn is_token_secret_of(secret: &Secret, service_account: &str) -> bool {
    secret.type_.as_deref() == Some(SERVICE_ACCOUNT_TOKEN_TYPE)
        && secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SERVICE_ACCOUNT_NAME_ANNOTATION))
            .is_some_and(|sa| sa == service_account)
}

impl Api<Secret> {
    /// Creates the Secret `name` of type `kubernetes.io/service-account-token` for
    /// `service_account` (reusing it when it exists), then waits — watching it, for at most
    /// `timeout` — until the token controller has filled `data.token`.
    ///
    /// The controller deletes such a Secret when the service account does not exist: that
    /// is [`RequestError::TokenSecretDeleted`]. No controller (or a slow one) is
    /// [`RequestError::TokenNotFilled`].
    pub async fn service_account_token_secret(
        &self,
        name: &str,
        service_account: &str,
        timeout: Duration,
    ) -> Result<TokenSecret, Error> {
        let deadline = Instant::now() + timeout;
        let mut secret = Secret::default();
        secret.metadata.name = Some(name.to_owned());
        secret.metadata.annotations = Some(
            [(
                SERVICE_ACCOUNT_NAME_ANNOTATION.to_owned(),
                service_account.to_owned(),
            )]
            .into(),
        );
        secret.type_ = Some(SERVICE_ACCOUNT_TOKEN_TYPE.to_owned());
        let mut current = match self.create(&PostParams::default(), &secret).await {
            Ok(s) => s,
            Err(e) if e.is_already_exists() => {
                let existing = self.get(name).await?;
                if !is_token_secret_of(&existing, service_account) {
                    return Err(RequestError::NotATokenSecret {
                        namespace: self.namespace().unwrap_or_default().to_owned(),
                        name: name.to_owned(),
                        service_account: service_account.to_owned(),
                    }
                    .into());
                }
                existing
            }
            Err(e) => return Err(e),
        };
        let not_filled = || RequestError::TokenNotFilled {
            namespace: self.namespace().unwrap_or_default().to_owned(),
            name: name.to_owned(),
            timeout,
        };
        let deleted = || RequestError::TokenSecretDeleted {
            namespace: self.namespace().unwrap_or_default().to_owned(),
            name: name.to_owned(),
            service_account: service_account.to_owned(),
        };
        loop {
            if let Some(t) = filled(&current) {
                return Ok(t);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(not_filled().into());
            }
            let wp = WatchParams::default()
                .fields(&format!("metadata.name={name}"))
                .timeout(u32::try_from(left.as_secs().max(1)).unwrap_or(u32::MAX));
            let rv = current
                .metadata
                .resource_version
                .clone()
                .unwrap_or_default();
            let mut events = self.watch(&wp, &rv).await?;
            loop {
                match tokio::time::timeout_at(deadline, events.next()).await {
                    Err(_) => return Err(not_filled().into()),
                    Ok(None) => break,
                    Ok(Some(Err(e))) if e.is_gone() => break,
                    Ok(Some(Err(e))) => return Err(e),
                    Ok(Some(Ok(WatchEvent::Deleted(_)))) => return Err(deleted().into()),
                    Ok(Some(Ok(WatchEvent::Added(s) | WatchEvent::Modified(s)))) => {
                        if let Some(t) = filled(&s) {
                            return Ok(t);
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                }
            }
            // The watch ended (timeout or expired version): look again, then watch again.
            current = match self.get_opt(name).await? {
                Some(s) => s,
                None => return Err(deleted().into()),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn token_secret_ownership() {
        let mut s = Secret::default();
        assert!(!is_token_secret_of(&s, "default"));
        s.type_ = Some(SERVICE_ACCOUNT_TOKEN_TYPE.to_owned());
        assert!(!is_token_secret_of(&s, "default"));
        s.metadata.annotations = Some(
            [(
                SERVICE_ACCOUNT_NAME_ANNOTATION.to_owned(),
                "default".to_owned(),
            )]
            .into(),
        );
        assert!(is_token_secret_of(&s, "default"));
        assert!(!is_token_secret_of(&s, "other"));
    }

    #[test]
    fn only_a_filled_secret_counts_and_its_token_is_redacted() {
        let mut s = Secret::default();
        assert!(filled(&s).is_none());
        s.data = Some([("token".to_owned(), ByteString(Vec::new()))].into());
        assert!(filled(&s).is_none());
        s.data = Some(
            [
                ("token".to_owned(), ByteString(b"tok-123".to_vec())),
                ("ca.crt".to_owned(), ByteString(b"PEM".to_vec())),
                ("namespace".to_owned(), ByteString(b"ns".to_vec())),
            ]
            .into(),
        );
        let t = filled(&s).unwrap();
        assert_eq!(t.token.expose_secret(), "tok-123");
        assert_eq!(t.ca_crt, b"PEM");
        assert_eq!(t.namespace, "ns");
        assert!(!format!("{t:?}").contains("tok-123"));
    }
}
