//! Lists pods page by page (`list_stream`: never more than one page in memory), like
//! `kubectl get pods [-n NS | -A] [-l SELECTOR]`.
//!
//! ```text
//! cargo run --example list_pods -- [-n NS | -A] [-l SELECTOR] [--page-size N]
//! ```

mod api_common;

use futures_util::TryStreamExt;
use k8s_client::api::{Api, ListParams};
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::Pod;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::try_from(Config::infer()?)?;
    let mut namespace = Some(client.default_namespace().to_owned());
    let mut lp = ListParams::default().limit(100);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-A" | "--all-namespaces" => namespace = None,
            "-n" | "--namespace" => namespace = Some(it.next().ok_or("-n NAMESPACE")?),
            "-l" | "--selector" => lp = lp.labels(&it.next().ok_or("-l SELECTOR")?),
            "--page-size" => lp = lp.limit(it.next().and_then(|n| n.parse().ok()).ok_or("--page-size N")?),
            other => return Err(format!("unknown argument {other:?}; usage: list_pods [-n NS | -A] [-l SELECTOR] [--page-size N]").into()),
        }
    }
    let pods: Api<Pod> = match &namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    println!("{:<24} {:<48} {:<10} NODE", "NAMESPACE", "NAME", "PHASE");
    let mut stream = pods.list_stream(&lp);
    let mut count = 0;
    while let Some(pod) = stream.try_next().await? {
        let status = pod.status.unwrap_or_default();
        println!(
            "{:<24} {:<48} {:<10} {}",
            pod.metadata.namespace.unwrap_or_default(),
            pod.metadata.name.unwrap_or_default(),
            status.phase.unwrap_or_default(),
            pod.spec
                .and_then(|s| s.node_name)
                .unwrap_or_else(|| "<none>".into()),
        );
        count += 1;
    }
    eprintln!(
        "{count} pods in {} page(s) at resourceVersion {}",
        stream.pages(),
        stream.resource_version().unwrap_or("?")
    );
    Ok(())
}
