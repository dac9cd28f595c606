//! Proxy benchmark: GET of one ConfigMap through k8s-client's proxy, through
//! `kubectl proxy`, and directly with k8s-client's `Client`, at concurrency 1 and 32,
//! against a local control plane. Prints a Markdown report; `--write FILE` also puts
//! it between the proxy-bench markers of FILE (docs/performance.md).
//!
//! ```sh
//! cargo run --release -p proxy-bench -- --requests 2000 --rounds 3 --write docs/performance.md
//! ```

mod load;
mod report;
mod setup;

use clap::{Arg, ArgMatches, Command, value_parser};
use load::Target;
use report::{Cell, Facts, Round, Route};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The concurrencies measured.
const CONCURRENCIES: [usize; 2] = [1, 32];
/// Requests per target before measuring (connections, TLS sessions, caches).
const WARM_UP_REQUESTS: usize = 200;

fn cli() -> Command {
    Command::new("proxy-bench")
        .about("GET of one ConfigMap through k8s-client's proxy, kubectl proxy, and directly")
        .arg(
            Arg::new("requests")
                .long("requests")
                .value_name("N")
                .value_parser(value_parser!(usize))
                .default_value("2000")
                .help("Requests per path, concurrency and round"),
        )
        .arg(
            Arg::new("rounds")
                .long("rounds")
                .value_name("R")
                .value_parser(value_parser!(usize))
                .default_value("3")
                .help("Rounds (each runs every path once, order rotating)"),
        )
        .arg(
            Arg::new("time-limit")
                .long("time-limit")
                .value_name("SECONDS")
                .value_parser(value_parser!(u64))
                .default_value("120")
                .help("Stop a cell early after this many seconds"),
        )
        .arg(
            Arg::new("write")
                .long("write")
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .help("Replace the proxy-bench region of FILE (docs/performance.md)"),
        )
}

/// The command line to print in the report, with the values actually used.
fn command_line(m: &ArgMatches) -> String {
    let mut cmd = format!(
        "cargo xtask bench proxy --requests {} --rounds {}",
        m.get_one::<usize>("requests").copied().unwrap_or_default(),
        m.get_one::<usize>("rounds").copied().unwrap_or_default()
    );
    if let Some(w) = m.get_one::<PathBuf>("write") {
        cmd.push_str(&format!(" --write {}", w.display()));
    }
    cmd
}

fn run(m: &ArgMatches) -> Result<(), Box<dyn std::error::Error>> {
    let requests = m
        .get_one::<usize>("requests")
        .copied()
        .unwrap_or(2000)
        .max(1);
    let rounds = m.get_one::<usize>("rounds").copied().unwrap_or(3).max(1);
    let time_limit = Duration::from_secs(m.get_one::<u64>("time-limit").copied().unwrap_or(120));
    let server_bin = setup::server_binary()?;
    let load_before = setup::load_average();
    let env = setup::start_control_plane()?;
    let control_plane = env.process_ids();
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async {
        let bench = setup::Bench::start(&env, &server_bin).await?;
        let targets = [
            (Route::Ours, Target::Proxy(bench.ours)),
            (Route::Kubectl, Target::Proxy(bench.kubectl)),
            (Route::Direct, Target::Direct(bench.client.clone())),
        ];
        for (route, target) in &targets {
            eprintln!("warm-up: {}", route.label());
            load::run(target, setup::PATH, 4, WARM_UP_REQUESTS, time_limit).await?;
        }
        let mut cells = Vec::new();
        for concurrency in CONCURRENCIES {
            let mut rows: Vec<Cell> = Route::ALL
                .iter()
                .map(|&path| Cell { path, concurrency, rounds: Vec::new() })
                .collect();
            for round in 0..rounds {
                for i in 0..targets.len() {
                    let k = (i + round) % targets.len();
                    let (route, target) = &targets[k];
                    let proxy_pid: &[u32] = match route {
                        Route::Ours => &[bench.ours_pid],
                        Route::Kubectl => &[bench.kubectl_pid],
                        Route::Direct => &[],
                    };
                    let before = (setup::cpu_time(proxy_pid), setup::cpu_time(&control_plane));
                    let sample =
                        load::run(target, setup::PATH, concurrency, requests, time_limit).await?;
                    let after = (setup::cpu_time(proxy_pid), setup::cpu_time(&control_plane));
                    let r = Round::new(
                        &sample,
                        after.0.zip(before.0).filter(|_| !proxy_pid.is_empty()).map(|(a, b)| a.saturating_sub(b)),
                        after.1.zip(before.1).map(|(a, b)| a.saturating_sub(b)),
                    );
                    eprintln!(
                        "c={concurrency} round {}/{rounds} {}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms ({} requests)",
                        round + 1,
                        route.label(),
                        r.rps,
                        r.p50.as_secs_f64() * 1e3,
                        r.p99.as_secs_f64() * 1e3,
                        r.requests
                    );
                    rows[k].rounds.push(r);
                }
            }
            cells.extend(rows);
        }
        let apiserver = bench.apiserver_version().await?;
        bench.stop().await;
        Ok::<_, Box<dyn std::error::Error>>((cells, apiserver))
    });
    drop(runtime);
    env.stop();
    let (cells, apiserver) = outcome?;
    let facts = Facts {
        command: command_line(m),
        when: setup::now_utc(),
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model: setup::cpu_model(),
        load_before,
        load_after: setup::load_average(),
        apiserver,
        kubectl: setup::kubectl_version()?,
        path: setup::PATH.to_owned(),
        requests,
        rounds,
    };
    let region = report::render(&facts, &CONCURRENCIES, &cells);
    println!("{region}");
    if let Some(path) = m.get_one::<PathBuf>("write") {
        report::write_region(path, &region).map_err(|source| setup::SetupError::Write {
            path: path.clone(),
            source,
        })?;
        eprintln!("wrote the proxy-bench region of {}", path.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let m = cli().get_matches();
    match run(&m) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("proxy-bench: {}", k8s_client::error::Report::new(&*err));
            ExitCode::FAILURE
        }
    }
}
