//! `pods/exec` and `pods/attach` over WebSocket (`v5.channel.k8s.io`, falling back to
//! `v4.channel.k8s.io`).

use super::error::StreamError;
use super::ws::{self, FrameReader, Message, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG};
use crate::Client;
use crate::api::Api;
use crate::error::{Error, Status};
use k8s_openapi::api::core::v1::Pod;
use std::fmt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The streaming subprotocol with the stdin close signal (channel 255); kube-apiserver
/// ≥ 1.30 and kubectl ≥ 1.30 speak it.
pub const PROTOCOL_V5: &str = "v5.channel.k8s.io";
/// The previous subprotocol, without a way to close stdin; older API servers and
/// kubelets reached directly.
pub const PROTOCOL_V4: &str = "v4.channel.k8s.io";

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;
/// Bytes buffered per direction between the connection and the caller.
const PIPE: usize = 256 * 1024;
/// The most stdin bytes put into one message.
const STDIN_CHUNK: usize = 32 * 1024;

/// Which streams an exec or attach connects, in which container, with or without a TTY.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttachParams {
    /// The container. When `None`, the pod is read and, like kubectl, its
    /// `kubectl.kubernetes.io/default-container` annotation or else its first
    /// container is used.
    pub container: Option<String>,
    /// Connect stdin (default `false`).
    pub stdin: bool,
    /// Connect stdout (default `true`).
    pub stdout: bool,
    /// Connect stderr (default `true`; must be `false` with a TTY, whose output all
    /// arrives on stdout).
    pub stderr: bool,
    /// Allocate a terminal (default `false`); enables [`AttachedProcess::resize`].
    pub tty: bool,
}

impl Default for AttachParams {
    fn default() -> Self {
        Self {
            container: None,
            stdin: false,
            stdout: true,
            stderr: true,
            tty: false,
        }
    }
}

impl AttachParams {
    /// Selects the container.
    #[must_use]
    pub fn container(mut self, name: impl Into<String>) -> Self {
        self.container = Some(name.into());
        self
    }

    /// Connects stdin or not.
    #[must_use]
    pub fn stdin(mut self, enabled: bool) -> Self {
        self.stdin = enabled;
        self
    }

    /// Connects stdout or not.
    #[must_use]
    pub fn stdout(mut self, enabled: bool) -> Self {
        self.stdout = enabled;
        self
    }

    /// Connects stderr or not.
    #[must_use]
    pub fn stderr(mut self, enabled: bool) -> Self {
        self.stderr = enabled;
        self
    }

    /// Allocates a TTY (and turns stderr off, as kubectl does: a terminal has one
    /// output stream).
    #[must_use]
    pub fn tty(mut self, enabled: bool) -> Self {
        self.tty = enabled;
        if enabled {
            self.stderr = false;
        }
        self
    }

    fn query(&self, command: &[String]) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for c in command {
            q.append_pair("command", c);
        }
        if let Some(c) = &self.container {
            q.append_pair("container", c);
        }
        let flag = |b: bool| if b { "true" } else { "false" };
        q.append_pair("stdin", flag(self.stdin));
        q.append_pair("stdout", flag(self.stdout));
        q.append_pair("stderr", flag(self.stderr));
        q.append_pair("tty", flag(self.tty));
        q.finish()
    }
}

/// How a remote command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExitStatus {
    /// The exit code: 0 on `Success`, the `ExitCode` cause of a `NonZeroExitCode`
    /// failure otherwise.
    pub code: i32,
}

impl ExitStatus {
    /// Whether the code is 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// Reads the exit status out of the status channel's `Status` (what kubectl does):
/// `Success` → 0, `NonZeroExitCode` with an `ExitCode` cause → that code, anything
/// else → [`StreamError::Failed`].
pub(crate) fn exit_status(status: Status) -> Result<ExitStatus, StreamError> {
    if status.status.as_deref() == Some("Success") {
        return Ok(ExitStatus { code: 0 });
    }
    if status.reason.as_deref() == Some("NonZeroExitCode") {
        let code = status
            .details
            .as_ref()
            .and_then(|d| d.get("causes"))
            .and_then(|c| c.as_array())
            .and_then(|causes| {
                causes
                    .iter()
                    .find(|c| c.get("reason").and_then(|r| r.as_str()) == Some("ExitCode"))
            })
            .and_then(|c| c.get("message")?.as_str()?.parse::<i32>().ok());
        if let Some(code) = code {
            return Ok(ExitStatus { code });
        }
    }
    Err(StreamError::Failed(Box::new(status)))
}

enum Control {
    Resize { width: u16, height: u16 },
    Pong(Vec<u8>),
}

/// A running `exec` or `attach`: its stdin, stdout and stderr, terminal resizing and
/// the exit status.
///
/// Take the streams with [`stdin`](Self::stdin), [`stdout`](Self::stdout) and
/// [`stderr`](Self::stderr); read stdout and stderr while the process runs (each
/// buffers 256 KiB, then the connection waits, as kubectl's does), and close stdin
/// (`shutdown()`) to send end-of-file (`v5.channel.k8s.io` only). Keep this value until
/// [`status`](Self::status) returns: dropping it closes the connection.
pub struct AttachedProcess {
    protocol: String,
    stdin: Option<ProcessStdin>,
    stdout: Option<ProcessOutput>,
    stderr: Option<ProcessOutput>,
    control: mpsc::Sender<Control>,
    status: Option<oneshot::Receiver<Result<Status, StreamError>>>,
    tasks: [JoinHandle<()>; 2],
    tty: bool,
}

impl fmt::Debug for AttachedProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachedProcess")
            .field("protocol", &self.protocol)
            .field("tty", &self.tty)
            .finish_non_exhaustive()
    }
}

impl Drop for AttachedProcess {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl AttachedProcess {
    /// The negotiated subprotocol ([`PROTOCOL_V5`] or [`PROTOCOL_V4`]).
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// The process's stdin (once; `None` without [`AttachParams::stdin`]).
    pub fn stdin(&mut self) -> Option<ProcessStdin> {
        self.stdin.take()
    }

    /// The process's stdout (once; `None` without [`AttachParams::stdout`]).
    pub fn stdout(&mut self) -> Option<ProcessOutput> {
        self.stdout.take()
    }

    /// The process's stderr (once; `None` without [`AttachParams::stderr`]).
    pub fn stderr(&mut self) -> Option<ProcessOutput> {
        self.stderr.take()
    }

    /// Tells the terminal its size in columns and rows (channel 4; needs
    /// [`AttachParams::tty`]).
    pub async fn resize(&self, width: u16, height: u16) -> Result<(), Error> {
        if !self.tty {
            return Err(StreamError::NotOpen { what: "terminal" }.into());
        }
        self.control
            .send(Control::Resize { width, height })
            .await
            .map_err(|_| StreamError::NotOpen { what: "terminal" }.into())
    }

    /// Waits until the server reports how the process ended (channel 3) and returns
    /// its exit code; a failure without exit code (the command could not start, the
    /// container is gone) is [`StreamError::Failed`] with the server's `Status`.
    /// The output streams end when the connection does.
    pub async fn status(mut self) -> Result<ExitStatus, Error> {
        let rx = self
            .status
            .take()
            .ok_or(StreamError::NotOpen { what: "status" })?;
        let status = rx.await.map_err(|_| StreamError::NoStatus)??;
        Ok(exit_status(status)?)
    }
}

/// The process's stdin: an [`AsyncWrite`]; `shutdown()` sends end-of-file.
pub struct ProcessStdin(DuplexStream);

/// stdout or stderr of the process: an [`AsyncRead`] that ends with the connection.
pub struct ProcessOutput(DuplexStream);

impl fmt::Debug for ProcessStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProcessStdin")
    }
}

impl fmt::Debug for ProcessOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProcessOutput")
    }
}

duplex_io!(write ProcessStdin);

duplex_io!(read ProcessOutput);

impl Api<Pod> {
    /// Runs `command` in a container of pod `name` (`pods/exec`), like `kubectl exec`.
    ///
    /// ```no_run
    /// # async fn demo(pods: k8s_client::Api<k8s_openapi::api::core::v1::Pod>) -> Result<(), k8s_client::Error> {
    /// use k8s_client::api::AttachParams;
    /// use tokio::io::AsyncReadExt;
    ///
    /// let mut process = pods.exec("web", ["sh", "-c", "echo hi"], &AttachParams::default()).await?;
    /// let mut out = String::new();
    /// process.stdout().unwrap().read_to_string(&mut out).await.ok();
    /// let status = process.status().await?;
    /// assert_eq!((out.as_str(), status.code), ("hi\n", 0));
    /// # Ok(()) }
    /// ```
    pub async fn exec<I, S>(
        &self,
        name: &str,
        command: I,
        ap: &AttachParams,
    ) -> Result<AttachedProcess, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let command: Vec<String> = command.into_iter().map(Into::into).collect();
        self.connect_process(name, "exec", &command, ap).await
    }

    /// Attaches to the running main process of a container (`pods/attach`), like
    /// `kubectl attach`.
    pub async fn attach(&self, name: &str, ap: &AttachParams) -> Result<AttachedProcess, Error> {
        self.connect_process(name, "attach", &[], ap).await
    }

    async fn connect_process(
        &self,
        name: &str,
        subresource: &str,
        command: &[String],
        ap: &AttachParams,
    ) -> Result<AttachedProcess, Error> {
        let path = subresource_path(self, name, subresource)?;
        let mut ap = ap.clone();
        if ap.container.is_none() {
            ap.container = Some(self.default_container(name).await?);
        }
        start(self.client(), &path, &ap.query(command), &ap).await
    }

    /// The container kubectl picks when none is named: the
    /// `kubectl.kubernetes.io/default-container` annotation, else the first container.
    pub(crate) async fn default_container(&self, name: &str) -> Result<String, Error> {
        let pod = self.get(name).await?;
        Ok(default_container_of(&pod).unwrap_or_default())
    }
}

/// The annotation naming the container kubectl uses by default.
pub const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

pub(crate) fn default_container_of(pod: &Pod) -> Option<String> {
    let annotated = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CONTAINER_ANNOTATION))
        .cloned();
    annotated.or_else(|| {
        pod.spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .map(|c| c.name.clone())
    })
}

/// The path of a pod subresource (escaped like every other request).
pub(crate) fn subresource_path(
    api: &Api<Pod>,
    name: &str,
    subresource: &str,
) -> Result<String, Error> {
    let req = api.request().get_subresource(subresource, name)?;
    Ok(req.uri().path().to_owned())
}

async fn start(
    client: &Client,
    path: &str,
    query: &str,
    ap: &AttachParams,
) -> Result<AttachedProcess, Error> {
    let connected = ws::connect(client, path, query, &[PROTOCOL_V5, PROTOCOL_V4]).await?;
    let v5 = connected.protocol == PROTOCOL_V5;
    let (rd, wr) = tokio::io::split(connected.io);
    let (control_tx, control_rx) = mpsc::channel(16);
    let (status_tx, status_rx) = oneshot::channel();
    let pipe = |on: bool| on.then(|| tokio::io::duplex(PIPE));
    let (stdin_user, stdin_ours) = pipe(ap.stdin).unzip();
    let (stdout_user, stdout_ours) = pipe(ap.stdout).unzip();
    let (stderr_user, stderr_ours) = pipe(ap.stderr).unzip();
    let tasks = ws::spawn_reader_writer(
        read_loop(
            FrameReader::new(rd),
            stdout_ours,
            stderr_ours,
            control_tx.clone(),
            status_tx,
        ),
        write_loop(wr, stdin_ours, control_rx, v5),
    );
    Ok(AttachedProcess {
        protocol: connected.protocol,
        stdin: stdin_user.map(ProcessStdin),
        stdout: stdout_user.map(ProcessOutput),
        stderr: stderr_user.map(ProcessOutput),
        control: control_tx,
        status: Some(status_rx),
        tasks,
        tty: ap.tty,
    })
}

/// Routes server messages to stdout, stderr and the status; answers pings.
async fn read_loop<R: AsyncRead + Unpin>(
    mut frames: FrameReader<R>,
    mut stdout: Option<DuplexStream>,
    mut stderr: Option<DuplexStream>,
    control: mpsc::Sender<Control>,
    status_tx: oneshot::Sender<Result<Status, StreamError>>,
) {
    let mut status: Option<Vec<u8>> = None;
    let end = loop {
        match frames.next().await {
            Ok(Message::Data(data)) => {
                let Some((&channel, payload)) = data.split_first() else {
                    continue;
                };
                let sink = match channel {
                    STDOUT => &mut stdout,
                    STDERR => &mut stderr,
                    ERROR => {
                        status
                            .get_or_insert_with(Vec::new)
                            .extend_from_slice(payload);
                        continue;
                    }
                    _ => continue,
                };
                // A reader that went away discards the rest of its stream.
                if let Some(pipe) = sink
                    && pipe.write_all(payload).await.is_err()
                {
                    *sink = None;
                }
            }
            Ok(Message::Ping(p)) => {
                let _ = control.send(Control::Pong(p)).await;
            }
            Ok(Message::Close) => break None,
            Err(e) => break Some(e),
        }
    };
    drop(stdout);
    drop(stderr);
    let result = match (status, end) {
        (Some(s), _) => serde_json::from_slice::<Status>(&s).map_err(StreamError::BadStatus),
        (None, Some(e)) => Err(e),
        (None, None) => Err(StreamError::NoStatus),
    };
    let _ = status_tx.send(result);
}

/// Sends stdin (channel 0), its end (channel 255, v5), resizes (channel 4), pongs and a
/// ping every [`ws::STREAM_PING_PERIOD`].
async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut stdin: Option<DuplexStream>,
    mut control: mpsc::Receiver<Control>,
    v5: bool,
) {
    let mut buf = vec![0u8; STDIN_CHUNK + 1];
    let mut ping = ws::ping_interval(ws::STREAM_PING_PERIOD);
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if ws::write_frame(&mut wr, OP_PING, &[]).await.is_err() {
                    return;
                }
            }
            read = async {
                match stdin.as_mut() {
                    Some(s) => s.read(&mut buf[1..]).await,
                    None => std::future::pending().await,
                }
            } => {
                match read {
                    Ok(n) if n > 0 => {
                        buf[0] = STDIN;
                        if ws::write_frame(&mut wr, OP_BINARY, &buf[..=n]).await.is_err() {
                            return;
                        }
                    }
                    _ => {
                        stdin = None;
                        if v5 && ws::write_frame(&mut wr, OP_BINARY, &[CLOSE, STDIN]).await.is_err() {
                            return;
                        }
                    }
                }
            }
            msg = control.recv() => {
                let sent = match msg {
                    Some(Control::Resize { width, height }) => {
                        let mut m = vec![RESIZE];
                        m.extend_from_slice(
                            serde_json::json!({"Width": width, "Height": height})
                                .to_string()
                                .as_bytes(),
                        );
                        ws::write_frame(&mut wr, OP_BINARY, &m).await
                    }
                    Some(Control::Pong(p)) => ws::write_frame(&mut wr, OP_PONG, &p).await,
                    None => {
                        let _ = ws::write_frame(&mut wr, OP_CLOSE, &1000u16.to_be_bytes()).await;
                        return;
                    }
                };
                if sent.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(v: serde_json::Value) -> Status {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn exit_codes_come_from_the_status_channel() {
        let ok = status(serde_json::json!({"metadata": {}, "status": "Success"}));
        assert_eq!(exit_status(ok).unwrap(), ExitStatus { code: 0 });
        let nonzero = status(serde_json::json!({
            "status": "Failure", "reason": "NonZeroExitCode",
            "message": "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3",
            "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}
        }));
        assert_eq!(exit_status(nonzero).unwrap().code, 3);
        let internal = status(serde_json::json!({
            "status": "Failure", "reason": "InternalError", "message": "boom"
        }));
        let err = exit_status(internal).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the remote command failed: InternalError: boom"
        );
        let no_code = status(serde_json::json!({
            "status": "Failure", "reason": "NonZeroExitCode", "details": {"causes": []}
        }));
        assert!(exit_status(no_code).is_err());
    }

    #[test]
    fn query_repeats_command_and_encodes_flags() {
        let ap = AttachParams::default()
            .container("c 1")
            .stdin(true)
            .tty(true);
        let q = ap.query(&["sh".into(), "-c".into(), "a&b=c".into()]);
        assert_eq!(
            q,
            "command=sh&command=-c&command=a%26b%3Dc&container=c+1&stdin=true&stdout=true&stderr=false&tty=true"
        );
    }

    fn unmask(frame: &[u8]) -> (u8, Vec<u8>) {
        let len = (frame[1] & 0x7f) as usize;
        let mask = &frame[2..6];
        let payload = frame[6..6 + len]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        (frame[0] & 0x0f, payload)
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_session_pings_the_server_every_period() {
        let start = tokio::time::Instant::now();
        let (client_end, mut server_end) = tokio::io::duplex(1024);
        let (_tx, rx) = mpsc::channel(1);
        let _task = tokio::spawn(write_loop(client_end, None, rx, true));
        for k in 1..=3u32 {
            let mut frame = [0u8; 6];
            server_end.read_exact(&mut frame).await.unwrap();
            assert_eq!(unmask(&frame), (OP_PING, Vec::new()));
            assert_eq!(start.elapsed(), ws::STREAM_PING_PERIOD * k);
        }
    }

    #[tokio::test]
    async fn stdin_end_is_signalled_only_on_v5() {
        for v5 in [true, false] {
            let (client_end, mut server_end) = tokio::io::duplex(1024);
            let (mut user, ours) = tokio::io::duplex(1024);
            let (tx, rx) = mpsc::channel(1);
            let task = tokio::spawn(write_loop(client_end, Some(ours), rx, v5));
            user.write_all(b"hi").await.unwrap();
            user.shutdown().await.unwrap();
            let mut frame = [0u8; 9];
            server_end.read_exact(&mut frame).await.unwrap();
            assert_eq!(unmask(&frame), (OP_BINARY, vec![STDIN, b'h', b'i']));
            if v5 {
                let mut close = [0u8; 8];
                server_end.read_exact(&mut close).await.unwrap();
                assert_eq!(unmask(&close), (OP_BINARY, vec![CLOSE, STDIN]));
            }
            // Dropping the handle's sender closes the connection: what remains is
            // exactly one close frame (no stdin close signal on v4).
            drop(tx);
            task.await.unwrap();
            let mut rest = Vec::new();
            server_end.read_to_end(&mut rest).await.unwrap();
            assert_eq!(unmask(&rest), (OP_CLOSE, 1000u16.to_be_bytes().to_vec()));
            assert_eq!(rest.len(), 8, "v5={v5}");
        }
    }
}
