//! `bench-harness`: runs every benchmark case for every client against one
//! apiserver, interleaved, and writes docs/performance.md.
//!
//! `cargo xtask bench` builds the clients, starts the control plane and calls
//! this program; it can also be run by hand against any cluster whose admin
//! kubeconfig uses a client certificate:
//!
//! ```text
//! bench-harness --kubeconfig admin.kubeconfig --rounds 3 --objects 500 \
//!   --client ours=target/release/bench-ours --client raw=target/release/bench-raw
//! ```

mod cases;
mod exec;
mod goals;
mod instructions;
mod report;
mod runner;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use k8s_client_bench::dataset;
use k8s_client_bench::raw::RawClient;

use crate::cases::{Case, Sizes};
use crate::runner::{ClientSpec, Run};

struct Options {
    render: Option<PathBuf>,
    kubeconfig: PathBuf,
    out: PathBuf,
    results: Option<PathBuf>,
    notes: Option<PathBuf>,
    work_dir: PathBuf,
    rounds: usize,
    sizes: Sizes,
    cases: Option<Vec<String>>,
    clients: Vec<ClientSpec>,
    client_notes: Vec<String>,
    command: String,
    timeout: Duration,
    /// Count instructions per GET instead of running the rounds.
    instructions: bool,
}

const USAGE: &str = "usage: bench-harness --render results.json [--notes notes.md] [--out docs/performance.md]\n   or: bench-harness --kubeconfig PATH --client NAME=COMMAND… [--rounds N] [--objects N] [--gets N] [--watch-events N] [--exec-requests N] [--cases a,b,c1,c16,c32,c-qps5,d-initial,d-live,e,f,g-cold,g-warm,informer] [--out docs/performance.md] [--results results.json] [--notes notes.md] [--work-dir DIR] [--client-note TEXT]… [--command TEXT] [--timeout SECONDS] [--instructions]";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        render: None,
        kubeconfig: PathBuf::new(),
        out: PathBuf::from("docs/performance.md"),
        results: None,
        notes: None,
        work_dir: std::env::temp_dir().join("k8s-client-bench"),
        rounds: 3,
        sizes: Sizes {
            objects: 10_000,
            gets: 5_000,
            watch_events: 1_000,
            exec_requests: 1_000,
        },
        cases: None,
        clients: Vec::new(),
        client_notes: Vec::new(),
        command: "bench-harness".into(),
        timeout: Duration::from_secs(180),
        instructions: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let num = |v: String| {
            v.parse::<usize>()
                .map_err(|_| format!("{flag} wants a number, got {v:?}"))
        };
        match flag.as_str() {
            "--kubeconfig" => o.kubeconfig = val()?.into(),
            "--render" => o.render = Some(val()?.into()),
            "--out" => o.out = val()?.into(),
            "--results" => o.results = Some(val()?.into()),
            "--notes" => o.notes = Some(val()?.into()),
            "--work-dir" => o.work_dir = val()?.into(),
            "--rounds" => o.rounds = num(val()?)?.max(1),
            "--objects" => o.sizes.objects = num(val()?)?,
            "--gets" => o.sizes.gets = num(val()?)?,
            "--watch-events" => o.sizes.watch_events = num(val()?)?,
            "--exec-requests" => o.sizes.exec_requests = num(val()?)?,
            "--timeout" => o.timeout = Duration::from_secs(num(val()?)? as u64),
            "--cases" => o.cases = Some(val()?.split(',').map(str::to_string).collect()),
            "--client-note" => o.client_notes.push(val()?),
            "--instructions" => o.instructions = true,
            "--command" => o.command = val()?,
            "--client" => {
                let v = val()?;
                let (name, cmd) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--client wants NAME=COMMAND, got {v:?}"))?;
                o.clients.push(ClientSpec {
                    name: name.to_string(),
                    command: cmd.split_whitespace().map(str::to_string).collect(),
                });
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if o.render.is_none() && (o.kubeconfig.as_os_str().is_empty() || o.clients.is_empty()) {
        return Err(USAGE.into());
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-harness: {e}");
            ExitCode::FAILURE
        }
    }
}

fn shell(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0);
    format!(
        "{} cores ({cpu}), {} GiB RAM, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        mem / 1024 / 1024,
        shell("uname", &["-sr"])
    )
}

/// The 1, 5 and 15 minute load averages of the machine.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Everything needed to render the document again (`--render`), e.g. after
/// editing the notes, without re-running the benchmark.
#[derive(serde::Serialize, serde::Deserialize)]
struct Results {
    header: report::Header,
    sizes: Sizes,
    cases: Vec<String>,
    clients: Vec<String>,
    runs: Vec<Run>,
}

fn read_notes(o: &Options) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    Ok(match &o.notes {
        Some(p) => {
            std::fs::read_to_string(p).map_err(|e| format!("reading notes {}: {e}", p.display()))?
        }
        None => String::new(),
    })
}

fn write_doc(o: &Options, r: &Results) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let cases: Vec<Case> = cases::all(&r.sizes)
        .into_iter()
        .filter(|c| r.cases.iter().any(|id| id == c.id))
        .collect();
    // The proxy benchmark's region and the hand-written ones stay verbatim.
    let previous = std::fs::read_to_string(&o.out).unwrap_or_default();
    let kept = report::kept_regions(&previous);
    let md = report::render(
        &r.header,
        &cases,
        &r.clients,
        &r.runs,
        &kept,
        &read_notes(o)?,
    );
    if let Some(dir) = o.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&o.out, md)?;
    eprintln!("bench: wrote {}", o.out.display());
    Ok(())
}

fn run(o: &Options) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if let Some(path) = &o.render {
        let text = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        return write_doc(o, &serde_json::from_slice(&text)?);
    }
    let load_before = load_average();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let raw = RawClient::from_kubeconfig(&o.kubeconfig)?;
    let version: serde_json::Value = rt.block_on(raw.get("/version"))?;
    let server = version["gitVersion"].as_str().unwrap_or("?").to_string();
    eprintln!(
        "bench: apiserver {server}; loading the data set ({} ConfigMaps)",
        o.sizes.objects
    );
    rt.block_on(dataset::ensure(&raw, o.sizes.objects))?;
    std::fs::create_dir_all(&o.work_dir)?;

    let cases: Vec<Case> = cases::all(&o.sizes)
        .into_iter()
        .filter(|c| {
            o.cases
                .as_ref()
                .is_none_or(|want| want.iter().any(|w| w == c.id || w == &c.letter.to_string()))
        })
        .collect();
    let exec = if cases.iter().any(|c| c.exec) {
        Some(rt.block_on(exec::prepare(&raw, &o.kubeconfig, &o.work_dir))?)
    } else {
        None
    };

    if o.instructions {
        let table = instructions::measure(&cases, &o.clients, &o.kubeconfig, &o.work_dir)?;
        let path = o.work_dir.join("instructions.md");
        std::fs::write(&path, &table).map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!("{table}");
        eprintln!("bench: wrote {}", path.display());
        return Ok(());
    }

    let mut runs: Vec<Run> = Vec::new();
    for round in 0..o.rounds {
        for case in &cases {
            if case.once && round > 0 {
                continue;
            }
            let n = o.clients.len();
            for k in 0..n {
                let spec = &o.clients[(k + round) % n];
                if !case.includes(&spec.name) {
                    continue;
                }
                let run = run_case(&rt, &raw, o, case, spec, round, exec.as_ref())?;
                eprintln!(
                    "bench: round {} {:>9} {:>10}: wall {:.3}s rss {:.1} MiB cpu {:.2}s {}",
                    round + 1,
                    case.id,
                    spec.name,
                    run.wall_s,
                    run.outcome.peak_rss_kib.unwrap_or(run.maxrss_kib as u64) as f64 / 1024.0,
                    run.cpu_s,
                    serde_json::to_string(&run.outcome).unwrap_or_default()
                );
                runs.push(run);
            }
        }
    }

    let results = Results {
        header: report::Header {
            command: o.command.clone(),
            date: shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            machine: machine(),
            server,
            rounds: o.rounds,
            clients: o.client_notes.clone(),
            load: format!(
                "{load_before} when the run started, {} when it ended (other builds shared the machine when these exceed its core count)",
                load_average()
            ),
        },
        sizes: o.sizes.clone(),
        cases: cases.iter().map(|c| c.id.to_string()).collect(),
        clients: o.clients.iter().map(|c| c.name.clone()).collect(),
        runs,
    };
    if let Some(p) = &o.results {
        std::fs::write(p, serde_json::to_vec_pretty(&results)?)?;
    }
    write_doc(o, &results)
}

/// A client name as a label value: lowercase ASCII alphanumerics, each run of
/// other characters one `-`, starting and ending with an alphanumeric.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

fn run_case(
    rt: &tokio::runtime::Runtime,
    raw: &RawClient,
    o: &Options,
    case: &Case,
    spec: &ClientSpec,
    round: usize,
    exec: Option<&exec::ExecSetup>,
) -> Result<Run, Box<dyn std::error::Error + Send + Sync>> {
    let mut argv = case.argv.clone();
    let live = case.id == "d-live";
    let run_id = format!("r{round}-{}", slug(&spec.name));
    if live {
        argv.push(format!("run={run_id}"));
    }
    let kubeconfig: &Path = match (case.exec, exec) {
        (true, Some(e)) => &e.kubeconfig,
        _ => &o.kubeconfig,
    };
    let runs_before = exec.map(exec::ExecSetup::runs);
    let writes = o.sizes.watch_events;
    let mut write_error = None;
    let (wall_s, maxrss_kib, cpu_s, mut outcome) =
        runner::run(spec, &argv, kubeconfig, live, o.timeout, || {
            if live && let Err(e) = rt.block_on(dataset::write_run(raw, &run_id, writes, 4)) {
                write_error = Some(e.to_string());
            }
        });
    if live {
        rt.block_on(dataset::delete_run(raw, &run_id))?;
    }
    if let Some(e) = write_error {
        outcome.error = Some(format!("writing the watched objects failed: {e}"));
    }
    let plugin_runs = match (case.exec, exec, runs_before) {
        (true, Some(e), Some(before)) => Some(e.runs() - before),
        _ => None,
    };
    Ok(Run {
        client: spec.name.clone(),
        case: case.id.to_string(),
        round,
        wall_s,
        maxrss_kib,
        cpu_s,
        outcome,
        plugin_runs,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_names_become_valid_label_values() {
        assert_eq!(
            super::slug("client-go (default: protobuf)"),
            "client-go-default-protobuf"
        );
        assert_eq!(super::slug("raw HTTP/1.1"), "raw-http-1-1");
        assert_eq!(super::slug("ours"), "ours");
    }
}
