//! A client-side token bucket (client-go's `flowcontrol` limiter), off by default.

use std::time::{Duration, Instant};

/// The lowest accepted rate: one request every 1000 seconds. Below it the waits no
/// longer fit a `Duration` once a few callers queue up.
pub const MIN_QPS: f64 = 0.001;

/// The largest accepted burst. A bucket that large is no limit at all: leave the limiter
/// off instead.
pub const MAX_BURST: u32 = 1_000_000;

/// Whether `qps` and `burst` make a usable limiter: `qps` finite and at least
/// [`MIN_QPS`], `burst` from 1 to [`MAX_BURST`].
pub(crate) fn valid(qps: f64, burst: u32) -> bool {
    qps.is_finite() && qps >= MIN_QPS && (1..=MAX_BURST).contains(&burst)
}

/// A token bucket: `qps` tokens per second, at most `burst` saved up. Every request takes
/// one token; without one it waits until the bucket has refilled enough.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    qps: f64,
    burst: f64,
    state: std::sync::Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// A full bucket. `qps` must be positive and `burst` at least 1 (checked by the builder).
    pub(crate) fn new(qps: f64, burst: u32, now: Instant) -> Self {
        Self {
            qps,
            burst: f64::from(burst.max(1)),
            state: std::sync::Mutex::new(Bucket {
                tokens: f64::from(burst.max(1)),
                last: now,
            }),
        }
    }

    /// Takes a token at `now` and returns how long the caller must wait before using it.
    /// Tokens are reserved in order, so concurrent callers queue up fairly.
    pub(crate) fn reserve(&self, now: Instant) -> Duration {
        let mut b = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.qps).min(self.burst);
        b.last = now.max(b.last);
        b.tokens -= 1.0;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            // Only a queue of billions of callers could overflow; wait "forever" then.
            Duration::try_from_secs_f64(-b.tokens / self.qps).unwrap_or(Duration::MAX)
        }
    }

    /// Waits for a token, logging the wait.
    pub(crate) async fn acquire(&self, method: &http::Method, url: &str) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                %method,
                url,
                "client-side rate limiter delayed the request"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let t0 = Instant::now();
        let l = RateLimiter::new(2.0, 3, t0);
        for _ in 0..3 {
            assert_eq!(l.reserve(t0), Duration::ZERO);
        }
        assert_eq!(l.reserve(t0), Duration::from_millis(500));
        assert_eq!(l.reserve(t0), Duration::from_millis(1000));
        // After 2 s the debt (-2 tokens) is repaid plus 2 more minus the one taken now.
        assert_eq!(l.reserve(t0 + Duration::from_secs(2)), Duration::ZERO);
    }

    #[test]
    fn settings_that_could_misbehave_are_invalid() {
        for qps in [
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-45,
            0.0009,
        ] {
            assert!(!valid(qps, 10), "{qps}");
        }
        assert!(!valid(5.0, 0));
        assert!(!valid(5.0, MAX_BURST + 1));
        assert!(!valid(5.0, u32::MAX));
        assert!(valid(MIN_QPS, 1));
        assert!(valid(f64::from(f32::MAX), MAX_BURST));
        // The extremes that are accepted never panic, however deep the queue.
        let t0 = Instant::now();
        let slow = RateLimiter::new(MIN_QPS, 1, t0);
        for _ in 0..10_000 {
            slow.reserve(t0);
        }
        let fast = RateLimiter::new(f64::from(f32::MAX), MAX_BURST, t0);
        assert_eq!(fast.reserve(t0 + Duration::from_secs(1)), Duration::ZERO);
    }

    #[test]
    fn refill_is_capped_at_burst() {
        let t0 = Instant::now();
        let l = RateLimiter::new(10.0, 2, t0);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(l.reserve(later), Duration::ZERO);
        assert_eq!(l.reserve(later), Duration::ZERO);
        assert_eq!(l.reserve(later), Duration::from_millis(100));
    }
}
