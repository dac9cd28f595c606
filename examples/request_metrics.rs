//! Request metrics from `ClientBuilder::on_request`: counts and latency sums per method,
//! path template and status, printed in the Prometheus text format (what a `/metrics`
//! endpoint would serve), plus the `request` tracing spans on stderr.
//!
//! ```sh
//! RUST_LOG=k8s_client=debug cargo run --example request_metrics
//! ```

mod api_common;

use k8s_client::api::{Api, ListParams};
use k8s_client::client::RequestEvent;
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// (method, path template, status) → (requests, retries, seconds).
type Series = BTreeMap<(String, String, String), (u64, u64, f64)>;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let series = Arc::new(Mutex::new(Series::new()));
    let sink = series.clone();
    let client = Client::builder(Config::infer()?)
        .on_request(move |e: &RequestEvent| {
            let status = e
                .status
                .map_or_else(|| "error".to_owned(), |s| s.to_string());
            let key = (e.method.to_string(), e.path_template.clone(), status);
            let mut series = sink.lock().unwrap();
            let entry = series.entry(key).or_default();
            entry.0 += 1;
            entry.1 += u64::from(e.tries.saturating_sub(1));
            entry.2 += e.latency.as_secs_f64();
        })
        .build()?;

    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in namespaces.list(&ListParams::default()).await?.items {
        let name = ns.metadata.name.unwrap_or_default();
        let pods: Api<Pod> = Api::namespaced(client.clone(), &name);
        let count = pods.list(&ListParams::default()).await?.items.len();
        // A name that does not exist: a 404 under the same template.
        let _ = pods.get_opt("no-such-pod").await?;
        eprintln!("{name}: {count} pods");
    }

    println!("# TYPE k8s_client_requests_total counter");
    println!("# TYPE k8s_client_request_retries_total counter");
    println!("# TYPE k8s_client_request_duration_seconds_sum counter");
    for ((method, path, status), (n, retries, secs)) in series.lock().unwrap().iter() {
        let labels = format!("method=\"{method}\",path=\"{path}\",status=\"{status}\"");
        println!("k8s_client_requests_total{{{labels}}} {n}");
        println!("k8s_client_request_retries_total{{{labels}}} {retries}");
        println!("k8s_client_request_duration_seconds_sum{{{labels}}} {secs:.6}");
    }
    Ok(())
}
