//! The kube-rs peer of the k8s-client benchmark: the scenarios of
//! `k8s_client_bench::protocol`, written the way a kube-rs user would
//! (`Client::try_default`, `Api<ConfigMap>`, and `kube::runtime::reflector`
//! over a `watcher` for the informer scenario), on a current-thread runtime like
//! every Rust client of the benchmark.

use std::time::Instant;

use futures_util::{StreamExt, TryStreamExt, stream};
use k8s_client_bench::protocol::{self, Args, Outcome};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client};

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
        .unwrap_or_else(|e| Outcome::failed(e.to_string()));
    outcome.print();
}

async fn run(args: &Args, started: Instant) -> Result<Outcome> {
    let client = Client::try_default().await?;
    let ns = args.str("ns", "bench");
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    let mut out = Outcome::default();
    match args.scenario() {
        "list" => {
            let t0 = Instant::now();
            let list = api.list(&ListParams::default()).await?;
            out.in_process_s = Some(t0.elapsed().as_secs_f64());
            out.items = Some(list.items.len() as u64);
        }
        "list-paged" => {
            let page = args.num("page", 500) as u32;
            let t0 = Instant::now();
            let mut items = 0;
            let mut lp = ListParams::default().limit(page);
            loop {
                let list = api.list(&lp).await?;
                items += list.items.len() as u64;
                match list.metadata.continue_.filter(|c| !c.is_empty()) {
                    Some(c) => lp = lp.continue_token(&c),
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
            let cpu0 = protocol::cpu_seconds();
            let t0 = Instant::now();
            let lat: Vec<f64> = stream::iter(0..n)
                .map(|_| {
                    let api = api.clone();
                    async move {
                        let t = Instant::now();
                        let cm = api.get("probe").await?;
                        debug_assert!(cm.metadata.name.is_some());
                        Ok::<f64, kube::Error>(t.elapsed().as_secs_f64() * 1e3)
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
            let mut wp = WatchParams::default();
            if live {
                wp = wp.labels(&format!("run={}", args.str("run", "")));
            }
            let t0 = Instant::now();
            let mut events = api.watch(&wp, "0").await?.boxed();
            if live {
                protocol::ready();
            }
            let mut lat = Vec::new();
            let mut seen = 0;
            while let Some(event) = events.try_next().await? {
                if let (true, WatchEvent::Added(cm)) = (live, &event) {
                    lat.push(protocol::latency_ms(cm.metadata.annotations.as_ref()));
                }
                seen += 1;
                if seen >= n {
                    break;
                }
            }
            out.in_process_s = Some(t0.elapsed().as_secs_f64());
            out.items = Some(seen as u64);
            (out.p50_ms, out.p99_ms) = protocol::p50_p99(lat);
        }
        "informer" => {
            // kube-rs's informer: a reflector store fed by a watcher (its default
            // config: paginated initial list, 500 per page), driven here while
            // waiting for the store to be ready.
            let t0 = Instant::now();
            let (reader, writer) = reflector::store::<ConfigMap>();
            let drive = reflector(writer, watcher(api.clone(), watcher::Config::default()))
                .default_backoff()
                .applied_objects()
                .for_each(|_| async {});
            tokio::pin!(drive);
            tokio::select! {
                () = &mut drive => return Err("the watcher stream ended before the store was ready".into()),
                ready = reader.wait_until_ready() => ready?,
            }
            out.in_process_s = Some(t0.elapsed().as_secs_f64());
            out.items = Some(reader.state().len() as u64);
            tokio::select! {
                () = &mut drive => return Err("the watcher stream ended".into()),
                () = tokio::time::sleep(protocol::STEADY_AFTER) => {}
            }
            out.steady_rss_kib = protocol::rss_kib();
        }
        other => return Ok(Outcome::failed(format!("unknown scenario {other:?}"))),
    }
    Ok(out)
}
