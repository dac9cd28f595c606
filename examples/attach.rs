//! Attaches to the main process of a container like `kubectl attach`: its output is
//! printed, and with `-i` the local stdin is sent to it.
//!
//! ```text
//! cargo run --example attach -- POD [-n NS] [-c CONTAINER] [-i] [-t]
//! ```

mod api_common;
mod streams_common;

use k8s_client::api::{Api, AttachParams};
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::Pod;

const USAGE: &str = "usage: attach POD [-n NS] [-c CONTAINER] [-i] [-t]";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => api_common::exit(Err(e)),
    }
}

async fn run() -> Result<u8, Box<dyn std::error::Error>> {
    let client = Client::try_from(Config::infer()?)?;
    let mut namespace = client.default_namespace().to_owned();
    let mut ap = AttachParams::default();
    let mut pod = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-n" | "--namespace" => namespace = it.next().ok_or(USAGE)?,
            "-c" | "--container" => ap = ap.container(it.next().ok_or(USAGE)?),
            "-i" | "--stdin" => ap = ap.stdin(true),
            "-t" | "--tty" => ap = ap.tty(true),
            name if !name.starts_with('-') && pod.is_none() => pod = Some(name.to_owned()),
            _ => return Err(USAGE.into()),
        }
    }
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let process = pods.attach(&pod.ok_or(USAGE)?, &ap).await?;
    streams_common::relay(process, ap.tty).await
}
