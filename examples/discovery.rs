//! What does the cluster serve, and where do I reach it from here?
//!
//! ```text
//! cargo run --example discovery             # /api as the server sends it (pretty JSON)
//! cargo run --example discovery -- --all    # … then every group, preferred version and resource
//! cargo run --example discovery -- -o json  # everything as one JSON document
//! ```
//!
//! Uses the kubeconfig the way kubectl does (`KUBECONFIG`, `~/.kube/config`, in-cluster).

use k8s_client::discovery::{
    APIVersions, Discovery, DiscoverySnapshot, ServerAddressByClientCIDR, ServerVersion,
};
use k8s_client::error::Report;
use k8s_client::{Client, Config};
use std::process::ExitCode;

/// The `-o json` document (a struct, so keys keep this order).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Everything<'a> {
    server_version: &'a ServerVersion,
    api_versions: &'a APIVersions,
    local_address: std::net::IpAddr,
    server_address_from_here: Option<&'a ServerAddressByClientCIDR>,
    discovery: &'a DiscoverySnapshot,
}

#[derive(PartialEq)]
enum Output {
    ApiVersions,
    Table,
    Json,
}

fn parse_args() -> Result<Output, String> {
    let mut output = Output::ApiVersions;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--all" => output = Output::Table,
            "-o" | "--output" => match args.next().as_deref() {
                Some("json") => output = Output::Json,
                other => return Err(format!("unsupported output format {other:?} (only json)")),
            },
            "-o=json" | "--output=json" | "-ojson" => output = Output::Json,
            "-h" | "--help" => {
                return Err("usage: discovery [--all] [-o json]".to_owned());
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: discovery [--all] [-o json]"
                ));
            }
        }
    }
    Ok(output)
}

#[tokio::main]
async fn main() -> ExitCode {
    let output = match parse_args() {
        Ok(output) => output,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(output).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {:#}", e.report());
            ExitCode::FAILURE
        }
    }
}

async fn run(output: Output) -> k8s_client::Result<()> {
    let client = Client::try_from(Config::infer()?)?;
    let discovery = Discovery::new(client);
    let api_versions = discovery.api_versions().await?;
    if output == Output::Json {
        let (version, snapshot, route) = futures_join(&discovery).await?;
        let document = Everything {
            server_version: &version,
            api_versions: &api_versions,
            local_address: route.local,
            server_address_from_here: api_versions
                .server_address_by_client_cidrs
                .select(route.local),
            discovery: &snapshot,
        };
        println!("{}", to_pretty(&document));
        return Ok(());
    }
    println!("{}", to_pretty(&api_versions));
    if output == Output::Table {
        let route = discovery.local_route().await?;
        match api_versions
            .server_address_by_client_cidrs
            .select(route.local)
        {
            Some(entry) => println!(
                "\nfrom here (local address {}): use {} (clientCIDR {})",
                route.local, entry.server_address, entry.client_cidr
            ),
            None => println!(
                "\nfrom here (local address {}): no serverAddressByClientCIDRs entry matches",
                route.local
            ),
        }
        let snapshot = discovery.groups_and_resources().await?;
        println!();
        print_table(&snapshot);
    }
    Ok(())
}

async fn futures_join(
    discovery: &Discovery,
) -> k8s_client::Result<(
    ServerVersion,
    std::sync::Arc<DiscoverySnapshot>,
    k8s_client::discovery::LocalRoute,
)> {
    let (version, snapshot, route) = tokio::join!(
        discovery.server_version(),
        discovery.groups_and_resources(),
        discovery.local_route()
    );
    Ok((version?, snapshot?, route?))
}

fn to_pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("discovery documents serialize")
}

/// One row per resource at its group's preferred version, like `kubectl api-resources`
/// with the group's versions added.
fn print_table(snapshot: &DiscoverySnapshot) {
    let mut rows = vec![[
        "GROUP".to_owned(),
        "PREFERRED".to_owned(),
        "VERSIONS".to_owned(),
        "RESOURCE".to_owned(),
        "SHORTNAMES".to_owned(),
        "NAMESPACED".to_owned(),
        "KIND".to_owned(),
    ]];
    for group in snapshot.groups() {
        let versions: Vec<&str> = group.versions.iter().map(|v| v.version.as_str()).collect();
        let name = if group.name.is_empty() {
            "(core)"
        } else {
            group.name.as_str()
        };
        let Some(list) = snapshot.resources_for(&group.preferred_version.group_version) else {
            rows.push([
                name.to_owned(),
                group.preferred_version.version.clone(),
                versions.join(","),
                "-".into(),
                String::new(),
                String::new(),
                String::new(),
            ]);
            continue;
        };
        for resource in list.resources.iter().filter(|r| !r.is_subresource()) {
            rows.push([
                name.to_owned(),
                group.preferred_version.version.clone(),
                versions.join(","),
                resource.name.clone(),
                resource.short_names.join(","),
                resource.namespaced.to_string(),
                resource.kind.clone(),
            ]);
        }
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("   ").trim_end());
    }
    for failure in snapshot.failures() {
        println!("unavailable: {}", Report::new(failure));
    }
}
