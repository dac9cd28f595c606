//! The recorder's memory: isomorphic events (series aggregation) and the per-object spam
//! filter, both bounded.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as EventObject, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::time::Instant;

/// Every field of an object reference.
pub(super) type RefKey = [String; 7];

pub(super) fn ref_key(r: &ObjectReference) -> RefKey {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        s(&r.api_version),
        s(&r.kind),
        s(&r.namespace),
        s(&r.name),
        s(&r.uid),
        s(&r.resource_version),
        s(&r.field_path),
    ]
}

/// client-go's isomorphic key: action, reason, reporting controller (one per recorder),
/// regarding and related. The note and type are not part of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub action: String,
    pub reason: String,
    pub regarding: RefKey,
    pub related: Option<RefKey>,
}

struct Entry {
    /// The Event object as first created (no series).
    event: EventObject,
    count: i32,
    last_observed: jiff::Timestamp,
    /// The object exists on the server.
    created: bool,
    /// The server is behind this entry (count or the object itself).
    dirty: bool,
    last_seen: Instant,
    seq: u64,
}

/// What [`Cache::record`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Write it now: a new Event, or the start of a series.
    Write,
    /// Counted into a series; the next refresh writes it.
    Counted,
    /// The regarding object's bucket is empty: not recorded.
    RateLimited,
}

/// A write to do, taken from the cache.
pub(super) struct Pending {
    pub event: EventObject,
    pub create: bool,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub(super) struct Cache {
    entries: HashMap<Key, Entry>,
    order: BTreeMap<u64, Key>,
    next_seq: u64,
    buckets: HashMap<RefKey, Bucket>,
    max: usize,
    burst: f64,
    refill_every: Duration,
}

impl Cache {
    pub fn new(max: usize, burst: u32, refill_every: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            buckets: HashMap::new(),
            max: max.max(1),
            burst: f64::from(burst),
            refill_every,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Records one occurrence; `make` builds the Event object for a new key.
    pub fn record(
        &mut self,
        key: Key,
        now: Instant,
        wall: jiff::Timestamp,
        make: impl FnOnce() -> EventObject,
    ) -> Outcome {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(e) = self.entries.get_mut(&key) {
            e.count = e.count.saturating_add(1);
            e.last_observed = wall;
            e.last_seen = now;
            self.order.remove(&e.seq);
            e.seq = seq;
            self.order.insert(seq, key);
            if e.count == 2 {
                return Outcome::Write;
            }
            e.dirty = true;
            return Outcome::Counted;
        }
        if !self.take_token(&key.regarding, now) {
            return Outcome::RateLimited;
        }
        while self.entries.len() >= self.max {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.entries.insert(
            key.clone(),
            Entry {
                event: make(),
                count: 1,
                last_observed: wall,
                created: false,
                dirty: false,
                last_seen: now,
                seq,
            },
        );
        self.order.insert(seq, key);
        Outcome::Write
    }

    fn take_token(&mut self, regarding: &RefKey, now: Instant) -> bool {
        if self.buckets.len() >= self.max && !self.buckets.contains_key(regarding) {
            // Forget full buckets first (they grant nothing a fresh one would not).
            let (burst, refill) = (self.burst, self.refill_every);
            self.buckets
                .retain(|_, b| refilled(b, now, burst, refill) < burst);
            if self.buckets.len() >= self.max {
                self.buckets.clear();
            }
        }
        let (burst, refill) = (self.burst, self.refill_every);
        let bucket = self.buckets.entry(regarding.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens = refilled(bucket, now, burst, refill);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// The write that brings the server up to date with `key`; clears its dirty flag.
    pub fn take(&mut self, key: &Key) -> Option<Pending> {
        let e = self.entries.get_mut(key)?;
        e.dirty = false;
        let mut event = e.event.clone();
        if e.count >= 2 {
            event.series = Some(EventSeries {
                count: e.count,
                last_observed_time: MicroTime(e.last_observed),
            });
        }
        Some(Pending {
            event,
            create: !e.created,
        })
    }

    /// The server has the object now.
    pub fn created(&mut self, key: &Key) {
        if let Some(e) = self.entries.get_mut(key) {
            e.created = true;
        }
    }

    /// The write of `key` could not be queued: the next refresh does it.
    pub fn mark_dirty(&mut self, key: &Key) {
        if let Some(e) = self.entries.get_mut(key) {
            e.dirty = true;
        }
    }

    /// The keys whose server state is behind.
    pub fn dirty(&self) -> Vec<Key> {
        self.entries
            .iter()
            .filter(|(_, e)| e.dirty)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Forgets entries not seen for `finish` whose server state is current.
    pub fn expire(&mut self, now: Instant, finish: Duration) {
        let old: Vec<(u64, Key)> = self
            .order
            .iter()
            .take_while(|(_, k)| {
                self.entries
                    .get(*k)
                    .is_none_or(|e| now.saturating_duration_since(e.last_seen) >= finish)
            })
            .filter(|(_, k)| self.entries.get(*k).is_none_or(|e| !e.dirty))
            .map(|(s, k)| (*s, k.clone()))
            .collect();
        for (seq, key) in old {
            self.order.remove(&seq);
            self.entries.remove(&key);
        }
    }
}

fn refilled(b: &Bucket, now: Instant, burst: f64, refill_every: Duration) -> f64 {
    let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
    let rate = 1.0 / refill_every.as_secs_f64().max(f64::MIN_POSITIVE);
    (b.tokens + elapsed * rate).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(reason: &str, name: &str) -> Key {
        Key {
            action: "A".into(),
            reason: reason.into(),
            regarding: ref_key(&ObjectReference {
                kind: Some("Pod".into()),
                name: Some(name.into()),
                ..Default::default()
            }),
            related: None,
        }
    }

    fn ev() -> EventObject {
        EventObject::default()
    }

    #[test]
    fn the_second_occurrence_starts_a_series_and_later_ones_are_counted() {
        let mut c = Cache::new(10, 25, Duration::from_secs(300));
        let (now, wall) = (Instant::now(), jiff::Timestamp::now());
        assert_eq!(c.record(key("R", "p"), now, wall, ev), Outcome::Write);
        let p = c.take(&key("R", "p")).unwrap();
        assert!(p.create && p.event.series.is_none());
        c.created(&key("R", "p"));
        assert_eq!(c.record(key("R", "p"), now, wall, ev), Outcome::Write);
        for _ in 0..98 {
            assert_eq!(c.record(key("R", "p"), now, wall, ev), Outcome::Counted);
        }
        assert_eq!(c.dirty(), vec![key("R", "p")]);
        let p = c.take(&key("R", "p")).unwrap();
        assert!(!p.create);
        assert_eq!(p.event.series.unwrap().count, 100);
        assert!(c.dirty().is_empty());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn the_spam_filter_allows_a_burst_per_object_then_refills() {
        let mut c = Cache::new(1000, 25, Duration::from_secs(300));
        let (now, wall) = (Instant::now(), jiff::Timestamp::now());
        let outcomes: Vec<_> = (0..30)
            .map(|i| c.record(key(&format!("R{i}"), "p"), now, wall, ev))
            .collect();
        assert_eq!(
            outcomes.iter().filter(|o| **o == Outcome::Write).count(),
            25
        );
        assert_eq!(c.record(key("other", "q"), now, wall, ev), Outcome::Write);
        let later = now + Duration::from_secs(300);
        assert_eq!(c.record(key("R99", "p"), later, wall, ev), Outcome::Write);
        assert_eq!(
            c.record(key("R98", "p"), later, wall, ev),
            Outcome::RateLimited
        );
    }

    #[test]
    fn memory_is_bounded_and_the_least_recently_seen_go_first() {
        let mut c = Cache::new(3, 25, Duration::from_secs(300));
        let (now, wall) = (Instant::now(), jiff::Timestamp::now());
        for name in ["a", "b", "c"] {
            c.record(key("R", name), now, wall, ev);
        }
        c.record(key("R", "a"), now, wall, ev); // a is fresh again
        c.record(key("R", "d"), now, wall, ev); // evicts b
        assert_eq!(c.len(), 3);
        assert!(c.take(&key("R", "b")).is_none());
        assert!(c.take(&key("R", "a")).is_some());
        for i in 0..10_000 {
            c.record(key("R", &format!("n{i}")), now, wall, ev);
        }
        assert_eq!(c.len(), 3);
        assert!(c.buckets.len() <= 3);
    }

    #[test]
    fn expiry_forgets_only_quiet_entries_whose_server_state_is_current() {
        let mut c = Cache::new(10, 25, Duration::from_secs(300));
        let (now, wall) = (Instant::now(), jiff::Timestamp::now());
        c.record(key("R", "quiet"), now, wall, ev);
        c.record(key("R", "dirty"), now, wall, ev);
        c.record(key("R", "dirty"), now, wall, ev);
        c.record(key("R", "dirty"), now, wall, ev);
        let later = now + Duration::from_secs(400);
        c.record(key("R", "busy"), later, wall, ev);
        c.expire(later, Duration::from_secs(360));
        assert!(c.take(&key("R", "quiet")).is_none());
        assert!(c.take(&key("R", "busy")).is_some());
        // still dirty until taken, so it survived; now clean, it expires
        assert!(c.take(&key("R", "dirty")).is_some());
        c.expire(later, Duration::from_secs(360));
        assert!(c.take(&key("R", "dirty")).is_none());
    }
}
