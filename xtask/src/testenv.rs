//! `cargo xtask testenv-install` and `cargo xtask testenv start|stop|status`.

use crate::util::{Result, chain, ensure_binaries, processes_mentioning};
use k8s_client::testenv::TestEnv;
use k8s_client::testenv::versions::{ETCD_VERSION, KUBERNETES_VERSION, KWOK_VERSION};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KUBECONFIGS: [&str; 3] = ["admin.kubeconfig", "token.kubeconfig", "noperm.kubeconfig"];
const START_TIMEOUT: Duration = Duration::from_secs(180);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

pub fn install() -> Result {
    let binaries = ensure_binaries()?;
    println!(
        "Kubernetes {KUBERNETES_VERSION} (kube-apiserver, kube-controller-manager, kube-scheduler), kwok {KWOK_VERSION} and etcd {ETCD_VERSION}: {}",
        binaries.dir().display()
    );
    Ok(())
}

pub fn command(sub: &str, rest: &[&str]) -> Result {
    let dir = match rest {
        [] => default_dir()?,
        ["--dir", d] => PathBuf::from(d),
        _ => return Err(format!("unexpected arguments to `testenv {sub}`: {rest:?}")),
    };
    match sub {
        "start" => start(&dir),
        "stop" => stop(&dir),
        "status" => status(&dir),
        "serve" => serve(&dir),
        other => Err(format!(
            "unknown command `testenv {other}` (start, stop, status)"
        )),
    }
}

/// `$XDG_RUNTIME_DIR/k8s-client-testenv`, else `~/.cache/k8s-client/testenv/run`.
fn default_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("k8s-client-testenv"));
    }
    let cache = k8s_client::testenv::install::cache_dir().map_err(|e| chain(&e))?;
    Ok(cache.parent().unwrap_or(&cache).join("run"))
}

/// The pid of the running `testenv serve` for `dir`, if any.
fn running(dir: &Path) -> Option<u32> {
    let pid: u32 = fs::read_to_string(dir.join("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmd = String::from_utf8_lossy(&raw);
    let ours = cmd.contains("serve") && cmd.contains(&*dir.to_string_lossy());
    ours.then_some(pid)
}

fn print_ready(dir: &Path) {
    let url = fs::read_to_string(dir.join("ready")).unwrap_or_default();
    println!("control plane running at {}", url.trim());
    println!(
        "kubeconfigs (admin: client certificate; token: bearer token; noperm: no RBAC rights):"
    );
    for k in KUBECONFIGS {
        println!("  {}", dir.join(k).display());
    }
    println!(
        "export KUBECONFIG={}",
        dir.join("admin.kubeconfig").display()
    );
}

fn start(dir: &Path) -> Result {
    if running(dir).is_some() && dir.join("ready").exists() {
        eprintln!("already running");
        print_ready(dir);
        return Ok(());
    }
    if running(dir).is_some() {
        return Err(format!(
            "a control plane for {} is starting or stuck; run `cargo xtask testenv stop` first",
            dir.display()
        ));
    }
    ensure_binaries()?;
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let log_path = dir.join("serve.log");
    let log =
        fs::File::create(&log_path).map_err(|e| format!("creating {}: {e}", log_path.display()))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("opening {}: {e}", log_path.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("locating the xtask binary: {e}"))?;
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args(["testenv", "serve", "--dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Own process group: a Ctrl-C in this terminal does not reach it.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting the background control plane: {e}"))?;
    while !dir.join("ready").exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!(
                "the background control plane exited ({status}); its log {}:\n{log}",
                log_path.display()
            ));
        }
        if started.elapsed() > START_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the control plane did not start within {START_TIMEOUT:?}; see {}",
                log_path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("started in {:.1?}", started.elapsed());
    print_ready(dir);
    Ok(())
}

fn stop(dir: &Path) -> Result {
    let Some(pid) = running(dir) else {
        let _ = fs::remove_dir_all(dir);
        println!("not running");
        return Ok(());
    };
    signal(pid, "-TERM")?;
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if Path::new(&format!("/proc/{pid}")).exists() {
        // Its children die with it (PR_SET_PDEATHSIG).
        signal(pid, "-KILL")?;
    }
    fs::remove_dir_all(dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
    println!("stopped");
    Ok(())
}

fn signal(pid: u32, sig: &str) -> Result {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .map_err(|e| format!("running kill: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("kill {sig} {pid} failed ({status})"))
}

fn status(dir: &Path) -> Result {
    match running(dir) {
        Some(pid) if dir.join("ready").exists() => {
            println!("running (pid {pid})");
            print_ready(dir);
        }
        Some(pid) => println!(
            "starting (pid {pid}); log: {}",
            dir.join("serve.log").display()
        ),
        None => println!("not running"),
    }
    Ok(())
}

/// The background process: runs a TestEnv until SIGTERM or SIGINT.
fn serve(dir: &Path) -> Result {
    fs::write(dir.join("pid"), std::process::id().to_string())
        .map_err(|e| format!("writing {}: {e}", dir.join("pid").display()))?;
    let env = TestEnv::builder()
        .temp_dir_in(dir)
        .start()
        .map_err(|e| chain(&e))?;
    for k in KUBECONFIGS {
        let from = env.dir().join(k);
        fs::copy(&from, dir.join(k)).map_err(|e| format!("copying {}: {e}", from.display()))?;
    }
    fs::write(dir.join("ready"), env.server_url())
        .map_err(|e| format!("writing {}: {e}", dir.join("ready").display()))?;
    eprintln!("serving {} from {}", env.server_url(), env.dir().display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("building a runtime: {e}"))?;
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term =
            signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM handler: {e}"))?;
        let mut int =
            signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT handler: {e}"))?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok::<(), String>(())
    })?;
    eprintln!("stopping");
    drop(env);
    let left = processes_mentioning(&dir.to_string_lossy())
        .into_iter()
        .filter(|(_, cmd)| !cmd.contains("serve"))
        .count();
    eprintln!("stopped; {left} control-plane processes left");
    Ok(())
}
