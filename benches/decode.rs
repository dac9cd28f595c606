//! Micro-benchmarks of the decoding hot paths, no server needed:
//! a list body decoded straight from its bytes (what `Client::request` does)
//! against the String-copy path (what kube-rs does), and a watch stream split
//! into lines and decoded event by event from our `Body` stream.
//!
//! `cargo bench --bench decode`; `cargo bench --bench decode -- --test` runs
//! each benchmark once (what `cargo xtask test` does).

use std::hint::black_box;

use bytes::{Buf, Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use k8s_client::client::Body;
use k8s_openapi::List;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::WatchEvent;
use serde_json::json;

/// One ConfigMap as the apiserver serves those of the benchmark data set.
fn configmap(i: usize) -> serde_json::Value {
    let payload: String = format!("{i:05}-k8s-client-benchmark-payload-")
        .chars()
        .cycle()
        .take(1000)
        .collect();
    json!({
        "metadata": {
            "name": format!("cm-{i:05}"), "namespace": "bench",
            "uid": format!("6f1c1a52-0b5e-4c1e-9d3a-{i:012}"), "resourceVersion": (1000 + i).to_string(),
            "creationTimestamp": "2026-11-29T00:00:00Z",
            "labels": {"app": "bench", "shard": (i % 16).to_string(), "tier": "web"},
            "managedFields": [{"manager": "k8s-client-bench", "operation": "Update", "apiVersion": "v1",
                "time": "2026-11-29T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {".": {}, "f:index": {}, "f:payload": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:shard": {}, "f:tier": {}}}}}],
        },
        "data": {"payload": payload, "index": i.to_string()},
    })
}

fn list_body(n: usize) -> Vec<u8> {
    let items: Vec<_> = (0..n).map(configmap).collect();
    serde_json::to_vec(&json!({
        "kind": "ConfigMapList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "99999"},
        "items": items,
    }))
    .expect("a JSON value serialises")
}

fn watch_body(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut cm = configmap(i);
        cm["kind"] = json!("ConfigMap");
        cm["apiVersion"] = json!("v1");
        serde_json::to_writer(&mut out, &json!({"type": "ADDED", "object": cm}))
            .expect("serialises");
        out.push(b'\n');
    }
    out
}

fn list(c: &mut Criterion) {
    let body = list_body(1000);
    let mut g = c.benchmark_group("list-1000-configmaps");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("from_slice (ours)", |b| {
        b.iter(|| {
            let list: List<ConfigMap> = serde_json::from_slice(black_box(&body)).expect("decodes");
            black_box(list.items.len())
        })
    });
    g.bench_function("copy to String + from_str (kube-rs)", |b| {
        b.iter(|| {
            let text = String::from_utf8(black_box(&body).to_vec()).expect("UTF-8");
            let list: List<ConfigMap> = serde_json::from_str(&text).expect("decodes");
            black_box(list.items.len())
        })
    });
    g.finish();
}

fn watch(c: &mut Criterion) {
    let body = Bytes::from(watch_body(1000));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("watch-1000-events");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("Body stream, 16 KiB chunks, line split + from_slice", |b| {
        b.iter(|| {
            let chunks: Vec<Result<Bytes, std::io::Error>> = body
                .chunks(16 * 1024)
                .map(|c| Ok(body.slice_ref(c)))
                .collect();
            let mut stream = Body::from_stream(futures_util::stream::iter(chunks)).into_stream();
            rt.block_on(async {
                let mut buf = BytesMut::new();
                let mut events = 0usize;
                while let Some(chunk) = stream.next().await {
                    buf.extend_from_slice(&chunk.expect("in-memory chunk"));
                    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                        let line = buf.split_to(pos + 1);
                        let ev: WatchEvent<ConfigMap> =
                            serde_json::from_slice(line.chunk()).expect("decodes");
                        black_box(&ev);
                        events += 1;
                    }
                }
                assert_eq!(events, 1000);
            })
        })
    });
    g.finish();
}

criterion_group!(benches, list, watch);
criterion_main!(benches);
