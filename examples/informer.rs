//! A live, indexed cache of pods, printed as it changes.
//!
//! ```text
//! cargo run --example informer -- [NAMESPACE]       # all namespaces without one
//! ```
//!
//! One list + watch fills the cache (a shared informer); a handler prints every change;
//! every 10 seconds the cache is summarised through its indexes (pods per namespace and
//! per node) without a single request to the API server.

mod api_common;

use k8s_client::api::Api;
use k8s_client::runtime::{
    HandlerFns, ObjectKey, ReflectorConfig, SharedInformer, Store, indexers,
};
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::Pod;
use std::sync::Arc;
use std::time::Duration;

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Unknown")
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::try_from(Config::infer()?)?;
    let pods: Api<Pod> = match std::env::args().nth(1) {
        Some(ns) => Api::namespaced(client, &ns),
        None => Api::all(client),
    };

    // The cache: indexed by namespace and by node; managedFields dropped before storing.
    let store = Store::new()
        .with_indexer(indexers::NAMESPACE, indexers::namespace())
        .with_indexer(
            "node",
            Arc::new(|p: &Pod| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.node_name.clone())
                    .into_iter()
                    .collect()
            }),
        )
        .with_transform(|p: &mut Pod| p.metadata.managed_fields = None);
    let informer = SharedInformer::with_store(pods, store, ReflectorConfig::default());
    informer.add_handler(
        HandlerFns::new()
            .on_add(|p: &Arc<Pod>| println!("+ {} ({})", ObjectKey::of(&**p), phase(p)))
            .on_update(|old: &Arc<Pod>, new: &Arc<Pod>| {
                if phase(old) != phase(new) {
                    println!(
                        "~ {} {} -> {}",
                        ObjectKey::of(&**new),
                        phase(old),
                        phase(new)
                    );
                }
            })
            .on_delete(|d| {
                let how = if d.is_tombstone() {
                    " (while disconnected)"
                } else {
                    ""
                };
                println!("- {}{how}", ObjectKey::of(&**d.object()));
            }),
    );
    informer.start();
    informer.wait_until_synced().await;
    let reader = informer.reader();
    println!("synced: {} pods", reader.len());

    let mut every = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = every.tick() => {
                for ns in reader.index_values(indexers::NAMESPACE)? {
                    println!("  namespace {ns}: {} pods", reader.by_index(indexers::NAMESPACE, &ns)?.len());
                }
                for node in reader.index_values("node")? {
                    println!("  node {node}: {} pods", reader.by_index("node", &node)?.len());
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    informer.stop();
    Ok(())
}
