//! Subresources: `status`, `scale`, `pods/eviction`, `pods/log`, `serviceaccounts/token`.

use super::core::Api;
use super::error::RequestError;
use super::params::{DeleteParams, LogParams, Patch, PatchParams, PostParams};
use super::resource::Resource;
use crate::SecretString;
use crate::client::BodyStream;
use crate::error::{Error, Status};
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;
use serde::de::DeserializeOwned;

impl<K> Api<K>
where
    K: Resource + Serialize + DeserializeOwned + Send + 'static,
{
    /// `GET {name}/status`.
    pub async fn get_status(&self, name: &str) -> Result<K, Error> {
        self.get_subresource("status", name).await
    }

    /// `PATCH {name}/status`: only `.status` changes are kept.
    pub async fn patch_status<P: Serialize>(
        &self,
        name: &str,
        pp: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<K, Error> {
        self.patch_subresource("status", name, pp, patch).await
    }

    /// `PUT {name}/status`.
    pub async fn replace_status(
        &self,
        name: &str,
        pp: &PostParams,
        object: &K,
    ) -> Result<K, Error> {
        self.replace_subresource("status", name, pp, object).await
    }

    /// `GET {name}/scale` (`autoscaling/v1` `Scale`), for Deployments, ReplicaSets,
    /// StatefulSets, ReplicationControllers and CRDs with a scale subresource.
    pub async fn get_scale(&self, name: &str) -> Result<Scale, Error> {
        self.get_subresource("scale", name).await
    }

    /// `PATCH {name}/scale`, e.g. `Patch::Merge(json!({"spec": {"replicas": 3}}))`.
    pub async fn patch_scale<P: Serialize>(
        &self,
        name: &str,
        pp: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<Scale, Error> {
        self.patch_subresource("scale", name, pp, patch).await
    }

    /// `PUT {name}/scale`.
    pub async fn replace_scale(
        &self,
        name: &str,
        pp: &PostParams,
        scale: &Scale,
    ) -> Result<Scale, Error> {
        self.replace_subresource("scale", name, pp, scale).await
    }
}

/// `policy/v1` `Eviction` body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Eviction<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: EvictionMeta<'a>,
    delete_options: serde_json::Value,
}

#[derive(Serialize)]
struct EvictionMeta<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
}

impl Api<Pod> {
    /// `POST pods/{name}/eviction`: a delete that respects PodDisruptionBudgets
    /// (429 TooManyRequests while a budget forbids it).
    pub async fn evict(&self, name: &str, dp: &DeleteParams) -> Result<Status, Error> {
        let body = Eviction {
            api_version: "policy/v1",
            kind: "Eviction",
            metadata: EvictionMeta {
                name,
                namespace: self.namespace(),
            },
            delete_options: dp.body(),
        };
        self.create_subresource("eviction", name, &PostParams::default(), &body)
            .await
    }

    /// `GET pods/{name}/log` as text.
    pub async fn logs(&self, name: &str, lp: &LogParams) -> Result<String, Error> {
        self.client.request_text(self.request.logs(name, lp)?).await
    }

    /// `GET pods/{name}/log` as a byte stream (use with [`LogParams::follow`]).
    pub async fn log_stream(&self, name: &str, lp: &LogParams) -> Result<BodyStream, Error> {
        self.client
            .request_stream(self.request.logs(name, lp)?)
            .await
    }
}

/// Parameters of a `TokenRequest` (`serviceaccounts/{name}/token`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenParams {
    /// Intended audiences (default: the API server's).
    pub audiences: Vec<String>,
    /// Requested lifetime in seconds (the server may shorten it; minimum 600).
    pub expiration_seconds: Option<i64>,
    /// Bind the token to an object (`Pod`, `Secret`, `Node`): it stops working when that
    /// object is deleted. `(kind, name, uid)`; `apiVersion` is `v1`.
    pub bound_object: Option<(String, String, Option<String>)>,
}

impl TokenParams {
    /// Sets the audiences.
    #[must_use]
    pub fn audiences<I: IntoIterator<Item = S>, S: Into<String>>(mut self, audiences: I) -> Self {
        self.audiences = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the requested lifetime.
    #[must_use]
    pub fn expiration_seconds(mut self, seconds: i64) -> Self {
        self.expiration_seconds = Some(seconds);
        self
    }

    /// Binds the token to an object.
    #[must_use]
    pub fn bound_to(mut self, kind: &str, name: &str, uid: Option<&str>) -> Self {
        self.bound_object = Some((kind.to_owned(), name.to_owned(), uid.map(str::to_owned)));
        self
    }

    fn body(&self) -> serde_json::Value {
        let mut spec = serde_json::Map::new();
        spec.insert("audiences".into(), serde_json::json!(self.audiences));
        if let Some(s) = self.expiration_seconds {
            spec.insert("expirationSeconds".into(), s.into());
        }
        if let Some((kind, name, uid)) = &self.bound_object {
            let mut b = serde_json::json!({"apiVersion": "v1", "kind": kind, "name": name});
            if let Some(uid) = uid {
                b["uid"] = uid.as_str().into();
            }
            spec.insert("boundObjectRef".into(), b);
        }
        serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": spec,
        })
    }
}

/// A service-account token issued by the TokenRequest API.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServiceAccountToken {
    /// The bearer token (redacted in `Debug`).
    pub token: SecretString,
    /// When it expires.
    pub expiration: Option<Time>,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    status: Option<TokenAnswerStatus>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswerStatus {
    #[serde(default)]
    token: String,
    #[serde(default)]
    expiration_timestamp: Option<Time>,
}

impl Api<ServiceAccount> {
    /// `POST serviceaccounts/{name}/token`: a short-lived, audience-bound token for the
    /// service account (what the kubelet mounts into pods).
    pub async fn create_token(
        &self,
        name: &str,
        params: &TokenParams,
    ) -> Result<ServiceAccountToken, Error> {
        let answer: TokenAnswer = self
            .create_subresource("token", name, &PostParams::default(), &params.body())
            .await?;
        match answer.status {
            Some(s) if !s.token.is_empty() => Ok(ServiceAccountToken {
                token: SecretString::from(s.token),
                expiration: s.expiration_timestamp,
            }),
            _ => Err(RequestError::TokenMissing {
                namespace: self.namespace().unwrap_or_default().to_owned(),
                name: name.to_owned(),
            }
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_request_body() {
        let p = TokenParams::default()
            .audiences(["vault"])
            .expiration_seconds(600)
            .bound_to("Pod", "p", Some("u1"));
        assert_eq!(
            p.body(),
            serde_json::json!({
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"audiences": ["vault"], "expirationSeconds": 600,
                         "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u1"}}
            })
        );
    }

    #[test]
    fn token_is_redacted() {
        let t = ServiceAccountToken {
            token: SecretString::from("s3cr3t".to_owned()),
            expiration: None,
        };
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }
}
