//! Our client in the benchmark: `Config::infer()` → `Client`, then the
//! scenarios of `k8s_client_bench::protocol` through the typed API —
//! `Api::<ConfigMap>::list`, `list_stream`, `get` and `watch` —, `Discovery`
//! with its kubectl-layout disk cache and a `SharedInformer` from an
//! `InformerFactory`, on a current-thread runtime like every Rust client of the
//! benchmark. The client reads built-in kinds as protobuf (its default);
//! `json=1` forces JSON, `gzip=1` turns on compression (off by default),
//! `http1=1` turns HTTP/2 off (`ClientBuilder::http2(false)`) and
//! `streaming=1` makes the informer use a streaming list, `drop_managed_fields=1`
//! gives it a store whose transform drops `managedFields`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures_util::{StreamExt, TryStreamExt, stream};
use k8s_client::api::{ListParams, WatchEvent, WatchParams};
use k8s_client::client::WireFormat;
use k8s_client::discovery::DiskCache;
use k8s_client::runtime::{HandlerFns, InformerFactory, ReflectorConfig, SharedInformer, Store};
use k8s_client::{Api, Client, Config, Discovery};
use k8s_client_bench::protocol::{self, Args, Outcome};
use k8s_openapi::api::core::v1::ConfigMap;

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
        .unwrap_or_else(|e| Outcome::failed(k8s_client::error::Report::new(&*e).to_string()));
    outcome.print();
}

async fn run(args: &Args, started: Instant) -> Result<Outcome> {
    let wire = if args.str("json", "0") == "1" {
        WireFormat::Json
    } else {
        WireFormat::Protobuf
    };
    let mut builder = Client::builder(Config::infer()?)
        .gzip(args.str("gzip", "0") == "1")
        .wire_format(wire);
    // Only when asked: left alone, the default (and `DISABLE_HTTP2`) decides.
    if args.str("http1", "0") == "1" {
        builder = builder.http2(false);
    }
    let client = builder.build()?;
    let ns = args.str("ns", "bench");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let mut out = Outcome::default();
    match args.scenario() {
        "list" => {
            let t0 = Instant::now();
            let list = cms.list(&ListParams::default()).await?;
            out.in_process_s = Some(t0.elapsed().as_secs_f64());
            out.items = Some(list.items.len() as u64);
        }
        "list-paged" => {
            let page = u32::try_from(args.num("page", 500))?;
            let t0 = Instant::now();
            let items = cms
                .list_stream(&ListParams::default().limit(page))
                .try_fold(0u64, |n, _cm| async move { Ok(n + 1) })
                .await?;
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
                    let cms = &cms;
                    async move {
                        let t = Instant::now();
                        let cm = cms.get("probe").await?;
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
            // Like every peer: no bookmarks, and from resourceVersion 0 (the
            // current state as ADDED events first).
            let mut wp = WatchParams::default().disable_bookmarks();
            if live {
                wp = wp.labels(&format!("run={}", args.str("run", "")));
            }
            let t0 = Instant::now();
            let mut events = cms.watch(&wp, "0").await?;
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
        "discovery" => {
            let warm = args.str("cache", "cold") == "warm";
            // A private cache root in kubectl's layout (`<root>/discovery/<host_port>`),
            // empty for the cold run; the warm run fills it first with a separate
            // client, as an earlier kubectl invocation would have.
            let root =
                std::env::temp_dir().join(format!("bench-ours-discovery-{}", std::process::id()));
            let cache = || DiskCache::for_cluster_in(&root, client.cluster_url());
            if warm {
                let fill = Client::builder(Config::infer()?).build()?;
                Discovery::builder(fill)
                    .disk_cache(cache())
                    .build()
                    .groups_and_resources()
                    .await?;
            }
            let discovery = Discovery::builder(client.clone())
                .disk_cache(cache())
                .build();
            let t0 = Instant::now();
            let snapshot = discovery.groups_and_resources().await;
            out.in_process_s = Some(t0.elapsed().as_secs_f64());
            let _ = std::fs::remove_dir_all(&root);
            let snapshot = snapshot?;
            out.requests = Some(discovery.request_count());
            out.items = Some(
                snapshot
                    .resource_lists()
                    .iter()
                    .map(|l| l.resources.len() as u64)
                    .sum(),
            );
        }
        "informer" => {
            // The way a controller starts one: a factory, the informer of the
            // collection with one handler, start, wait for the cache to sync.
            let mut config = ReflectorConfig::default();
            if args.str("streaming", "0") == "1" {
                config = config.streaming_list();
            }
            let t0 = Instant::now();
            let factory = InformerFactory::new();
            let informer = if args.str("drop_managed_fields", "0") == "1" {
                // A store that drops `managedFields` (client-go's `SetTransform`), alone.
                let store = Store::new().with_transform(|cm: &mut ConfigMap| {
                    cm.metadata.managed_fields = None;
                });
                SharedInformer::with_store(cms.clone(), store, config)
            } else {
                factory.informer(cms.clone(), config)
            };
            let added = Arc::new(AtomicU64::new(0));
            let counter = Arc::clone(&added);
            informer.add_handler(HandlerFns::new().on_add(move |_cm: &Arc<ConfigMap>| {
                counter.fetch_add(1, Ordering::Relaxed);
            }));
            factory.start();
            informer.start();
            if !factory.wait_for_cache_sync().await || !informer.wait_until_synced().await {
                return Err("the informer stopped before its cache synced".into());
            }
            out.in_process_s = Some(t0.elapsed().as_secs_f64());
            out.items = Some(informer.reader().len() as u64);
            // Steady state: the cache held, the watch open, the handler caught up.
            tokio::time::sleep(protocol::STEADY_AFTER).await;
            out.steady_rss_kib = protocol::rss_kib();
            factory.stop();
            informer.stop();
            if added.load(Ordering::Relaxed) == 0 {
                return Err("the handler saw no add".into());
            }
        }
        other => return Ok(Outcome::failed(format!("unknown scenario {other:?}"))),
    }
    Ok(out)
}
