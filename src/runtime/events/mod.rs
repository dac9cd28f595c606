//! An `events.k8s.io/v1` events recorder with client-go's semantics (its `tools/events`
//! package, not the legacy `core/v1` recorder).
//!
//! * Each [`Recorder`] reports as one [`Reporter`] (`reportingController`,
//!   `reportingInstance`).
//! * An [`Event`] is about a `regarding` object (and optionally a `related` one), has a
//!   type ([`EventType::Normal`] or [`EventType::Warning`]), a reason, an action and a note.
//! * Series: events with the same action, reason, regarding and related objects (client-go's
//!   isomorphic key; the note and type are not part of it) are one Event object. The second
//!   occurrence turns it into a `series` (count 2, `lastObservedTime`), written by PATCH;
//!   later occurrences only count in memory and are written with the next refresh.
//! * Spam filter: a token bucket per regarding object limits how many *new* Event objects
//!   are created for it (burst 25, then one per 5 minutes, client-go's defaults).
//! * [`Recorder::publish`] never blocks and never waits for the API server: events go to a
//!   bounded queue (1000) and are dropped, counted in [`RecorderStats`], when it is full.
//!   Writes are retried on transport errors (12 attempts, up to 10 s apart) and dropped
//!   on any answer of the server that is an error, as client-go does.
//!
//! ```no_run
//! # async fn demo(client: k8s_client::Client, pod: k8s_openapi::api::core::v1::Pod) -> Result<(), Box<dyn std::error::Error>> {
//! use k8s_client::runtime::events::{object_reference, Event, EventType, Recorder, Reporter};
//!
//! let recorder = Recorder::new(client, Reporter::new("example.com/my-controller"))?;
//! recorder.publish(
//!     &Event::new(object_reference(&pod, &()), EventType::Normal, "Scheduled", "Binding")
//!         .note("assigned to node-1"),
//! )?;
//! recorder.shutdown(std::time::Duration::from_secs(5)).await; // flush before exit
//! # Ok(()) }
//! ```

mod cache;
mod recorder;

pub use recorder::{Recorder, RecorderStats};

use crate::api::Resource;
use k8s_openapi::api::core::v1::ObjectReference;
use std::time::Duration;

/// The longest `reason` and `action` the API server accepts (bytes).
pub const MAX_REASON_LENGTH: usize = 128;
/// The longest `reportingInstance` the API server accepts (bytes).
pub const MAX_INSTANCE_LENGTH: usize = 128;
/// The longest `note` the API server accepts (bytes); longer notes are truncated.
pub const MAX_NOTE_LENGTH: usize = 1024;

/// Who reports: `reportingController` and `reportingInstance`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reporter {
    /// The controller's name, a qualified name such as `example.com/my-controller`.
    pub controller: String,
    /// This instance (default: `<controller>-<hostname>`, as client-go), at most 128 bytes.
    pub instance: String,
}

impl Reporter {
    /// A reporter with client-go's default instance, `<controller>-<hostname>`.
    pub fn new(controller: impl Into<String>) -> Self {
        let controller = controller.into();
        let host = super::leader::host_name().unwrap_or_default();
        let mut instance = format!("{controller}-{host}");
        truncate_to(&mut instance, MAX_INSTANCE_LENGTH);
        Self {
            controller,
            instance,
        }
    }

    /// Sets the instance.
    pub fn instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = instance.into();
        self
    }

    fn validate(&self) -> Result<(), EventError> {
        if !is_qualified_name(&self.controller) {
            return Err(EventError::InvalidReporter {
                field: "reportingController",
                value: self.controller.clone(),
                reason: "must be a qualified name (an optional DNS subdomain prefix and '/', then at most 63 alphanumerics, '-', '_' or '.')",
            });
        }
        if self.instance.is_empty() || self.instance.len() > MAX_INSTANCE_LENGTH {
            return Err(EventError::InvalidReporter {
                field: "reportingInstance",
                value: self.instance.clone(),
                reason: "must be 1 to 128 bytes",
            });
        }
        Ok(())
    }
}

/// `Normal` or `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something may need attention.
    Warning,
}

impl EventType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// One occurrence to report.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// The object the event is about.
    pub regarding: ObjectReference,
    /// A second object involved, if any.
    pub related: Option<ObjectReference>,
    /// `Normal` or `Warning`.
    pub type_: EventType,
    /// Why (UpperCamelCase, machine-readable), 1 to 128 bytes.
    pub reason: String,
    /// What was done or failed (machine-readable), 1 to 128 bytes.
    pub action: String,
    /// A human-readable description; truncated to 1024 bytes (at a character boundary).
    pub note: Option<String>,
}

impl Event {
    /// An event about `regarding`.
    pub fn new(
        regarding: ObjectReference,
        type_: EventType,
        reason: impl Into<String>,
        action: impl Into<String>,
    ) -> Self {
        Self {
            regarding,
            related: None,
            type_,
            reason: reason.into(),
            action: action.into(),
            note: None,
        }
    }

    /// Sets the note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Sets the related object.
    pub fn related(mut self, related: ObjectReference) -> Self {
        self.related = Some(related);
        self
    }

    /// Checks what the API server would refuse, before anything is queued.
    fn validate(&self) -> Result<(), EventError> {
        let invalid = |field, reason| Err(EventError::InvalidEvent { field, reason });
        if self.reason.is_empty() || self.reason.len() > MAX_REASON_LENGTH {
            return invalid("reason", "must be 1 to 128 bytes");
        }
        if self.action.is_empty() || self.action.len() > MAX_REASON_LENGTH {
            return invalid("action", "must be 1 to 128 bytes");
        }
        if self
            .regarding
            .name
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            return invalid("regarding.name", "must not be empty");
        }
        if self
            .regarding
            .kind
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            return invalid("regarding.kind", "must not be empty");
        }
        Ok(())
    }
}

/// A reference to `object` (apiVersion, kind, namespace, name, uid, resourceVersion) for
/// [`Event::regarding`] and [`Event::related`].
pub fn object_reference<K: Resource>(object: &K, dt: &K::DynamicType) -> ObjectReference {
    let meta = object.meta();
    ObjectReference {
        api_version: Some(K::api_version(dt).into_owned()),
        kind: Some(K::kind(dt).into_owned()),
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        field_path: None,
    }
}

/// How a [`Recorder`] queues, aggregates, limits and retries.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RecorderConfig {
    /// Events waiting to be written; more are dropped. Default 1000 (client-go's
    /// `maxQueuedEvents`).
    pub queue_capacity: usize,
    /// Attempts per write on transport errors. Default 12 (client-go's `maxTriesPerEvent`).
    pub max_attempts: u32,
    /// The pause between attempts: random up to this for the first, then this. Default
    /// 10 s (client-go's).
    pub retry_delay: Duration,
    /// The limit on one request. Default 10 s.
    pub request_timeout: Duration,
    /// How often series counts that changed are written. Default 30 s (client-go: 30 min;
    /// see `docs/leader-election.md`).
    pub series_refresh: Duration,
    /// A series not seen for this long is forgotten (written first when behind); the next
    /// occurrence starts a new Event. Default 6 min (client-go's `finishTime`).
    pub series_finish: Duration,
    /// New Event objects per regarding object: burst. Default 25.
    pub burst: u32,
    /// New Event objects per regarding object: one more token every this. Default 5 min.
    pub refill_every: Duration,
    /// The most events remembered for aggregation (and spam-filter buckets); the least
    /// recently seen are forgotten first. Default 4096.
    pub max_cached: usize,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 1000,
            max_attempts: 12,
            retry_delay: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            series_refresh: Duration::from_secs(30),
            series_finish: Duration::from_secs(6 * 60),
            burst: 25,
            refill_every: Duration::from_secs(5 * 60),
            max_cached: 4096,
        }
    }
}

/// The recorder refused an event or could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The reporter would be refused by the API server.
    #[error("{field} {value:?} is invalid: {reason}")]
    InvalidReporter {
        /// `reportingController` or `reportingInstance`.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// The rule.
        reason: &'static str,
    },
    /// The event would be refused by the API server.
    #[error("event field {field} is invalid: {reason}")]
    InvalidEvent {
        /// The field.
        field: &'static str,
        /// The rule.
        reason: &'static str,
    },
    /// A configuration value is out of range.
    #[error("recorder configuration {field} is invalid: {reason}")]
    InvalidConfig {
        /// The field.
        field: &'static str,
        /// The rule.
        reason: &'static str,
    },
    /// [`Recorder::new`] was called outside a Tokio runtime.
    #[error("the events recorder needs a Tokio runtime to start its writer")]
    NoRuntime,
}

/// Truncates `s` to at most `max` bytes, at a character boundary.
pub(crate) fn truncate_to(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// Kubernetes' qualified name: `[prefix/]name`, the prefix a DNS subdomain (≤ 253), the
/// name ≤ 63 characters of `[A-Za-z0-9_.-]`, starting and ending alphanumeric.
pub(crate) fn is_qualified_name(value: &str) -> bool {
    let (prefix, name) = match value.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, value),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    });
    name_ok && prefix_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn qualified_names() {
        for ok in ["my-controller", "example.com/my-controller", "a", "a_b.c"] {
            assert!(is_qualified_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "Example.com/x",
            "x/",
            "/x",
            "a/b/c",
            &"a".repeat(64),
        ] {
            assert!(!is_qualified_name(bad), "{bad}");
        }
    }

    #[test]
    fn event_validation_matches_the_api_server_limits() {
        let r = ObjectReference {
            kind: Some("Pod".into()),
            name: Some("p".into()),
            ..Default::default()
        };
        Event::new(r.clone(), EventType::Normal, "R", "A")
            .validate()
            .unwrap();
        let long = "x".repeat(129);
        for (ev, field) in [
            (Event::new(r.clone(), EventType::Normal, "", "A"), "reason"),
            (
                Event::new(r.clone(), EventType::Normal, &long, "A"),
                "reason",
            ),
            (
                Event::new(r.clone(), EventType::Normal, "R", &long),
                "action",
            ),
            (
                Event::new(ObjectReference::default(), EventType::Normal, "R", "A"),
                "regarding.name",
            ),
        ] {
            match ev.validate() {
                Err(EventError::InvalidEvent { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(Reporter::new("Bad Name").validate().is_err());
        assert!(Reporter::new("ok").instance("").validate().is_err());
        Reporter::new("example.com/ok").validate().unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn truncation_keeps_a_char_boundary_prefix(s in "\\PC{0,700}", max in 0usize..1100) {
            let mut t = s.clone();
            truncate_to(&mut t, max);
            prop_assert!(t.len() <= max);
            prop_assert!(s.starts_with(&t));
            prop_assert!(s.len() <= max || t.len() + 4 > max);
        }
    }
}
