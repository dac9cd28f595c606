//! Port-forward benchmark (`cargo xtask bench portforward`): one local control plane
//! with a kwok node whose pod port 8080 reaches a local TCP server of this process,
//! and the same pod forwarded by ours (tunnelled SPDY, the default, and the
//! `v4.channel.k8s.io` fallback) and by `kubectl port-forward` (its default tunnelled
//! SPDY and its legacy SPDY upgrade), each behind a local port; plus the local server
//! reached directly (no API server, no kwok) as the floor.
//!
//! Per forwarder and round: 50 MB uploaded through one connection (the server
//! answers the SHA-256 of what it read), 50 MB downloaded (SHA-256 checked here), and
//! 2000 round trips of 64 bytes (median and p99). Rounds rotate the order; the report
//! gives medians and the ratio to kubectl's default.
//!
//! Prints a Markdown report; `--write FILE` replaces the region between the
//! portforward-bench markers of FILE.

use clap::{Arg, ArgAction, Command, value_parser};
use k8s_client::api::{Api, PortforwardProtocol, PostParams};
use k8s_client::config::KubeconfigOptions;
use k8s_client::testenv::TestEnv;
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::Pod;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const START_MARKER: &str = "<!-- portforward-bench:start -->";
const END_MARKER: &str = "<!-- portforward-bench:end -->";
const POD_PORT: u16 = 8080;
const SMALL: usize = 64;

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn cli() -> Command {
    Command::new("portforward")
        .about("Port-forward throughput and latency: ours vs kubectl port-forward")
        .arg(
            Arg::new("megabytes")
                .long("megabytes")
                .value_parser(value_parser!(usize))
                .default_value("50")
                .help("MB sent each way per forwarder and round"),
        )
        .arg(
            Arg::new("round-trips")
                .long("round-trips")
                .value_parser(value_parser!(usize))
                .default_value("2000")
                .help("64-byte round trips per forwarder and round"),
        )
        .arg(
            Arg::new("rounds")
                .long("rounds")
                .value_parser(value_parser!(usize))
                .default_value("3")
                .help("Rounds (the order rotates)"),
        )
        .arg(
            Arg::new("write")
                .long("write")
                .value_parser(value_parser!(PathBuf))
                .action(ArgAction::Append)
                .help("Replace the portforward-bench region of FILE"),
        )
        .arg(
            Arg::new("bench")
                .long("bench")
                .action(ArgAction::SetTrue)
                .hide(true),
        )
}

/// The byte at offset `i` of a download (cheap, not compressible by accident).
fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(0x9E37_79B9) >> 11) as u8
}

fn fill(buf: &mut [u8], offset: u64) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern(offset + k as u64);
    }
}

/// The server behind the pod port: the first byte picks the mode. `U` + length:
/// read that many bytes, answer their SHA-256. `D` + length: send that many pattern
/// bytes. `E`: echo until the end.
async fn serve(listener: tokio::net::TcpListener) {
    while let Ok((mut conn, _)) = listener.accept().await {
        let _ = conn.set_nodelay(true);
        tokio::spawn(async move {
            let mut mode = [0u8; 1];
            if conn.read_exact(&mut mode).await.is_err() {
                return;
            }
            let mut buf = vec![0u8; 256 * 1024];
            match mode[0] {
                b'U' | b'D' => {
                    let Ok(len) = conn.read_u64().await else {
                        return;
                    };
                    if mode[0] == b'U' {
                        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
                        let mut left = len as usize;
                        while left > 0 {
                            let want = left.min(buf.len());
                            let Ok(n) = conn.read(&mut buf[..want]).await else {
                                return;
                            };
                            if n == 0 {
                                return;
                            }
                            ctx.update(&buf[..n]);
                            left -= n;
                        }
                        let _ = conn.write_all(ctx.finish().as_ref()).await;
                    } else {
                        let mut sent = 0u64;
                        while sent < len {
                            let n = (len - sent).min(buf.len() as u64) as usize;
                            fill(&mut buf[..n], sent);
                            if conn.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                            sent += n as u64;
                        }
                    }
                    // Wait for the client to finish before closing.
                    let _ = conn.read(&mut buf).await;
                }
                b'E' => {
                    while let Ok(n) = conn.read(&mut buf).await {
                        if n == 0 || conn.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
                _ => {}
            }
        });
    }
}

async fn connect(port: u16) -> Result<TcpStream, Failure> {
    let s = TcpStream::connect(("127.0.0.1", port)).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

/// Uploads `len` bytes; returns the time until the server's digest matched.
async fn upload(port: u16, len: usize) -> Result<Duration, Failure> {
    let mut conn = connect(port).await?;
    let mut chunk = vec![0u8; 256 * 1024];
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let start = Instant::now();
    conn.write_all(b"U").await?;
    conn.write_u64(len as u64).await?;
    let mut sent = 0usize;
    while sent < len {
        let n = (len - sent).min(chunk.len());
        fill(&mut chunk[..n], sent as u64);
        ctx.update(&chunk[..n]);
        conn.write_all(&chunk[..n]).await?;
        sent += n;
    }
    let mut digest = [0u8; 32];
    conn.read_exact(&mut digest).await?;
    let elapsed = start.elapsed();
    if digest[..] != *ctx.finish().as_ref() {
        return Err("upload: the server's SHA-256 differs".into());
    }
    Ok(elapsed)
}

/// Downloads `len` bytes; returns the time until the last arrived (SHA-256 checked).
async fn download(port: u16, len: usize) -> Result<Duration, Failure> {
    let mut conn = connect(port).await?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut expected = vec![0u8; 256 * 1024];
    let (mut got, mut want) = (
        ring::digest::Context::new(&ring::digest::SHA256),
        ring::digest::Context::new(&ring::digest::SHA256),
    );
    let start = Instant::now();
    conn.write_all(b"D").await?;
    conn.write_u64(len as u64).await?;
    let mut read = 0usize;
    while read < len {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Err(format!("download: ended after {read} of {len} bytes").into());
        }
        got.update(&buf[..n]);
        fill(&mut expected[..n], read as u64);
        want.update(&expected[..n]);
        read += n;
    }
    let elapsed = start.elapsed();
    if got.finish().as_ref() != want.finish().as_ref() {
        return Err("download: SHA-256 differs".into());
    }
    Ok(elapsed)
}

/// `count` round trips of 64 bytes; their latencies, sorted.
async fn round_trips(port: u16, count: usize) -> Result<Vec<Duration>, Failure> {
    let mut conn = connect(port).await?;
    conn.write_all(b"E").await?;
    let mut msg = [0u8; SMALL];
    let mut back = [0u8; SMALL];
    // Warm up the path (connection set-up on the pod side).
    for i in 0..20u8 {
        msg[0] = i;
        conn.write_all(&msg).await?;
        conn.read_exact(&mut back).await?;
    }
    let mut lat = Vec::with_capacity(count);
    for i in 0..count {
        msg[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let t = Instant::now();
        conn.write_all(&msg).await?;
        conn.read_exact(&mut back).await?;
        lat.push(t.elapsed());
        if back != msg {
            return Err("round trip: the echo differs".into());
        }
    }
    lat.sort();
    Ok(lat)
}

/// A forwarder under test: a local port that reaches the pod port.
struct Forwarder {
    name: &'static str,
    port: u16,
    _child: Option<tokio::process::Child>,
}

/// Ours behind a local listener: one session, one stream per accepted connection.
async fn ours(pods: &Api<Pod>, protocol: PortforwardProtocol) -> Result<u16, Failure> {
    let session = pods.portforward_session("bench", protocol).await?;
    if session.protocol() != protocol && protocol != PortforwardProtocol::Auto {
        return Err("ours: another protocol than asked".into());
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let _ = conn.set_nodelay(true);
            let session = session.clone();
            tokio::spawn(async move {
                if let Ok(mut stream) = session.open(POD_PORT).await {
                    let _ = tokio::io::copy_bidirectional(&mut conn, &mut stream).await;
                }
            });
        }
    });
    Ok(port)
}

async fn kubectl(
    env: &TestEnv,
    legacy_spdy: bool,
) -> Result<(tokio::process::Child, u16), Failure> {
    use tokio::io::AsyncBufReadExt;
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.arg(format!("--kubeconfig={}", env.admin_kubeconfig().display()))
        .args([
            "-n",
            "default",
            "port-forward",
            "--address=127.0.0.1",
            "pod/bench",
        ])
        .arg(format!(":{POD_PORT}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    if legacy_spdy {
        cmd.env("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false");
    } else {
        cmd.env_remove("KUBECTL_PORT_FORWARD_WEBSOCKETS");
    }
    let mut child = cmd.spawn()?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().ok_or("kubectl stdout")?).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await??
            .ok_or("kubectl port-forward ended")?;
        if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
            let port = rest.split_once(' ').ok_or("kubectl output")?.0.parse()?;
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok((child, port));
        }
    }
}

async fn kubectl_version() -> String {
    let out = tokio::process::Command::new("kubectl")
        .args(["version", "--client", "-o", "json"])
        .output()
        .await;
    out.ok()
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .and_then(|v| v["clientVersion"]["gitVersion"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

#[derive(Default)]
struct Samples {
    up: Vec<f64>,
    down: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    /// CPU seconds per process name (this process is "bench+ours") spent on the
    /// upload and the download, summed over rounds.
    cpu: std::collections::BTreeMap<String, f64>,
}

/// CPU seconds (user + system) so far of this process and of its children, by name.
fn cpu_times() -> std::collections::BTreeMap<String, f64> {
    let me = std::process::id();
    let tick = 100.0; // USER_HZ on Linux
    let mut out = std::collections::BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ppid: u32 = fields.get(1).and_then(|f| f.parse().ok()).unwrap_or(0);
        if pid != me && ppid != me {
            continue;
        }
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
            .sum();
        let name = if pid == me {
            "bench+ours".to_owned()
        } else {
            name
        };
        *out.entry(name).or_insert(0.0) += ticks / tick;
    }
    out
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

async fn run(megabytes: usize, trips: usize, rounds: usize) -> Result<String, Failure> {
    let load_before = load_average();
    let env = tokio::task::spawn_blocking(|| {
        TestEnv::builder()
            .nodes(1)
            .forward_pod_port(POD_PORT)
            .start()
    })
    .await??;
    let local = env.forwarded_port(POD_PORT).ok_or("no forwarded port")?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", local)).await?;
    tokio::spawn(serve(listener));

    let mut options = KubeconfigOptions::default();
    options.kubeconfig = Some(env.admin_kubeconfig().to_owned());
    let client = Client::try_from(Config::from_kubeconfig(&options)?)?;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "bench"},
        "spec": {"containers": [{"name": "main", "image": "example.invalid/app:1",
            "ports": [{"containerPort": POD_PORT}]}]},
    }))?;
    pods.create(&PostParams::default(), &pod).await?;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let p = pods.get("bench").await?;
        if p.status.and_then(|s| s.phase).as_deref() == Some("Running") {
            break;
        }
        if Instant::now() > deadline {
            return Err("the pod did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (kubectl_child, kubectl_port) = kubectl(&env, false).await?;
    let (legacy_child, legacy_port) = kubectl(&env, true).await?;
    let forwarders = [
        Forwarder {
            name: "ours, SPDY in WebSocket (default)",
            port: ours(&pods, PortforwardProtocol::SpdyOverWebSocket).await?,
            _child: None,
        },
        Forwarder {
            name: "ours, WebSocket v4.channel.k8s.io (fallback)",
            port: ours(&pods, PortforwardProtocol::WebSocket).await?,
            _child: None,
        },
        Forwarder {
            name: "kubectl, SPDY in WebSocket (default)",
            port: kubectl_port,
            _child: Some(kubectl_child),
        },
        Forwarder {
            name: "kubectl, SPDY upgrade (legacy)",
            port: legacy_port,
            _child: Some(legacy_child),
        },
        Forwarder {
            name: "direct TCP to the local server (floor)",
            port: local,
            _child: None,
        },
    ];
    let bytes = megabytes * 1_000_000;
    let mut samples: Vec<Samples> = forwarders.iter().map(|_| Samples::default()).collect();
    let mut raw = Vec::new();
    for round in 0..rounds {
        for k in 0..forwarders.len() {
            let i = (k + round) % forwarders.len();
            let f = &forwarders[i];
            let cpu_before = cpu_times();
            let up = upload(f.port, bytes)
                .await
                .map_err(|e| format!("{}: {e}", f.name))?;
            let down = download(f.port, bytes)
                .await
                .map_err(|e| format!("{}: {e}", f.name))?;
            for (name, after) in cpu_times() {
                let spent = after - cpu_before.get(&name).copied().unwrap_or(0.0);
                *samples[i].cpu.entry(name).or_insert(0.0) += spent;
            }
            let lat = round_trips(f.port, trips)
                .await
                .map_err(|e| format!("{}: {e}", f.name))?;
            let s = &mut samples[i];
            s.up.push(mbps(bytes, up));
            s.down.push(mbps(bytes, down));
            s.p50.push(us(lat[lat.len() / 2]));
            s.p99.push(us(lat[lat.len() * 99 / 100]));
            raw.push(format!(
                "round {} {}: up {:.0} MB/s, down {:.0} MB/s, p50 {:.0} µs, p99 {:.0} µs",
                round + 1,
                f.name,
                mbps(bytes, up),
                mbps(bytes, down),
                us(lat[lat.len() / 2]),
                us(lat[lat.len() * 99 / 100])
            ));
            eprintln!("{}", raw.last().expect("pushed"));
        }
    }
    let version = kubectl_version().await;
    let load_after = load_average();
    drop(env);

    let kubectl_i = 2;
    let (k_up, k_down) = (
        median(&samples[kubectl_i].up),
        median(&samples[kubectl_i].down),
    );
    let (k_p50, k_p99) = (
        median(&samples[kubectl_i].p50),
        median(&samples[kubectl_i].p99),
    );
    let mut out = String::new();
    out.push_str("## Port-forward: ours vs `kubectl port-forward`\n\n");
    out.push_str(&format!(
        "`cargo xtask bench portforward --megabytes {megabytes} --round-trips {trips} --rounds {rounds}` — \
         release build; one testenv control plane (Kubernetes v1.37.2) with one kwok node whose \
         pod port {POD_PORT} reaches a local TCP server; kubectl {version}; every forwarder behind a \
         local port on 127.0.0.1, one TCP connection per measurement; load average {load_before} \
         before, {load_after} after (2 CPUs shared with the control plane). Medians of {rounds} \
         rounds in rotated order; ratios are to kubectl's default (above 1: ours moves more, \
         below 1: ours waits less). Every transfer is checked with SHA-256.\n\n"
    ));
    out.push_str(&format!(
        "| forwarder | upload {megabytes} MB, MB/s | ×kubectl | download {megabytes} MB, MB/s | ×kubectl | 64-byte round trip p50 µs | ×kubectl | p99 µs | ×kubectl |\n|---|---|---|---|---|---|---|---|---|\n"
    ));
    for (f, s) in forwarders.iter().zip(&samples) {
        let (up, down, p50, p99) = (
            median(&s.up),
            median(&s.down),
            median(&s.p50),
            median(&s.p99),
        );
        out.push_str(&format!(
            "| {} | {:.0} | {:.2} | {:.0} | {:.2} | {:.0} | {:.2} | {:.0} | {:.2} |\n",
            f.name,
            up,
            up / k_up,
            down,
            down / k_down,
            p50,
            p50 / k_p50,
            p99,
            p99 / k_p99
        ));
    }
    out.push_str(&format!(
        "\nWhere the CPU goes: seconds of CPU (user + system) per process while one forwarder \
         moved {megabytes} MB up and {megabytes} MB down, mean of the rounds (\"bench+ours\" is this \
         process: the test client, the local server, SHA-256 of both, and our forwarder when it \
         is ours; kubectl's own time is under its name). Analysis: `docs/streaming.md`, \
         \"Port-forward throughput\".\n\n| forwarder | CPU s by process |\n|---|---|\n"
    ));
    for (f, s) in forwarders.iter().zip(&samples) {
        let parts: Vec<String> = s
            .cpu
            .iter()
            .filter(|(_, v)| **v / rounds as f64 >= 0.01)
            .map(|(k, v)| format!("{k} {:.2}", v / rounds as f64))
            .collect();
        out.push_str(&format!("| {} | {} |\n", f.name, parts.join(", ")));
    }
    out.push_str("\nRaw rounds:\n\n");
    for line in raw {
        out.push_str(&format!("- {line}\n"));
    }
    Ok(out)
}

fn splice(doc: &str, region: &str) -> String {
    match (doc.find(START_MARKER), doc.find(END_MARKER)) {
        (Some(s), Some(e)) if s < e => {
            format!("{}{START_MARKER}\n{region}{}", &doc[..s], &doc[e..])
        }
        _ => format!(
            "{}\n\n{START_MARKER}\n{region}{END_MARKER}\n",
            doc.trim_end()
        ),
    }
}

fn main() -> std::process::ExitCode {
    let m = cli().get_matches();
    let megabytes = m
        .get_one::<usize>("megabytes")
        .copied()
        .unwrap_or(50)
        .max(1);
    let trips = m
        .get_one::<usize>("round-trips")
        .copied()
        .unwrap_or(2000)
        .max(100);
    let rounds = m.get_one::<usize>("rounds").copied().unwrap_or(3).max(1);
    let writes: Vec<PathBuf> = m
        .get_many::<PathBuf>("write")
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("portforward bench: no runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let report = match runtime.block_on(run(megabytes, trips, rounds)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("portforward bench failed: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("{report}");
    for path in writes {
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        if let Err(e) = std::fs::write(&path, splice(&doc, &report)) {
            eprintln!("portforward bench: writing {} failed: {e}", path.display());
            return std::process::ExitCode::FAILURE;
        }
        eprintln!("wrote the portforward-bench region of {}", path.display());
    }
    std::process::ExitCode::SUCCESS
}
