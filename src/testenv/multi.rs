//! The kube-apiserver processes of one environment: one by default, or several on one
//! etcd, each on its own loopback address (`127.0.0.1`, `127.0.0.2`, …; Linux routes all
//! of `127.0.0.0/8` to `lo`) and the same port, so a client can fail over between them.
//! With routable addresses ([`LoAddresses`]), each runs on a TEST-NET-2 address added to
//! `lo` and publishes itself in the `default/kubernetes` EndpointSlice.

use super::TestEnvError;
use super::env::{Attempt, wait_for};
use super::probe::TlsProbe;
use super::process::Proc;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The most API servers an environment runs (their addresses are `127.0.0.1..=127.0.0.N`).
pub const MAX_APISERVERS: usize = 9;

/// The loopback address of API server `index`.
pub(crate) fn apiserver_ip(index: usize) -> Ipv4Addr {
    let last = u8::try_from(index + 1).unwrap_or(u8::MAX);
    Ipv4Addr::new(127, 0, 0, last)
}

/// The range routable API server addresses are taken from (TEST-NET-2, RFC 5737: never
/// routed on the internet, and accepted by Kubernetes' endpoint validation, which refuses
/// loopback addresses).
pub const ROUTABLE_RANGE: &str = "198.51.100.0/24";
/// Blocks of ten addresses in [`ROUTABLE_RANGE`]: block `b` is `198.51.100.(10b+1)..`.
const ROUTABLE_BLOCKS: u8 = 25;

/// Addresses added to `lo` for one environment's API servers, removed again on drop.
#[derive(Debug)]
pub(crate) struct LoAddresses {
    ips: Vec<Ipv4Addr>,
}

impl LoAddresses {
    /// Adds `count` addresses of one free block of [`ROUTABLE_RANGE`] to `lo` (a block
    /// another environment holds — `ip` reports the address exists — is skipped).
    pub(crate) fn add(count: usize) -> Result<Self, TestEnvError> {
        let first = (std::process::id() % u32::from(ROUTABLE_BLOCKS)) as u8;
        for k in 0..ROUTABLE_BLOCKS {
            let block = (first + k) % ROUTABLE_BLOCKS;
            let mut added = LoAddresses { ips: Vec::new() };
            let mut taken = false;
            for i in 0..count {
                let last = u8::try_from(10 * usize::from(block) + i + 1).unwrap_or(u8::MAX);
                let ip = Ipv4Addr::new(198, 51, 100, last);
                if ip_addr("add", ip)? {
                    added.ips.push(ip);
                } else {
                    taken = true;
                    break;
                }
            }
            if !taken {
                return Ok(added);
            }
            // Dropping `added` removes the addresses of this block it did add.
        }
        Err(TestEnvError::NoFreeAddresses {
            range: ROUTABLE_RANGE,
        })
    }

    /// The addresses, in API server order.
    pub(crate) fn ips(&self) -> &[Ipv4Addr] {
        &self.ips
    }
}

impl Drop for LoAddresses {
    fn drop(&mut self) {
        for ip in &self.ips {
            if let Err(e) = ip_addr("del", *ip) {
                eprintln!("testenv: removing {ip} from lo failed: {e}");
            }
        }
    }
}

/// `ip addr <action> <ip>/32 dev lo`: true on success, false if the address already
/// exists (when adding).
fn ip_addr(action: &str, ip: Ipv4Addr) -> Result<bool, TestEnvError> {
    let args = ["addr", action, &format!("{ip}/32"), "dev", "lo"];
    let command = format!("ip {}", args.join(" "));
    let out = std::process::Command::new("ip")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| TestEnvError::AddressSpawn {
            command: command.clone(),
            source,
        })?;
    if out.status.success() {
        return Ok(true);
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if action == "add" && stderr.contains("File exists") {
        return Ok(false);
    }
    if stderr.contains("Operation not permitted") {
        return Err(TestEnvError::NotRoot);
    }
    Err(TestEnvError::AddressCommand {
        command,
        status: out.status,
        stderr,
    })
}

/// One API server: how to start it again, and the running process if any.
struct Slot {
    args: Vec<String>,
    log: PathBuf,
    probe: TlsProbe,
    proc: Option<Proc>,
}

/// Every API server of an environment.
pub(crate) struct ApiServers {
    binary: PathBuf,
    ips: Vec<Ipv4Addr>,
    port: u16,
    timeout: Duration,
    slots: Vec<Mutex<Slot>>,
}

/// What every API server shares: its binary, common flags, port and probe credentials.
pub(crate) struct Shared<'a> {
    pub(crate) binary: &'a Path,
    /// One address per API server.
    pub(crate) ips: &'a [Ipv4Addr],
    /// Run the `lease` endpoint reconciler (routable addresses only: endpoints may not
    /// list loopback addresses).
    pub(crate) lease: bool,
    pub(crate) args: &'a [String],
    pub(crate) port: u16,
    pub(crate) dir: &'a Path,
    pub(crate) timeout: Duration,
    pub(crate) ca_pem: &'a str,
    pub(crate) cert_pem: &'a str,
    pub(crate) key_pem: &'a [u8],
}

impl ApiServers {
    /// Starts `count` API servers and waits until each answers `/readyz` with 200.
    /// The first one logs to `kube-apiserver.log`, the others to `kube-apiserver-<i>.log`.
    pub(crate) fn start(shared: Shared<'_>) -> Result<Self, Attempt> {
        let mut slots = Vec::with_capacity(shared.ips.len());
        for (index, &ip) in shared.ips.iter().enumerate() {
            let reconciler = if shared.lease { "lease" } else { "none" };
            let mut args = vec![
                format!("--bind-address={ip}"),
                // Shown in /api's serverAddressByClientCIDRs and, with the lease
                // reconciler, published in the `kubernetes` EndpointSlice. A loopback
                // advertise address is only accepted without the reconciler (Endpoints
                // may not list loopback addresses).
                format!("--advertise-address={ip}"),
                format!("--endpoint-reconciler-type={reconciler}"),
                format!("--secure-port={}", shared.port),
            ];
            args.extend(shared.args.iter().cloned());
            let log = match index {
                0 => shared.dir.join("kube-apiserver.log"),
                i => shared.dir.join(format!("kube-apiserver-{i}.log")),
            };
            let probe = TlsProbe::new(
                SocketAddr::from((ip, shared.port)),
                shared.ca_pem,
                shared.cert_pem,
                shared.key_pem,
            )?;
            slots.push(Mutex::new(Slot {
                args,
                log,
                probe,
                proc: None,
            }));
        }
        let servers = Self {
            binary: shared.binary.to_owned(),
            ips: shared.ips.to_vec(),
            port: shared.port,
            timeout: shared.timeout,
            slots,
        };
        // Spawn all, then wait for each: they start in parallel.
        for slot in &servers.slots {
            servers.spawn(&mut lock(slot))?;
        }
        for slot in &servers.slots {
            servers.wait_ready(&mut lock(slot))?;
        }
        Ok(servers)
    }

    fn spawn(&self, slot: &mut Slot) -> Result<(), Attempt> {
        let proc = Proc::spawn("kube-apiserver", &self.binary, &slot.args, slot.log.clone())?;
        slot.proc = Some(proc);
        Ok(())
    }

    fn wait_ready(&self, slot: &mut Slot) -> Result<(), Attempt> {
        let Slot { probe, proc, .. } = slot;
        let proc = proc.as_mut().expect("waiting only for a spawned server");
        let what = format!("GET https://{}/readyz", probe.addr());
        wait_for(proc, self.timeout, what, || {
            probe.status("/readyz") == Some(200)
        })
    }

    /// How many API servers the environment has.
    pub(crate) fn count(&self) -> usize {
        self.slots.len()
    }

    /// The URL of server `index`.
    pub(crate) fn url(&self, index: usize) -> String {
        format!("https://{}:{}", self.ips[index], self.port)
    }

    /// The address of server `index`.
    pub(crate) fn ip(&self, index: usize) -> Ipv4Addr {
        self.ips[index]
    }

    fn slot(&self, index: usize) -> Result<std::sync::MutexGuard<'_, Slot>, TestEnvError> {
        self.slots
            .get(index)
            .map(lock)
            .ok_or(TestEnvError::NoSuchApiServer {
                index,
                count: self.slots.len(),
            })
    }

    /// Stops server `index`: gracefully (SIGTERM, then SIGKILL after a grace period) or
    /// at once (SIGKILL). Stopping a stopped server does nothing.
    pub(crate) fn stop(&self, index: usize, graceful: bool) -> Result<(), TestEnvError> {
        let mut slot = self.slot(index)?;
        if let Some(mut proc) = slot.proc.take() {
            if graceful {
                proc.stop();
            } else {
                proc.kill();
            }
        }
        Ok(())
    }

    /// Starts server `index` again (if stopped) and waits until it is ready.
    pub(crate) fn start_again(&self, index: usize) -> Result<(), TestEnvError> {
        let mut slot = self.slot(index)?;
        if let Some(proc) = slot.proc.as_mut() {
            if proc.check_running().is_ok() {
                return Ok(());
            }
            slot.proc = None;
        }
        let unwrap = |a: Attempt| match a {
            Attempt::PortCollision(e) | Attempt::Failed(e) => e,
        };
        self.spawn(&mut slot).map_err(unwrap)?;
        self.wait_ready(&mut slot).map_err(unwrap)
    }

    /// Whether server `index` runs and answers `/readyz` with 200.
    pub(crate) fn is_ready(&self, index: usize) -> bool {
        self.slot(index).is_ok_and(|mut slot| {
            let running = slot
                .proc
                .as_mut()
                .is_some_and(|p| p.check_running().is_ok());
            running && slot.probe.status("/readyz") == Some(200)
        })
    }

    /// The process ids of the running servers, by index.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.slots
            .iter()
            .filter_map(|s| lock(s).proc.as_ref().map(Proc::pid))
            .collect()
    }

    /// Stops every server (last first).
    pub(crate) fn stop_all(&self) {
        for slot in self.slots.iter().rev() {
            if let Some(mut proc) = lock(slot).proc.take() {
                proc.stop();
            }
        }
    }
}

/// Several API servers: addresses, stopping and starting by index.
impl super::TestEnv {
    /// How many kube-apiservers the environment runs (see
    /// [`TestEnvBuilder::apiservers`](super::TestEnvBuilder::apiservers)).
    pub fn apiserver_count(&self) -> usize {
        self.apiservers.count()
    }

    /// The URL of every API server, by index: `https://127.0.0.<i+1>:<port>` (with
    /// [`routable_apiservers`](super::TestEnvBuilder::routable_apiservers), addresses of
    /// [`ROUTABLE_RANGE`]). The first is [`server_url`](Self::server_url).
    pub fn apiserver_urls(&self) -> Vec<String> {
        (0..self.apiservers.count())
            .map(|i| self.apiservers.url(i))
            .collect()
    }

    /// Kills API server `index` with SIGKILL (a crash: connections are reset, nothing
    /// is drained). Blocks until the process is reaped.
    pub fn kill_apiserver(&self, index: usize) -> Result<(), TestEnvError> {
        self.apiservers.stop(index, false)
    }

    /// Stops API server `index` gracefully (SIGTERM: it stops accepting, drains and
    /// exits; SIGKILL after 10 s). Blocks until the process is reaped.
    pub fn stop_apiserver(&self, index: usize) -> Result<(), TestEnvError> {
        self.apiservers.stop(index, true)
    }

    /// Starts API server `index` again with the same flags, address and port, and
    /// blocks until it answers `/readyz` with 200. Does nothing if it runs.
    pub fn start_apiserver(&self, index: usize) -> Result<(), TestEnvError> {
        self.apiservers.start_again(index)
    }

    /// Whether API server `index` runs and answers `/readyz` with 200 now.
    pub fn apiserver_ready(&self, index: usize) -> bool {
        self.apiservers.is_ready(index)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routable_blocks_stay_inside_the_range() {
        let range: ipnet::Ipv4Net = ROUTABLE_RANGE.parse().unwrap();
        let last = 10 * usize::from(ROUTABLE_BLOCKS - 1) + MAX_APISERVERS;
        assert!(last < 255);
        assert!(range.contains(&Ipv4Addr::new(198, 51, 100, last as u8)));
    }

    #[test]
    fn addresses_are_consecutive_loopback_addresses() {
        assert_eq!(apiserver_ip(0), Ipv4Addr::LOCALHOST);
        assert_eq!(apiserver_ip(2), Ipv4Addr::new(127, 0, 0, 3));
        assert!(apiserver_ip(MAX_APISERVERS - 1).is_loopback());
    }
}
