//! Pod logs as lines tagged with their pod and container: one container, all
//! containers of a pod (kubectl `--all-containers`), or every pod a label selector
//! matches, following pods that appear while the stream is open (kubectl `logs -f -l`).

use super::error::StreamError;
use super::exec::default_container_of;
use crate::api::{Api, ListParams, LogParams, WatchAllEvent, WatchParams};
use crate::error::Error;
use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, BoxStream, Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use std::collections::HashSet;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

/// kubectl's `--max-log-requests` default: the most log streams followed at once.
pub const DEFAULT_MAX_LOG_REQUESTS: usize = 5;
/// kubectl's `--tail` default when a label selector chooses the pods.
pub const SELECTOR_DEFAULT_TAIL_LINES: i64 = 10;
/// The longest line kept whole: a longer run of bytes without a newline is yielded in
/// pieces of this size (the last piece ends with the newline).
pub const MAX_LINE: usize = 64 * 1024;
/// Lines buffered between the per-container readers and the consumer.
const QUEUE: usize = 256;

/// One line of a container's log (with its newline, unless the log ended without one
/// or the line was longer than [`MAX_LINE`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogLine {
    /// The pod.
    pub pod: String,
    /// The container.
    pub container: String,
    /// The bytes, exactly as the server sent them.
    pub line: Bytes,
}

impl LogLine {
    /// kubectl's `--prefix`: `[pod/NAME/CONTAINER] `.
    pub fn prefix(&self) -> String {
        format!("[pod/{}/{}] ", self.pod, self.container)
    }
}

/// Which containers and how many concurrent streams a multi-stream log read covers.
///
/// ```
/// use k8s_client::api::LogSelection;
/// let sel = LogSelection::default().all_containers().max_log_requests(10);
/// assert!(sel.all_containers);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogSelection {
    /// Every container of each pod: init containers, containers, then ephemeral
    /// containers, in spec order (kubectl `--all-containers`); [`LogParams::container`]
    /// is then ignored. Otherwise the named container, or kubectl's default one.
    pub all_containers: bool,
    /// The most streams followed at once (kubectl `--max-log-requests`, default 5).
    /// Only checked when following.
    pub max_log_requests: usize,
}

impl Default for LogSelection {
    fn default() -> Self {
        Self {
            all_containers: false,
            max_log_requests: DEFAULT_MAX_LOG_REQUESTS,
        }
    }
}

impl LogSelection {
    /// Reads every container of each pod.
    #[must_use]
    pub fn all_containers(mut self) -> Self {
        self.all_containers = true;
        self
    }

    /// Sets the most streams followed at once.
    #[must_use]
    pub fn max_log_requests(mut self, n: usize) -> Self {
        self.max_log_requests = n;
        self
    }
}

/// Log lines with their source: a [`Stream`] of `Result<LogLine, Error>`.
///
/// Without `follow` it ends after the last line of the last container; following, it
/// ends when every followed stream has ended (a single pod), or never by itself (a
/// label selector: drop it to stop). Dropping it closes every request it opened.
pub struct LogStream {
    inner: BoxStream<'static, Result<LogLine, Error>>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for LogStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogStream")
            .field("following_new_pods", &self.task.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl Stream for LogStream {
    type Item = Result<LogLine, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// Splits a log body into lines of at most [`MAX_LINE`] bytes.
struct Lines<S> {
    body: S,
    buf: BytesMut,
    ended: bool,
}

impl<S: Stream<Item = Result<Bytes, Error>> + Unpin> Lines<S> {
    fn new(body: S) -> Self {
        Self {
            body,
            buf: BytesMut::new(),
            ended: false,
        }
    }

    async fn next_line(&mut self) -> Option<Result<Bytes, Error>> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n')
                && i < MAX_LINE
            {
                return Some(Ok(self.buf.split_to(i + 1).freeze()));
            }
            if self.buf.len() >= MAX_LINE {
                return Some(Ok(self.buf.split_to(MAX_LINE).freeze()));
            }
            if self.ended {
                return (!self.buf.is_empty()).then(|| Ok(self.buf.split().freeze()));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    self.ended = true;
                    return Some(Err(e));
                }
                None => self.ended = true,
            }
        }
    }
}

fn tagged<S>(pod: String, container: String, body: S) -> BoxStream<'static, Result<LogLine, Error>>
where
    S: Stream<Item = Result<Bytes, Error>> + Unpin + Send + 'static,
{
    stream::unfold(Lines::new(body), move |mut lines| {
        let (pod, container) = (pod.clone(), container.clone());
        async move {
            let line = lines.next_line().await?;
            Some((
                line.map(|line| LogLine {
                    pod,
                    container,
                    line,
                }),
                lines,
            ))
        }
    })
    .boxed()
}

/// The containers to read in `pod`.
fn containers_of(pod: &Pod, lp: &LogParams, sel: &LogSelection) -> Vec<String> {
    if !sel.all_containers {
        let chosen = lp.container.clone().or_else(|| default_container_of(pod));
        return chosen.into_iter().collect();
    }
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    let init = spec.init_containers.iter().flatten().map(|c| &c.name);
    let main = spec.containers.iter().map(|c| &c.name);
    let ephemeral = spec.ephemeral_containers.iter().flatten().map(|c| &c.name);
    init.chain(main).chain(ephemeral).cloned().collect()
}

fn pod_name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

fn has_started(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Running" | "Succeeded" | "Failed")
    )
}

fn too_many(requested: usize, sel: &LogSelection) -> Result<(), StreamError> {
    if requested > sel.max_log_requests {
        return Err(StreamError::TooManyLogStreams {
            requested,
            max: sel.max_log_requests,
        });
    }
    Ok(())
}

impl Api<Pod> {
    /// Reads the log of pod `name` as lines tagged with pod and container: the
    /// container in `lp` (or kubectl's default: the
    /// `kubectl.kubernetes.io/default-container` annotation, else the first), or every
    /// container with [`LogSelection::all_containers`].
    ///
    /// Every request is opened before this returns, so a missing pod or container is
    /// the server's [`Error::Api`] here (the message kubectl prints). Without `follow`
    /// the containers' lines come one container after another (kubectl's order);
    /// following several containers interleaves them as they arrive, and more than
    /// [`LogSelection::max_log_requests`] of them is
    /// [`StreamError::TooManyLogStreams`] (kubectl's limit).
    ///
    /// ```no_run
    /// # async fn demo(pods: k8s_client::Api<k8s_openapi::api::core::v1::Pod>) -> Result<(), k8s_client::Error> {
    /// use futures_util::TryStreamExt;
    /// use k8s_client::api::{LogParams, LogSelection};
    ///
    /// let mut lines = pods
    ///     .log_lines("web", &LogParams::default().follow(), &LogSelection::default().all_containers())
    ///     .await?;
    /// while let Some(l) = lines.try_next().await? {
    ///     print!("{}{}", l.prefix(), String::from_utf8_lossy(&l.line));
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn log_lines(
        &self,
        name: &str,
        lp: &LogParams,
        sel: &LogSelection,
    ) -> Result<LogStream, Error> {
        let pod = self.get(name).await?;
        let containers = containers_of(&pod, lp, sel);
        if lp.follow && containers.len() > 1 {
            too_many(containers.len(), sel)?;
        }
        let streams = self.open_all(&[(pod, containers)], lp).await?;
        Ok(LogStream {
            inner: combine(streams, lp.follow),
            task: None,
        })
    }

    /// Reads the logs of every pod matching `label_selector` (kubectl `logs -l`), one
    /// pod after the other in list (name) order (kubectl's order varies from run to
    /// run: it walks a Go map); without [`LogParams::tail_lines`] only the last 10 lines of each
    /// container (kubectl's default with a selector).
    ///
    /// Following, the streams of the pods that match now are opened before this
    /// returns (more than [`LogSelection::max_log_requests`] is
    /// [`StreamError::TooManyLogStreams`], kubectl's limit), and unlike kubectl the
    /// pods are then watched: a matching pod that starts running later is followed
    /// too, from the beginning of its log (the tail limit applies only to the pods
    /// present at the start). A new pod that would exceed the limit is not followed;
    /// the stream yields [`StreamError::TooManyLogStreams`] for it and goes on. A
    /// failure to open a new pod's stream is yielded too.
    pub async fn log_lines_selector(
        &self,
        label_selector: &str,
        lp: &LogParams,
        sel: &LogSelection,
    ) -> Result<LogStream, Error> {
        let mut lp = lp.clone();
        lp.tail_lines.get_or_insert(SELECTOR_DEFAULT_TAIL_LINES);
        let list = self
            .list(&ListParams::default().labels(label_selector))
            .await?;
        let version = list.metadata.resource_version.clone().unwrap_or_default();
        let items = list.items;
        let mut seen = HashSet::new();
        let mut targets = Vec::new();
        for pod in items {
            if lp.follow && !has_started(&pod) {
                continue;
            }
            seen.insert(pod.metadata.uid.clone().unwrap_or_else(|| pod_name(&pod)));
            let containers = containers_of(&pod, &lp, sel);
            targets.push((pod, containers));
        }
        let count: usize = targets.iter().map(|(_, c)| c.len()).sum();
        if lp.follow && count > 1 {
            too_many(count, sel)?;
        }
        let streams = self.open_all(&targets, &lp).await?;
        if !lp.follow {
            return Ok(LogStream {
                inner: combine(streams, false),
                task: None,
            });
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let follower = Follower {
            api: self.clone(),
            selector: label_selector.to_owned(),
            lp,
            sel: sel.clone(),
            seen,
            tx,
        };
        let task = tokio::spawn(follower.run(streams, version));
        let inner = stream::unfold(rx, |mut rx| async move {
            let item = rx.recv().await?;
            Some((item, rx))
        })
        .boxed();
        Ok(LogStream {
            inner,
            task: Some(task),
        })
    }

    /// Opens one log request per (pod, container), all at once.
    async fn open_all(
        &self,
        targets: &[(Pod, Vec<String>)],
        lp: &LogParams,
    ) -> Result<Vec<BoxStream<'static, Result<LogLine, Error>>>, Error> {
        let opening = targets.iter().flat_map(|(pod, containers)| {
            containers
                .iter()
                .map(move |c| self.open_one(pod_name(pod), c.clone(), lp))
        });
        futures_util::future::try_join_all(opening).await
    }

    async fn open_one(
        &self,
        pod: String,
        container: String,
        lp: &LogParams,
    ) -> Result<BoxStream<'static, Result<LogLine, Error>>, Error> {
        let mut lp = lp.clone();
        lp.container = Some(container.clone());
        let body = self.log_stream(&pod, &lp).await?;
        Ok(tagged(pod, container, body))
    }
}

/// One after another (not following) or interleaved as lines arrive.
fn combine(
    streams: Vec<BoxStream<'static, Result<LogLine, Error>>>,
    follow: bool,
) -> BoxStream<'static, Result<LogLine, Error>> {
    if follow {
        stream::select_all(streams).boxed()
    } else {
        stream::iter(streams).flatten().boxed()
    }
}

/// Follows the pods of a selector: forwards their lines and opens the streams of
/// pods that start running later.
struct Follower {
    api: Api<Pod>,
    selector: String,
    lp: LogParams,
    sel: LogSelection,
    seen: HashSet<String>,
    tx: mpsc::Sender<Result<LogLine, Error>>,
}

impl Follower {
    async fn run(mut self, initial: Vec<BoxStream<'static, Result<LogLine, Error>>>, rv: String) {
        let mut readers = JoinSet::new();
        for s in initial {
            readers.spawn(forward(s, self.tx.clone()));
        }
        let wp = WatchParams::default().labels(&self.selector);
        let mut events = self.api.watch_all_from(&wp, &rv);
        // New pods are read from their start.
        let mut lp = self.lp.clone();
        lp.tail_lines = None;
        loop {
            tokio::select! {
                ev = events.next() => {
                    let pod = match ev {
                        Some(Ok(WatchAllEvent::Added(p) | WatchAllEvent::Modified(p) | WatchAllEvent::Listed(p))) => p,
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => {
                            tracing::debug!(selector = %self.selector, error = %e, "watching pods for their logs failed; retrying");
                            continue;
                        }
                        None => return,
                    };
                    self.start(pod, &lp, &mut readers).await;
                }
                Some(_) = readers.join_next(), if !readers.is_empty() => {}
            }
            if self.tx.is_closed() {
                return;
            }
        }
    }

    async fn start(&mut self, pod: Pod, lp: &LogParams, readers: &mut JoinSet<()>) {
        if !has_started(&pod) {
            return;
        }
        let key = pod.metadata.uid.clone().unwrap_or_else(|| pod_name(&pod));
        if !self.seen.insert(key) {
            return;
        }
        let containers = containers_of(&pod, lp, &self.sel);
        if let Err(e) = too_many(readers.len() + containers.len(), &self.sel) {
            let _ = self.tx.send(Err(e.into())).await;
            return;
        }
        let name = pod_name(&pod);
        for c in containers {
            let (api, lp, tx, name) = (self.api.clone(), lp.clone(), self.tx.clone(), name.clone());
            readers.spawn(async move {
                match api.open_one(name, c, &lp).await {
                    Ok(s) => forward(s, tx).await,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                    }
                }
            });
        }
    }
}

async fn forward(
    mut lines: BoxStream<'static, Result<LogLine, Error>>,
    tx: mpsc::Sender<Result<LogLine, Error>>,
) {
    while let Some(item) = lines.next().await {
        if tx.send(item).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn split(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let chunks: Vec<Result<Bytes, Error>> = chunks
            .iter()
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let mut lines = Lines::new(stream::iter(chunks));
        let mut out = Vec::new();
        while let Some(l) = lines.next_line().await {
            out.push(l.unwrap().to_vec());
        }
        out
    }

    #[tokio::test]
    async fn lines_split_on_newlines_across_chunks_and_keep_a_last_partial_line() {
        let got = split(&[b"a\nb", b"c\n\nd", b"", b"e"]).await;
        assert_eq!(got, [&b"a\n"[..], b"bc\n", b"\n", b"de"]);
        assert!(split(&[]).await.is_empty());
    }

    #[tokio::test]
    async fn a_line_longer_than_the_limit_comes_in_pieces() {
        let mut long = vec![b'x'; MAX_LINE + 10];
        long.push(b'\n');
        let got = split(&[&long[..100], &long[100..], b"y\n"]).await;
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].len(), MAX_LINE);
        assert_eq!(got[1], [&[b'x'; 10][..], b"\n"].concat());
        assert_eq!(got[2], b"y\n");
    }

    #[test]
    fn containers_follow_kubectls_order_and_default() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "annotations": {"kubectl.kubernetes.io/default-container": "b"}},
            "spec": {
                "initContainers": [{"name": "i"}],
                "containers": [{"name": "a"}, {"name": "b"}],
                "ephemeralContainers": [{"name": "e"}],
            }
        }))
        .unwrap();
        let lp = LogParams::default();
        let all = LogSelection::default().all_containers();
        assert_eq!(containers_of(&pod, &lp, &all), ["i", "a", "b", "e"]);
        assert_eq!(containers_of(&pod, &lp, &LogSelection::default()), ["b"]);
        let named = LogParams::default().container("a");
        assert_eq!(containers_of(&pod, &named, &LogSelection::default()), ["a"]);
    }

    #[test]
    fn the_stream_limit_reads_like_kubectls() {
        let err = too_many(6, &LogSelection::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "you are attempting to follow 6 log streams, but maximum allowed concurrency is 5; raise LogSelection::max_log_requests (kubectl --max-log-requests) to increase the limit"
        );
        assert!(too_many(5, &LogSelection::default()).is_ok());
    }

    #[test]
    fn prefix_is_kubectls() {
        let l = LogLine {
            pod: "web".into(),
            container: "app".into(),
            line: Bytes::from_static(b"x\n"),
        };
        assert_eq!(l.prefix(), "[pod/web/app] ");
    }
}
