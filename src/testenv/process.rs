//! Child processes of the control plane: spawning (tied to our lifetime), logs, stopping.

use super::TestEnvError;
use super::error::ProcessReport;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a process gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

/// Children are spawned from one dedicated thread that lives as long as the process:
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, and test
/// threads exit after each test.
fn spawner() -> &'static mpsc::Sender<Job> {
    static SPAWNER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("k8s-client-testenv-spawner".to_owned())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .expect("spawning the testenv spawner thread");
        tx
    })
}

/// Asks the kernel to SIGKILL the child when the spawning thread dies.
#[cfg(target_os = "linux")]
fn tie_to_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    #[allow(unsafe_code)]
    // SAFETY: the closure runs in the forked child before exec and only calls the
    // async-signal-safe functions prctl(2), getppid(2) and kill(2); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() as u32 != parent {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn tie_to_parent(_cmd: &mut Command) {}

fn send_sigterm(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    #[allow(unsafe_code)]
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own unreaped
    // child, so the id cannot have been reused by another process.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

/// A running control-plane process.
pub(crate) struct Proc {
    pub(crate) name: &'static str,
    pub(crate) command_line: String,
    pub(crate) log: PathBuf,
    child: Child,
}

impl Proc {
    /// Spawns `program args…` with stdout and stderr going to `log`.
    pub(crate) fn spawn(
        name: &'static str,
        program: &Path,
        args: &[String],
        log: PathBuf,
    ) -> Result<Self, TestEnvError> {
        let command_line = std::iter::once(program.display().to_string())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let spawn_err = |source| TestEnvError::Spawn {
            process: name,
            command: command_line.clone(),
            source,
        };
        let file = fs::File::create(&log).map_err(spawn_err)?;
        let file2 = file.try_clone().map_err(spawn_err)?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(file2);
        tie_to_parent(&mut cmd);
        let (tx, rx) = mpsc::channel();
        spawner()
            .send(Box::new(move || {
                let _ = tx.send(cmd.spawn());
            }))
            .expect("the testenv spawner thread never exits");
        let child = rx
            .recv()
            .expect("the testenv spawner thread answers every request")
            .map_err(spawn_err)?;
        Ok(Self {
            name,
            command_line,
            log,
            child,
        })
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Err(Exited)` if the process has exited.
    pub(crate) fn check_running(&mut self) -> Result<(), TestEnvError> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(TestEnvError::Exited {
                status,
                report: self.report(),
            }),
            _ => Ok(()),
        }
    }

    /// Whether the log mentions a port collision.
    pub(crate) fn port_collision(&self) -> bool {
        tail(&self.log, 200).contains("address already in use")
    }

    /// An error saying the process did not become ready.
    pub(crate) fn not_ready(&self, waiting_for: String, timeout: Duration) -> TestEnvError {
        TestEnvError::NotReady {
            waiting_for,
            timeout,
            report: self.report(),
        }
    }

    fn report(&self) -> Box<ProcessReport> {
        Box::new(ProcessReport {
            process: self.name,
            command: self.command_line.clone(),
            log: self.log.clone(),
            tail: tail(&self.log, 20),
        })
    }

    /// SIGKILL at once (a crash: no graceful shutdown); reaps the child.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then SIGKILL after a grace period; always reaps the child.
    pub(crate) fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        send_sigterm(self.pid());
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `lines` lines of the file at `path` (at most its last 64 KiB).
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = file.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        fs::write(&path, text).unwrap();
        let t = tail(&path, 20);
        assert!(t.starts_with("line 11\n"), "{t}");
        assert!(t.ends_with("line 30"));
        assert!(tail(&dir.path().join("missing"), 20).contains("no log"));
    }

    #[test]
    fn stopped_child_is_reaped_and_exit_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Proc::spawn(
            "sleep",
            Path::new("/bin/sh"),
            &["-c".to_owned(), "echo started; exec sleep 600".to_owned()],
            dir.path().join("sleep.log"),
        )
        .unwrap();
        let pid = p.pid();
        assert!(p.check_running().is_ok());
        p.stop();
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        let err = p.check_running().unwrap_err();
        assert!(
            err.to_string().contains("sleep exited during start-up"),
            "{err}"
        );
    }
}
