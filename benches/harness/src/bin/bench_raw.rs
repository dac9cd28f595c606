//! The raw limit: the same requests as the clients under test, sent by a bare
//! reqwest client (HTTP/2, or HTTP/1.1 with `http1=1`; GETs over bare hyper instead with
//! `hyper=1`, spread round robin over `hyperclients=N` clients of their own — over HTTP/2,
//! N connections) and decoded by `serde_json` into the same k8s-openapi types, timed
//! in-process. Speaks the protocol of `k8s_client_bench::protocol`.

use std::path::PathBuf;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use futures_util::{StreamExt, stream};
use k8s_client_bench::protocol::{self, Args, Outcome};
use k8s_client_bench::raw::{RawClient, Result, Transport};
use k8s_openapi::List;
use k8s_openapi::api::core::v1::ConfigMap;

type ConfigMapList = List<ConfigMap>;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::WatchEvent;

fn main() {
    let args = Args::from_env();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds");
    let outcome = rt
        .block_on(run(&args))
        .unwrap_or_else(|e| Outcome::failed(e.to_string()));
    outcome.print();
}

async fn run(args: &Args) -> Result<Outcome> {
    let started = Instant::now();
    let kubeconfig =
        PathBuf::from(std::env::var("KUBECONFIG").map_err(|_| "KUBECONFIG is not set")?);
    let transport = Transport {
        gzip: args.str("gzip", "0") == "1",
        http1: args.str("http1", "0") == "1",
        h2_window: args.str("h2window", "").parse().ok(),
        h2_adaptive: args.str("h2adaptive", "0") == "1",
        h2_max_frame: args.str("h2frame", "").parse().ok(),
        hyper: args.str("hyper", "0") == "1",
        hyper_clients: args.str("hyperclients", "1").parse()?,
    };
    let raw = RawClient::from_kubeconfig_with(&kubeconfig, &transport)?;
    let ns = args.str("ns", "bench");
    let mut out = Outcome::default();
    match args.scenario() {
        "list" => {
            let t0 = Instant::now();
            let body = raw
                .get_bytes(&format!("/api/v1/namespaces/{ns}/configmaps"))
                .await?;
            let bytes_s = t0.elapsed().as_secs_f64();
            let list: ConfigMapList = serde_json::from_slice(&body)?;
            out.in_process_s = Some(t0.elapsed().as_secs_f64());
            out.bytes_s = Some(bytes_s);
            out.items = Some(list.items.len() as u64);
        }
        "list-paged" => {
            let page = args.num("page", 500);
            let t0 = Instant::now();
            let mut items = 0;
            let mut cont = String::new();
            loop {
                let list: ConfigMapList = raw
                    .get(&format!(
                        "/api/v1/namespaces/{ns}/configmaps?limit={page}&continue={cont}"
                    ))
                    .await?;
                items += list.items.len() as u64;
                match list.metadata.continue_.filter(|c| !c.is_empty()) {
                    Some(c) => cont = c,
                    None => break,
                }
            }
            out.in_process_s = Some(t0.elapsed().as_secs_f64());
            out.items = Some(items);
        }
        "get" | "cold" => {
            let (n, c) = if args.scenario() == "cold" {
                (1, 1)
            } else {
                (args.num("n", 1000), args.num("c", 16))
            };
            let path = format!("/api/v1/namespaces/{ns}/configmaps/probe");
            let cpu0 = protocol::cpu_seconds();
            let t0 = Instant::now();
            let lat: Vec<Result<f64>> = stream::iter(0..n)
                .map(|_| async {
                    let t = Instant::now();
                    let cm: ConfigMap = if transport.hyper {
                        raw.get_hyper(&path).await?
                    } else {
                        raw.get(&path).await?
                    };
                    debug_assert!(cm.metadata.name.is_some());
                    Ok(t.elapsed().as_secs_f64() * 1e3)
                })
                .buffer_unordered(c)
                .collect()
                .await;
            let lat = lat.into_iter().collect::<Result<Vec<f64>>>()?;
            out.in_process_s = Some(
                if args.scenario() == "cold" {
                    started.elapsed()
                } else {
                    t0.elapsed()
                }
                .as_secs_f64(),
            );
            out.cpu_s = Some(protocol::cpu_seconds() - cpu0);
            out.items = Some(lat.len() as u64);
            (out.p50_ms, out.p99_ms) = protocol::p50_p99(lat);
        }
        "watch-initial" | "watch-live" => {
            let n = args.num("n", 1);
            let live = args.scenario() == "watch-live";
            let path = if live {
                format!(
                    "/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion=0&labelSelector=run%3D{}",
                    args.str("run", "")
                )
            } else {
                format!("/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion=0")
            };
            let t0 = Instant::now();
            let resp = raw.get_stream(&path).await?;
            if live {
                protocol::ready();
            }
            let mut body = resp.bytes_stream();
            let mut buf = BytesMut::new();
            let mut lat = Vec::with_capacity(if live { n } else { 0 });
            let mut seen = 0;
            'outer: while let Some(chunk) = body.next().await {
                buf.extend_from_slice(&chunk?);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line = buf.split_to(pos + 1);
                    let event: WatchEvent<ConfigMap> = serde_json::from_slice(line.chunk())?;
                    if let (true, WatchEvent::Added(cm)) = (live, &event) {
                        lat.push(protocol::latency_ms(cm.metadata.annotations.as_ref()));
                    }
                    seen += 1;
                    if seen >= n {
                        break 'outer;
                    }
                }
            }
            out.in_process_s = Some(t0.elapsed().as_secs_f64());
            out.items = Some(seen as u64);
            (out.p50_ms, out.p99_ms) = protocol::p50_p99(lat);
        }
        other => {
            return Ok(Outcome::failed(format!(
                "scenario {other:?} is not part of the raw limit"
            )));
        }
    }
    Ok(out)
}
