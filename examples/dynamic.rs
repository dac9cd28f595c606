//! Lists any resource by its kubectl-style name, without compile-time types: discovery
//! resolves the name (`po`, `deploy`, `deployments.v1.apps`, `crontabs.stable.example.com`,
//! a kind) to group, version, plural and scope; `DynamicObject` + `ApiResource` do the rest.
//! Like `kubectl get RESOURCE [-n NS | -A]`.
//!
//! ```text
//! cargo run --example dynamic -- [RESOURCE] [-n NS | -A]
//! ```
//!
//! Default: `namespaces`. A namespaced resource is listed in the context's namespace
//! unless `-n` or `-A` says otherwise.

mod api_common;

use futures_util::TryStreamExt;
use k8s_client::api::{Api, ApiResource, DynamicObject, ListParams};
use k8s_client::{Client, Config};

const USAGE: &str = "usage: dynamic [RESOURCE] [-n NS | -A]";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::try_from(Config::infer()?)?;
    let mut name = "namespaces".to_owned();
    let mut namespace = Some(client.default_namespace().to_owned());
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-n" | "--namespace" => namespace = Some(it.next().ok_or(USAGE)?),
            "-A" | "--all-namespaces" => namespace = None,
            r if !r.starts_with('-') => r.clone_into(&mut name),
            _ => return Err(USAGE.into()),
        }
    }
    let mapping = client.discovery().resolve(&name).await?;
    let ar = ApiResource::from(&mapping);
    eprintln!(
        "{name} → {} {} ({}, {})",
        ar.api_version,
        ar.plural,
        ar.kind,
        if ar.namespaced {
            "namespaced"
        } else {
            "cluster-scoped"
        }
    );
    let api: Api<DynamicObject> = match &namespace {
        Some(ns) if ar.namespaced => Api::namespaced_with(client, ns, &ar),
        _ => Api::all_with(client, &ar),
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
    eprintln!("{count} {} in {} page(s)", ar.plural, stream.pages());
    Ok(())
}
