//! Prints a pod's log like `kubectl logs`, streaming it with `-f`.
//!
//! ```text
//! cargo run --example pod_logs -- POD [-n NS] [-c CONTAINER] [-f] [--tail N] [--since SECS] [--timestamps]
//! ```

mod api_common;

use futures_util::StreamExt;
use k8s_client::api::{Api, LogParams};
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::Pod;
use tokio::io::AsyncWriteExt;

const USAGE: &str =
    "usage: pod_logs POD [-n NS] [-c CONTAINER] [-f] [--tail N] [--since SECS] [--timestamps]";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::try_from(Config::infer()?)?;
    let mut namespace = client.default_namespace().to_owned();
    let mut lp = LogParams::default();
    let mut pod = None;
    let mut it = std::env::args().skip(1);
    let number = |v: Option<String>| v.and_then(|n| n.parse::<i64>().ok()).ok_or(USAGE);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-n" | "--namespace" => namespace = it.next().ok_or(USAGE)?,
            "-c" | "--container" => lp = lp.container(&it.next().ok_or(USAGE)?),
            "-f" | "--follow" => lp = lp.follow(),
            "--tail" => lp = lp.tail_lines(number(it.next())?),
            "--since" => lp = lp.since_seconds(number(it.next())?),
            "--timestamps" => lp = lp.timestamps(),
            name if !name.starts_with('-') && pod.is_none() => pod = Some(name.to_owned()),
            _ => return Err(USAGE.into()),
        }
    }
    let pod = pod.ok_or(USAGE)?;
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    // The log arrives as a byte stream: copied out chunk by chunk, never held whole.
    let mut stream = pods.log_stream(&pod, &lp).await?;
    let mut out = tokio::io::stdout();
    while let Some(chunk) = stream.next().await {
        out.write_all(&chunk?).await?;
        out.flush().await?;
    }
    Ok(())
}
