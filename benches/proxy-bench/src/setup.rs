//! The peers: a local control plane with the probed ConfigMap, our proxy and
//! `kubectl proxy` as child processes, and an admin client for going direct.

use k8s_client::api::{Api, PostParams};
use k8s_client::config::{ConfigError, KubeconfigOptions};
use k8s_client::testenv::{Binaries, TestEnv, TestEnvError};
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::version::Info;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The namespace of the probed ConfigMap.
pub const NAMESPACE: &str = "bench-proxy";
/// The probed ConfigMap.
pub const CONFIG_MAP: &str = "probe";
/// The path every request GETs.
pub const PATH: &str = "/api/v1/namespaces/bench-proxy/configmaps/probe";
/// The line both proxies print once they listen.
const SERVING: &str = "Starting to serve on ";
/// How long a proxy gets to print [`SERVING`].
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Why setting up or tearing down the benchmark failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The proxy binary of this crate is not next to the benchmark binary.
    #[error(
        "the proxy under test {path} is missing; run through `cargo run --release -p proxy-bench`, which builds it"
    )]
    ServerBinary {
        /// Where it was expected.
        path: PathBuf,
    },
    /// The current executable's path is unknown.
    #[error("cannot find the benchmark's own executable")]
    CurrentExe(#[source] std::io::Error),
    /// Locating or installing etcd and kube-apiserver failed.
    #[error("cannot provide the control-plane binaries")]
    Binaries(#[source] TestEnvError),
    /// The control plane did not start.
    #[error("cannot start the local control plane")]
    ControlPlane(#[source] TestEnvError),
    /// The admin kubeconfig did not load.
    #[error("cannot load the admin kubeconfig {path}")]
    Config {
        /// The kubeconfig.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<ConfigError>,
    },
    /// A call to the API server failed.
    #[error("cannot {what}")]
    Api {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: Box<k8s_client::Error>,
    },
    /// A program did not start.
    #[error("cannot run {program}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A proxy exited or closed its output without announcing its address.
    #[error("{program} stopped before printing `Starting to serve on ADDRESS`")]
    NotServing {
        /// The program.
        program: String,
    },
    /// A proxy announced something that is not a TCP address.
    #[error("{program} printed `{line}`, not a TCP address to serve on")]
    BadAddress {
        /// The program.
        program: String,
        /// Its line.
        line: String,
    },
    /// A proxy did not announce its address in time.
    #[error("{program} did not print `Starting to serve on ADDRESS` within {timeout:?}")]
    StartTimeout {
        /// The program.
        program: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// Reading a child's output failed.
    #[error("cannot read the output of {program}")]
    Read {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `kubectl version --client` failed.
    #[error("`kubectl version --client` exited with {status}")]
    KubectlVersion {
        /// Its exit status.
        status: std::process::ExitStatus,
    },
    /// Writing the report failed.
    #[error("cannot write the report into {path}")]
    Write {
        /// The document.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The path of `proxy-bench-server`, built by cargo next to this binary.
pub fn server_binary() -> Result<PathBuf, SetupError> {
    let exe = std::env::current_exe().map_err(SetupError::CurrentExe)?;
    let path = exe.with_file_name(format!(
        "proxy-bench-server{}",
        std::env::consts::EXE_SUFFIX
    ));
    if path.is_file() {
        Ok(path)
    } else {
        Err(SetupError::ServerBinary { path })
    }
}

/// Starts etcd and kube-apiserver (no controller manager: nothing here needs it, and it
/// would compete for the CPUs), installing the binaries when missing.
pub fn start_control_plane() -> Result<TestEnv, SetupError> {
    let binaries =
        Binaries::ensure(&mut |line| eprintln!("testenv: {line}")).map_err(SetupError::Binaries)?;
    eprintln!("starting the control plane");
    TestEnv::builder()
        .binaries(binaries)
        .controller_manager(false)
        .start()
        .map_err(SetupError::ControlPlane)
}

/// The running peers.
#[derive(Debug)]
pub struct Bench {
    /// Our proxy's address.
    pub ours: SocketAddr,
    /// `kubectl proxy`'s address.
    pub kubectl: SocketAddr,
    /// The admin client (going direct).
    pub client: Client,
    /// Our proxy's process id.
    pub ours_pid: u32,
    /// `kubectl proxy`'s process id.
    pub kubectl_pid: u32,
    children: Vec<(Child, Lines<BufReader<ChildStdout>>)>,
}

impl Bench {
    /// Creates the namespace and ConfigMap, then starts both proxies on the admin
    /// kubeconfig.
    pub async fn start(env: &TestEnv, server_bin: &Path) -> Result<Bench, SetupError> {
        let kubeconfig = env.admin_kubeconfig();
        let mut options = KubeconfigOptions::default();
        options.kubeconfig = Some(kubeconfig.to_owned());
        let config = Config::from_kubeconfig(&options).map_err(|source| SetupError::Config {
            path: kubeconfig.to_owned(),
            source: Box::new(source),
        })?;
        let client = Client::try_from(config).map_err(|source| SetupError::Api {
            what: "build the admin client",
            source: Box::new(source),
        })?;
        create_probe(&client).await?;
        let mut children = Vec::new();
        let kubeconfig_arg = format!("--kubeconfig={}", kubeconfig.display());
        let (ours, child) = spawn_proxy(
            Command::new(server_bin).arg(kubeconfig),
            &server_bin.display().to_string(),
        )
        .await?;
        children.push(child);
        let (kubectl, child) = spawn_proxy(
            Command::new("kubectl").args(["proxy", "--port=0", &kubeconfig_arg]),
            "kubectl proxy",
        )
        .await?;
        children.push(child);
        eprintln!("k8s-client proxy on {ours}, kubectl proxy on {kubectl}");
        let pid = |i: usize| children[i].0.id().unwrap_or_default();
        let (ours_pid, kubectl_pid) = (pid(0), pid(1));
        Ok(Bench {
            ours,
            kubectl,
            client,
            ours_pid,
            kubectl_pid,
            children,
        })
    }

    /// The API server's `gitVersion`.
    pub async fn apiserver_version(&self) -> Result<String, SetupError> {
        let req = http::Request::get("/version")
            .body(Vec::new())
            .expect("a GET of /version is a valid request");
        let info: Info = self
            .client
            .request(req)
            .await
            .map_err(|source| SetupError::Api {
                what: "read the API server's version",
                source: Box::new(source),
            })?;
        Ok(info.git_version)
    }

    /// Stops both proxies and waits for them to exit.
    pub async fn stop(mut self) {
        for (child, _) in &mut self.children {
            // Already exited is fine: the point is that it is gone.
            let _ = child.kill().await;
        }
    }
}

async fn create_probe(client: &Client) -> Result<(), SetupError> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(NAMESPACE.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .map_err(|source| SetupError::Api {
            what: "create namespace bench-proxy",
            source: Box::new(source),
        })?;
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(CONFIG_MAP.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some([("key".to_owned(), "value".to_owned())].into()),
        ..ConfigMap::default()
    };
    Api::<ConfigMap>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &cm)
        .await
        .map_err(|source| SetupError::Api {
            what: "create configmap bench-proxy/probe",
            source: Box::new(source),
        })?;
    Ok(())
}

/// Starts a proxy and reads its `Starting to serve on ADDRESS` line.
async fn spawn_proxy(
    command: &mut Command,
    program: &str,
) -> Result<(SocketAddr, (Child, Lines<BufReader<ChildStdout>>)), SetupError> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| SetupError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let announced = tokio::time::timeout(START_TIMEOUT, async {
        while let Some(line) = lines.next_line().await.map_err(|source| SetupError::Read {
            program: program.to_owned(),
            source,
        })? {
            if let Some(addr) = line.trim().strip_prefix(SERVING) {
                return addr
                    .parse::<SocketAddr>()
                    .map_err(|_| SetupError::BadAddress {
                        program: program.to_owned(),
                        line: line.clone(),
                    });
            }
        }
        Err(SetupError::NotServing {
            program: program.to_owned(),
        })
    })
    .await
    .map_err(|_| SetupError::StartTimeout {
        program: program.to_owned(),
        timeout: START_TIMEOUT,
    })??;
    Ok((announced, (child, lines)))
}

/// /proc/loadavg's 1-minute load average.
pub fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next().map(str::to_owned)
}

/// The CPU model named in /proc/cpuinfo.
pub fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
}

/// `kubectl version --client`'s first line, without its label.
pub fn kubectl_version() -> Result<String, SetupError> {
    let out = std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .map_err(|source| SetupError::Spawn {
            program: "kubectl version --client".to_owned(),
            source,
        })?;
    if !out.status.success() {
        return Err(SetupError::KubectlVersion { status: out.status });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    Ok(first
        .strip_prefix("Client Version: ")
        .unwrap_or(first)
        .to_owned())
}

/// The current time, UTC, to the minute.
pub fn now_utc() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M UTC")
        .to_string()
}

/// The kernel's unit for /proc times (`USER_HZ`, 100 on every Linux architecture).
const USER_HZ: u64 = 100;

/// CPU time (user + system, all threads, exited ones included) of the processes, from
/// /proc/PID/stat; `None` where /proc cannot tell (not Linux, process gone).
pub fn cpu_time(pids: &[u32]) -> Option<Duration> {
    let mut ticks = 0;
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        ticks += stat_ticks(&stat)?;
    }
    Some(Duration::from_millis(ticks * 1000 / USER_HZ))
}

/// utime + stime of a /proc/PID/stat line (fields 14 and 15; the command name, field
/// 2, is in parentheses and may contain spaces).
fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_reads_utime_and_stime_after_the_command_name() {
        let line = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 9 0 1 2 3\n";
        assert_eq!(stat_ticks(line), Some(287));
        assert_eq!(stat_ticks("42 (x) S 1"), None);
    }

    #[test]
    fn cpu_time_of_this_process_is_known() {
        assert!(cpu_time(&[std::process::id()]).is_some());
    }
}
