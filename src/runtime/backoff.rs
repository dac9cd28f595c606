//! Exponential backoff with jitter, as client-go's reflector uses between failed
//! list/watch attempts.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

/// Exponential backoff with jitter: the n-th consecutive failure waits
/// `min(initial·2ⁿ, max)`, stretched by a random factor in `[1, 1 + jitter)`; after
/// `reset_after` without a failure the sequence starts over.
///
/// client-go's reflector: 800 ms, 30 s, reset after 2 min, jitter 1.0 —
/// [`Backoff::reflector`].
///
/// ```
/// use k8s_client::runtime::Backoff;
/// use std::time::Duration;
/// let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).jitter(0.0);
/// let delays: Vec<_> = (0..5).map(|_| b.next_delay().as_millis()).collect();
/// assert_eq!(delays, [100, 200, 400, 800, 1000]);
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: f64,
    reset_after: Duration,
    next: Duration,
    last_failure: Option<Instant>,
}

impl Backoff {
    /// Doubling from `initial` up to `max`, jitter 1.0, reset after 2 minutes.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            jitter: 1.0,
            reset_after: Duration::from_secs(120),
            next: initial,
            last_failure: None,
        }
    }

    /// client-go's reflector backoff: 800 ms doubling to 30 s, jitter 1.0, reset after
    /// 2 minutes without failure.
    pub fn reflector() -> Self {
        Self::new(Duration::from_millis(800), Duration::from_secs(30))
    }

    /// Sets the jitter factor (`0.0`: none).
    #[must_use]
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter.max(0.0);
        self
    }

    /// Sets how long without failure resets the sequence.
    #[must_use]
    pub fn reset_after(mut self, d: Duration) -> Self {
        self.reset_after = d;
        self
    }

    /// The delay before the next attempt after a failure now.
    pub fn next_delay(&mut self) -> Duration {
        let now = Instant::now();
        if self
            .last_failure
            .is_some_and(|t| now.duration_since(t) >= self.reset_after)
        {
            self.next = self.initial;
        }
        self.last_failure = Some(now);
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        if self.jitter > 0.0 {
            base.mul_f64(1.0 + self.jitter * random_unit())
        } else {
            base
        }
    }

    /// Starts the sequence over (after a success).
    pub fn reset(&mut self) {
        self.next = self.initial;
        self.last_failure = None;
    }
}

/// A random number in `[0, 1)` from the standard library's per-process random keys.
pub(crate) fn random_unit() -> f64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_bounds() {
        let mut b = Backoff::reflector();
        for expected in [800u64, 1600, 3200, 6400, 12800, 25600, 30000, 30000] {
            let d = b.next_delay().as_millis() as u64;
            assert!(d >= expected && d < expected * 2, "{d} vs {expected}");
        }
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(1600));
    }

    #[test]
    fn quiet_period_resets() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_secs(1))
            .jitter(0.0)
            .reset_after(Duration::ZERO);
        assert_eq!(b.next_delay(), Duration::from_millis(10));
        assert_eq!(b.next_delay(), Duration::from_millis(10));
    }
}
