//! A relay in front of the test API server for the runtime's tests: counts list and
//! watch requests, cuts open watches on demand (a torn event, then the connection ends),
//! can hold new watches, and can make the next watch ask for a compacted version so the
//! real server answers 410 Gone.

use crate::support::server::{UpBody, UpFuture, Upstream, full};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use k8s_client::Client;
use k8s_client::client::Body;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Default)]
pub struct Counters {
    pub lists: AtomicUsize,
    pub watches: AtomicUsize,
    /// Watches waiting while [`Relay::hold_watches`] is on.
    pub held: AtomicUsize,
}

pub struct Relay {
    upstream: Upstream,
    pub counters: Arc<Counters>,
    cut: Arc<tokio::sync::watch::Sender<u64>>,
    gone_next: Arc<AtomicBool>,
    hold: Arc<tokio::sync::watch::Sender<bool>>,
}

fn is_watch(query: &str) -> bool {
    query.split('&').any(|p| p == "watch=true")
}

impl Relay {
    pub async fn start(target: Client) -> Self {
        let counters = Arc::new(Counters::default());
        let cut = Arc::new(tokio::sync::watch::channel(0u64).0);
        let gone_next = Arc::new(AtomicBool::new(false));
        let hold = Arc::new(tokio::sync::watch::channel(false).0);
        let (c, cut2, gone2, hold2) = (
            counters.clone(),
            cut.clone(),
            gone_next.clone(),
            hold.clone(),
        );
        let upstream = Upstream::start(move |req| {
            let (counters, cut, gone_next, hold) =
                (c.clone(), cut2.clone(), gone2.clone(), hold2.clone());
            let target = target.clone();
            Box::pin(async move {
                let (parts, body) = req.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let path = parts.uri.path().to_owned();
                let mut query = parts.uri.query().unwrap_or_default().to_owned();
                let watch = is_watch(&query);
                if watch {
                    counters.watches.fetch_add(1, Ordering::SeqCst);
                    let mut rx = hold.subscribe();
                    if *rx.borrow() {
                        counters.held.fetch_add(1, Ordering::SeqCst);
                        let _ = rx.wait_for(|h| !*h).await;
                        counters.held.fetch_sub(1, Ordering::SeqCst);
                    }
                    if gone_next.swap(false, Ordering::SeqCst) {
                        query = query
                            .split('&')
                            .map(|p| {
                                if p.starts_with("resourceVersion=") {
                                    "resourceVersion=1"
                                } else {
                                    p
                                }
                            })
                            .collect::<Vec<_>>()
                            .join("&");
                    }
                } else if parts.method == http::Method::GET {
                    counters.lists.fetch_add(1, Ordering::SeqCst);
                }
                let mut builder = http::Request::builder()
                    .method(parts.method.clone())
                    .uri(format!("{path}?{query}"));
                for name in [http::header::ACCEPT, http::header::CONTENT_TYPE] {
                    if let Some(v) = parts.headers.get(&name) {
                        builder = builder.header(name, v);
                    }
                }
                let answer = target
                    .send(builder.body(Body::from(body)).unwrap())
                    .await
                    .expect("the relay reaches the API server");
                let (head, body) = answer.into_parts();
                let mut out = http::Response::builder().status(head.status);
                if let Some(ct) = head.headers.get(http::header::CONTENT_TYPE) {
                    out = out.header(http::header::CONTENT_TYPE, ct);
                }
                if !watch {
                    let bytes = body.collect_bytes().await.unwrap_or_default();
                    return out.body(full(bytes)).unwrap();
                }
                let mut cut_rx = cut.subscribe();
                cut_rx.mark_unchanged();
                let chunks = body.into_stream();
                let stream = futures_util::stream::unfold(
                    (chunks, cut_rx, false),
                    |(mut chunks, mut cut_rx, done)| async move {
                        if done {
                            return None;
                        }
                        tokio::select! {
                            c = chunks.next() => match c {
                                Some(Ok(b)) => Some((b, (chunks, cut_rx, false))),
                                _ => None,
                            },
                            _ = cut_rx.changed() => Some((
                                Bytes::from_static(b"{\"type\":\"MODIFIED\",\"object\":{\"meta"),
                                (chunks, cut_rx, true),
                            )),
                        }
                    },
                );
                let body: UpBody = StreamBody::new(
                    stream.map(|b| Ok::<_, std::convert::Infallible>(Frame::data(b))),
                )
                .boxed_unsync();
                out.body(body).unwrap()
            }) as UpFuture
        })
        .await;
        Self {
            upstream,
            counters,
            cut,
            gone_next,
            hold,
        }
    }

    /// A client that talks to the API server through this relay.
    pub fn client(&self) -> Client {
        self.upstream.client("relay")
    }

    /// Ends every open watch with a torn event.
    pub fn cut(&self) {
        self.cut.send_modify(|g| *g += 1);
    }

    /// The next watch asks for version 1 (long compacted): the server answers 410.
    pub fn gone_next_watch(&self) {
        self.gone_next.store(true, Ordering::SeqCst);
    }

    /// Holds new watches until released.
    pub fn hold_watches(&self, on: bool) {
        self.hold.send_replace(on);
    }

    pub fn watches(&self) -> usize {
        self.counters.watches.load(Ordering::SeqCst)
    }

    pub fn lists(&self) -> usize {
        self.counters.lists.load(Ordering::SeqCst)
    }

    pub fn held(&self) -> usize {
        self.counters.held.load(Ordering::SeqCst)
    }
}
