//! A client-side token bucket (client-go's `flowcontrol` limiter), off by default.

use std::time::{Duration, Instant};

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
            Duration::from_secs_f64(-b.tokens / self.qps)
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
    fn refill_is_capped_at_burst() {
        let t0 = Instant::now();
        let l = RateLimiter::new(10.0, 2, t0);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(l.reserve(later), Duration::ZERO);
        assert_eq!(l.reserve(later), Duration::ZERO);
        assert_eq!(l.reserve(later), Duration::from_millis(100));
    }
}
