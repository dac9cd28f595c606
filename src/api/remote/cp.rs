//! `kubectl cp`: files and directories into and out of a container, as tar over exec.

use super::error::StreamError;
use super::exec::{AttachParams, AttachedProcess, PROTOCOL_V4};
use super::tar_io::{self, CopyReport, Counted};
use crate::api::Api;
use crate::error::Error;
use k8s_openapi::api::core::v1::Pod;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::SyncIoBridge;

/// The most bytes of the remote `tar`'s stderr kept for an error.
const STDERR_KEPT: usize = 4096;

/// How the end of an upload is made known to the `tar` in the container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadEnd {
    /// kubectl's way: run `tar -xmf - -C DIR` and close its stdin when the archive
    /// is sent. Needs `v5.channel.k8s.io` (kube-apiserver ≥ 1.30); on `v4` the copy
    /// fails with [`StreamError::StdinNotClosable`] instead of hanging.
    #[default]
    CloseStdin,
    /// Measure the archive first (a dry run over the files), then run
    /// `sh -c 'head -c SIZE | tar -xmf - -C DIR'`: the container's `tar` sees its
    /// end without stdin closing (works over `v4` and with runtimes that do not pass
    /// stdin's end on). Needs `sh` and `head` in the container as well as `tar`.
    ByteCount,
}

/// Options of [`Api::copy_to_pod`] and [`Api::copy_from_pod`] (kubectl `cp -c`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyParams {
    /// The container (kubectl's default container when `None`).
    pub container: Option<String>,
    /// How an upload ends (default: kubectl's, closing stdin).
    pub upload_end: UploadEnd,
}

impl CopyParams {
    /// Selects the container.
    #[must_use]
    pub fn container(mut self, name: impl Into<String>) -> Self {
        self.container = Some(name.into());
        self
    }

    /// Sets how an upload ends.
    #[must_use]
    pub fn upload_end(mut self, end: UploadEnd) -> Self {
        self.upload_end = end;
        self
    }
}

/// One side of `kubectl cp`: a local path or `[NAMESPACE/]POD:PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CopyLocation {
    /// A local path.
    Local(PathBuf),
    /// A path in a pod.
    Pod {
        /// The namespace, when given (`ns/pod:path`).
        namespace: Option<String>,
        /// The pod.
        pod: String,
        /// The path in the container.
        path: String,
    },
}

impl CopyLocation {
    /// Reads kubectl's file spec: no `:` is a local path; `POD:PATH` or
    /// `NAMESPACE/POD:PATH` is in a pod (split at the first `:`, as kubectl).
    ///
    /// ```
    /// use k8s_client::api::CopyLocation;
    /// assert_eq!(
    ///     CopyLocation::parse("ns/web:/etc/app.conf").unwrap(),
    ///     CopyLocation::Pod { namespace: Some("ns".into()), pod: "web".into(), path: "/etc/app.conf".into() }
    /// );
    /// assert_eq!(CopyLocation::parse("./out").unwrap(), CopyLocation::Local("./out".into()));
    /// ```
    pub fn parse(spec: &str) -> Result<Self, StreamError> {
        let Some((pod_spec, path)) = spec.split_once(':') else {
            return Ok(Self::Local(spec.into()));
        };
        let bad = || StreamError::BadCopySpec {
            spec: spec.to_owned(),
        };
        let (namespace, pod) = match pod_spec.split('/').collect::<Vec<_>>()[..] {
            [pod] => (None, pod),
            [ns, pod] if !ns.is_empty() => (Some(ns.to_owned()), pod),
            _ => return Err(bad()),
        };
        if pod.is_empty() {
            return Err(bad());
        }
        Ok(Self::Pod {
            namespace,
            pod: pod.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// kubectl's `path.Dir` and `path.Base` of a slash-separated remote path.
fn split_remote(path: &str) -> (String, String) {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    match trimmed.rsplit_once('/') {
        Some(("", base)) => ("/".to_owned(), base.to_owned()),
        Some((dir, base)) => (dir.to_owned(), base.to_owned()),
        None => (".".to_owned(), trimmed.to_owned()),
    }
}

fn exec_params(cp: &CopyParams, stdin: bool) -> AttachParams {
    let mut ap = AttachParams::default().stdin(stdin);
    ap.container = cp.container.clone();
    ap
}

/// Collects up to [`STDERR_KEPT`] bytes of the remote stderr.
async fn read_stderr(r: Option<impl AsyncRead + Unpin>) -> String {
    let Some(mut r) = r else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = STDERR_KEPT.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    String::from_utf8_lossy(&kept).trim().to_owned()
}

/// Waits for the remote command; a non-zero exit is [`StreamError::RemoteTar`].
async fn finish(process: AttachedProcess, stderr: String) -> Result<(), Error> {
    match process.status().await {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(StreamError::RemoteTar {
            code: Some(s.code),
            stderr,
        }
        .into()),
        Err(Error::Stream(StreamError::Failed(_))) => {
            Err(StreamError::RemoteTar { code: None, stderr }.into())
        }
        Err(e) => Err(e),
    }
}

impl Api<Pod> {
    /// Copies `remote` (a file or directory in the container) to `local`, like
    /// `kubectl cp POD:REMOTE LOCAL`: runs `tar cf - REMOTE` in the container and
    /// unpacks its output so that `REMOTE` itself becomes `local`.
    ///
    /// The pod's tar stream is not trusted: an entry outside `REMOTE` fails the copy
    /// ([`StreamError::TarOutsidePath`]); entries whose path would leave `local`
    /// (`..`, absolute), symbolic and hard links, special files and paths through an
    /// existing local symbolic link are not extracted and are listed in
    /// [`CopyReport::skipped`] (kubectl prints such warnings).
    pub async fn copy_from_pod(
        &self,
        pod: &str,
        remote: &str,
        local: impl AsRef<Path>,
        cp: &CopyParams,
    ) -> Result<CopyReport, Error> {
        let local = local.as_ref().to_owned();
        let command = ["tar", "cf", "-", remote];
        let mut process = self.exec(pod, command, &exec_params(cp, false)).await?;
        let stdout = process
            .stdout()
            .ok_or(StreamError::NotOpen { what: "stdout" })?;
        let stderr = tokio::spawn(read_stderr(process.stderr()));
        let prefix = tar_io::remote_prefix(remote);
        let unpacked = tokio::task::spawn_blocking(move || {
            let mut input = SyncIoBridge::new(stdout);
            let report = tar_io::unpack(&mut input, &prefix, &local)?;
            // Drain what follows the archive's end so the remote tar can finish.
            std::io::copy(&mut input, &mut std::io::sink()).map_err(StreamError::Tar)?;
            Ok::<_, StreamError>(report)
        })
        .await
        .map_err(|_| StreamError::NotOpen { what: "copy" })?;
        let stderr = stderr.await.unwrap_or_default();
        let report = unpacked?;
        finish(process, stderr).await?;
        Ok(report)
    }

    /// Copies `local` (a file or directory) into the container, like
    /// `kubectl cp LOCAL POD:REMOTE`: when `REMOTE` is an existing directory the copy
    /// goes inside it (`REMOTE/basename(LOCAL)`), otherwise it becomes `REMOTE`.
    /// Symbolic links are sent as links, not followed (kubectl's archive).
    pub async fn copy_to_pod(
        &self,
        pod: &str,
        local: impl AsRef<Path>,
        remote: &str,
        cp: &CopyParams,
    ) -> Result<CopyReport, Error> {
        let local = local.as_ref().to_owned();
        std::fs::symlink_metadata(&local).map_err(|source| StreamError::CopySource {
            path: local.clone(),
            source,
        })?;
        let mut remote = remote.to_owned();
        if self.remote_is_dir(pod, &remote, cp).await? {
            let base = local
                .file_name()
                .map(|b| b.to_string_lossy().into_owned())
                .unwrap_or_default();
            remote = format!("{}/{base}", remote.trim_end_matches('/'));
        }
        let (dir, name) = split_remote(&remote);
        let byte_count = match cp.upload_end {
            UploadEnd::CloseStdin => None,
            UploadEnd::ByteCount => {
                let (local, name) = (local.clone(), name.clone());
                let size = tokio::task::spawn_blocking(move || {
                    tar_io::pack(&local, &name, Counted::new(std::io::sink())).map(|(w, _)| w.n)
                })
                .await
                .map_err(|_| StreamError::NotOpen { what: "copy" })??;
                Some(size)
            }
        };
        let command: Vec<String> = match byte_count {
            None => ["tar", "-xmf", "-", "-C", &dir].map(str::to_owned).to_vec(),
            Some(n) => [
                "sh",
                "-c",
                "head -c \"$0\" | tar -xmf - -C \"$1\"",
                &n.to_string(),
                &dir,
            ]
            .map(str::to_owned)
            .to_vec(),
        };
        let mut process = self.exec(pod, command, &exec_params(cp, true)).await?;
        if byte_count.is_none() && process.protocol() == PROTOCOL_V4 {
            return Err(StreamError::StdinNotClosable.into());
        }
        let stdin = process
            .stdin()
            .ok_or(StreamError::NotOpen { what: "stdin" })?;
        let stdout = tokio::spawn(read_stderr(process.stdout()));
        let stderr = tokio::spawn(read_stderr(process.stderr()));
        let packed = tokio::task::spawn_blocking(move || {
            use std::io::Read as _;
            let out = Counted::new(SyncIoBridge::new(stdin));
            let (mut out, report) = tar_io::pack(&local, &name, out)?;
            if let Some(n) = byte_count {
                // The source changed since it was measured. Shorter: pad with zero
                // blocks (an archive end) so `head` gets its count; longer: the
                // container's tar would see a cut archive, so fail.
                if out.n > n {
                    return Err(StreamError::SourceChanged { path: local });
                }
                let pad = n - out.n;
                std::io::copy(&mut std::io::repeat(0).take(pad), &mut out)
                    .map_err(StreamError::Write)?;
            }
            out.inner.shutdown().map_err(StreamError::Write)?;
            Ok(report)
        })
        .await
        .map_err(|_| StreamError::NotOpen { what: "copy" })?;
        let report = packed?;
        let _ = stdout.await;
        let stderr = stderr.await.unwrap_or_default();
        finish(process, stderr).await?;
        Ok(report)
    }

    /// Whether `path` is a directory in the container (`test -d`, as kubectl checks).
    async fn remote_is_dir(&self, pod: &str, path: &str, cp: &CopyParams) -> Result<bool, Error> {
        let process = self
            .exec(pod, ["test", "-d", path], &exec_params(cp, false))
            .await?;
        match process.status().await {
            Ok(s) => Ok(s.success()),
            // kwok and some runtimes report a non-zero exit without its code.
            Err(Error::Stream(StreamError::Failed(_))) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
