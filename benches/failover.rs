//! Failover benchmark (`cargo xtask bench failover`): one local control plane with three
//! kube-apiservers on one etcd, and two clients of it — one on the cluster URL only, one
//! balancing over all three servers.
//!
//! - Throughput: GETs of one object at 16 and 32 in flight, each client in turn (the
//!   order alternates per round), requests per second and p50/p99 latency.
//! - Failover pause: a sequential GET loop on the balancing client; when its request is
//!   in flight on a server, that server is SIGKILLed; the pause is the time from the kill
//!   to the loop's first success after it (the request in flight fails over to another
//!   server). Meanwhile 16 GETs stay in flight on the same client: their p99 latency
//!   around the kill and their failures are reported. The server is restarted and
//!   re-admitted before the next kill (victims rotate).
//!
//! Prints a Markdown report; `--write FILE` (repeatable) replaces the region between the
//! failover-bench markers of FILE.

use clap::{Arg, ArgAction, Command, value_parser};
use k8s_client::config::KubeconfigOptions;
use k8s_client::testenv::TestEnv;
use k8s_client::{Client, Config};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const START_MARKER: &str = "<!-- failover-bench:start -->";
const END_MARKER: &str = "<!-- failover-bench:end -->";
const SERVERS: usize = 3;
const CONCURRENCIES: [usize; 2] = [16, 32];
/// In flight on the balancing client while servers are killed.
const KILL_LOAD: usize = 16;
/// The window around a kill whose requests count for the p99 "during the kill".
const WINDOW_BEFORE: Duration = Duration::from_millis(500);
const WINDOW_AFTER: Duration = Duration::from_secs(2);
const PATH: &str = "/api/v1/namespaces/default";

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn cli() -> Command {
    Command::new("failover")
        .about("Throughput over 3 API servers vs 1, and the failover pause when one is killed")
        .arg(
            Arg::new("requests")
                .long("requests")
                .value_parser(value_parser!(usize))
                .default_value("3000")
                .help("GETs per client, concurrency and round"),
        )
        .arg(
            Arg::new("rounds")
                .long("rounds")
                .value_parser(value_parser!(usize))
                .default_value("3")
                .help("Throughput rounds"),
        )
        .arg(
            Arg::new("kills")
                .long("kills")
                .value_parser(value_parser!(usize))
                .default_value("5")
                .help("Servers killed (at least 5 for a median)"),
        )
        .arg(
            Arg::new("write")
                .long("write")
                .value_parser(value_parser!(PathBuf))
                .action(ArgAction::Append)
                .help("Replace the failover-bench region of FILE"),
        )
        // `cargo bench` passes `--bench`.
        .arg(
            Arg::new("bench")
                .long("bench")
                .action(ArgAction::SetTrue)
                .hide(true),
        )
}

fn client(env: &TestEnv, balanced: bool) -> Result<Client, Failure> {
    let mut options = KubeconfigOptions::default();
    options.kubeconfig = Some(env.admin_kubeconfig().to_owned());
    let config = Config::from_kubeconfig(&options)?;
    let mut builder = Client::builder(config);
    if balanced {
        let extra: Result<Vec<url::Url>, _> = env.apiserver_urls()[1..]
            .iter()
            .map(|u| u.parse())
            .collect();
        builder = builder.endpoints(extra?);
    }
    Ok(builder.build()?)
}

async fn get(client: &Client) -> Result<(), k8s_client::Error> {
    let req = http::Request::get(PATH)
        .body(Vec::new())
        .expect("a constant request");
    client.request_bytes(req).await.map(drop)
}

/// Latencies of `requests` GETs, `concurrency` at a time, and the elapsed time.
async fn load(
    client: &Client,
    concurrency: usize,
    requests: usize,
) -> Result<(Vec<Duration>, Duration), Failure> {
    let left = Arc::new(AtomicUsize::new(requests));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, left) = (client.clone(), left.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let t = Instant::now();
                    get(&client).await?;
                    lat.push(t.elapsed());
                }
                Ok::<_, k8s_client::Error>(lat)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(requests);
    for w in workers {
        all.extend(w.await??);
    }
    Ok((all, start.elapsed()))
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Cell {
    rps: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
}

impl Cell {
    fn new() -> Self {
        Self {
            rps: Vec::new(),
            p50: Vec::new(),
            p99: Vec::new(),
        }
    }
    fn add(&mut self, mut lat: Vec<Duration>, elapsed: Duration) {
        lat.sort();
        self.rps.push(lat.len() as f64 / elapsed.as_secs_f64());
        self.p50.push(ms(percentile(&lat, 0.5)));
        self.p99.push(ms(percentile(&lat, 0.99)));
    }
}

struct Kill {
    victim: usize,
    pause: Duration,
    caught_in_flight: bool,
    p99_window: Duration,
    window_requests: usize,
    failures: usize,
    /// The distinct errors of the failed requests.
    errors: Vec<String>,
}

/// One kill: waits until the probe loop's request is in flight on `victim` (up to 2 s),
/// SIGKILLs it, and measures the pause and the background load around it.
async fn kill_once(env: &Arc<TestEnv>, client: &Client, victim: usize) -> Result<Kill, Failure> {
    let victim_url = env.apiserver_urls()[victim].clone();
    let stop = Arc::new(AtomicBool::new(false));
    // (start, latency) of every background GET, and their failures.
    let samples = Arc::new(Mutex::new(Vec::<(Instant, Duration)>::new()));
    let failures = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let background: Vec<_> = (0..KILL_LOAD)
        .map(|_| {
            let (client, stop, samples, failures, errors) = (
                client.clone(),
                stop.clone(),
                samples.clone(),
                failures.clone(),
                errors.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match get(&client).await {
                        Ok(()) => samples.lock().unwrap().push((t, t.elapsed())),
                        Err(e) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            note(&errors, &e);
                        }
                    }
                }
            })
        })
        .collect();
    // The probe loop: sequential GETs, recording each success's completion time.
    let done = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let probe = {
        let (client, stop, done, failures, errors) = (
            client.clone(),
            stop.clone(),
            done.clone(),
            failures.clone(),
            errors.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match get(&client).await {
                    Ok(()) => done.lock().unwrap().push(Instant::now()),
                    Err(e) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        note(&errors, &e);
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Catch a moment when the victim has a request in flight.
    let watch = client.clone();
    let url = victim_url.clone();
    let caught = tokio::task::spawn_blocking(move || {
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            if watch
                .endpoints()
                .iter()
                .any(|e| e.endpoint == url && e.outstanding > 0)
            {
                return true;
            }
            std::hint::spin_loop();
        }
        false
    })
    .await?;
    let killed_at = Instant::now();
    let e = env.clone();
    tokio::task::spawn_blocking(move || e.kill_apiserver(victim)).await??;
    let deadline = Instant::now() + Duration::from_secs(30);
    let pause = loop {
        if let Some(t) = done.lock().unwrap().iter().find(|t| **t > killed_at) {
            break t.duration_since(killed_at);
        }
        if Instant::now() > deadline {
            return Err("no request succeeded within 30 s of the kill".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    tokio::time::sleep(WINDOW_AFTER).await;
    stop.store(true, Ordering::Relaxed);
    for w in background {
        w.await?;
    }
    probe.await?;
    let from = killed_at - WINDOW_BEFORE;
    let to = killed_at + WINDOW_AFTER;
    let mut window: Vec<Duration> = samples
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| *t >= from && *t <= to)
        .map(|(_, d)| *d)
        .collect();
    window.sort();
    // Restart, and wait until the client uses it again.
    let e = env.clone();
    tokio::task::spawn_blocking(move || e.start_apiserver(victim)).await??;
    let readmit = Instant::now() + Duration::from_secs(30);
    while !client.endpoints().iter().all(|e| e.healthy) {
        if Instant::now() > readmit {
            return Err(format!("{victim_url} was not re-admitted within 30 s").into());
        }
        let _ = get(client).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Kill {
        victim,
        pause,
        caught_in_flight: caught,
        p99_window: percentile(&window, 0.99),
        window_requests: window.len(),
        failures: failures.load(Ordering::Relaxed),
        errors: errors.lock().unwrap().clone(),
    })
}

/// Records `e` with its causes, once per distinct text.
fn note(errors: &Mutex<Vec<String>>, e: &k8s_client::Error) {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    let mut errors = errors.lock().unwrap();
    if !errors.contains(&text) && errors.len() < 5 {
        errors.push(text);
    }
}

fn splice(doc: &str, region: &str) -> String {
    match (doc.find(START_MARKER), doc.find(END_MARKER)) {
        (Some(s), Some(e)) if s < e => {
            format!("{}{START_MARKER}\n{region}{}", &doc[..s], &doc[e..])
        }
        _ => format!("{}\n{START_MARKER}\n{region}{END_MARKER}\n", doc.trim_end()),
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

async fn run(requests: usize, rounds: usize, kills: usize) -> Result<String, Failure> {
    let load_before = load_average();
    let env = tokio::task::spawn_blocking(|| {
        TestEnv::builder()
            .controller_manager(false)
            .apiservers(SERVERS)
            .start()
    })
    .await??;
    let env = Arc::new(env);
    let one = client(&env, false)?;
    let three = client(&env, true)?;
    for c in [&one, &three] {
        load(c, 8, 500).await?;
    }
    let mut cells = Vec::new();
    for &concurrency in &CONCURRENCIES {
        let (mut c1, mut c3) = (Cell::new(), Cell::new());
        for round in 0..rounds {
            for k in 0..2 {
                let balanced = (k + round) % 2 == 1;
                eprintln!(
                    "throughput: {} server(s), {concurrency} in flight, round {}",
                    if balanced { 3 } else { 1 },
                    round + 1
                );
                let (lat, elapsed) =
                    load(if balanced { &three } else { &one }, concurrency, requests).await?;
                if balanced {
                    c3.add(lat, elapsed)
                } else {
                    c1.add(lat, elapsed)
                }
            }
        }
        cells.push((concurrency, c1, c3));
    }
    let mut results = Vec::new();
    for i in 0..kills {
        let victim = i % SERVERS;
        eprintln!("kill {}: server {victim}", i + 1);
        results.push(kill_once(&env, &three, victim).await?);
    }
    let load_after = load_average();
    drop((one, three));
    tokio::task::spawn_blocking(move || drop(env)).await?;

    let mut out = String::new();
    out.push_str("## Failover: 3 API servers vs 1, and the pause when one is killed\n\n");
    out.push_str(&format!(
        "`cargo xtask bench failover --requests {requests} --rounds {rounds} --kills {kills}` — \
         one testenv control plane (Kubernetes {}), three kube-apiservers on one etcd on this \
         machine ({} CPUs, load average {load_before} before, {load_after} after); GET `{PATH}`; \
         medians of {rounds} rounds (the raw rounds follow the table).\n\n",
        k8s_client::testenv::versions::KUBERNETES_VERSION,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    out.push_str("| in flight | 1 server req/s | 3 servers req/s | ratio 3/1 | p50 ms 1 / 3 | p99 ms 1 / 3 |\n|---|---|---|---|---|---|\n");
    for (c, c1, c3) in &cells {
        let (r1, r3) = (median(c1.rps.clone()), median(c3.rps.clone()));
        out.push_str(&format!(
            "| {c} | {r1:.0} | {r3:.0} | {:.2} | {:.1} / {:.1} | {:.1} / {:.1} |\n",
            if r1 > 0.0 { r3 / r1 } else { 0.0 },
            median(c1.p50.clone()),
            median(c3.p50.clone()),
            median(c1.p99.clone()),
            median(c3.p99.clone()),
        ));
    }
    out.push_str("\nRaw rounds (req/s): ");
    let raw: Vec<String> = cells
        .iter()
        .map(|(c, c1, c3)| {
            let f = |v: &[f64]| {
                v.iter()
                    .map(|x| format!("{x:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "{c} in flight: 1 server [{}], 3 servers [{}]",
                f(&c1.rps),
                f(&c3.rps)
            )
        })
        .collect();
    out.push_str(&raw.join("; "));
    out.push_str(".\n\n");
    let pauses: Vec<f64> = results.iter().map(|k| ms(k.pause)).collect();
    let p99s: Vec<f64> = results.iter().map(|k| ms(k.p99_window)).collect();
    let failures: usize = results.iter().map(|k| k.failures).sum();
    out.push_str(&format!(
        "Failover pause (SIGKILL of a server while it has requests in flight → the first \
         success of a sequential GET loop after the kill), {kills} kills: **median {:.1} ms** \
         (max {:.1} ms). p99 latency of the {KILL_LOAD} GETs in flight around each kill \
         (from {} ms before to {} s after): median {:.1} ms, max {:.1} ms. Failed requests \
         during all kills: **{failures}**.\n\n",
        median(pauses.clone()),
        pauses.iter().copied().fold(0.0, f64::max),
        WINDOW_BEFORE.as_millis(),
        WINDOW_AFTER.as_secs(),
        median(p99s.clone()),
        p99s.iter().copied().fold(0.0, f64::max),
    ));
    out.push_str("| kill | victim | caught in flight | pause ms | requests in window | p99 ms in window | failures |\n|---|---|---|---|---|---|---|\n");
    for (i, k) in results.iter().enumerate() {
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {} | {:.1} | {} |\n",
            i + 1,
            k.victim,
            if k.caught_in_flight { "yes" } else { "no" },
            ms(k.pause),
            k.window_requests,
            ms(k.p99_window),
            k.failures
        ));
    }
    let errors: Vec<&String> = results.iter().flat_map(|k| &k.errors).collect();
    if !errors.is_empty() {
        out.push_str("\nErrors of the failed requests:\n\n");
        for e in errors {
            out.push_str(&format!("- `{e}`\n"));
        }
    }
    out.push_str(
        "\nAll three servers share this machine's CPUs with etcd and the client, so the 3/1 \
         ratio shows the cost of balancing (three connection pools, power of two choices), \
         not the capacity three machines would add.\n",
    );
    Ok(out)
}

fn main() -> std::process::ExitCode {
    let m = cli().get_matches();
    let requests = m
        .get_one::<usize>("requests")
        .copied()
        .unwrap_or(3000)
        .max(1);
    let rounds = m.get_one::<usize>("rounds").copied().unwrap_or(3).max(1);
    let kills = m.get_one::<usize>("kills").copied().unwrap_or(5).max(1);
    let writes: Vec<PathBuf> = m
        .get_many::<PathBuf>("write")
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("failover bench: no runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let report = match runtime.block_on(run(requests, rounds, kills)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("failover bench failed: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("{report}");
    for path in writes {
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        if let Err(e) = std::fs::write(&path, splice(&doc, &report)) {
            eprintln!("failover bench: writing {} failed: {e}", path.display());
            return std::process::ExitCode::FAILURE;
        }
        eprintln!("wrote the failover-bench region of {}", path.display());
    }
    std::process::ExitCode::SUCCESS
}
