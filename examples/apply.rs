//! Server-side apply of a ConfigMap from YAML, like `kubectl apply --server-side`.
//!
//! ```text
//! cargo run --example apply -- [FILE.yaml] [-n NS] [--field-manager NAME] [--force] [--dry-run]
//! ```
//!
//! Without a file, applies a built-in example ConfigMap `k8s-client-apply-example`.

mod api_common;

use k8s_client::api::{Api, Patch, PatchParams};
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::ConfigMap;

const EXAMPLE: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: k8s-client-apply-example
  labels:
    app.kubernetes.io/managed-by: k8s-client-example
data:
  greeting: hello
  mode: server-side-apply
"#;

const USAGE: &str = "usage: apply [FILE.yaml] [-n NS] [--field-manager NAME] [--force] [--dry-run]";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::try_from(Config::infer()?)?;
    let mut file = None;
    let mut namespace = None;
    let mut pp = PatchParams::apply("k8s-client-example");
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-n" | "--namespace" => namespace = Some(it.next().ok_or(USAGE)?),
            "--field-manager" => pp.field_manager = Some(it.next().ok_or(USAGE)?),
            "--force" => pp = pp.force(),
            "--dry-run" => pp = pp.dry_run(),
            path if !path.starts_with('-') && file.is_none() => file = Some(path.to_owned()),
            _ => return Err(USAGE.into()),
        }
    }
    let yaml = match &file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?,
        None => EXAMPLE.to_owned(),
    };
    let cm: ConfigMap = serde_yaml_ng::from_str(&yaml)?;
    let name = cm
        .metadata
        .name
        .clone()
        .ok_or("the ConfigMap has no metadata.name")?;
    let ns = namespace
        .or_else(|| cm.metadata.namespace.clone())
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    match api.patch(&name, &pp, &Patch::Apply(&cm)).await {
        Ok(applied) => {
            println!("configmap/{name} serverside-applied in namespace {ns}");
            let managers: Vec<_> = applied
                .metadata
                .managed_fields
                .iter()
                .flatten()
                .filter_map(|m| {
                    Some(format!(
                        "{} ({})",
                        m.manager.as_deref()?,
                        m.operation.as_deref()?
                    ))
                })
                .collect();
            println!("field managers: {}", managers.join(", "));
            print!("{}", serde_yaml_ng::to_string(&applied.data)?);
            Ok(())
        }
        Err(e) if e.is_conflict() => {
            eprintln!(
                "conflict: another field manager owns some of these fields; rerun with --force to take them over"
            );
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}
