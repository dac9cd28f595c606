//! Helpers for reconcilers: a finalizer (add it, run cleanup on deletion, remove it) and
//! status updates that retry on conflict.

use super::controller::Action;
use super::object::ObjectKey;
use crate::api::{Api, Patch, PatchParams, PostParams, Resource};
use crate::error::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What the finalizer helper asks your code to do.
#[derive(Debug)]
pub enum FinalizerEvent<K> {
    /// The object is live (and carries the finalizer): make the world match it.
    Apply(Arc<K>),
    /// The object is being deleted: clean up what it owns outside Kubernetes' garbage
    /// collection. The finalizer is removed once this succeeds.
    Cleanup(Arc<K>),
}

/// A failure of [`finalizer`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FinalizerError<E: std::error::Error + 'static> {
    /// Your apply step failed.
    #[error("applying {key} failed")]
    Apply {
        /// The object.
        key: ObjectKey,
        /// Your error.
        #[source]
        source: E,
    },
    /// Your cleanup step failed (the finalizer stays; the next reconcile tries again).
    #[error("cleaning up {key} failed")]
    Cleanup {
        /// The object.
        key: ObjectKey,
        /// Your error.
        #[source]
        source: E,
    },
    /// Adding the finalizer failed.
    #[error("adding finalizer {finalizer} to {key} failed")]
    Add {
        /// The finalizer.
        finalizer: String,
        /// The object.
        key: ObjectKey,
        /// The API error.
        #[source]
        source: Error,
    },
    /// Removing the finalizer failed.
    #[error("removing finalizer {finalizer} from {key} failed")]
    Remove {
        /// The finalizer.
        finalizer: String,
        /// The object.
        key: ObjectKey,
        /// The API error.
        #[source]
        source: Error,
    },
}

/// Runs `f` under finalizer `name` (e.g. `example.com/cleanup`):
///
/// * live object without the finalizer: adds it (a JSON patch guarded by a `test` of the
///   list it saw, so a concurrent change fails instead of being overwritten), then
///   `Apply` on the patched object;
/// * live object with it: `Apply`;
/// * deleted object (`deletionTimestamp`) with it: `Cleanup`, then removes the finalizer
///   (guarded the same way) so deletion completes;
/// * deleted object without it: nothing to do.
///
/// Returns `f`'s action (or [`Action::done`]).
pub async fn finalizer<K, F, Fut, E>(
    api: &Api<K>,
    name: &str,
    obj: Arc<K>,
    f: F,
) -> Result<Action, FinalizerError<E>>
where
    K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
    F: FnOnce(FinalizerEvent<K>) -> Fut,
    Fut: Future<Output = Result<Action, E>>,
    E: std::error::Error + 'static,
{
    let meta = obj.meta();
    let key = ObjectKey {
        namespace: meta.namespace.clone(),
        name: meta.name.clone().unwrap_or_default(),
    };
    let current: Vec<String> = meta.finalizers.clone().unwrap_or_default();
    let has = current.iter().any(|f| f == name);
    let deleting = meta.deletion_timestamp.is_some();
    match (deleting, has) {
        (true, false) => Ok(Action::done()),
        (true, true) => {
            let action = f(FinalizerEvent::Cleanup(obj.clone()))
                .await
                .map_err(|source| FinalizerError::Cleanup {
                    key: key.clone(),
                    source,
                })?;
            let kept: Vec<&String> = current.iter().filter(|f| *f != name).collect();
            let patch = serde_json::json!([
                {"op": "test", "path": "/metadata/finalizers", "value": current},
                {"op": "replace", "path": "/metadata/finalizers", "value": kept},
            ]);
            match api
                .patch(&key.name, &PatchParams::default(), &Patch::Json(patch))
                .await
            {
                Ok(_) => Ok(action),
                // Gone already: nothing left to finalize.
                Err(e) if e.is_not_found() => Ok(action),
                Err(source) => Err(FinalizerError::Remove {
                    finalizer: name.to_owned(),
                    key,
                    source,
                }),
            }
        }
        (false, true) => f(FinalizerEvent::Apply(obj))
            .await
            .map_err(|source| FinalizerError::Apply { key, source }),
        (false, false) => {
            let mut wanted = current.clone();
            wanted.push(name.to_owned());
            let guard = if meta.finalizers.is_some() {
                serde_json::json!({"op": "test", "path": "/metadata/finalizers", "value": current})
            } else {
                serde_json::json!({"op": "test", "path": "/metadata/resourceVersion",
                    "value": meta.resource_version})
            };
            let patch = serde_json::json!([
                guard,
                {"op": "add", "path": "/metadata/finalizers", "value": wanted},
            ]);
            let patched = api
                .patch(&key.name, &PatchParams::default(), &Patch::Json(patch))
                .await
                .map_err(|source| FinalizerError::Add {
                    finalizer: name.to_owned(),
                    key: key.clone(),
                    source,
                })?;
            f(FinalizerEvent::Apply(Arc::new(patched)))
                .await
                .map_err(|source| FinalizerError::Apply { key, source })
        }
    }
}

/// client-go's `retry.DefaultRetry`: 5 attempts, 10 ms apart (with up to 10 % jitter).
const CONFLICT_ATTEMPTS: u32 = 5;
const CONFLICT_DELAY: Duration = Duration::from_millis(10);

/// Runs `op` again while it fails with 409 Conflict, up to 5 attempts 10 ms apart
/// (client-go's `retry.RetryOnConflict` with `DefaultRetry`). Any other error, or the
/// fifth conflict, is returned.
pub async fn retry_on_conflict<T, F, Fut>(mut op: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if e.is_conflict() && attempt < CONFLICT_ATTEMPTS => {
                attempt += 1;
                let jitter = 1.0 + 0.1 * super::backoff::random_unit();
                tokio::time::sleep(CONFLICT_DELAY.mul_f64(jitter)).await;
            }
            other => return other,
        }
    }
}

/// Updates the `status` subresource of object `name`: gets the latest version, lets
/// `change` edit it, and `PUT`s it to `…/status`; on 409 Conflict (someone changed the
/// object in between) gets and reapplies again, as [`retry_on_conflict`] does.
pub async fn update_status<K>(
    api: &Api<K>,
    name: &str,
    mut change: impl FnMut(&mut K),
) -> Result<K, Error>
where
    K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let mut attempt = 1;
    loop {
        let mut obj = api.get(name).await?;
        change(&mut obj);
        match api
            .replace_subresource("status", name, &PostParams::default(), &obj)
            .await
        {
            Err(e) if e.is_conflict() && attempt < CONFLICT_ATTEMPTS => {
                attempt += 1;
                let jitter = 1.0 + 0.1 * super::backoff::random_unit();
                tokio::time::sleep(CONFLICT_DELAY.mul_f64(jitter)).await;
            }
            other => return other,
        }
    }
}
