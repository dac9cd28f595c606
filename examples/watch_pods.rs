//! Follows pods like `kubectl get pods -w`, with `watch_all`: list, then watch, resume
//! after server-side timeouts, relist on 410 Gone — nothing is lost in between.
//!
//! ```text
//! cargo run --example watch_pods -- [-n NS | -A] [-l SELECTOR] [--for SECS]
//! ```

mod api_common;

use futures_util::StreamExt;
use k8s_client::api::{Api, WatchAllEvent, WatchParams};
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::Pod;
use std::time::Duration;

fn line(verb: &str, pod: &Pod) {
    println!(
        "{verb:<9} {}/{} {}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or_default(),
    );
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::try_from(Config::infer()?)?;
    let mut namespace = Some(client.default_namespace().to_owned());
    let mut wp = WatchParams::default();
    let mut duration = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-A" | "--all-namespaces" => namespace = None,
            "-n" | "--namespace" => namespace = Some(it.next().ok_or("-n NAMESPACE")?),
            "-l" | "--selector" => wp = wp.labels(&it.next().ok_or("-l SELECTOR")?),
            "--for" => duration = Some(Duration::from_secs(it.next().and_then(|n| n.parse().ok()).ok_or("--for SECS")?)),
            other => return Err(format!("unknown argument {other:?}; usage: watch_pods [-n NS | -A] [-l SELECTOR] [--for SECS]").into()),
        }
    }
    let pods: Api<Pod> = match &namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let mut events = pods.watch_all(&wp);
    let deadline = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = tokio::signal::ctrl_c() => break,
            ev = events.next() => match ev {
                Some(Ok(WatchAllEvent::ListStarted)) => eprintln!("(listing)"),
                Some(Ok(WatchAllEvent::Listed(p))) => line("EXISTS", &p),
                Some(Ok(WatchAllEvent::ListDone { resource_version })) => eprintln!("(watching from resourceVersion {resource_version})"),
                Some(Ok(WatchAllEvent::Added(p))) => line("ADDED", &p),
                Some(Ok(WatchAllEvent::Modified(p))) => line("MODIFIED", &p),
                Some(Ok(WatchAllEvent::Deleted(p))) => line("DELETED", &p),
                Some(Ok(_)) => {}
                // watch_all retries with backoff by itself; report and go on.
                Some(Err(e)) => eprintln!("watch error (retrying): {e}"),
                None => break,
            },
        }
    }
    Ok(())
}
