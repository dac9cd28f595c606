//! Leader election on `coordination.k8s.io/v1` Leases, with client-go's semantics.
//!
//! Candidates sharing a Lease name race to hold it; the holder renews it every retry
//! period and every other candidate waits until the record has stopped changing for a whole
//! lease duration, measured on its **own** clock, before taking over. Leadership is a lease,
//! not a lock: a leader must stop acting once it cannot prove it renewed recently. The
//! [`LeaderFence`] answers that cheaply (an atomic flag and a local deadline) and should be
//! checked before each write that only the leader may do.
//!
//! ```no_run
//! # async fn demo(client: k8s_client::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use k8s_client::runtime::leader::{LeaderElectionConfig, LeaderElector, LeaderEvent};
//! use tokio_util::sync::CancellationToken;
//!
//! let config = LeaderElectionConfig::new("my-controller-lease");
//! let (elector, mut events) = LeaderElector::new(client, "kube-system", config)?;
//! let fence = elector.fence();
//! let shutdown = CancellationToken::new();
//! let election = tokio::spawn(elector.run(shutdown.clone()));
//! while let Some(event) = events.recv().await {
//!     match event {
//!         LeaderEvent::StartedLeading(guard) => {
//!             let fence = fence.clone();
//!             tokio::spawn(async move {
//!                 // Work until leadership ends; check the fence before each write.
//!                 while !guard.token().is_cancelled() {
//!                     if fence.is_leader() { /* write */ }
//!                     tokio::time::sleep(std::time::Duration::from_secs(1)).await;
//!                 }
//!             });
//!         }
//!         LeaderEvent::StoppedLeading => break,
//!         LeaderEvent::NewLeader(identity) => println!("{identity} leads"),
//!         _ => {}
//!     }
//! }
//! shutdown.cancel(); // releases the Lease when still held
//! election.await?;
//! # Ok(()) }
//! ```
//!
//! See `docs/leader-election.md` for what a leader may and may not assume.

mod elector;

pub use elector::{Ended, LeaderElector};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// client-go's default lease duration: how long non-leaders wait after the record last
/// changed before they may take over.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// client-go's default renew deadline: how long the leader keeps trying to renew before
/// it steps down.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// client-go's default retry period: the pause between attempts.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);
/// client-go's jitter factor: a candidate waits between one and `1 + JITTER_FACTOR` retry
/// periods between acquisition attempts, and the renew deadline must exceed
/// `JITTER_FACTOR ×` the retry period.
pub const JITTER_FACTOR: f64 = 1.2;

/// How a candidate takes part in the election.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct LeaderElectionConfig {
    /// The Lease's name (shared by all candidates).
    pub lease_name: String,
    /// This candidate's identity, written to `holderIdentity`; unique per candidate.
    /// Default: the host name and a random suffix.
    pub identity: String,
    /// How long others wait, after the record last changed, before taking over. Whole
    /// seconds (the Lease stores seconds). Default 15 s.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it steps down; measured from the
    /// start of its last successful renewal. Default 10 s.
    pub renew_deadline: Duration,
    /// The pause between attempts. Default 2 s.
    pub retry_period: Duration,
    /// On cancellation, clear `holderIdentity` and set a 1 s lease so that a successor
    /// takes over at once (client-go's `ReleaseOnCancel`). Default true.
    pub release_on_cancel: bool,
}

impl LeaderElectionConfig {
    /// client-go's timings, a default identity, and release on cancel.
    pub fn new(lease_name: impl Into<String>) -> Self {
        Self {
            lease_name: lease_name.into(),
            identity: default_identity(),
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
            release_on_cancel: true,
        }
    }

    /// Sets the identity.
    pub fn identity(mut self, identity: impl Into<String>) -> Self {
        self.identity = identity.into();
        self
    }

    /// Sets the lease duration, renew deadline and retry period.
    pub fn timings(mut self, lease: Duration, renew_deadline: Duration, retry: Duration) -> Self {
        self.lease_duration = lease;
        self.renew_deadline = renew_deadline;
        self.retry_period = retry;
        self
    }

    /// Whether cancelling releases the Lease.
    pub fn release_on_cancel(mut self, release: bool) -> Self {
        self.release_on_cancel = release;
        self
    }

    /// Checks the configuration as client-go does: lease duration > renew deadline >
    /// retry period × [`JITTER_FACTOR`], all positive, a non-empty identity and name; and
    /// a lease duration of whole seconds (what the Lease can store).
    pub fn validate(&self) -> Result<(), LeaderElectionError> {
        let invalid = |reason: &'static str| {
            Err(LeaderElectionError::InvalidConfig {
                lease: self.lease_name.clone(),
                reason,
            })
        };
        if self.lease_name.is_empty() {
            return invalid("the lease name is empty");
        }
        if self.identity.is_empty() {
            return invalid("the identity is empty");
        }
        if self.lease_duration.is_zero()
            || self.renew_deadline.is_zero()
            || self.retry_period.is_zero()
        {
            return invalid("lease duration, renew deadline and retry period must be positive");
        }
        if self.lease_duration.subsec_nanos() != 0 {
            return invalid("the lease duration must be whole seconds");
        }
        if self.lease_duration.as_secs() > i32::MAX as u64 {
            return invalid("the lease duration does not fit leaseDurationSeconds");
        }
        if self.lease_duration <= self.renew_deadline {
            return invalid("the lease duration must be greater than the renew deadline");
        }
        if self.renew_deadline.as_secs_f64() <= JITTER_FACTOR * self.retry_period.as_secs_f64() {
            return invalid("the renew deadline must be greater than retry period × 1.2");
        }
        Ok(())
    }
}

/// The host name followed by `_` and a random suffix (client-go examples use the host name
/// plus a UUID).
pub fn default_identity() -> String {
    let host = host_name().unwrap_or_else(|| "unknown-host".to_owned());
    format!("{host}_{:016x}", random_u64())
}

/// This machine's host name: `$HOSTNAME`, else the kernel's, if either is set.
pub(crate) fn host_name() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
}

/// A random number from the standard library's randomly seeded hasher.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

/// A random fraction in `[0, 1)`.
pub(crate) fn random_fraction() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Leader election failed before it started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaderElectionError {
    /// The configuration breaks client-go's rules.
    #[error("leader election on Lease {lease:?} is misconfigured: {reason}")]
    InvalidConfig {
        /// The Lease name.
        lease: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// A change seen by one candidate.
#[derive(Debug)]
#[non_exhaustive]
pub enum LeaderEvent {
    /// This candidate acquired the Lease; the guard's token is cancelled when leadership
    /// ends (step-down, loss or cancellation).
    StartedLeading(LeadingGuard),
    /// This candidate stopped leading (it may not act as leader any more).
    StoppedLeading,
    /// Another (or this) identity was observed holding the Lease.
    NewLeader(String),
}

/// Handed out when leadership starts; the token is cancelled when it ends.
#[derive(Debug, Clone)]
pub struct LeadingGuard {
    token: CancellationToken,
    fence: LeaderFence,
}

impl LeadingGuard {
    /// Cancelled when this term of leadership ends.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The fence to check before each write.
    pub fn fence(&self) -> &LeaderFence {
        &self.fence
    }
}

/// The cheap "am I still the leader" check: an atomic flag and a local deadline (the start
/// of the last successful renewal plus the renew deadline). It turns false at that deadline
/// even when the election task is stalled or gone, which is always before any other
/// candidate may take over (renew deadline < lease duration, both on local clocks).
#[derive(Debug, Clone)]
pub struct LeaderFence {
    inner: Arc<FenceState>,
}

#[derive(Debug)]
struct FenceState {
    leading: AtomicBool,
    /// Nanoseconds after `base` until which leadership is valid.
    valid_until: AtomicU64,
    base: Instant,
}

impl LeaderFence {
    fn new() -> Self {
        Self {
            inner: Arc::new(FenceState {
                leading: AtomicBool::new(false),
                valid_until: AtomicU64::new(0),
                base: Instant::now(),
            }),
        }
    }

    /// True while this candidate holds the Lease and its last successful renewal started
    /// less than the renew deadline ago.
    pub fn is_leader(&self) -> bool {
        if !self.inner.leading.load(Ordering::Acquire) {
            return false;
        }
        let until = self.inner.valid_until.load(Ordering::Acquire);
        (Instant::now()
            .saturating_duration_since(self.inner.base)
            .as_nanos() as u64)
            < until
    }

    /// The time left before this candidate must stop acting as leader (zero when not
    /// leading).
    pub fn remaining(&self) -> Duration {
        if !self.inner.leading.load(Ordering::Acquire) {
            return Duration::ZERO;
        }
        let until = Duration::from_nanos(self.inner.valid_until.load(Ordering::Acquire));
        until.saturating_sub(Instant::now().saturating_duration_since(self.inner.base))
    }

    fn extend(&self, deadline: Instant) {
        let nanos = deadline
            .saturating_duration_since(self.inner.base)
            .as_nanos() as u64;
        self.inner.valid_until.store(nanos, Ordering::Release);
        self.inner.leading.store(true, Ordering::Release);
    }

    fn revoke(&self) {
        self.inner.leading.store(false, Ordering::Release);
        self.inner.valid_until.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(lease: u64, renew_ms: u64, retry_ms: u64) -> LeaderElectionConfig {
        LeaderElectionConfig::new("l").timings(
            Duration::from_secs(lease),
            Duration::from_millis(renew_ms),
            Duration::from_millis(retry_ms),
        )
    }

    #[test]
    fn defaults_are_client_go_timings_and_valid() {
        let c = LeaderElectionConfig::new("lease");
        assert_eq!(c.lease_duration, Duration::from_secs(15));
        assert_eq!(c.renew_deadline, Duration::from_secs(10));
        assert_eq!(c.retry_period, Duration::from_secs(2));
        assert!(c.release_on_cancel);
        c.validate().unwrap();
    }

    #[test]
    fn validation_follows_client_go_rules() {
        cfg(3, 2000, 500).validate().unwrap();
        // lease must exceed renew deadline
        assert!(cfg(2, 2000, 500).validate().is_err());
        // renew deadline must exceed retry × 1.2
        assert!(cfg(3, 1200, 1000).validate().is_err());
        cfg(3, 1201, 1000).validate().unwrap();
        assert!(cfg(3, 2000, 0).validate().is_err());
        let mut c = cfg(3, 2000, 500);
        c.lease_duration = Duration::from_millis(3500);
        let e = c.validate().unwrap_err();
        assert!(e.to_string().contains("whole seconds"), "{e}");
        assert!(cfg(3, 2000, 500).identity("").validate().is_err());
    }

    #[test]
    fn identities_are_unique_and_start_with_the_host() {
        let a = default_identity();
        let b = default_identity();
        assert_ne!(a, b);
        assert_eq!(a.split('_').next(), b.split('_').next());
    }

    #[tokio::test]
    async fn fence_expires_at_its_deadline_without_the_elector() {
        let fence = LeaderFence::new();
        assert!(!fence.is_leader());
        let start = Instant::now();
        fence.extend(start + Duration::from_millis(200));
        assert!(fence.is_leader());
        assert!(fence.remaining() > Duration::from_millis(100));
        while fence.is_leader() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the fence never expired"
            );
            tokio::task::yield_now().await;
        }
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert_eq!(fence.remaining(), Duration::ZERO);
        fence.extend(Instant::now() + Duration::from_secs(1));
        fence.revoke();
        assert!(!fence.is_leader());
    }
}
