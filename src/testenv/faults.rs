//! Fault injection on etcd: kill, graceful stop, start again (same flags, ports and data
//! directory), and pause/resume (SIGSTOP/SIGCONT: a slow or hung etcd). For soak and
//! chaos tests; the common path never calls these.

use super::TestEnvError;
use super::env::{Attempt, wait_for};
use super::probe::http_status;
use super::process::Proc;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How to start etcd again.
#[derive(Debug, Clone)]
pub(crate) struct EtcdSpec {
    pub(crate) binary: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) log: PathBuf,
    pub(crate) addr: SocketAddr,
    pub(crate) timeout: Duration,
}

/// Sends `signal` to `pid` (our own unreaped child).
pub(crate) fn signal(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    #[allow(unsafe_code)]
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own unreaped
    // child, so the id cannot have been reused by another process.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// etcd: crash, stop, start again, pause and resume.
impl super::TestEnv {
    /// Kills etcd with SIGKILL (a crash) and reaps it; its data directory stays. The
    /// API servers keep running and answer errors for what needs storage until
    /// [`start_etcd`](Self::start_etcd). Killing a stopped etcd does nothing.
    pub fn kill_etcd(&self) -> Result<(), TestEnvError> {
        self.with_etcd(|etcd| {
            signal(etcd.pid(), libc::SIGCONT);
            etcd.kill();
        })
    }

    /// Stops etcd gracefully (SIGTERM, SIGKILL after 10 s) and reaps it; its data
    /// directory stays.
    pub fn stop_etcd(&self) -> Result<(), TestEnvError> {
        self.with_etcd(|etcd| {
            signal(etcd.pid(), libc::SIGCONT);
            etcd.stop();
        })
    }

    /// Starts etcd again with the same flags, ports and data directory, and blocks
    /// until it answers `/health` with 200. Does nothing if it runs.
    pub fn start_etcd(&self) -> Result<(), TestEnvError> {
        let spec = &self.etcd;
        let mut processes = self.lock_processes();
        if let Some(etcd) = processes.first_mut()
            && etcd.check_running().is_ok()
        {
            return Ok(());
        }
        let mut fresh = Proc::spawn("etcd", &spec.binary, &spec.args, spec.log.clone())?;
        let addr = spec.addr;
        let waited = wait_for(
            &mut fresh,
            spec.timeout,
            format!("GET http://{addr}/health"),
            || http_status(addr, "/health") == Some(200),
        );
        match processes.first_mut() {
            Some(slot) => *slot = fresh,
            None => processes.push(fresh),
        }
        waited.map_err(|a| match a {
            Attempt::PortCollision(e) | Attempt::Failed(e) => e,
        })
    }

    /// Freezes etcd (SIGSTOP): it keeps its connections but answers nothing until
    /// [`resume_etcd`](Self::resume_etcd), as a very slow or hung disk would.
    pub fn pause_etcd(&self) -> Result<(), TestEnvError> {
        self.with_etcd(|etcd| signal(etcd.pid(), libc::SIGSTOP))
    }

    /// Lets a paused etcd run again (SIGCONT).
    pub fn resume_etcd(&self) -> Result<(), TestEnvError> {
        self.with_etcd(|etcd| signal(etcd.pid(), libc::SIGCONT))
    }

    /// Whether etcd runs and answers `/health` with 200 now.
    pub fn etcd_ready(&self) -> bool {
        let running = self
            .lock_processes()
            .first_mut()
            .is_some_and(|p| p.check_running().is_ok());
        running && http_status(self.etcd.addr, "/health") == Some(200)
    }

    fn with_etcd(&self, f: impl FnOnce(&mut Proc)) -> Result<(), TestEnvError> {
        let mut processes = self.lock_processes();
        let etcd = processes.first_mut().ok_or(TestEnvError::ShutDown)?;
        if etcd.check_running().is_ok() {
            f(etcd);
        }
        Ok(())
    }
}
