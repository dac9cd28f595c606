//! The load generator: `concurrency` workers share a budget of requests; each worker
//! sends its requests one after another, either over its own keep-alive HTTP/1.1
//! connection to a proxy or through a shared k8s-client [`Client`] (direct).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use k8s_client::Client;
use k8s_client::client::Body;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The User-Agent of every request (not curl's: kubectl proxy treats curl no differently,
/// but a distinct agent makes the load easy to spot in apiserver logs).
pub const USER_AGENT: &str = concat!("k8s-client-proxy-bench/", env!("CARGO_PKG_VERSION"));

/// Where the requests go.
#[derive(Clone, Debug)]
pub enum Target {
    /// A local plain-HTTP proxy listening on this loopback address.
    Proxy(SocketAddr),
    /// The API server itself, through this client (TLS, same credentials).
    Direct(Client),
}

/// One measured cell: how many requests, in how long, and each one's latency.
#[derive(Debug)]
pub struct Sample {
    /// Latencies of the completed requests, sorted.
    pub latencies: Vec<Duration>,
    /// Wall time from the first request to the last answer.
    pub elapsed: Duration,
}

impl Sample {
    /// Completed requests per second.
    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q`-quantile latency (nearest rank), `0 < q <= 1`.
    pub fn percentile(&self, q: f64) -> Duration {
        let n = self.latencies.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies[rank - 1]
    }
}

/// Why a load run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Connecting or speaking HTTP/1.1 to the proxy failed.
    #[error("request to the proxy at {addr} failed")]
    Proxy {
        /// The proxy's address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The direct request through the client failed.
    #[error("direct request to {path} failed")]
    Direct {
        /// The request path.
        path: String,
        /// The cause.
        #[source]
        source: Box<k8s_client::Error>,
    },
    /// An answer other than 200 OK.
    #[error("GET {path} answered {status}")]
    Status {
        /// The request path.
        path: String,
        /// The status received.
        status: http::StatusCode,
    },
    /// A worker task panicked or was cancelled.
    #[error("a load worker stopped abnormally")]
    Worker(#[source] tokio::task::JoinError),
}

/// Sends up to `requests` GETs of `path` to `target` with `concurrency` workers, stopping
/// early when `time_limit` has passed (requests in flight then complete).
pub async fn run(
    target: &Target,
    path: &str,
    concurrency: usize,
    requests: usize,
    time_limit: Duration,
) -> Result<Sample, LoadError> {
    let budget = Arc::new(AtomicUsize::new(requests));
    let started = Instant::now();
    let deadline = started + time_limit;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let budget = Arc::clone(&budget);
        let target = target.clone();
        let path = path.to_owned();
        workers.push(tokio::spawn(async move {
            match target {
                Target::Proxy(addr) => proxy_worker(addr, &path, &budget, deadline).await,
                Target::Direct(client) => direct_worker(&client, &path, &budget, deadline).await,
            }
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    let mut first_error = None;
    for worker in workers {
        match worker.await.map_err(LoadError::Worker).and_then(|r| r) {
            Ok(mut l) => latencies.append(&mut l),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    let elapsed = started.elapsed();
    if let Some(err) = first_error {
        return Err(err);
    }
    latencies.sort_unstable();
    Ok(Sample { latencies, elapsed })
}

/// Takes one request from the budget, unless it is spent or the deadline has passed.
fn take(budget: &AtomicUsize, deadline: Instant) -> bool {
    Instant::now() < deadline
        && budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
}

async fn proxy_worker(
    addr: SocketAddr,
    path: &str,
    budget: &AtomicUsize,
    deadline: Instant,
) -> Result<Vec<Duration>, LoadError> {
    let fail = |source: Box<dyn std::error::Error + Send + Sync>| LoadError::Proxy { addr, source };
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| fail(e.into()))?;
    stream.set_nodelay(true).map_err(|e| fail(e.into()))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| fail(e.into()))?;
    let connection = tokio::spawn(conn);
    let host = addr.to_string();
    let mut latencies = Vec::new();
    while take(budget, deadline) {
        let req = http::Request::get(path)
            .header(http::header::HOST, &host)
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| fail(e.into()))?;
        let start = Instant::now();
        let resp = sender.send_request(req).await.map_err(|e| fail(e.into()))?;
        let status = resp.status();
        resp.into_body()
            .collect()
            .await
            .map_err(|e| fail(e.into()))?;
        latencies.push(start.elapsed());
        if status != http::StatusCode::OK {
            return Err(LoadError::Status {
                path: path.to_owned(),
                status,
            });
        }
    }
    drop(sender);
    connection.abort();
    Ok(latencies)
}

async fn direct_worker(
    client: &Client,
    path: &str,
    budget: &AtomicUsize,
    deadline: Instant,
) -> Result<Vec<Duration>, LoadError> {
    let fail = |source| LoadError::Direct {
        path: path.to_owned(),
        source: Box::new(source),
    };
    let mut latencies = Vec::new();
    while take(budget, deadline) {
        let req = http::Request::get(path)
            .header(http::header::ACCEPT, "application/json")
            .body(Body::empty())
            .expect("a GET of a valid path is a valid request");
        let start = Instant::now();
        let resp = client.send(req).await.map_err(fail)?;
        let status = resp.status();
        resp.into_body().collect_bytes().await.map_err(fail)?;
        latencies.push(start.elapsed());
        if status != http::StatusCode::OK {
            return Err(LoadError::Status {
                path: path.to_owned(),
                status,
            });
        }
    }
    Ok(latencies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: &[u64]) -> Sample {
        Sample {
            latencies: ms.iter().map(|&m| Duration::from_millis(m)).collect(),
            elapsed: Duration::from_secs(2),
        }
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let s = sample(&(1..=100).collect::<Vec<_>>());
        assert_eq!(s.percentile(0.5), Duration::from_millis(50));
        assert_eq!(s.percentile(0.99), Duration::from_millis(99));
        assert_eq!(s.percentile(1.0), Duration::from_millis(100));
        assert_eq!(sample(&[7]).percentile(0.99), Duration::from_millis(7));
        assert_eq!(sample(&[]).percentile(0.5), Duration::ZERO);
    }

    #[test]
    fn throughput_counts_completed_requests_per_second() {
        assert_eq!(sample(&[1, 2, 3, 4]).throughput(), 2.0);
    }

    #[test]
    fn the_budget_is_shared_and_the_deadline_stops_it() {
        let budget = AtomicUsize::new(2);
        let later = Instant::now() + Duration::from_secs(60);
        assert!(take(&budget, later));
        assert!(take(&budget, later));
        assert!(!take(&budget, later));
        let budget = AtomicUsize::new(5);
        assert!(!take(&budget, Instant::now() - Duration::from_millis(1)));
        assert_eq!(budget.load(Ordering::Relaxed), 5);
    }
}
