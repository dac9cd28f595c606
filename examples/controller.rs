//! A controller that mirrors every ConfigMap labelled `mirror=true` into a Secret of the
//! same name, and deletes the Secret again — through a finalizer — when the ConfigMap is
//! deleted or loses the label.
//!
//! ```text
//! cargo run --example controller -- [NAMESPACE]     # all namespaces without one
//! kubectl create configmap demo --from-literal=greeting=hello
//! kubectl label configmap demo mirror=true
//! kubectl get secret demo -o jsonpath='{.data.greeting}' | base64 -d
//! kubectl delete configmap demo                     # the Secret goes too
//! ```
//!
//! The reconcile logic is public so the integration tests run exactly this code.

mod api_common;

use base64::Engine;
use k8s_client::api::{Api, DeleteParams, Patch, PatchParams};
use k8s_client::runtime::{
    Action, Controller, FinalizerError, FinalizerEvent, InformerFactory, ObjectKey,
    ReflectorConfig, Request, finalizer,
};
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use std::sync::Arc;

/// The finalizer this controller puts on mirrored ConfigMaps.
pub const FINALIZER: &str = "mirror.k8s-client.dev/secret";
/// The label that asks for a mirror.
pub const LABEL: (&str, &str) = ("mirror", "true");
/// The label on each Secret naming its ConfigMap.
pub const MIRROR_OF: &str = "mirror-of";
/// The field manager of the Secrets (server-side apply).
pub const MANAGER: &str = "configmap-mirror";

/// A failure writing or deleting a Secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Applying the Secret failed.
    #[error("applying Secret {0}")]
    Apply(ObjectKey, #[source] k8s_client::Error),
    /// Deleting the Secret failed.
    #[error("deleting Secret {0}")]
    Delete(ObjectKey, #[source] k8s_client::Error),
}

/// A failed reconcile.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// Under the finalizer.
    #[error(transparent)]
    Finalizer(#[from] FinalizerError<SecretError>),
    /// Removing the mirror of a ConfigMap that lost its label.
    #[error("removing the mirror of {0}")]
    Unmirror(
        ObjectKey,
        #[source] Box<dyn std::error::Error + Send + Sync>,
    ),
}

fn wants_mirror(cm: &ConfigMap) -> bool {
    cm.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL.0))
        .is_some_and(|v| v == LABEL.1)
}

/// The Secret mirroring `cm`, for server-side apply: every key of `data` and `binaryData`.
fn mirror_of(cm: &ConfigMap) -> serde_json::Value {
    let name = cm.metadata.name.clone().unwrap_or_default();
    let mut data = serde_json::Map::new();
    for (k, v) in cm.data.iter().flatten() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(v);
        data.insert(k.clone(), encoded.into());
    }
    for (k, v) in cm.binary_data.iter().flatten() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(&v.0);
        data.insert(k.clone(), encoded.into());
    }
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": {MIRROR_OF: name}},
        "type": "Opaque",
        "data": data,
    })
}

async fn delete_secret(secrets: &Api<Secret>, key: &ObjectKey) -> Result<(), SecretError> {
    match secrets.delete(&key.name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(SecretError::Delete(key.clone(), e)),
    }
}

/// One reconcile of the ConfigMap under `req.key`.
pub async fn reconcile(client: Client, req: Request<ConfigMap>) -> Result<Action, MirrorError> {
    // Gone from the cache: deleted for good (the finalizer already ran), nothing to do.
    let Some(cm) = req.object else {
        return Ok(Action::done());
    };
    let ns = req.key.namespace.clone().unwrap_or_default();
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client, &ns);
    let key = req.key.clone();
    let has_finalizer = cm
        .metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == FINALIZER);

    if !wants_mirror(&cm) {
        // Not (or no longer) mirrored: remove a mirror made earlier, then our finalizer.
        if has_finalizer {
            let unmirror =
                |e: Box<dyn std::error::Error + Send + Sync>| MirrorError::Unmirror(key.clone(), e);
            delete_secret(&secrets, &key)
                .await
                .map_err(|e| unmirror(e.into()))?;
            let current = cm.metadata.finalizers.clone().unwrap_or_default();
            let kept: Vec<_> = current.iter().filter(|f| *f != FINALIZER).collect();
            let patch = serde_json::json!([
                {"op": "test", "path": "/metadata/finalizers", "value": current},
                {"op": "replace", "path": "/metadata/finalizers", "value": kept},
            ]);
            configmaps
                .patch(&key.name, &PatchParams::default(), &Patch::Json(patch))
                .await
                .map_err(|e| unmirror(e.into()))?;
        }
        return Ok(Action::done());
    }

    let secrets = &secrets;
    let result = finalizer(&configmaps, FINALIZER, cm, |event| async move {
        match event {
            FinalizerEvent::Apply(cm) => {
                let key = ObjectKey::of(&*cm);
                secrets
                    .patch(
                        &key.name,
                        &PatchParams::apply(MANAGER).force(),
                        &Patch::Apply(mirror_of(&cm)),
                    )
                    .await
                    .map_err(|e| SecretError::Apply(key, e))?;
                Ok(Action::done())
            }
            FinalizerEvent::Cleanup(cm) => {
                delete_secret(secrets, &ObjectKey::of(&*cm)).await?;
                Ok(Action::done())
            }
        }
    })
    .await?;
    Ok(result)
}

/// The controller: ConfigMaps (all, or in `namespace`) are the primary objects; a change
/// to a mirrored Secret (edited or deleted by hand) triggers its ConfigMap again.
pub fn controller(client: Client, namespace: Option<&str>) -> Controller<ConfigMap> {
    let factory = InformerFactory::new();
    let (configmaps, secrets): (Api<ConfigMap>, Api<Secret>) = match namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client, ns),
        ),
        None => (Api::all(client.clone()), Api::all(client)),
    };
    // Only our Secrets, and without their data in memory beyond what the map needs.
    let secret_informer = factory.informer(secrets, ReflectorConfig::default().labels(MIRROR_OF));
    Controller::with_factory(&factory, configmaps, ReflectorConfig::default())
        .workers(2)
        .watches(secret_informer, |s: &Secret| {
            let owner = s.metadata.labels.as_ref().and_then(|l| l.get(MIRROR_OF));
            owner
                .map(|name| ObjectKey {
                    namespace: s.metadata.namespace.clone(),
                    name: name.clone(),
                })
                .into_iter()
                .collect()
        })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let client = Client::try_from(Config::infer()?)?;
    let namespace = std::env::args().nth(1);
    let reconciler = Arc::new(client.clone());
    controller(client, namespace.as_deref())
        .run(
            move |req| {
                let client = (*reconciler).clone();
                async move {
                    let key = req.key.clone();
                    let result = reconcile(client, req).await;
                    if result.is_ok() {
                        tracing::info!(%key, "reconciled");
                    }
                    result
                }
            },
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        )
        .await;
    Ok(())
}
