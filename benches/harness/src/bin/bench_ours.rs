//! Our client in the benchmark: `Config::infer()` → `Client`, then the
//! scenarios of `k8s_client_bench::protocol` through `Client::request` and
//! `Client::request_stream` with k8s-openapi types, on a current-thread
//! runtime like every Rust client of the benchmark. `gzip=1` turns on
//! compression (off by default in our client).

use std::time::Instant;

use bytes::{Buf, BytesMut};
use futures_util::{StreamExt, TryStreamExt, stream};
use k8s_client::{Client, Config};
use k8s_client_bench::protocol::{self, Args, Outcome};
use k8s_openapi::List;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::WatchEvent;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() {
    let started = Instant::now();
    let args = Args::from_env();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds");
    let outcome = rt
        .block_on(run(&args, started))
        .unwrap_or_else(|e| Outcome::failed(error_chain(&*e)));
    outcome.print();
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}

fn get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path)
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .expect("a GET of a fixed path is a valid request")
}

async fn run(args: &Args, started: Instant) -> Result<Outcome> {
    let client = Client::builder(Config::infer()?)
        .gzip(args.str("gzip", "0") == "1")
        .build()?;
    let ns = args.str("ns", "bench");
    let mut out = Outcome::default();
    match args.scenario() {
        "list" => {
            let t0 = Instant::now();
            let list: List<ConfigMap> = client
                .request(get(&format!("/api/v1/namespaces/{ns}/configmaps")))
                .await?;
            out.in_process_s = Some(t0.elapsed().as_secs_f64());
            out.items = Some(list.items.len() as u64);
        }
        "list-paged" => {
            let page = args.num("page", 500);
            let t0 = Instant::now();
            let mut items = 0;
            let mut cont = String::new();
            loop {
                let list: List<ConfigMap> = client
                    .request(get(&format!(
                        "/api/v1/namespaces/{ns}/configmaps?limit={page}&continue={cont}"
                    )))
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
        "get" | "exec" | "cold" => {
            let cold = args.scenario() == "cold";
            let (n, c) = if cold {
                (1, 1)
            } else {
                (args.num("n", 1000), args.num("c", 16))
            };
            let path = format!("/api/v1/namespaces/{ns}/configmaps/probe");
            let cpu0 = protocol::cpu_seconds();
            let t0 = Instant::now();
            let lat: Vec<f64> = stream::iter(0..n)
                .map(|_| {
                    let (client, req) = (&client, get(&path));
                    async move {
                        let t = Instant::now();
                        let cm: ConfigMap = client.request(req).await?;
                        debug_assert!(cm.metadata.name.is_some());
                        Ok::<f64, k8s_client::Error>(t.elapsed().as_secs_f64() * 1e3)
                    }
                })
                .buffer_unordered(c)
                .try_collect()
                .await?;
            out.in_process_s = Some(
                if cold {
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
            let mut body = client.request_stream(get(&path)).await?;
            if live {
                protocol::ready();
            }
            let mut buf = BytesMut::new();
            let mut lat = Vec::new();
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
        other => return Ok(Outcome::failed(format!("unknown scenario {other:?}"))),
    }
    Ok(out)
}
