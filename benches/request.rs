//! Micro-benchmarks of request building (no I/O): the GET of a filtered,
//! paged list with its headers, and the impersonation headers every request
//! of an impersonating client carries.
//!
//! `cargo bench --bench request`; `-- --test` runs each benchmark once.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_client::config::Impersonation;
use k8s_client::transport::{default_user_agent, impersonation_headers};

fn build(c: &mut Criterion) {
    let ua = default_user_agent();
    c.bench_function("request/list GET with query and headers", |b| {
        b.iter(|| {
            let ns = black_box("bench");
            let req = http::Request::get(format!(
                "/api/v1/namespaces/{ns}/configmaps?labelSelector=app%3Dbench&limit=500"
            ))
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, ua.as_str())
            .body(Vec::<u8>::new())
            .expect("valid request");
            black_box(req)
        })
    });
    let mut imp = Impersonation::default();
    imp.user = Some("jane@example.com".into());
    imp.groups = vec!["developers".into(), "system:authenticated".into()];
    imp.extra = vec![(
        "scopes.example.com/project".into(),
        vec!["alpha".into(), "beta".into()],
    )];
    c.bench_function("request/impersonation headers", |b| {
        b.iter(|| black_box(impersonation_headers(black_box(&imp)).expect("valid headers")))
    });
}

criterion_group!(benches, build);
criterion_main!(benches);
