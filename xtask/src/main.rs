//! Project automation: `cargo xtask test`, `cargo xtask soak`, `cargo xtask demo`, `cargo xtask bench`,
//! `cargo xtask codegen-protobuf`, `cargo xtask testenv-install`, `cargo xtask testenv start|stop|status`.

mod bench;
mod bench_failover;
mod bench_portforward;
mod bench_proxy;
mod codegen;
mod codegen_sources;
mod demo;
mod soak;
mod test;
mod testenv;
mod util;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test                    fmt --check, clippy -D warnings, all tests against a real control plane,
                          build every example and bench (what CI runs)
  demo                    install the control plane if missing, start it, run the examples against it, stop it
  bench [options] [cases]  build the peers, start a control plane, run the side-by-side benchmarks and
                          write docs/performance.md (`cargo xtask bench --help` for options); without
                          arguments also runs `bench proxy`
  bench proxy [--requests N] [--rounds R]
                          our proxy vs kubectl proxy vs direct, into docs/performance.md
  bench failover [--requests N] [--rounds R] [--kills K]
                          GETs over 3 API servers vs 1 and the failover pause of a killed server,
                          into docs/performance.md and docs/failover.md
  bench portforward [--megabytes N] [--round-trips N] [--rounds R]
                          port-forward throughput and latency, ours vs kubectl port-forward,
                          into docs/performance.md
  codegen-protobuf [--check]
                          regenerate src/codec/generated (protobuf decoders) from the Kubernetes
                          modules' generated.proto files; --check fails when the committed code is stale
  soak [--long]           the fault-injection suite against real control planes: restarts, 429 storms,
                          credential and network faults (a few minutes; --long: the large variant)
  testenv-install         build etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok into the cache (what is missing)
  testenv start [--dir D] start a control plane in the background and print `export KUBECONFIG=…`
  testenv stop [--dir D]  stop it and remove its state
  testenv status [--dir D] say whether it runs";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["test"] => test::run(),
        ["demo"] => demo::run(),
        // Everything: the side-by-side scenarios (a)–(g), then the proxy scenario (h).
        ["bench"] => bench::run(&[]).and_then(|()| bench_proxy::run(&[])),
        ["bench", "proxy", rest @ ..] => bench_proxy::run(rest),
        ["bench", "failover", rest @ ..] => bench_failover::run(rest),
        ["bench", "portforward", rest @ ..] => bench_portforward::run(rest),
        ["bench", rest @ ..] => bench::run(rest),
        ["codegen-protobuf", rest @ ..] => codegen::run(rest),
        ["soak", rest @ ..] => soak::run(rest),
        ["testenv-install"] => testenv::install(),
        ["testenv", sub, rest @ ..] => testenv::command(sub, rest),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
