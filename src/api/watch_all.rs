//! [`Api::watch_all`]: list, then watch, resume after the server ends a watch, relist on
//! 410 Gone with backoff — the reflector loop of client-go, without a cache.

use super::core::Api;
use super::params::WatchParams;
use super::resource::Resource;
use super::watch::{WatchEvent, status_error};
use crate::error::Error;
use futures_util::stream::{BoxStream, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Page size of the list half of `watch_all` (client-go's reflector uses 500).
const LIST_PAGE_SIZE: u32 = 500;

/// A watch that ends sooner than this is resumed only after the backoff; without having
/// delivered an object it also counts as failed (client-go's reflector: "very short
/// watch"), so the backoff grows. A server that closes every watch at once is never
/// retried in a hot loop.
pub(crate) const SHORT_WATCH: Duration = Duration::from_secs(1);

/// An event of [`Api::watch_all`].
///
/// A consumer that keeps a copy of the objects treats `ListStarted` … `ListDone` as
/// "replace everything you know with the objects listed in between"; after that,
/// `Added`/`Modified`/`Deleted` continue from exactly the listed state, so nothing is
/// missed across watch restarts and relists.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum WatchAllEvent<K> {
    /// A (re)list begins.
    ListStarted,
    /// An object present at the list's `resourceVersion`.
    Listed(K),
    /// The list is complete; watching continues from `resource_version`.
    ListDone {
        /// The list's `resourceVersion`.
        resource_version: String,
    },
    /// An object was created.
    Added(K),
    /// An object changed.
    Modified(K),
    /// An object was deleted (its last state).
    Deleted(K),
}

/// Exponential backoff between failed attempts: 800 ms doubling up to 30 s, as client-go's
/// reflector; reset after every success.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            next: initial,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.initial;
    }
}

enum Phase<K> {
    /// Fetch the next list page (`None`: the first page of a fresh list).
    List {
        continue_token: Option<String>,
        announced: bool,
        resource_version: Option<String>,
    },
    /// The list's pages are all out; report `ListDone` and start watching.
    ListDone { resource_version: String },
    /// Open a watch from `rv`.
    Watch { rv: String },
    /// Read events.
    Watching {
        events: BoxStream<'static, Result<WatchEvent<K>, Error>>,
        rv: String,
        /// When the watch was opened.
        opened: tokio::time::Instant,
        /// Whether it delivered an object (bookmarks don't count).
        delivered: bool,
    },
    /// Wait, then go on with the inner phase.
    Backoff(Box<Phase<K>>),
}

impl<K> Phase<K> {
    fn relist() -> Self {
        Phase::List {
            continue_token: None,
            announced: false,
            resource_version: None,
        }
    }
}

struct State<K: Resource> {
    api: Api<K>,
    wp: WatchParams,
    phase: Option<Phase<K>>,
    pending: std::vec::IntoIter<K>,
    backoff: Backoff,
}

impl<K> Api<K>
where
    K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Lists (page by page), then watches from the list's `resourceVersion`; when the server
    /// ends a watch, resumes from the last seen version (bookmarks included); on 410 Gone,
    /// lists again (after a backoff). Other failures are yielded as `Err` and retried with
    /// exponential backoff (800 ms … 30 s) — the stream never ends by itself; drop it to stop.
    ///
    /// A watch that ends within a second is resumed only after the backoff (at least
    /// 800 ms). Without having delivered an object (an empty `200`, only bookmarks) it
    /// also counts as failed, like client-go's "very short watch": logged at WARN, and the
    /// backoff grows. So a server that closes every watch at once costs a handful of
    /// requests, not a hot loop. The backoff is reset only by a delivered object (or a
    /// completed list). client-go resumes at once after a short watch that delivered
    /// events.
    pub fn watch_all(
        &self,
        wp: &WatchParams,
    ) -> BoxStream<'static, Result<WatchAllEvent<K>, Error>> {
        self.watch_all_phase(wp, Phase::relist())
    }

    /// Like [`Api::watch_all`], but starts by watching from `resource_version` (e.g. one a
    /// previous run persisted); lists only if that version is too old (410 Gone).
    pub fn watch_all_from(
        &self,
        wp: &WatchParams,
        resource_version: &str,
    ) -> BoxStream<'static, Result<WatchAllEvent<K>, Error>> {
        self.watch_all_phase(
            wp,
            Phase::Watch {
                rv: resource_version.to_owned(),
            },
        )
    }

    fn watch_all_phase(
        &self,
        wp: &WatchParams,
        start: Phase<K>,
    ) -> BoxStream<'static, Result<WatchAllEvent<K>, Error>> {
        let state = State {
            api: self.clone(),
            wp: wp.clone(),
            phase: Some(start),
            pending: Vec::new().into_iter(),
            backoff: Backoff::new(Duration::from_millis(800), Duration::from_secs(30)),
        };
        futures_util::stream::unfold(state, |mut st| async move {
            let item = st.step().await;
            Some((item, st))
        })
        .boxed()
    }
}

impl<K> State<K>
where
    K: Resource + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Runs the state machine until it has one item to yield.
    async fn step(&mut self) -> Result<WatchAllEvent<K>, Error> {
        loop {
            if let Some(obj) = self.pending.next() {
                return Ok(WatchAllEvent::Listed(obj));
            }
            let phase = self.phase.take().unwrap_or_else(Phase::relist);
            match phase {
                Phase::List {
                    continue_token,
                    announced,
                    resource_version,
                } => {
                    if !announced {
                        self.phase = Some(Phase::List {
                            continue_token,
                            announced: true,
                            resource_version,
                        });
                        return Ok(WatchAllEvent::ListStarted);
                    }
                    let mut lp = self.wp.to_list_params(LIST_PAGE_SIZE);
                    lp.continue_token = continue_token;
                    match self.api.list(&lp).await {
                        Ok(page) => {
                            let rv = resource_version
                                .or_else(|| page.resource_version().map(str::to_owned))
                                .unwrap_or_default();
                            self.phase = Some(match page.continue_token() {
                                Some(token) => Phase::List {
                                    continue_token: Some(token.to_owned()),
                                    announced: true,
                                    resource_version: Some(rv),
                                },
                                None => Phase::ListDone {
                                    resource_version: rv,
                                },
                            });
                            self.pending = page.items.into_iter();
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "watch_all: list failed; relisting after backoff");
                            self.phase = Some(Phase::Backoff(Box::new(Phase::relist())));
                            return Err(e);
                        }
                    }
                }
                Phase::ListDone { resource_version } => {
                    self.backoff.reset();
                    self.phase = Some(Phase::Watch {
                        rv: resource_version.clone(),
                    });
                    return Ok(WatchAllEvent::ListDone { resource_version });
                }
                Phase::Watch { rv } => match self.api.watch(&self.wp, &rv).await {
                    Ok(events) => {
                        self.phase = Some(Phase::Watching {
                            events,
                            rv,
                            opened: tokio::time::Instant::now(),
                            delivered: false,
                        })
                    }
                    Err(e) if e.is_gone() => {
                        tracing::debug!(resource_version = %rv, "watch_all: version expired; relisting");
                        self.phase = Some(Phase::Backoff(Box::new(Phase::relist())));
                    }
                    Err(e) => {
                        self.phase = Some(Phase::Backoff(Box::new(Phase::Watch { rv })));
                        return Err(e);
                    }
                },
                Phase::Watching {
                    mut events,
                    mut rv,
                    opened,
                    mut delivered,
                } => match events.next().await {
                    None if opened.elapsed() < SHORT_WATCH => {
                        if delivered {
                            tracing::debug!(resource_version = %rv, "watch_all: the watch ended within a second; resuming after backoff");
                        } else {
                            tracing::warn!(
                                resource_version = %rv,
                                "watch_all: the watch ended within a second without any object; retrying after backoff"
                            );
                        }
                        self.phase = Some(Phase::Backoff(Box::new(Phase::Watch { rv })));
                    }
                    None => {
                        tracing::debug!(resource_version = %rv, "watch_all: watch ended; resuming");
                        self.phase = Some(Phase::Watch { rv });
                    }
                    Some(Ok(ev)) => {
                        if !matches!(ev, WatchEvent::Bookmark(_) | WatchEvent::Error(_)) {
                            self.backoff.reset();
                            delivered = true;
                        }
                        if let Some(v) = ev.resource_version() {
                            v.clone_into(&mut rv);
                        }
                        let out = match ev {
                            WatchEvent::Added(o) => Some(Ok(WatchAllEvent::Added(o))),
                            WatchEvent::Modified(o) => Some(Ok(WatchAllEvent::Modified(o))),
                            WatchEvent::Deleted(o) => Some(Ok(WatchAllEvent::Deleted(o))),
                            WatchEvent::Bookmark(_) => None,
                            WatchEvent::Error(status) => {
                                Some(Err(status_error(self.api.request().collection(), status)))
                            }
                        };
                        match out {
                            Some(Err(e)) => {
                                self.phase = Some(Phase::Backoff(Box::new(Phase::Watch { rv })));
                                return Err(e);
                            }
                            Some(Ok(item)) => {
                                self.phase = Some(Phase::Watching {
                                    events,
                                    rv,
                                    opened,
                                    delivered,
                                });
                                return Ok(item);
                            }
                            None => {
                                self.phase = Some(Phase::Watching {
                                    events,
                                    rv,
                                    opened,
                                    delivered,
                                })
                            }
                        }
                    }
                    Some(Err(e)) if e.is_gone() => {
                        tracing::debug!(resource_version = %rv, "watch_all: version expired; relisting");
                        self.phase = Some(Phase::Backoff(Box::new(Phase::relist())));
                    }
                    Some(Err(e)) => {
                        self.phase = Some(Phase::Backoff(Box::new(Phase::Watch { rv })));
                        return Err(e);
                    }
                },
                Phase::Backoff(then) => {
                    let delay = self.backoff.next_delay();
                    tracing::debug!(?delay, "watch_all: backing off");
                    tokio::time::sleep(delay).await;
                    self.phase = Some(*then);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(800), Duration::from_secs(3));
        let ds: Vec<_> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(ds, [800, 1600, 3000, 3000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(800));
    }
}
