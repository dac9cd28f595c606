//! Copies files and directories into and out of a container like `kubectl cp`.
//!
//! ```text
//! cargo run --example cp -- SRC DEST [-n NS] [-c CONTAINER] [--byte-count]
//! #   SRC / DEST: a local path or [NAMESPACE/]POD:PATH (exactly one of each)
//! ```

mod api_common;

use k8s_client::api::{Api, CopyLocation, CopyParams, UploadEnd};
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::Pod;

const USAGE: &str = "usage: cp SRC DEST [-n NS] [-c CONTAINER] [--byte-count]";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::try_from(Config::infer()?)?;
    let mut namespace = client.default_namespace().to_owned();
    let mut cp = CopyParams::default();
    let mut specs = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-n" | "--namespace" => namespace = it.next().ok_or(USAGE)?,
            "-c" | "--container" => cp = cp.container(it.next().ok_or(USAGE)?),
            "--byte-count" => cp = cp.upload_end(UploadEnd::ByteCount),
            s if !s.starts_with('-') => specs.push(CopyLocation::parse(s)?),
            _ => return Err(USAGE.into()),
        }
    }
    let [src, dest]: [CopyLocation; 2] = specs.try_into().map_err(|_| USAGE)?;
    let pods = |ns: Option<String>| -> Api<Pod> {
        Api::namespaced(client.clone(), ns.as_deref().unwrap_or(&namespace))
    };
    let report = match (src, dest) {
        (
            CopyLocation::Local(local),
            CopyLocation::Pod {
                namespace,
                pod,
                path,
            },
        ) => {
            pods(namespace)
                .copy_to_pod(&pod, &local, &path, &cp)
                .await?
        }
        (
            CopyLocation::Pod {
                namespace,
                pod,
                path,
            },
            CopyLocation::Local(local),
        ) => {
            pods(namespace)
                .copy_from_pod(&pod, &path, &local, &cp)
                .await?
        }
        (CopyLocation::Local(_), CopyLocation::Local(_)) => {
            return Err("one of src or dest must be a remote file specification".into());
        }
        _ => return Err("one of src or dest must be a local file specification".into()),
    };
    for s in &report.skipped {
        eprintln!("warning: skipping {:?} ({:?})", s.name, s.reason);
    }
    Ok(())
}
