//! [`TestEnv`]: starting and stopping one control plane.

use super::TestEnvError;
use super::faults::{self, EtcdSpec};
use super::install::Binaries;
use super::kubeconfig::{Credential, render, write_private};
use super::kubelet_front::{KubeletFront, RoutableNodes};
use super::multi::{self, ApiServers, MAX_APISERVERS};
use super::nodes::{self, NodeFiles};
use super::pki::Pki;
use super::probe::{TlsProbe, http_status};
use super::process::Proc;
use crate::{SecretBytes, SecretString};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Set to `1` to keep the temporary directory (logs, PKI, etcd data) after the
/// environment stops.
pub const KEEP_ENV: &str = "K8S_CLIENT_TESTENV_KEEP";

/// A directory in which environments create their temporary directories when the
/// builder names none (default: the system temporary directory).
pub const TMPDIR_ENV: &str = "K8S_CLIENT_TESTENV_TMPDIR";

/// The service-account token issuer configured on the API server.
pub const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// The user name of the static bearer token with full rights.
pub const TOKEN_USER: &str = "token-admin";
/// The user name of the static bearer token with no RBAC rights.
pub const NOPERM_USER: &str = "noperm";

const START_ATTEMPTS: usize = 3;
const POLL: Duration = Duration::from_millis(100);

/// Configures and starts a [`TestEnv`].
#[derive(Debug, Clone)]
pub struct TestEnvBuilder {
    controller_manager: Option<bool>,
    binaries: Option<Binaries>,
    timeout: Duration,
    parent_dir: Option<PathBuf>,
    apiserver_args: Vec<String>,
    nodes: usize,
    forwarded_pod_ports: Vec<u16>,
    apiservers: usize,
    routable: bool,
    routable_nodes: bool,
}

impl Default for TestEnvBuilder {
    fn default() -> Self {
        Self {
            controller_manager: None,
            binaries: None,
            timeout: Duration::from_secs(90),
            parent_dir: None,
            apiserver_args: Vec::new(),
            nodes: 0,
            forwarded_pod_ports: Vec::new(),
            apiservers: 1,
            routable: false,
            routable_nodes: false,
        }
    }
}

impl TestEnvBuilder {
    /// Whether to run kube-controller-manager (it creates the `default` service
    /// accounts and fills `kubernetes.io/service-account-token` Secrets). By default it
    /// runs when its binary is available; `true` makes a missing binary an error.
    pub fn controller_manager(mut self, enabled: bool) -> Self {
        self.controller_manager = Some(enabled);
        self
    }

    /// Uses these binaries instead of [`Binaries::locate`].
    pub fn binaries(mut self, binaries: Binaries) -> Self {
        self.binaries = Some(binaries);
        self
    }

    /// How long each process may take to become ready (default 90 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Creates the environment's temporary directory inside `dir` instead of
    /// `$K8S_CLIENT_TESTENV_TMPDIR` or the system temporary directory.
    pub fn temp_dir_in(mut self, dir: impl Into<PathBuf>) -> Self {
        self.parent_dir = Some(dir.into());
        self
    }

    /// Adds a `--flag=value` argument to kube-apiserver (later flags win).
    pub fn apiserver_arg(mut self, arg: impl Into<String>) -> Self {
        self.apiserver_args.push(arg.into());
        self
    }

    /// Adds `count` simulated nodes (`kwok-node-0`, …; default none): kube-scheduler
    /// and kwok run beside the control plane, pods are scheduled and reach `Running`,
    /// and the kubelet endpoints behind `exec`, `attach`, `log` and `portforward` are
    /// served by kwok: exec runs the command as a local process in
    /// [`TestEnv::exec_dir`], logs and attach read [`TestEnv::pod_log_path`], and
    /// port-forward reaches the local ports of [`forward_pod_port`](Self::forward_pod_port).
    /// Needs the `kube-scheduler` and `kwok` binaries ([`Binaries::install`]) and
    /// kube-controller-manager. The start then waits until every node is Ready.
    pub fn nodes(mut self, count: usize) -> Self {
        self.nodes = count;
        self
    }

    /// Makes port-forwarding to `pod_port` of any pod connect to a free local port,
    /// [`TestEnv::forwarded_port`]`(pod_port)`, on which the test serves (only with
    /// [`nodes`](Self::nodes)).
    pub fn forward_pod_port(mut self, pod_port: u16) -> Self {
        self.forwarded_pod_ports.push(pod_port);
        self
    }

    /// Runs `count` kube-apiservers (default 1, at most [`MAX_APISERVERS`]) on one etcd:
    /// server `i` listens on `127.0.0.<i+1>`, all on the same port, with a serving
    /// certificate valid for every address. The kubeconfigs name the first; see
    /// [`TestEnv::apiserver_urls`], [`TestEnv::kill_apiserver`],
    /// [`TestEnv::stop_apiserver`] and [`TestEnv::start_apiserver`].
    pub fn apiservers(mut self, count: usize) -> Self {
        self.apiservers = count;
        self
    }

    /// Runs the API servers on addresses of [`ROUTABLE_RANGE`](super::ROUTABLE_RANGE)
    /// (TEST-NET-2) added to `lo` as `/32`s, instead of `127.0.0.x`, with
    /// `--endpoint-reconciler-type=lease` and `--advertise-address`: each server
    /// publishes itself in the `default/kubernetes` EndpointSlice, and the others drop it
    /// once its lease (15 s) expires after it is stopped. The serving certificate covers
    /// the addresses; the kubeconfigs name the first; the addresses are removed when the
    /// environment is dropped. Off by default. Needs root ([`TestEnvError::NotRoot`]
    /// otherwise); a block of addresses another environment holds is skipped.
    pub fn routable_apiservers(mut self, enable: bool) -> Self {
        self.routable = enable;
        self
    }

    /// Puts the simulated nodes ([`nodes`](Self::nodes)) on an address of
    /// [`ROUTABLE_RANGE`](super::ROUTABLE_RANGE) added to `lo` instead of `127.0.0.1`, so
    /// that the API server's node proxy (`/api/v1/nodes/NAME/proxy/…`, which refuses
    /// loopback addresses) reaches them. kwok stays on `127.0.0.1` behind a TLS front on
    /// that address which the API server reaches as it reaches a real kubelet: the
    /// front's certificate is verified against the environment's CA
    /// (`--kubelet-certificate-authority`) and only the API server's kubelet client
    /// certificate (`--kubelet-client-certificate`, from a CA that signs nothing else) is
    /// let through — kwok runs commands for anyone who reaches it. Every kubelet request
    /// (exec, attach, logs, port-forward) then takes this path. Off by default. Needs
    /// root ([`TestEnvError::NotRoot`] otherwise); the address is removed when the
    /// environment is dropped.
    pub fn routable_nodes(mut self, enable: bool) -> Self {
        self.routable_nodes = enable;
        self
    }

    /// Generates the PKI, starts etcd, kube-apiserver and (see
    /// [`controller_manager`](Self::controller_manager)) kube-controller-manager, and
    /// waits until they are ready. Blocks; retries the whole start on a port
    /// collision. Every process started is stopped again if the start fails.
    pub fn start(self) -> Result<TestEnv, TestEnvError> {
        let binaries = match self.binaries.clone() {
            Some(b) => b,
            None => Binaries::locate()?,
        };
        let run_kcm = match (self.controller_manager, binaries.kube_controller_manager()) {
            (Some(false), _) | (None, None) => false,
            (_, Some(_)) => true,
            (Some(true), None) => {
                return Err(TestEnvError::MissingBinary {
                    binary: "kube-controller-manager",
                    dir: binaries.dir().to_owned(),
                });
            }
        };
        if !(1..=MAX_APISERVERS).contains(&self.apiservers) {
            return Err(TestEnvError::ApiServerCount {
                requested: self.apiservers,
                max: MAX_APISERVERS,
            });
        }
        if self.nodes > 0 {
            let missing = |binary| TestEnvError::MissingBinary {
                binary,
                dir: binaries.dir().to_owned(),
            };
            if !run_kcm {
                return Err(missing("kube-controller-manager"));
            }
            binaries
                .kube_scheduler()
                .ok_or_else(|| missing("kube-scheduler"))?;
            binaries.kwok().ok_or_else(|| missing("kwok"))?;
        }
        let mut tmp = tempfile::Builder::new();
        tmp.prefix("k8s-client-testenv-");
        let dir = match &self.parent_dir {
            Some(parent) => tmp.tempdir_in(parent),
            None => tmp.tempdir(),
        }
        .map_err(|source| TestEnvError::Io {
            action: "creating a temporary directory in",
            path: self.parent_dir.clone().unwrap_or_else(std::env::temp_dir),
            source,
        })?;
        let addresses = match self.routable {
            true => Some(multi::LoAddresses::add(self.apiservers)?),
            false => None,
        };
        let ips: Vec<Ipv4Addr> = match &addresses {
            Some(a) => a.ips().to_vec(),
            None => (0..self.apiservers).map(multi::apiserver_ip).collect(),
        };
        let extra_ips: Vec<_> = ips
            .iter()
            .copied()
            .filter(|ip| *ip != Ipv4Addr::LOCALHOST)
            .collect();
        let files = Files::write(dir.path(), &extra_ips)?;
        let node_env = if self.nodes > 0 {
            let mut forwards = BTreeMap::new();
            for pod_port in &self.forwarded_pod_ports {
                forwards.insert(*pod_port, free_port().map_err(attempt_error)?);
            }
            let node_files = NodeFiles::new(dir.path());
            node_files.write(&forwards)?;
            let routable = match self.routable_nodes {
                true => Some(RoutableNodes::prepare(&files.pki, &files.dir)?),
                false => None,
            };
            Some(NodeEnv {
                count: self.nodes,
                files: node_files,
                forwards,
                routable,
            })
        } else {
            None
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_start(&binaries, &files, run_kcm, node_env.as_ref(), &ips) {
                Ok((processes, apiservers, etcd, kubelet_front)) => {
                    return Ok(TestEnv {
                        kubelet_front: Mutex::new(kubelet_front),
                        processes: Mutex::new(processes),
                        etcd,
                        server_url: apiservers.url(0),
                        apiservers,
                        dir: Mutex::new(Some(dir)),
                        binaries,
                        controller_manager: run_kcm,
                        files,
                        nodes: node_env,
                        addresses,
                    });
                }
                Err(Attempt::PortCollision(_)) if attempt < START_ATTEMPTS => continue,
                Err(Attempt::PortCollision(e) | Attempt::Failed(e)) => {
                    // The error names log files: keep them when asked to.
                    if keep_requested() {
                        let kept = dir.keep();
                        eprintln!("testenv: kept {}", kept.display());
                    }
                    return Err(e);
                }
            }
        }
    }

    fn try_start(
        &self,
        binaries: &Binaries,
        files: &Files,
        run_kcm: bool,
        node_env: Option<&NodeEnv>,
        ips: &[Ipv4Addr],
    ) -> Result<(Vec<Proc>, ApiServers, EtcdSpec, Option<KubeletFront>), Attempt> {
        let [etcd_port, peer_port, api_port] = free_ports()?;
        let mut processes = Vec::new();
        let dir = &files.dir;
        let etcd_client = format!("http://127.0.0.1:{etcd_port}");
        let etcd_peer = format!("http://127.0.0.1:{peer_port}");
        let data_dir = dir.join(format!("etcd-data-{etcd_port}"));
        let etcd_args = vec![
            format!("--data-dir={}", data_dir.display()),
            "--name=testenv".to_owned(),
            format!("--listen-client-urls={etcd_client}"),
            format!("--advertise-client-urls={etcd_client}"),
            format!("--listen-peer-urls={etcd_peer}"),
            format!("--initial-advertise-peer-urls={etcd_peer}"),
            format!("--initial-cluster=testenv={etcd_peer}"),
            "--unsafe-no-fsync=true".to_owned(),
            "--log-level=warn".to_owned(),
        ];
        processes.push(
            Proc::spawn("etcd", binaries.etcd(), &etcd_args, dir.join("etcd.log"))
                .map_err(Attempt::Failed)?,
        );
        let etcd_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, etcd_port));
        let etcd = EtcdSpec {
            binary: binaries.etcd().to_owned(),
            args: etcd_args,
            log: dir.join("etcd.log"),
            addr: etcd_addr,
            timeout: self.timeout,
        };
        wait_for(
            &mut processes[0],
            self.timeout,
            format!("GET {etcd_client}/health"),
            || http_status(etcd_addr, "/health") == Some(200),
        )?;

        let p = |p: &Path| p.display().to_string();
        let mut api_args = vec![
            format!("--etcd-servers={etcd_client}"),
            format!("--cert-dir={}", p(dir)),
            format!("--tls-cert-file={}", p(&files.serving_cert)),
            format!("--tls-private-key-file={}", p(&files.serving_key)),
            format!("--client-ca-file={}", p(&files.ca_cert)),
            format!("--token-auth-file={}", p(&files.token_file)),
            "--authorization-mode=Node,RBAC".to_owned(),
            format!("--service-account-key-file={}", p(&files.sa_pub)),
            format!("--service-account-signing-key-file={}", p(&files.sa_key)),
            format!("--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"),
            "--service-cluster-ip-range=10.0.0.0/24".to_owned(),
            "--allow-privileged=true".to_owned(),
            "--profiling=false".to_owned(),
        ];
        if let Some(node_env) = node_env {
            // kwok registers the node address as each node's InternalIP; the Hostname
            // address (the node's name) resolves nowhere.
            api_args.push("--kubelet-preferred-address-types=InternalIP".to_owned());
            if let Some(routable) = &node_env.routable {
                api_args.extend([
                    format!("--kubelet-certificate-authority={}", p(&files.ca_cert)),
                    format!("--kubelet-client-certificate={}", p(&routable.client_cert)),
                    format!("--kubelet-client-key={}", p(&routable.client_key)),
                ]);
            }
        }
        api_args.extend(self.apiserver_args.iter().cloned());
        let apiservers = ApiServers::start(multi::Shared {
            binary: binaries.kube_apiserver(),
            ips,
            lease: self.routable,
            args: &api_args,
            port: api_port,
            dir,
            timeout: self.timeout,
            ca_pem: &files.pki.ca_pem,
            cert_pem: &files.pki.admin_cert_pem,
            key_pem: files.pki.admin_key_pem.expose_secret(),
        })?;
        let url = apiservers.url(0);
        let probe = TlsProbe::new(
            SocketAddr::from((apiservers.ip(0), api_port)),
            &files.pki.ca_pem,
            &files.pki.admin_cert_pem,
            files.pki.admin_key_pem.expose_secret(),
        )
        .map_err(Attempt::Failed)?;
        files.write_kubeconfigs(&url)?;

        if run_kcm {
            let kcm = binaries
                .kube_controller_manager()
                .expect("run_kcm implies the binary exists");
            let kubeconfig = &files.admin_kubeconfig;
            let kcm_args = vec![
                format!("--kubeconfig={}", p(kubeconfig)),
                format!("--service-account-private-key-file={}", p(&files.sa_key)),
                format!("--root-ca-file={}", p(&files.ca_cert)),
                format!("--cluster-signing-cert-file={}", p(&files.ca_cert)),
                format!("--cluster-signing-key-file={}", p(&files.ca_key)),
                "--use-service-account-credentials=false".to_owned(),
                "--leader-elect=false".to_owned(),
                "--controllers=*".to_owned(),
                "--secure-port=0".to_owned(),
                "--profiling=false".to_owned(),
            ];
            processes.push(
                Proc::spawn(
                    "kube-controller-manager",
                    kcm,
                    &kcm_args,
                    dir.join("kube-controller-manager.log"),
                )
                .map_err(Attempt::Failed)?,
            );
            let sa = "/api/v1/namespaces/default/serviceaccounts/default";
            wait_for(
                &mut processes[1],
                self.timeout,
                format!("GET {url}{sa} (the `default` service account)"),
                || probe.status(sa) == Some(200),
            )?;
        }
        let kubelet_front = match node_env {
            Some(node_env) => {
                self.start_nodes(binaries, files, node_env, &probe, &mut processes)?
            }
            None => None,
        };
        Ok((processes, apiservers, etcd, kubelet_front))
    }

    /// Starts kube-scheduler, kwok (and the TLS front of routable nodes), registers the
    /// nodes and waits until they are Ready.
    fn start_nodes(
        &self,
        binaries: &Binaries,
        files: &Files,
        node_env: &NodeEnv,
        probe: &TlsProbe,
        processes: &mut Vec<Proc>,
    ) -> Result<Option<KubeletFront>, Attempt> {
        let p = |p: &Path| p.display().to_string();
        let kubeconfig = format!("--kubeconfig={}", p(&files.admin_kubeconfig));
        let scheduler = binaries
            .kube_scheduler()
            .expect("nodes imply the binary exists");
        let scheduler_args = vec![
            kubeconfig.clone(),
            "--leader-elect=false".to_owned(),
            "--secure-port=0".to_owned(),
            "--profiling=false".to_owned(),
        ];
        processes.push(
            Proc::spawn(
                "kube-scheduler",
                scheduler,
                &scheduler_args,
                files.dir.join("kube-scheduler.log"),
            )
            .map_err(Attempt::Failed)?,
        );
        let kubelet_port = free_port()?;
        let kubelet = SocketAddr::from((Ipv4Addr::LOCALHOST, kubelet_port));
        // Routable nodes advertise the front; others kwok's own listener.
        let (front, node_ip, node_port) = match &node_env.routable {
            Some(routable) => {
                let front = KubeletFront::start(routable.ip(), kubelet, &routable.tls)
                    .map_err(Attempt::Failed)?;
                let port = front.port();
                (Some(front), routable.ip(), port)
            }
            None => (None, Ipv4Addr::LOCALHOST, kubelet_port),
        };
        let kwok = binaries.kwok().expect("nodes imply the binary exists");
        let kwok_args = vec![
            kubeconfig,
            format!("--config={}", p(&node_env.files.config)),
            "--manage-all-nodes=true".to_owned(),
            format!("--node-ip={node_ip}"),
            format!("--node-port={node_port}"),
            format!("--server-address={kubelet}"),
            "--cidr=10.244.0.0/16".to_owned(),
        ];
        processes.push(
            Proc::spawn("kwok", kwok, &kwok_args, files.dir.join("kwok.log"))
                .map_err(Attempt::Failed)?,
        );
        nodes::register(probe, node_env.count).map_err(Attempt::Failed)?;
        let kwok_index = processes.len() - 1;
        wait_for(
            &mut processes[kwok_index],
            self.timeout,
            format!("{} simulated node(s) Ready", node_env.count),
            || nodes::all_ready(probe, node_env.count),
        )?;
        Ok(front)
    }
}

/// Why one start attempt failed.
pub(super) enum Attempt {
    PortCollision(TestEnvError),
    Failed(TestEnvError),
}

impl From<TestEnvError> for Attempt {
    fn from(e: TestEnvError) -> Self {
        Attempt::Failed(e)
    }
}

/// Polls `ready` until it holds, the process exits, or `timeout` passes.
pub(super) fn wait_for(
    proc: &mut Proc,
    timeout: Duration,
    waiting_for: String,
    mut ready: impl FnMut() -> bool,
) -> Result<(), Attempt> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Err(e) = proc.check_running() {
            return Err(if proc.port_collision() {
                Attempt::PortCollision(e)
            } else {
                Attempt::Failed(e)
            });
        }
        if ready() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Attempt::Failed(proc.not_ready(waiting_for, timeout)));
        }
        std::thread::sleep(POLL);
    }
}

fn attempt_error(a: Attempt) -> TestEnvError {
    match a {
        Attempt::PortCollision(e) | Attempt::Failed(e) => e,
    }
}

fn free_port() -> Result<u16, Attempt> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Attempt::Failed(TestEnvError::FreePort(e)))
}

fn free_ports() -> Result<[u16; 3], Attempt> {
    // Hold all listeners at once so the three ports differ.
    let listeners = (0..3)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Attempt::Failed(TestEnvError::FreePort(e)))?;
    let port = |i: usize| {
        listeners[i]
            .local_addr()
            .map(|a| a.port())
            .map_err(|e| Attempt::Failed(TestEnvError::FreePort(e)))
    };
    Ok([port(0)?, port(1)?, port(2)?])
}

fn random_token() -> Result<SecretString, TestEnvError> {
    use std::io::Read;
    let path = Path::new("/dev/urandom");
    let mut bytes = [0u8; 24];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|source| TestEnvError::Io {
            action: "reading",
            path: path.to_owned(),
            source,
        })?;
    Ok(SecretString::new(
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ))
}

/// The simulated nodes of one environment.
struct NodeEnv {
    count: usize,
    files: NodeFiles,
    forwards: BTreeMap<u16, u16>,
    routable: Option<RoutableNodes>,
}

/// The files of one environment (PKI, token file, kubeconfigs) and their contents.
struct Files {
    dir: PathBuf,
    pki: Pki,
    admin_token: SecretString,
    noperm_token: SecretString,
    ca_cert: PathBuf,
    ca_key: PathBuf,
    serving_cert: PathBuf,
    serving_key: PathBuf,
    sa_key: PathBuf,
    sa_pub: PathBuf,
    token_file: PathBuf,
    admin_kubeconfig: PathBuf,
    token_kubeconfig: PathBuf,
    noperm_kubeconfig: PathBuf,
}

impl Files {
    fn write(dir: &Path, extra_ips: &[Ipv4Addr]) -> Result<Self, TestEnvError> {
        let pki = Pki::generate_for(extra_ips)?;
        let admin_token = random_token()?;
        let noperm_token = random_token()?;
        let f = Files {
            dir: dir.to_owned(),
            ca_cert: dir.join("ca.crt"),
            ca_key: dir.join("ca.key"),
            serving_cert: dir.join("apiserver.crt"),
            serving_key: dir.join("apiserver.key"),
            sa_key: dir.join("service-account.key"),
            sa_pub: dir.join("service-account.pub"),
            token_file: dir.join("tokens.csv"),
            admin_kubeconfig: dir.join("admin.kubeconfig"),
            token_kubeconfig: dir.join("token.kubeconfig"),
            noperm_kubeconfig: dir.join("noperm.kubeconfig"),
            pki,
            admin_token,
            noperm_token,
        };
        // The server URL is only known per attempt; kubeconfigs are rewritten then.
        write_private(&f.ca_cert, f.pki.ca_pem.as_bytes())?;
        write_private(&f.ca_key, f.pki.ca_key_pem.expose_secret())?;
        write_private(&f.serving_cert, f.pki.serving_cert_pem.as_bytes())?;
        write_private(&f.serving_key, f.pki.serving_key_pem.expose_secret())?;
        write_private(&f.sa_key, f.pki.service_account_key_pem.expose_secret())?;
        write_private(&f.sa_pub, f.pki.service_account_pub_pem.as_bytes())?;
        // token,user,uid,"group1,group2"
        let tokens = format!(
            "{},{TOKEN_USER},uid-{TOKEN_USER},\"system:masters\"\n{},{NOPERM_USER},uid-{NOPERM_USER}\n",
            f.admin_token.expose_secret(),
            f.noperm_token.expose_secret(),
        );
        write_private(&f.token_file, tokens.as_bytes())?;
        Ok(f)
    }

    fn write_kubeconfigs(&self, server: &str) -> Result<(), TestEnvError> {
        let ca = &self.pki.ca_pem;
        let admin = Credential::ClientCert {
            cert_pem: &self.pki.admin_cert_pem,
            key_pem: self.pki.admin_key_pem.expose_secret(),
        };
        write_private(
            &self.admin_kubeconfig,
            render(server, ca, "admin", admin).as_bytes(),
        )?;
        let token = Credential::Token(self.admin_token.expose_secret());
        write_private(
            &self.token_kubeconfig,
            render(server, ca, TOKEN_USER, token).as_bytes(),
        )?;
        let noperm = Credential::Token(self.noperm_token.expose_secret());
        write_private(
            &self.noperm_kubeconfig,
            render(server, ca, NOPERM_USER, noperm).as_bytes(),
        )
    }
}

/// A running local control plane: etcd, kube-apiserver and optionally
/// kube-controller-manager, on free loopback ports, with a fresh PKI.
///
/// Dropping it stops every process (SIGTERM, then SIGKILL after 10 s) and removes its
/// temporary directory (unless `K8S_CLIENT_TESTENV_KEEP=1`). The processes are also
/// killed by the kernel if the test process dies.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use k8s_client::config::KubeconfigOptions;
/// use k8s_client::testenv::TestEnv;
/// use k8s_client::{Client, Config};
///
/// let env = TestEnv::start()?;
/// let mut options = KubeconfigOptions::default();
/// options.kubeconfig = Some(env.admin_kubeconfig().to_owned());
/// let client = Client::try_from(Config::from_kubeconfig(&options)?)?;
/// let req = http::Request::get("/api/v1/namespaces").body(Vec::new())?;
/// let namespaces: serde_json::Value = client.request(req).await?;
/// assert_eq!(namespaces["kind"], "NamespaceList");
/// # Ok(()) }
/// ```
///
/// A test binary with many tests shares one environment through
/// [`shared`](super::shared).
pub struct TestEnv {
    /// etcd first, then kube-controller-manager if it runs.
    processes: Mutex<Vec<Proc>>,
    /// The TLS front of routable nodes, stopped with the processes.
    kubelet_front: Mutex<Option<KubeletFront>>,
    pub(super) etcd: EtcdSpec,
    pub(super) apiservers: ApiServers,
    dir: Mutex<Option<tempfile::TempDir>>,
    server_url: String,
    binaries: Binaries,
    controller_manager: bool,
    files: Files,
    nodes: Option<NodeEnv>,
    /// Routable API server addresses, removed (after the processes stop) on drop.
    addresses: Option<multi::LoAddresses>,
}

impl std::fmt::Debug for TestEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEnv")
            .field("server_url", &self.server_url)
            .field("dir", &self.files.dir)
            .field("controller_manager", &self.controller_manager)
            .field("nodes", &self.nodes.as_ref().map_or(0, |n| n.count))
            .field("routable_apiservers", &self.addresses.is_some())
            .finish_non_exhaustive()
    }
}

impl TestEnv {
    /// A builder with the defaults.
    pub fn builder() -> TestEnvBuilder {
        TestEnvBuilder::default()
    }

    /// Starts an environment with the defaults (`TestEnv::builder().start()`).
    pub fn start() -> Result<Self, TestEnvError> {
        Self::builder().start()
    }

    /// The API server URL, `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The PEM of the CA that signed the serving and client certificates.
    pub fn ca_pem(&self) -> &str {
        &self.files.pki.ca_pem
    }

    /// The path of the CA certificate.
    pub fn ca_path(&self) -> &Path {
        &self.files.ca_cert
    }

    /// A kubeconfig authenticating with a client certificate (`CN=admin`,
    /// `O=system:masters`).
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.files.admin_kubeconfig
    }

    /// A kubeconfig authenticating with a static bearer token of the user
    /// [`TOKEN_USER`] in group `system:masters`.
    pub fn token_kubeconfig(&self) -> &Path {
        &self.files.token_kubeconfig
    }

    /// A kubeconfig authenticating with a static bearer token of the user
    /// [`NOPERM_USER`], which has no RBAC rights beyond those of every authenticated
    /// user (discovery): its requests for resources are answered 403.
    pub fn noperm_kubeconfig(&self) -> &Path {
        &self.files.noperm_kubeconfig
    }

    /// The bearer token of [`TOKEN_USER`].
    pub fn admin_token(&self) -> &SecretString {
        &self.files.admin_token
    }

    /// The bearer token of [`NOPERM_USER`].
    pub fn noperm_token(&self) -> &SecretString {
        &self.files.noperm_token
    }

    /// The PEM of the admin client certificate.
    pub fn admin_cert_pem(&self) -> &str {
        &self.files.pki.admin_cert_pem
    }

    /// The PEM (PKCS#8) of the admin client key.
    pub fn admin_key_pem(&self) -> &SecretBytes {
        &self.files.pki.admin_key_pem
    }

    /// A new client certificate signed by the environment's CA, for a fresh ECDSA P-256
    /// key: the API server authenticates it as user `user` in `group` (the certificate's
    /// `CN` and `O`; one group, as the certificate generator writes one `O` attribute).
    /// Returns the certificate PEM and the key PEM (PKCS#8).
    ///
    /// Users in the group `system:masters` may do anything; any other user starts with
    /// the rights of every authenticated user (discovery) until RBAC grants it more.
    ///
    /// ```no_run
    /// use k8s_client::config::{ClientCertificate, KeySource, PemSource};
    /// use k8s_client::testenv::TestEnv;
    /// use k8s_client::Config;
    ///
    /// let env = TestEnv::start()?;
    /// let (cert_pem, key_pem) = env.issue_client_certificate("alice", Some("developers"))?;
    /// let mut config = Config::new(env.server_url().parse().unwrap());
    /// config.tls.ca = Some(PemSource::File(env.ca_path().to_owned()));
    /// config.tls.client_certificate = Some(ClientCertificate {
    ///     cert: PemSource::Data(cert_pem.into_bytes()),
    ///     key: KeySource::Data(key_pem),
    /// });
    /// // Client::try_from(config) now acts as alice.
    /// # Ok::<(), k8s_client::testenv::TestEnvError>(())
    /// ```
    pub fn issue_client_certificate(
        &self,
        user: &str,
        group: Option<&str>,
    ) -> Result<(String, SecretBytes), TestEnvError> {
        self.files.pki.issue_client_certificate(user, group)
    }

    /// A client certificate signed by the environment's CA for the public half of an
    /// existing private key (`key_pem`, PKCS#8 PEM: RSA, ECDSA P-256/P-384 or Ed25519),
    /// authenticated as user `user` in `group` like
    /// [`issue_client_certificate`](Self::issue_client_certificate). Returns the
    /// certificate PEM. Useful to test a particular key type or encoding: the
    /// certificate works with any encoding of the same key (PKCS#1, SEC1).
    pub fn sign_client_certificate(
        &self,
        key_pem: &str,
        user: &str,
        group: Option<&str>,
    ) -> Result<String, TestEnvError> {
        self.files.pki.sign_client_certificate(key_pem, user, group)
    }

    /// The service-account signing key (PKCS#8 PEM), given to kube-apiserver as
    /// `--service-account-signing-key-file` and to kube-controller-manager as
    /// `--service-account-private-key-file`.
    pub fn service_account_key_path(&self) -> &Path {
        &self.files.sa_key
    }

    /// The public half of the service-account signing key (PEM), given to
    /// kube-apiserver as `--service-account-key-file` (to verify tokens).
    pub fn service_account_public_key_path(&self) -> &Path {
        &self.files.sa_pub
    }

    /// The environment's directory: PKI, kubeconfigs, token file, etcd data and one
    /// `<process>.log` per process.
    pub fn dir(&self) -> &Path {
        &self.files.dir
    }

    /// The binaries in use.
    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    /// Whether kube-controller-manager runs.
    pub fn has_controller_manager(&self) -> bool {
        self.controller_manager
    }

    /// The names of the simulated nodes (none unless [`TestEnvBuilder::nodes`]).
    pub fn node_names(&self) -> Vec<String> {
        (0..self.nodes.as_ref().map_or(0, |n| n.count))
            .map(nodes::node_name)
            .collect()
    }

    /// The working directory of commands run by `exec` in any pod (with nodes).
    pub fn exec_dir(&self) -> Option<&Path> {
        self.nodes.as_ref().map(|n| n.files.exec_dir.as_path())
    }

    /// The file every container's log (and `attach` output) is read from, in the CRI
    /// log format (with nodes); see [`append_pod_log`](Self::append_pod_log).
    pub fn pod_log_path(&self) -> Option<&Path> {
        self.nodes.as_ref().map(|n| n.files.pod_log.as_path())
    }

    /// The file read for `previous=true` logs (with nodes).
    pub fn previous_pod_log_path(&self) -> Option<&Path> {
        self.nodes
            .as_ref()
            .map(|n| n.files.previous_pod_log.as_path())
    }

    /// Appends one line (`text`, without newline) to the containers' log, stamped
    /// with the current time, on stdout or stderr; `previous` writes the previous
    /// containers' log instead. Fails without nodes.
    pub fn append_pod_log(
        &self,
        previous: bool,
        stderr: bool,
        text: &str,
    ) -> Result<(), TestEnvError> {
        use std::io::Write;
        let path = match (previous, self.pod_log_path(), self.previous_pod_log_path()) {
            (false, Some(p), _) | (true, _, Some(p)) => p,
            _ => return Err(TestEnvError::NoNodes),
        };
        let line = nodes::cri_log_line(&jiff::Timestamp::now().to_string(), stderr, text);
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(|source| TestEnvError::Io {
                action: "appending to",
                path: path.to_owned(),
                source,
            })
    }

    /// The local port that port-forwarding to `pod_port` reaches (see
    /// [`TestEnvBuilder::forward_pod_port`]).
    pub fn forwarded_port(&self, pod_port: u16) -> Option<u16> {
        self.nodes.as_ref()?.forwards.get(&pod_port).copied()
    }

    /// The process ids of the running processes, in start order (etcd, the API
    /// servers, kube-controller-manager, then kube-scheduler and kwok with nodes).
    pub fn process_ids(&self) -> Vec<u32> {
        let processes = lock(&self.processes);
        let mut ids: Vec<u32> = processes.first().map(Proc::pid).into_iter().collect();
        ids.extend(self.apiservers.pids());
        ids.extend(processes.iter().skip(1).map(Proc::pid));
        ids
    }

    pub(super) fn lock_processes(&self) -> std::sync::MutexGuard<'_, Vec<Proc>> {
        lock(&self.processes)
    }

    /// Stops every process and removes the directory (see the type's docs).
    pub fn stop(self) {
        drop(self);
    }

    /// Stops every process in reverse start order, then removes (or keeps) the
    /// directory. Idempotent.
    pub(crate) fn shutdown(&self) {
        let mut processes = std::mem::take(&mut *lock(&self.processes));
        // kwok, kube-scheduler, kube-controller-manager, then the API servers, then etcd.
        while processes.len() > 1
            && let Some(mut p) = processes.pop()
        {
            p.stop();
        }
        drop(lock(&self.kubelet_front).take());
        self.apiservers.stop_all();
        if let Some(mut etcd) = processes.pop() {
            // A paused etcd would ignore SIGTERM until the grace period ends.
            if etcd.check_running().is_ok() {
                faults::signal(etcd.pid(), libc::SIGCONT);
            }
            etcd.stop();
        }
        if let Some(dir) = lock(&self.dir).take()
            && keep_requested()
        {
            let kept = dir.keep();
            eprintln!("testenv: kept {}", kept.display());
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn keep_requested() -> bool {
    std::env::var(KEEP_ENV).is_ok_and(|v| v == "1")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
