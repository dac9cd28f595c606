//! Prints logs like `kubectl logs`: one pod or a label selector, one container or all
//! of them, following (and, with a selector, picking up pods that start later).
//!
//! ```text
//! cargo run --example logs -- (POD | -l SELECTOR) [-n NS] [-c CONTAINER] [--all-containers]
//!     [-f] [--prefix] [--tail N] [--since-time RFC3339] [--timestamps] [--previous]
//!     [--max-log-requests N]
//! ```

mod api_common;

use futures_util::TryStreamExt;
use k8s_client::api::{Api, LogParams, LogSelection};
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::Pod;
use tokio::io::AsyncWriteExt;

const USAGE: &str = "usage: logs (POD | -l SELECTOR) [-n NS] [-c CONTAINER] [--all-containers] [-f] [--prefix] [--tail N] [--since-time RFC3339] [--timestamps] [--previous] [--max-log-requests N]";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::try_from(Config::infer()?)?;
    let mut namespace = client.default_namespace().to_owned();
    let mut lp = LogParams::default();
    let mut sel = LogSelection::default();
    let (mut pod, mut selector, mut prefix) = (None, None, false);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (a.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next()).ok_or(USAGE);
        match flag.as_str() {
            "-n" | "--namespace" => namespace = value()?,
            "-l" | "--selector" => selector = Some(value()?),
            "-c" | "--container" => lp = lp.container(&value()?),
            "--all-containers" => sel = sel.all_containers(),
            "-f" | "--follow" => lp = lp.follow(),
            "--prefix" => prefix = true,
            "--tail" => lp = lp.tail_lines(value()?.parse()?),
            "--since-time" => lp = lp.since_time(value()?.parse()?),
            "--timestamps" => lp = lp.timestamps(),
            "-p" | "--previous" => lp = lp.previous(),
            "--max-log-requests" => sel = sel.max_log_requests(value()?.parse()?),
            name if !name.starts_with('-') && pod.is_none() => {
                pod = Some(name.trim_start_matches("pod/").to_owned())
            }
            _ => return Err(USAGE.into()),
        }
    }
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let mut lines = match (pod, selector) {
        (Some(pod), None) => pods.log_lines(&pod, &lp, &sel).await?,
        (None, Some(selector)) => pods.log_lines_selector(&selector, &lp, &sel).await?,
        _ => return Err(USAGE.into()),
    };
    let mut out = tokio::io::stdout();
    while let Some(line) = lines.try_next().await? {
        if prefix {
            out.write_all(line.prefix().as_bytes()).await?;
        }
        out.write_all(&line.line).await?;
        out.flush().await?;
    }
    Ok(())
}
