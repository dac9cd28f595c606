//! Runs a command in a pod like `kubectl exec`, wiring the local stdin, stdout and
//! stderr to it and exiting with its exit code.
//!
//! ```text
//! cargo run --example exec -- POD [-n NS] [-c CONTAINER] [-i] [-t] -- COMMAND [ARG…]
//! ```
//!
//! With `-t` the terminal size is taken from `$COLUMNS` and `$LINES` when set (the
//! local terminal is not switched to raw mode).

mod api_common;
mod streams_common;

use k8s_client::api::{Api, AttachParams};
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::Pod;

const USAGE: &str = "usage: exec POD [-n NS] [-c CONTAINER] [-i] [-t] -- COMMAND [ARG…]";

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
            "--" => break,
            name if !name.starts_with('-') && pod.is_none() => pod = Some(name.to_owned()),
            _ => return Err(USAGE.into()),
        }
    }
    let command: Vec<String> = it.collect();
    if command.is_empty() {
        return Err(USAGE.into());
    }
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let process = pods.exec(&pod.ok_or(USAGE)?, command, &ap).await?;
    streams_common::relay(process, ap.tty).await
}
