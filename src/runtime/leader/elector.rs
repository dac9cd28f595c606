//! The election loop: acquire, renew, step down, release.

use super::{
    JITTER_FACTOR, LeaderElectionConfig, LeaderElectionError, LeaderEvent, LeaderFence,
    LeadingGuard, random_fraction,
};
use crate::api::{Api, PostParams};
use crate::{Client, Error};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why [`LeaderElector::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ended {
    /// The cancellation token fired (the Lease was released when held and
    /// `release_on_cancel` is set).
    Cancelled,
    /// This candidate led and then lost the Lease: it could not renew within the renew
    /// deadline, or saw another holder. Like client-go's `Run`, the election is over; start
    /// a new elector (or exit the process) to stand again.
    LostLeadership,
}

/// One candidate in a leader election. Build it with [`LeaderElector::new`], keep a
/// [`LeaderFence`] from [`LeaderElector::fence`], and drive it with [`LeaderElector::run`].
#[derive(Debug)]
pub struct LeaderElector {
    leases: Api<Lease>,
    config: LeaderElectionConfig,
    fence: LeaderFence,
    events: mpsc::UnboundedSender<LeaderEvent>,
    /// The last Lease read or written, and when its record last changed (local clock).
    observed: Option<(Lease, Instant)>,
    reported_leader: Option<String>,
}

/// What one attempt found.
enum Attempt {
    /// This candidate holds the Lease (acquired or renewed).
    Holding,
    /// Someone else holds a Lease that has not expired (by this candidate's clock).
    HeldBy(String),
    /// Another writer got there first (409 Conflict, or AlreadyExists on create); the
    /// next attempt reads what it wrote.
    Contended,
}

impl LeaderElector {
    /// A candidate for the Lease `config.lease_name` in `namespace`, and the receiver of
    /// its [`LeaderEvent`]s (a handful per change of leadership; dropping it is fine).
    pub fn new(
        client: Client,
        namespace: &str,
        config: LeaderElectionConfig,
    ) -> Result<(Self, mpsc::UnboundedReceiver<LeaderEvent>), LeaderElectionError> {
        Self::with_api(Api::namespaced(client, namespace), config)
    }

    /// Like [`LeaderElector::new`], with a prepared `Api<Lease>`.
    pub fn with_api(
        leases: Api<Lease>,
        config: LeaderElectionConfig,
    ) -> Result<(Self, mpsc::UnboundedReceiver<LeaderEvent>), LeaderElectionError> {
        config.validate()?;
        let (events, rx) = mpsc::unbounded_channel();
        Ok((
            Self {
                leases,
                config,
                fence: LeaderFence::new(),
                events,
                observed: None,
                reported_leader: None,
            },
            rx,
        ))
    }

    /// The fence: check [`LeaderFence::is_leader`] before each write only the leader may do.
    pub fn fence(&self) -> LeaderFence {
        self.fence.clone()
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.config.identity
    }

    /// The configuration.
    pub fn config(&self) -> &LeaderElectionConfig {
        &self.config
    }

    /// Runs the election until `cancel` fires or this candidate loses leadership after
    /// holding it. Errors talking to the API server are logged and retried; they never end
    /// the election by themselves (a leader that cannot renew steps down at its deadline).
    pub async fn run(mut self, cancel: CancellationToken) -> Ended {
        let Some(mut deadline) = self.acquire(&cancel).await else {
            return Ended::Cancelled;
        };
        let token = CancellationToken::new();
        self.fence.extend(deadline);
        tracing::info!(lease = %self.config.lease_name, identity = %self.config.identity, "acquired the lease");
        let _ = self.events.send(LeaderEvent::StartedLeading(LeadingGuard {
            token: token.clone(),
            fence: self.fence.clone(),
        }));
        let ended = self.renew_loop(&cancel, &mut deadline).await;
        // Stop acting first, then tell the world.
        self.fence.revoke();
        token.cancel();
        if ended == Ended::Cancelled && self.config.release_on_cancel {
            self.release().await;
        }
        tracing::info!(lease = %self.config.lease_name, identity = %self.config.identity, ?ended, "stopped leading");
        let _ = self.events.send(LeaderEvent::StoppedLeading);
        ended
    }

    /// Tries every retry period (with client-go's jitter) until this candidate holds the
    /// Lease; returns the deadline of that first term, or `None` when cancelled.
    async fn acquire(&mut self, cancel: &CancellationToken) -> Option<Instant> {
        loop {
            let start = Instant::now();
            let attempt = tokio::select! {
                _ = cancel.cancelled() => return None,
                a = tokio::time::timeout(self.config.renew_deadline, self.try_acquire_or_renew()) => a,
            };
            match attempt {
                Ok(Ok(Attempt::Holding)) => return Some(start + self.config.renew_deadline),
                Ok(Ok(Attempt::HeldBy(_) | Attempt::Contended)) => {}
                Ok(Err(e)) => {
                    tracing::debug!(lease = %self.config.lease_name, error = %e, "acquiring the lease failed")
                }
                Err(_) => {
                    tracing::debug!(lease = %self.config.lease_name, "acquiring the lease timed out")
                }
            }
            let pause = self
                .config
                .retry_period
                .mul_f64(1.0 + JITTER_FACTOR * random_fraction());
            tokio::select! {
                _ = cancel.cancelled() => return None,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Renews every retry period; each success extends the deadline to its start plus the
    /// renew deadline. Returns when cancelled, when the deadline passes, or when another
    /// holder is seen.
    async fn renew_loop(&mut self, cancel: &CancellationToken, deadline: &mut Instant) -> Ended {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ended::Cancelled,
                _ = tokio::time::sleep_until(*deadline) => return Ended::LostLeadership,
                _ = tokio::time::sleep(self.config.retry_period) => {}
            }
            let start = Instant::now();
            let attempt = tokio::select! {
                _ = cancel.cancelled() => return Ended::Cancelled,
                a = tokio::time::timeout_at(*deadline, self.try_acquire_or_renew()) => a,
            };
            match attempt {
                Ok(Ok(Attempt::Holding)) => {
                    *deadline = start + self.config.renew_deadline;
                    self.fence.extend(*deadline);
                }
                Ok(Ok(Attempt::Contended)) => {
                    tracing::debug!(lease = %self.config.lease_name, "the lease changed while renewing it");
                }
                Ok(Ok(Attempt::HeldBy(other))) => {
                    tracing::warn!(lease = %self.config.lease_name, holder = %other, "the lease is held by another candidate");
                    return Ended::LostLeadership;
                }
                Ok(Err(e)) => {
                    tracing::warn!(lease = %self.config.lease_name, error = %e, "renewing the lease failed")
                }
                Err(_) => {
                    tracing::warn!(lease = %self.config.lease_name, "the renew deadline passed");
                    return Ended::LostLeadership;
                }
            }
        }
    }

    fn record(&self, now: MicroTime, old: Option<&LeaseSpec>) -> LeaseSpec {
        let me = &self.config.identity;
        let held_by_me = old.is_some_and(|o| o.holder_identity.as_deref() == Some(me.as_str()));
        let transitions = old.and_then(|o| o.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(me.clone()),
            lease_duration_seconds: Some(self.config.lease_duration.as_secs() as i32),
            acquire_time: if held_by_me {
                old.and_then(|o| o.acquire_time.clone())
                    .or_else(|| Some(now.clone()))
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if held_by_me || old.is_none() {
                transitions
            } else {
                transitions.saturating_add(1)
            }),
            ..LeaseSpec::default()
        }
    }

    /// Remembers `lease`; its record's observation time moves only when the record changed.
    fn observe(&mut self, lease: Lease) {
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|(old, _)| old.spec != lease.spec);
        let at = match &self.observed {
            Some((_, at)) if !changed => *at,
            _ => Instant::now(),
        };
        let holder = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .filter(|h| !h.is_empty());
        if let Some(holder) = holder
            && self.reported_leader.as_ref() != Some(&holder)
        {
            self.reported_leader = Some(holder.clone());
            let _ = self.events.send(LeaderEvent::NewLeader(holder));
        }
        self.observed = Some((lease, at));
    }

    /// client-go's `tryAcquireOrRenew`: read the Lease (create it when missing); when it is
    /// held by someone else whose record changed less than its lease duration ago (by this
    /// candidate's clock), wait; otherwise write this candidate's record with the
    /// resourceVersion just read, so that a concurrent writer makes it fail with 409.
    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, Error> {
        let name = self.config.lease_name.clone();
        let Some(current) = self.leases.get_opt(&name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.record(now(), None)),
            };
            return match self.leases.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(created);
                    Ok(Attempt::Holding)
                }
                Err(e) if e.is_already_exists() => Ok(Attempt::Contended),
                Err(e) => Err(e),
            };
        };
        self.observe(current.clone());
        let old = current.spec.clone().unwrap_or_default();
        let holder = old.holder_identity.clone().unwrap_or_default();
        if !holder.is_empty() && holder != self.config.identity {
            let lease = Duration::from_secs(old.lease_duration_seconds.unwrap_or(0).max(0) as u64);
            let seen_at = self.observed.as_ref().map(|(_, at)| *at);
            if seen_at.is_some_and(|at| Instant::now() < at + lease) {
                return Ok(Attempt::HeldBy(holder));
            }
        }
        let mut updated = current;
        updated.spec = Some(self.record(now(), Some(&old)));
        match self
            .leases
            .replace(&name, &PostParams::default(), &updated)
            .await
        {
            Ok(stored) => {
                self.observe(stored);
                Ok(Attempt::Holding)
            }
            Err(e) if e.is_conflict() => Ok(Attempt::Contended),
            Err(e) => Err(e),
        }
    }

    /// client-go's release: with the last Lease written (its resourceVersion), clear the
    /// holder and set a 1 s lease, so that candidates take over at their next attempt. A
    /// conflict means someone else changed the Lease already: nothing to release.
    async fn release(&mut self) {
        let Some((lease, _)) = self.observed.clone() else {
            return;
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        let t = now();
        let mut released = lease;
        released.spec = Some(LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            acquire_time: Some(t.clone()),
            renew_time: Some(t),
            lease_transitions: spec.lease_transitions,
            ..LeaseSpec::default()
        });
        let name = self.config.lease_name.clone();
        let pp = PostParams::default();
        let write = self.leases.replace(&name, &pp, &released);
        match tokio::time::timeout(self.config.renew_deadline, write).await {
            Ok(Ok(stored)) => {
                self.observed = Some((stored, Instant::now()));
                tracing::info!(lease = %name, "released the lease");
            }
            Ok(Err(e)) => tracing::warn!(lease = %name, error = %e, "releasing the lease failed"),
            Err(_) => tracing::warn!(lease = %name, "releasing the lease timed out"),
        }
    }
}

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elector(identity: &str) -> LeaderElector {
        let client =
            Client::try_from(crate::Config::new("https://127.0.0.1:1".parse().unwrap())).unwrap();
        let config = LeaderElectionConfig::new("l").identity(identity);
        LeaderElector::with_api(Api::namespaced(client, "ns"), config)
            .unwrap()
            .0
    }

    fn at(secs: i64) -> MicroTime {
        MicroTime(jiff::Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn records_follow_client_go_for_create_renew_and_takeover() {
        let me = elector("me");
        let created = me.record(at(10), None);
        assert_eq!(created.holder_identity.as_deref(), Some("me"));
        assert_eq!(created.lease_transitions, Some(0));
        assert_eq!(created.lease_duration_seconds, Some(15));
        assert_eq!(created.acquire_time, Some(at(10)));

        let renewed = me.record(at(20), Some(&created));
        assert_eq!(
            renewed.acquire_time,
            Some(at(10)),
            "renewal keeps acquireTime"
        );
        assert_eq!(renewed.renew_time, Some(at(20)));
        assert_eq!(renewed.lease_transitions, Some(0));

        let other = elector("other");
        let taken = other.record(at(30), Some(&renewed));
        assert_eq!(taken.holder_identity.as_deref(), Some("other"));
        assert_eq!(taken.acquire_time, Some(at(30)));
        assert_eq!(taken.lease_transitions, Some(1));

        let released = LeaseSpec {
            lease_transitions: Some(1),
            lease_duration_seconds: Some(1),
            ..LeaseSpec::default()
        };
        assert_eq!(
            me.record(at(40), Some(&released)).lease_transitions,
            Some(2)
        );
    }

    #[test]
    fn new_leaders_are_reported_once_per_change() {
        let (mut me, mut events) = {
            let client =
                Client::try_from(crate::Config::new("https://127.0.0.1:1".parse().unwrap()))
                    .unwrap();
            LeaderElector::with_api(
                Api::namespaced(client, "ns"),
                LeaderElectionConfig::new("l").identity("me"),
            )
            .unwrap()
        };
        let lease = |holder: Option<&str>, t: i64| Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(Into::into),
                renew_time: Some(at(t)),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        };
        me.observe(lease(Some("a"), 1));
        let first_seen = me.observed.as_ref().unwrap().1;
        me.observe(lease(Some("a"), 1));
        assert_eq!(
            me.observed.as_ref().unwrap().1,
            first_seen,
            "unchanged record"
        );
        me.observe(lease(Some("a"), 2));
        me.observe(lease(None, 3));
        me.observe(lease(Some("b"), 4));
        let mut seen = Vec::new();
        while let Ok(LeaderEvent::NewLeader(who)) = events.try_recv() {
            seen.push(who);
        }
        assert_eq!(seen, ["a", "b"]);
    }
}
