//! Reaches a Service (or a Pod, or a Node's kubelet) through the API server proxy — "a
//! bastion built into the apiserver" — with the client's credentials: no `kubectl proxy`,
//! no port-forward. The answer is streamed to stdout; its status goes to stderr.
//!
//! ```text
//! cargo run --example apiserver_proxy -- service NS NAME[:PORT] [PATH] [--scheme https]
//! cargo run --example apiserver_proxy -- pod     NS NAME[:PORT] [PATH]
//! cargo run --example apiserver_proxy -- node    NAME[:PORT]    [PATH]
//! ```

mod api_common;

use futures_util::StreamExt;
use k8s_client::api::{ApiserverProxy, ProxyTarget};
use k8s_client::{Client, Config};
use tokio::io::AsyncWriteExt;

const USAGE: &str = "usage: apiserver_proxy (service|pod) NS NAME[:PORT] [PATH] [--scheme S] | node NAME[:PORT] [PATH] [--scheme S]";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut scheme = None;
    let mut positional = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--scheme" => scheme = Some(it.next().ok_or(USAGE)?),
            _ => positional.push(a),
        }
    }
    let split = |s: &str| match s.split_once(':') {
        Some((name, port)) => (name.to_owned(), Some(port.to_owned())),
        None => (s.to_owned(), None),
    };
    let (mut target, path) = match positional.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [kind @ ("service" | "pod"), ns, name, ref rest @ ..] if rest.len() <= 1 => {
            let (name, port) = split(name);
            let t = if kind == "service" {
                ProxyTarget::service(ns, &name)
            } else {
                ProxyTarget::pod(ns, &name)
            };
            (
                port.map_or(t.clone(), |p| t.port(p)),
                rest.first().copied().unwrap_or("/"),
            )
        }
        ["node", name, ref rest @ ..] if rest.len() <= 1 => {
            let (name, port) = split(name);
            let t = ProxyTarget::node(&name);
            (
                port.map_or(t.clone(), |p| t.port(p)),
                rest.first().copied().unwrap_or("/"),
            )
        }
        _ => return Err(USAGE.into()),
    };
    if let Some(s) = scheme {
        target = target.scheme(&s);
    }
    let client = Client::try_from(Config::infer()?)?;
    eprintln!("GET {}", target.path(path)?);
    let proxy = ApiserverProxy::new(client, target);
    let response = proxy.get(path).await?;
    eprintln!("{}", response.status());
    let mut body = response.into_body().into_stream();
    let mut out = tokio::io::stdout();
    while let Some(chunk) = body.next().await {
        out.write_all(&chunk?).await?;
    }
    out.flush().await?;
    Ok(())
}
