//! Lists any resource without compile-time types, through `DynamicObject` +
//! `ApiResource`, like `kubectl get RESOURCE`.
//!
//! ```text
//! cargo run --example dynamic -- [RESOURCE] [-n NS | -A]
//! ```
//!
//! RESOURCE is fully qualified as `PLURAL.VERSION[.GROUP]` (`deployments.v1.apps`,
//! `configmaps.v1`, `crontabs.v1.stable.example.com`); default `namespaces.v1`.
//! Short names and kinds (`deploy`, `po`) need discovery's mapping, which this example
//! does not use yet: it takes group, version and plural explicitly.

mod api_common;

use futures_util::TryStreamExt;
use k8s_client::api::{Api, ApiResource, DynamicObject, ListParams};
use k8s_client::{Client, Config};

const USAGE: &str = "usage: dynamic [PLURAL.VERSION[.GROUP]] [-n NS | -A]";

/// `deployments.v1.apps` → (group "apps", version "v1", plural "deployments").
fn parse_resource(s: &str) -> Option<(String, String, String)> {
    let (plural, rest) = s.split_once('.')?;
    let (version, group) = rest.split_once('.').unwrap_or((rest, ""));
    (!plural.is_empty() && !version.is_empty())
        .then(|| (group.to_owned(), version.to_owned(), plural.to_owned()))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::try_from(Config::infer()?)?;
    let mut resource = "namespaces.v1".to_owned();
    let mut namespace = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-n" | "--namespace" => namespace = Some(it.next().ok_or(USAGE)?),
            "-A" | "--all-namespaces" => namespace = None,
            r if !r.starts_with('-') => resource = r.to_owned(),
            _ => return Err(USAGE.into()),
        }
    }
    let (group, version, plural) = parse_resource(&resource).ok_or(USAGE)?;
    // Without a namespace the URL has none: that lists cluster-scoped resources, and
    // namespaced ones across all namespaces. The kind is not needed to list.
    let ar = ApiResource::new(&group, &version, "", &plural, namespace.is_some());
    let api: Api<DynamicObject> = match &namespace {
        Some(ns) => Api::namespaced_with(client, ns, &ar),
        None => Api::all_with(client, &ar),
    };
    println!("{:<24} {:<48} CREATED", "NAMESPACE", "NAME");
    let mut stream = api.list_stream(&ListParams::default().limit(250));
    let mut count = 0;
    while let Some(obj) = stream.try_next().await? {
        println!(
            "{:<24} {:<48} {}",
            obj.metadata.namespace.as_deref().unwrap_or("-"),
            obj.metadata.name.as_deref().unwrap_or_default(),
            obj.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default(),
        );
        count += 1;
    }
    eprintln!("{count} {plural} ({})", ar.api_version);
    Ok(())
}
