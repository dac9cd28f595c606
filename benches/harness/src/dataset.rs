//! The benchmark's data set: namespace `bench` with N ConfigMaps of ~1 KiB of
//! data and a few labels, plus one small ConfigMap `probe`. Loading is
//! idempotent (only missing objects are created) and concurrent.

use std::collections::HashSet;
use std::time::Instant;

use futures_util::{StreamExt, stream};
use serde::Deserialize;
use serde_json::json;

use crate::raw::{RawClient, Result};

/// The namespace holding the data set.
pub const NAMESPACE: &str = "bench";
/// The namespace the watch-live scenario writes into.
pub const WATCH_NAMESPACE: &str = "bench-watch";
/// Requests in flight while loading.
const CONCURRENCY: usize = 16;

const TIERS: [&str; 3] = ["web", "db", "cache"];

/// The name of the `i`-th ConfigMap.
pub fn name(i: usize) -> String {
    format!("cm-{i:05}")
}

/// The ConfigMap object for index `i`: ~1 KiB of data and three labels.
pub fn configmap(i: usize) -> serde_json::Value {
    let seed = format!("{i:05}-k8s-client-benchmark-payload-");
    let payload: String = seed.chars().cycle().take(1000).collect();
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name(i),
            "labels": {"app": "bench", "shard": (i % 16).to_string(), "tier": TIERS[i % 3]},
        },
        "data": {"payload": payload, "index": i.to_string()},
    })
}

#[derive(Deserialize)]
struct NameList {
    items: Vec<NameItem>,
    metadata: ListMeta,
}
#[derive(Deserialize)]
struct NameItem {
    metadata: NameMeta,
}
#[derive(Deserialize)]
struct NameMeta {
    name: String,
}
#[derive(Deserialize)]
struct ListMeta {
    #[serde(rename = "continue")]
    cont: Option<String>,
}

/// Creates `namespace` unless it exists.
pub async fn ensure_namespace(raw: &RawClient, namespace: &str) -> Result<()> {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    raw.send_json(reqwest::Method::POST, "/api/v1/namespaces", &ns)
        .await?;
    Ok(())
}

/// Names of the ConfigMaps in `namespace`.
pub async fn existing(raw: &RawClient, namespace: &str) -> Result<HashSet<String>> {
    let mut names = HashSet::new();
    let mut cont = String::new();
    loop {
        let page: NameList = raw
            .get(&format!(
                "/api/v1/namespaces/{namespace}/configmaps?limit=2000&continue={cont}"
            ))
            .await?;
        names.extend(page.items.into_iter().map(|i| i.metadata.name));
        match page.metadata.cont.filter(|c| !c.is_empty()) {
            Some(c) => cont = c,
            None => return Ok(names),
        }
    }
}

/// Makes sure the data set exists with `objects` ConfigMaps; returns how many it created.
pub async fn ensure(raw: &RawClient, objects: usize) -> Result<usize> {
    let started = Instant::now();
    ensure_namespace(raw, NAMESPACE).await?;
    ensure_namespace(raw, WATCH_NAMESPACE).await?;
    let have = existing(raw, NAMESPACE).await?;
    let mut missing: Vec<serde_json::Value> = (0..objects)
        .filter(|i| !have.contains(&name(*i)))
        .map(configmap)
        .collect();
    if !have.contains("probe") {
        missing.push(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "probe", "labels": {"app": "bench-probe"}},
            "data": {"hello": "world"},
        }));
    }
    let created = missing.len();
    let path = format!("/api/v1/namespaces/{NAMESPACE}/configmaps");
    let results: Vec<Result<()>> = stream::iter(missing)
        .map(|cm| {
            let path = path.clone();
            async move {
                raw.send_json(reqwest::Method::POST, &path, &cm)
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    if created > 0 {
        eprintln!(
            "data set: created {created} ConfigMaps in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(created)
}

/// Writes `n` small ConfigMaps labelled `run=<run>` into the watch namespace,
/// each stamped with the writer's clock, `concurrency` requests in flight.
pub async fn write_run(raw: &RawClient, run: &str, n: usize, concurrency: usize) -> Result<()> {
    let path = format!("/api/v1/namespaces/{WATCH_NAMESPACE}/configmaps");
    let results: Vec<Result<()>> = stream::iter(0..n)
        .map(|i| {
            let path = path.clone();
            async move {
                let cm = json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {
                        "name": format!("{run}-{i:05}"),
                        "labels": {"run": run},
                        "annotations": {crate::protocol::SENT_ANNOTATION: crate::protocol::unix_nanos().to_string()},
                    },
                    "data": {"i": i.to_string()},
                });
                raw.send_json(reqwest::Method::POST, &path, &cm).await.map(|_| ())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(())
}

/// Deletes every object of a watch-live run.
pub async fn delete_run(raw: &RawClient, run: &str) -> Result<()> {
    raw.delete(&format!(
        "/api/v1/namespaces/{WATCH_NAMESPACE}/configmaps?labelSelector=run%3D{run}"
    ))
    .await
}
