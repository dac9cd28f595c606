//! Forwards local ports to a pod like `kubectl port-forward pod/NAME LOCAL:REMOTE`: every
//! accepted local connection gets its own port-forward connection to the pod.
//!
//! ```text
//! cargo run --example port_forward -- POD [-n NS] LOCAL:REMOTE [LOCAL:REMOTE…]
//! ```

mod api_common;

use k8s_client::api::Api;
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::Pod;

const USAGE: &str = "usage: port_forward POD [-n NS] LOCAL:REMOTE [LOCAL:REMOTE…]";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::try_from(Config::infer()?)?;
    let mut namespace = client.default_namespace().to_owned();
    let mut pod = None;
    let mut mappings = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-n" | "--namespace" => namespace = it.next().ok_or(USAGE)?,
            m if m.contains(':') => {
                let (local, remote) = m.split_once(':').ok_or(USAGE)?;
                let local: u16 = if local.is_empty() { 0 } else { local.parse()? };
                mappings.push((local, remote.parse::<u16>()?));
            }
            name if !name.starts_with('-') && pod.is_none() => {
                pod = Some(name.trim_start_matches("pod/").to_owned())
            }
            _ => return Err(USAGE.into()),
        }
    }
    let pod = pod.ok_or(USAGE)?;
    if mappings.is_empty() {
        return Err(USAGE.into());
    }
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let mut listeners = tokio::task::JoinSet::new();
    for (local, remote) in mappings {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", local)).await?;
        println!("Forwarding from {} -> {remote}", listener.local_addr()?);
        let (pods, pod) = (pods.clone(), pod.clone());
        listeners.spawn(async move {
            loop {
                let (mut conn, _) = listener.accept().await?;
                println!("Handling connection for {remote}");
                let (pods, pod) = (pods.clone(), pod.clone());
                tokio::spawn(async move {
                    let mut pf = match pods.portforward(&pod, &[remote]).await {
                        Ok(pf) => pf,
                        Err(e) => return eprintln!("error: {e}"),
                    };
                    if let Some(mut stream) = pf.take_stream(remote) {
                        let _ = tokio::io::copy_bidirectional(&mut conn, &mut stream).await;
                    }
                });
            }
            #[allow(unreachable_code)]
            Ok::<(), std::io::Error>(())
        });
    }
    while let Some(done) = listeners.join_next().await {
        done??;
    }
    Ok(())
}
