//! The kube-apiserver processes of one environment: one by default, or several on one
//! etcd, each on its own loopback address (`127.0.0.1`, `127.0.0.2`, …; Linux routes all
//! of `127.0.0.0/8` to `lo`) and the same port, so a client can fail over between them.

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
    port: u16,
    timeout: Duration,
    slots: Vec<Mutex<Slot>>,
}

/// What every API server shares: its binary, common flags, port and probe credentials.
pub(crate) struct Shared<'a> {
    pub(crate) binary: &'a Path,
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
    pub(crate) fn start(count: usize, shared: Shared<'_>) -> Result<Self, Attempt> {
        let mut slots = Vec::with_capacity(count);
        for index in 0..count {
            let ip = apiserver_ip(index);
            let mut args = vec![
                format!("--bind-address={ip}"),
                // Shown in /api's serverAddressByClientCIDRs. A loopback advertise address
                // is only accepted without the endpoint reconciler (Endpoints may not
                // list loopback addresses), so every server runs with `none`.
                format!("--advertise-address={ip}"),
                "--endpoint-reconciler-type=none".to_owned(),
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
        format!("https://{}:{}", apiserver_ip(index), self.port)
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

    /// The URL of every API server, by index: `https://127.0.0.<i+1>:<port>`. The first
    /// is [`server_url`](Self::server_url).
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
    fn addresses_are_consecutive_loopback_addresses() {
        assert_eq!(apiserver_ip(0), Ipv4Addr::LOCALHOST);
        assert_eq!(apiserver_ip(2), Ipv4Addr::new(127, 0, 0, 3));
        assert!(apiserver_ip(MAX_APISERVERS - 1).is_loopback());
    }
}
