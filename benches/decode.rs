//! Micro-benchmarks of the decoding hot paths, no server needed:
//! a list body decoded straight from its bytes (what `Client::request` does)
//! against the String-copy path (what kube-rs does), and a watch stream split
//! into lines and decoded event by event from our `Body` stream; and a
//! 10,000-ConfigMap list decoded from protobuf (`k8s_client::codec`) vs from JSON.
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

/// A minimal protobuf writer for the benchmark's ConfigMaps (the library only decodes).
mod pb {
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    pub fn bytes(out: &mut Vec<u8>, tag: u32, b: &[u8]) {
        varint(out, u64::from(tag << 3 | 2));
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
    pub fn int(out: &mut Vec<u8>, tag: u32, v: u64) {
        varint(out, u64::from(tag << 3));
        varint(out, v);
    }
    pub fn message(out: &mut Vec<u8>, tag: u32, f: impl FnOnce(&mut Vec<u8>)) {
        let mut inner = Vec::new();
        f(&mut inner);
        bytes(out, tag, &inner);
    }
    pub fn entry(out: &mut Vec<u8>, tag: u32, k: &str, v: &str) {
        message(out, tag, |m| {
            bytes(m, 1, k.as_bytes());
            bytes(m, 2, v.as_bytes());
        });
    }
}

/// The protobuf of [`configmap`]`(i)` (field numbers of core/v1 and meta/v1
/// `generated.proto`), as the apiserver writes it.
fn configmap_pb(i: usize) -> Vec<u8> {
    let json = configmap(i);
    let meta = &json["metadata"];
    let s = |v: &serde_json::Value| v.as_str().expect("string").to_owned();
    let mut out = Vec::new();
    pb::message(&mut out, 1, |m| {
        pb::bytes(m, 1, s(&meta["name"]).as_bytes());
        pb::bytes(m, 2, b"");
        pb::bytes(m, 3, s(&meta["namespace"]).as_bytes());
        pb::bytes(m, 4, b"");
        pb::bytes(m, 5, s(&meta["uid"]).as_bytes());
        pb::bytes(m, 6, s(&meta["resourceVersion"]).as_bytes());
        pb::int(m, 7, 0);
        pb::message(m, 8, |t| {
            pb::int(t, 1, 1_795_910_400);
            pb::int(t, 2, 0);
        });
        for (k, v) in meta["labels"].as_object().expect("labels") {
            pb::entry(m, 11, k, &s(v));
        }
        pb::message(m, 17, |f| {
            pb::bytes(f, 1, b"k8s-client-bench");
            pb::bytes(f, 2, b"Update");
            pb::bytes(f, 3, b"v1");
            pb::message(f, 4, |t| {
                pb::int(t, 1, 1_795_910_400);
                pb::int(t, 2, 0);
            });
            pb::bytes(f, 6, b"FieldsV1");
            let fields = serde_json::to_vec(&meta["managedFields"][0]["fieldsV1"]).expect("JSON");
            pb::message(f, 7, |r| pb::bytes(r, 1, &fields));
            pb::bytes(f, 8, b"");
        });
    });
    let mut data: Vec<_> = json["data"].as_object().expect("data").iter().collect();
    data.sort_by_key(|(k, _)| k.as_str());
    for (k, v) in data {
        pb::entry(&mut out, 2, k, &s(v));
    }
    out
}

fn list_body_pb(n: usize) -> Vec<u8> {
    let mut list = Vec::new();
    pb::message(&mut list, 1, |m| pb::bytes(m, 2, b"99999"));
    for i in 0..n {
        pb::bytes(&mut list, 2, &configmap_pb(i));
    }
    let mut out = b"k8s\0".to_vec();
    pb::message(&mut out, 1, |t| {
        pb::bytes(t, 1, b"v1");
        pb::bytes(t, 2, b"ConfigMapList");
    });
    pb::bytes(&mut out, 2, &list);
    pb::bytes(&mut out, 3, b"");
    pb::bytes(&mut out, 4, b"");
    out
}

fn protobuf(c: &mut Criterion) {
    let n = 10_000;
    let json_body = list_body(n);
    let pb_body = list_body_pb(n);
    // Both bodies carry the same objects.
    let from_json: List<ConfigMap> = serde_json::from_slice(&json_body).expect("decodes");
    let from_pb = k8s_client::codec::decode_list::<ConfigMap>(&pb_body).expect("decodes");
    assert_eq!(from_json.items, from_pb.items);
    let mut g = c.benchmark_group("list-10000-configmaps");
    g.sample_size(10);
    g.bench_function(
        format!("JSON from_slice ({} bytes)", json_body.len()),
        |b| {
            b.iter(|| {
                let list: List<ConfigMap> =
                    serde_json::from_slice(black_box(&json_body)).expect("decodes");
                black_box(list.items.len())
            })
        },
    );
    g.bench_function(
        format!("protobuf codec::decode_list ({} bytes)", pb_body.len()),
        |b| {
            b.iter(|| {
                let list = k8s_client::codec::decode_list::<ConfigMap>(black_box(&pb_body))
                    .expect("decodes");
                black_box(list.items.len())
            })
        },
    );
    g.finish();
}

criterion_group!(benches, list, watch, protobuf);
criterion_main!(benches);
