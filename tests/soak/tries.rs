//! Counts, from the client's own debug events, how often requests to URLs containing a
//! marker were sent again after a 429/5xx with Retry-After: the request count a server
//! saw, without a server of our own.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// The marker in the URLs whose retries are counted.
pub const MARK: &str = "soak-counted";

static RETRIES: AtomicU64 = AtomicU64::new(0);
static LONGEST_WAIT: AtomicU64 = AtomicU64::new(0);
static PER_URL: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

#[derive(Default)]
struct Fields {
    message: String,
    url: String,
    wait_s: u64,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "wait_s" {
            self.wait_s = value;
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "url" {
            self.url = value.to_owned();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "url" => self.url = format!("{value:?}"),
            _ => {}
        }
    }
}

struct Counter;

impl<S: tracing::Subscriber> Layer<S> for Counter {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        if f.url.contains(MARK) && f.message.starts_with("server asked to retry") {
            RETRIES.fetch_add(1, Ordering::Relaxed);
            PER_URL.lock().unwrap().push(f.url.clone());
            LONGEST_WAIT.fetch_max(f.wait_s, Ordering::Relaxed);
        }
    }
}

/// Installs the counter (once per process) and returns the retries counted so far.
pub fn retries() -> u64 {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry()
            .with(Counter.with_filter(tracing_subscriber::filter::LevelFilter::DEBUG));
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
    RETRIES.load(Ordering::Relaxed)
}

/// How many retries URLs containing `needle` had.
pub fn retries_of(needle: &str) -> usize {
    PER_URL
        .lock()
        .unwrap()
        .iter()
        .filter(|u| u.contains(needle))
        .count()
}

/// The longest Retry-After (seconds) waited for so far.
pub fn longest_wait() -> u64 {
    LONGEST_WAIT.load(Ordering::Relaxed)
}
