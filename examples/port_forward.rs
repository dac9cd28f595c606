//! Forwards local ports to a pod like `kubectl port-forward`: one port-forward
//! connection (tunnelled SPDY, kubectl's default protocol, or the WebSocket framing
//! when the server refuses it) carries every accepted local connection, each on its
//! own stream pair. The target can be a
//! pod or a Service, Deployment, ReplicaSet or StatefulSet (a running pod is chosen
//! as kubectl does, and service ports map to the pod's container ports).
//!
//! ```text
//! cargo run --example port_forward -- TYPE/NAME [-n NS] [--address ADDR[,ADDR…]] [LOCAL:]REMOTE…
//! #   TYPE/NAME: NAME, pod/NAME, svc/NAME, deploy/NAME, rs/NAME, sts/NAME
//! #   mappings:  8080:80, :80 (any free local port), 80 (same local port), 8080:http (named)
//! #   --address: local addresses to listen on (default localhost: 127.0.0.1 and ::1)
//! ```

mod api_common;

use k8s_client::api::{Api, ForwardTarget, PortMapping, PortforwardProtocol};
use k8s_client::error::Report;
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::Pod;
use std::net::IpAddr;

const USAGE: &str =
    "usage: port_forward TYPE/NAME [-n NS] [--address ADDR[,ADDR…]] [LOCAL:]REMOTE…";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::try_from(Config::infer()?)?;
    let mut namespace = client.default_namespace().to_owned();
    let mut target = None;
    let mut mappings = Vec::new();
    let mut addresses = "localhost".to_owned();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-n" | "--namespace" => namespace = it.next().ok_or(USAGE)?,
            "--address" => addresses = it.next().ok_or(USAGE)?,
            s if s.starts_with("--address=") => addresses = s["--address=".len()..].to_owned(),
            s if s.starts_with('-') => return Err(USAGE.into()),
            s if target.is_none() => target = Some(ForwardTarget::parse(s)?),
            s => mappings.push(PortMapping::parse(s)?),
        }
    }
    let target = target.ok_or(USAGE)?;
    if mappings.is_empty() {
        return Err(USAGE.into());
    }
    let mut ips: Vec<(IpAddr, bool)> = Vec::new();
    for a in addresses.split(',') {
        match a {
            // kubectl: localhost is both loopbacks; one of them may be missing.
            "localhost" => ips.extend([("127.0.0.1".parse()?, true), ("::1".parse()?, true)]),
            a => ips.push((a.parse()?, false)),
        }
    }
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let resolved = pods.resolve_forward(&target, &mappings).await?;
    let session = pods
        .portforward_session(&resolved.pod, PortforwardProtocol::Auto)
        .await?;
    let mut listeners = tokio::task::JoinSet::new();
    for (local, remote) in resolved.ports {
        // With `:REMOTE`, the first address picks the port and the others reuse it.
        let mut port = local.unwrap_or(0);
        for (ip, optional) in &ips {
            let listener = match tokio::net::TcpListener::bind((*ip, port)).await {
                Ok(l) => l,
                Err(_) if *optional => continue,
                Err(e) => return Err(e.into()),
            };
            let addr = listener.local_addr()?;
            port = addr.port();
            println!("Forwarding from {addr} -> {remote}");
            let session = session.clone();
            listeners.spawn(async move {
                loop {
                    let (mut conn, _) = listener.accept().await?;
                    println!("Handling connection for {}", addr.port());
                    // kubectl ends when the connection to the pod is gone.
                    if !session.is_open() {
                        return Err("lost connection to pod".into());
                    }
                    let session = session.clone();
                    tokio::spawn(async move {
                        match session.open(remote).await {
                            Ok(mut stream) => {
                                if let Err(e) =
                                    tokio::io::copy_bidirectional(&mut conn, &mut stream).await
                                {
                                    eprintln!(
                                        "an error occurred forwarding {} -> {remote}: {:#}",
                                        addr.port(),
                                        Report::new(&e)
                                    );
                                }
                            }
                            Err(e) => eprintln!("error: {:#}", Report::new(&e)),
                        }
                    });
                }
                #[allow(unreachable_code)]
                Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
            });
        }
    }
    while let Some(done) = listeners.join_next().await {
        done?.map_err(|e| e.to_string())?;
    }
    Ok(())
}
