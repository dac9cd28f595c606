//! `cargo xtask bench [CASE…] [--rounds N] [--quick] [--kubeconfig PATH] […]`:
//! builds our benchmark client, the raw limit and the peers (kube-rs, client-go,
//! the official Python client in a venv), starts a testenv control plane (or
//! uses the cluster of `--kubeconfig`), and runs `bench-harness`, which loads
//! the data set and writes docs/performance.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Result, cargo, chain, ensure_binaries, root};

const USAGE: &str = "usage: cargo xtask bench [CASE…] [--rounds N] [--objects N] [--gets N] [--watch-events N] [--exec-requests N] [--quick] [--instructions] [--kubeconfig PATH] [--out PATH]

CASE is a case id or group letter of docs/performance.md: a b c c1 c16 c32 c-qps5 d d-initial d-live e f g
g-cold g-warm i informer (default: all). --quick = 1 round, 500 objects, 500 GETs, 100 watch events, 100 exec-plugin GETs.
Defaults: 3 rounds, 10,000 objects, 5,000 GETs, 1,000 watch events, 1,000 exec-plugin GETs.
--instructions: instead of the rounds, count each Rust client's instructions per GET (GET cases,
valgrind's callgrind; writes target/bench/instructions.md, leaves docs/performance.md alone).";

/// The peers' versions, for the document's header (the Go and Python pins live
/// in benches/peers/client-go/go.mod and benches/peers/python/requirements.txt).
const CLIENT_GO: &str = "k8s.io/client-go v0.37.2";

/// Runs the benchmark; `args` are the words after `cargo xtask bench`.
pub fn run(args: &[&str]) -> Result {
    let mut harness: Vec<String> = Vec::new();
    let mut cases: Vec<&str> = Vec::new();
    let mut kubeconfig: Option<PathBuf> = None;
    let mut out = root().join("docs/performance.md");
    let mut quick = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match *arg {
            "--rounds" | "--objects" | "--gets" | "--watch-events" | "--exec-requests" => {
                let v = it
                    .next()
                    .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))?;
                harness.extend([arg.to_string(), v.to_string()]);
            }
            "--kubeconfig" => {
                kubeconfig = Some(PathBuf::from(it.next().ok_or(USAGE)?));
            }
            "--out" => out = PathBuf::from(it.next().ok_or(USAGE)?),
            "--quick" => quick = true,
            "--instructions" => harness.push(arg.to_string()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            a if a.starts_with('-') => return Err(format!("unknown option {a}\n{USAGE}")),
            case => cases.push(case),
        }
    }
    if quick {
        let mut sizes = vec![
            "--rounds",
            "1",
            "--objects",
            "500",
            "--gets",
            "500",
            "--watch-events",
            "100",
            "--exec-requests",
            "100",
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
        // Explicit sizes given after --quick still win: the harness takes the last value.
        sizes.append(&mut harness);
        harness = sizes;
    }
    if !cases.is_empty() {
        harness.extend(["--cases".to_string(), cases.join(",")]);
    }

    let target = target_dir();
    let release = target.join("release");
    // One build per peer: built together, cargo would unify their dependencies'
    // features, and kube-rs turns on `tracing`'s `log` feature, which costs every span
    // of ours a trip through the `log` bridge.
    for package in ["k8s-client-bench", "bench-kube-rs"] {
        cargo(&["build", "--release", "--package", package], &[])?;
    }
    build_client_go(&release)?;
    let python = python_venv(&target.join("bench"))?;

    // The control plane: an existing cluster, or a testenv started for this run
    // (without kube-controller-manager, which the benchmark does not need and
    // which would compete for the CPU).
    let env;
    let kubeconfig = match kubeconfig {
        Some(k) => k,
        None => {
            let binaries = ensure_binaries()?;
            eprintln!("bench: starting a testenv control plane");
            env = k8s_client::testenv::TestEnv::builder()
                .binaries(binaries)
                .controller_manager(false)
                .start()
                .map_err(|e| chain(&e))?;
            env.admin_kubeconfig().to_path_buf()
        }
    };

    let work = target.join("bench");
    std::fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    let bin = |name: &str| release.join(name).display().to_string();
    let peers = root().join("benches/peers");
    let python_cmd = format!(
        "{} {}",
        python.display(),
        peers.join("python/bench.py").display()
    );
    let command = if args.is_empty() {
        "cargo xtask bench".to_string()
    } else {
        format!("cargo xtask bench {}", args.join(" "))
    };
    let mut h = Command::new(release.join("bench-harness"));
    h.args(["--kubeconfig", &kubeconfig.display().to_string()])
        .args(["--out", &out.display().to_string()])
        .args(["--results", &work.join("results.json").display().to_string()])
        .args(["--notes", &root().join("benches/harness/notes.md").display().to_string()])
        .args(["--work-dir", &work.display().to_string()])
        .args(["--command", &command])
        .args(["--client", &format!("ours={}", bin("bench-ours"))])
        .args(["--client", &format!("ours JSON={} json=1", bin("bench-ours"))])
        .args(["--client", &format!("ours HTTP/1.1={} http1=1", bin("bench-ours"))])
        .args(["--client", &format!("ours gzip={} gzip=1", bin("bench-ours"))])
        .args(["--client", &format!("ours streaming list={} streaming=1", bin("bench-ours"))])
        .args(["--client", &format!("ours without managedFields={} drop_managed_fields=1", bin("bench-ours"))])
        .args(["--client", &format!("raw HTTP/1.1={} http1=1", bin("bench-raw"))])
        .args(["--client", &format!("raw HTTP/2={}", bin("bench-raw"))])
        .args(["--client", &format!("raw hyper HTTP/1.1={} http1=1 hyper=1", bin("bench-raw"))])
        .args(["--client", &format!("raw hyper HTTP/2={} hyper=1", bin("bench-raw"))])
        .args(["--client", &format!("kube-rs={}", bin("bench-kube-rs"))])
        .args(["--client", &format!("client-go (default: protobuf)={}", bin("bench-client-go"))])
        .args(["--client", &format!("client-go JSON={} json=1", bin("bench-client-go"))])
        .args(["--client", &format!("python={python_cmd}")])
        .args(["--client-note", "ours: k8s-client (this repository) in its default configuration: `Config::infer()` → `Client`, built-in kinds read as protobuf, gzip off; `Api::<ConfigMap>` (`list`, `list_stream`, `get`, `watch`) with k8s-openapi 0.29 types, `Discovery` with a kubectl-layout disk cache, and for the informer a `SharedInformer` from an `InformerFactory` (paginated initial list, 500 per page) with one handler; current-thread tokio runtime"])
        .args(["--client-note", "ours JSON: the same with `ClientBuilder::wire_format(WireFormat::Json)`"])
        .args(["--client-note", "ours HTTP/1.1 (GET cases only): the same with `ClientBuilder::http2(false)` (what `DISABLE_HTTP2` does): a pool of HTTP/1.1 connections instead of one HTTP/2 connection"])
        .args(["--client-note", "ours gzip: the same as ours with `ClientBuilder::gzip(true)` (only where bodies are large: one list, paged list, initial watch)"])
        .args(["--client-note", "ours without managedFields: the informer with a `Store::with_transform` that drops `managedFields` (client-go's `SetTransform` use; informer case only)"])
        .args(["--client-note", "ours streaming list: the informer with `ReflectorConfig::streaming_list()` (one watch with `sendInitialEvents`, no list request; informer case only)"])
        .args(["--client-note", "raw HTTP/1.1 and raw HTTP/2: reqwest 0.13 over HTTP/1.1 (a pool of connections) or HTTP/2 (one connection) + `serde_json::from_slice` into the same k8s-openapi types, no client library, no compression, current-thread tokio runtime; the raw limit is, metric by metric, the best of the raw clients"])
        .args(["--client-note", "raw hyper HTTP/1.1 and raw hyper HTTP/2 (GET cases only): the same GETs over bare hyper-util with hyper-rustls, no reqwest (no URL parsing, redirect or retry layers)"])
        .args(["--client-note", "kube-rs: kube 5.0.0 (`Client::try_default`, `Api<ConfigMap>`; for the informer `kube::runtime::reflector` over a `watcher` with its default config), default features (rustls, ring), current-thread tokio runtime"])
        .args(["--client-note", &format!("client-go (default: protobuf): {CLIENT_GO}, typed clientset in its default configuration (protobuf for built-in types, gzip on), client-side throttling off (fake always-allow rate limiter) except where a case says otherwise; for the informer `informers.NewSharedInformerFactory` (its `WatchListClient` default: a streaming list) with one handler")])
        .args(["--client-note", "client-go JSON: the same with `ContentType: application/json`"])
        .args(["--client-note", &format!("python: the official client, {} in a venv, `CoreV1Api`, a thread pool of `c` threads for concurrent GETs", python_version(&python))])
        .args(["--client-note", "auth: every client uses the same admin client certificate of the testenv kubeconfig, except the exec-plugin case, where every client uses the same exec plugin handing out one ServiceAccount token"])
        .args(&harness);
    eprintln!("+ {:?}", h);
    let status = h
        .status()
        .map_err(|e| format!("running bench-harness: {e}"))?;
    if !status.success() {
        return Err(format!("bench-harness failed ({status})"));
    }
    Ok(())
}

/// `CARGO_TARGET_DIR`, else the workspace's `target/`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .map(|d| if d.is_absolute() { d } else { root().join(d) })
        .unwrap_or_else(|| root().join("target"))
}

/// Builds the client-go peer with the Go toolchain (module pinned by go.mod/go.sum).
fn build_client_go(release: &Path) -> Result {
    let dir = root().join("benches/peers/client-go");
    let out = release.join("bench-client-go");
    eprintln!(
        "+ go build -trimpath -o {} (in {})",
        out.display(),
        dir.display()
    );
    let status = Command::new("go")
        .args(["build", "-trimpath", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(&dir)
        .status()
        .map_err(|e| {
            format!("running `go build` for the client-go peer: {e} (install Go ≥ 1.26 from https://go.dev/dl and put it on PATH)")
        })?;
    if !status.success() {
        return Err(format!(
            "`go build` of the client-go peer in {} failed ({status})",
            dir.display()
        ));
    }
    Ok(())
}

/// Makes (once) a venv under `dir` with the pinned official Python client and
/// returns its interpreter.
fn python_venv(dir: &Path) -> Result<PathBuf> {
    let venv = dir.join("venv");
    let python = venv.join("bin/python");
    let requirements = root().join("benches/peers/python/requirements.txt");
    let pinned = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("reading {}: {e}", requirements.display()))?;
    let marker = venv.join("k8s-client-bench-requirements.txt");
    if python.exists() && std::fs::read_to_string(&marker).is_ok_and(|m| m == pinned) {
        return Ok(python);
    }
    eprintln!("+ python3 -m venv {}", venv.display());
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map_err(|e| {
            format!("running `python3 -m venv`: {e} (install python3 and python3-venv)")
        })?;
    if !made.success() {
        return Err(format!(
            "`python3 -m venv {}` failed ({made}); install python3-venv",
            venv.display()
        ));
    }
    eprintln!(
        "+ {} -m pip install -r {}",
        python.display(),
        requirements.display()
    );
    let pip = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "-r"])
        .arg(&requirements)
        .status()
        .map_err(|e| format!("running pip in {}: {e}", venv.display()))?;
    if !pip.success() {
        return Err(format!(
            "`pip install -r {}` failed ({pip})",
            requirements.display()
        ));
    }
    std::fs::write(&marker, pinned).map_err(|e| format!("writing {}: {e}", marker.display()))?;
    Ok(python)
}

/// "kubernetes X (Python Y)" as installed in the venv.
fn python_version(python: &Path) -> String {
    let out = Command::new(python)
        .args([
            "-c",
            "import kubernetes, platform; print('kubernetes %s (Python %s)' % (kubernetes.__version__, platform.python_version()))",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => "kubernetes (version unknown)".into(),
    }
}
