//! The work queue and its rate limiters: de-duplication, one worker per key under stress,
//! delays, client-go's default rate-limiter figures, draining shutdown and metrics.

use k8s_client::runtime::{
    ItemExponential, QueueMetrics, RateLimiter, TokenBucket, WorkQueue,
    default_controller_rate_limiter,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const WORKERS: usize = 16;
const KEYS: usize = 40;
const ADDS: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_is_never_on_two_workers_and_every_add_is_seen() {
    let queue: WorkQueue<usize> = WorkQueue::new();
    let busy: Arc<Vec<AtomicBool>> = Arc::new((0..KEYS).map(|_| AtomicBool::new(false)).collect());
    // Per key: adds issued, and the number of adds a worker has started after.
    let issued: Arc<Vec<AtomicUsize>> = Arc::new((0..KEYS).map(|_| AtomicUsize::new(0)).collect());
    let covered: Arc<Vec<AtomicUsize>> = Arc::new((0..KEYS).map(|_| AtomicUsize::new(0)).collect());
    let overlaps = Arc::new(AtomicUsize::new(0));
    let processed = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (queue, busy, issued, covered, overlaps, processed) = (
            queue.clone(),
            busy.clone(),
            issued.clone(),
            covered.clone(),
            overlaps.clone(),
            processed.clone(),
        );
        workers.push(tokio::spawn(async move {
            while let Some(k) = queue.get().await {
                if busy[k].swap(true, Ordering::SeqCst) {
                    overlaps.fetch_add(1, Ordering::SeqCst);
                }
                covered[k].fetch_max(issued[k].load(Ordering::SeqCst), Ordering::SeqCst);
                tokio::task::yield_now().await;
                processed.fetch_add(1, Ordering::SeqCst);
                busy[k].store(false, Ordering::SeqCst);
                queue.done(&k);
            }
        }));
    }
    let mut producers = Vec::new();
    for p in 0..4 {
        let (queue, issued) = (queue.clone(), issued.clone());
        producers.push(tokio::spawn(async move {
            for i in 0..ADDS / 4 {
                let k = (i * 31 + p * 7) % KEYS;
                issued[k].fetch_add(1, Ordering::SeqCst);
                queue.add(k);
                if i % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for p in producers {
        p.await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(20), queue.shut_down_with_drain())
        .await
        .expect("the queue drains");
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "a key ran on two workers at once"
    );
    for k in 0..KEYS {
        assert_eq!(
            covered[k].load(Ordering::SeqCst),
            issued[k].load(Ordering::SeqCst),
            "key {k}: its last add was processed"
        );
    }
    let n = processed.load(Ordering::SeqCst);
    assert!(
        (KEYS..=ADDS).contains(&n),
        "de-duplicated: {n} runs for {ADDS} adds"
    );
}

#[tokio::test]
async fn adds_are_deduplicated_and_held_back_while_processing() {
    let queue: WorkQueue<&str> = WorkQueue::new();
    queue.add("a");
    queue.add("b");
    queue.add("a");
    assert_eq!(queue.len(), 2);
    let first = queue.get().await.unwrap();
    assert_eq!(first, "a");
    queue.add("a");
    assert_eq!(queue.len(), 1, "a is processing: its re-add waits for done");
    let second = queue.get().await.unwrap();
    assert_eq!(second, "b");
    assert!(
        tokio::time::timeout(Duration::from_millis(50), queue.get())
            .await
            .is_err(),
        "a is not handed out while in flight"
    );
    queue.done(&"a");
    assert_eq!(queue.get().await, Some("a"));
}

#[tokio::test]
async fn delayed_adds_wait() {
    let queue: WorkQueue<&str> = WorkQueue::new();
    let start = Instant::now();
    queue.add_after("later", Duration::from_millis(150));
    assert!(queue.is_empty());
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), queue.get())
            .await
            .unwrap(),
        Some("later")
    );
    assert!(start.elapsed() >= Duration::from_millis(150));
}

#[test]
fn default_rate_limiter_figures() {
    let rl = ItemExponential::new(Duration::from_millis(5), Duration::from_secs(1000));
    let delays: Vec<_> = (0..8).map(|_| rl.when(&"k").as_millis()).collect();
    assert_eq!(delays, [5, 10, 20, 40, 80, 160, 320, 640]);
    for _ in 8..40 {
        rl.when(&"k");
    }
    assert_eq!(rl.when(&"k"), Duration::from_secs(1000), "capped at 1000 s");
    assert_eq!(rl.num_requeues(&"k"), 41);
    assert_eq!(rl.when(&"other"), Duration::from_millis(5), "per item");
    rl.forget(&"k");
    assert_eq!(rl.num_requeues(&"k"), 0);

    let bucket = TokenBucket::new(10.0, 100);
    for _ in 0..100 {
        assert_eq!(RateLimiter::<()>::when(&bucket, &()), Duration::ZERO);
    }
    let d = RateLimiter::<()>::when(&bucket, &());
    assert!(
        d > Duration::from_millis(90) && d <= Duration::from_millis(100),
        "{d:?}"
    );
    let d = RateLimiter::<()>::when(&bucket, &());
    assert!(
        d > Duration::from_millis(190) && d <= Duration::from_millis(200),
        "{d:?}"
    );

    // The default: the max of both. 100 fresh keys cost 5 ms each; the 101st waits for
    // the bucket (~100 ms), whatever its own backoff.
    let rl = default_controller_rate_limiter::<usize>();
    for k in 0..100 {
        assert_eq!(rl.when(&k), Duration::from_millis(5));
    }
    let d = rl.when(&100);
    assert!(
        d > Duration::from_millis(90) && d <= Duration::from_millis(100),
        "{d:?}"
    );
    assert_eq!(rl.num_requeues(&3), 1);
    rl.forget(&3);
    assert_eq!(rl.num_requeues(&3), 0);
}

#[tokio::test]
async fn rate_limited_adds_back_off_per_item() {
    let queue: WorkQueue<&str> = WorkQueue::with(
        ItemExponential::new(Duration::from_millis(40), Duration::from_secs(10)),
        (),
    );
    queue.add_rate_limited("k");
    queue.add_rate_limited("k");
    assert_eq!(queue.num_requeues(&"k"), 2);
    let start = Instant::now();
    assert_eq!(queue.get().await, Some("k"));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(40), "{waited:?}");
    queue.done(&"k");
    queue.forget(&"k");
    assert_eq!(queue.num_requeues(&"k"), 0);
}

#[tokio::test]
async fn shutdown_drains_queued_items_and_ignores_new_ones() {
    let queue: WorkQueue<u32> = WorkQueue::new();
    queue.add(1);
    queue.add(2);
    let in_flight = queue.get().await.unwrap();
    queue.add_after(9, Duration::from_millis(10));
    queue.shut_down();
    queue.add(3);
    assert_eq!(
        queue.get().await,
        Some(2),
        "queued items are still handed out"
    );
    queue.done(&2);
    let drained = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.shut_down_with_drain().await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(!drained.is_finished(), "drain waits for the in-flight item");
    queue.done(&in_flight);
    tokio::time::timeout(Duration::from_secs(5), drained)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(queue.get().await, None, "nothing was added after shutdown");
}

#[derive(Default)]
struct Counting {
    adds: AtomicUsize,
    retries: AtomicUsize,
    max_depth: AtomicUsize,
    latencies: AtomicUsize,
    durations: AtomicUsize,
}

impl QueueMetrics for Counting {
    fn add(&self) {
        self.adds.fetch_add(1, Ordering::SeqCst);
    }
    fn depth(&self, depth: usize) {
        self.max_depth.fetch_max(depth, Ordering::SeqCst);
    }
    fn queue_latency(&self, _: Duration) {
        self.latencies.fetch_add(1, Ordering::SeqCst);
    }
    fn work_duration(&self, _: Duration) {
        self.durations.fetch_add(1, Ordering::SeqCst);
    }
    fn retry(&self) {
        self.retries.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn metrics_hook_sees_adds_depth_latency_work_and_retries() {
    let m = Arc::new(Counting::default());
    let queue: WorkQueue<u8> = WorkQueue::with(
        ItemExponential::new(Duration::from_millis(1), Duration::from_millis(1)),
        m.clone(),
    );
    for k in [1, 2, 3, 1] {
        queue.add(k);
    }
    for _ in 0..3 {
        let k = queue.get().await.unwrap();
        queue.done(&k);
    }
    queue.add_rate_limited(7);
    let k = queue.get().await.unwrap();
    queue.done(&k);
    assert_eq!(m.adds.load(Ordering::SeqCst), 5);
    assert_eq!(m.max_depth.load(Ordering::SeqCst), 3);
    assert_eq!(m.latencies.load(Ordering::SeqCst), 4);
    assert_eq!(m.durations.load(Ordering::SeqCst), 4);
    assert_eq!(m.retries.load(Ordering::SeqCst), 1);
}
