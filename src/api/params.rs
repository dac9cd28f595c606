//! Parameters of the API verbs, turned into query strings and bodies by
//! [`request`](super::request).

use serde::Serialize;

/// `labels()` and `fields()` of the parameter types that carry selectors.
macro_rules! selector_setters {
    () => {
        /// Sets the label selector (`labelSelector`, e.g. `app=web,tier!=db`).
        #[must_use]
        pub fn labels(mut self, selector: &str) -> Self {
            self.label_selector = Some(selector.to_owned());
            self
        }

        /// Sets the field selector (`fieldSelector`, e.g. `metadata.name=x`).
        #[must_use]
        pub fn fields(mut self, selector: &str) -> Self {
            self.field_selector = Some(selector.to_owned());
            self
        }
    };
}

/// How `resourceVersion` is interpreted on a list (`resourceVersionMatch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VersionMatch {
    /// Any data at least as new as the given `resourceVersion` (may come from the cache).
    NotOlderThan,
    /// Exactly the given `resourceVersion` (410 Gone when compacted).
    Exact,
}

impl VersionMatch {
    fn as_str(self) -> &'static str {
        match self {
            VersionMatch::NotOlderThan => "NotOlderThan",
            VersionMatch::Exact => "Exact",
        }
    }
}

/// Server-side field validation (`fieldValidation`) on create, replace and patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldValidation {
    /// Drop unknown or duplicate fields silently.
    Ignore,
    /// Drop them and answer with a `Warning` header (the server's default).
    Warn,
    /// Reject the request (422) when a field is unknown or duplicated.
    Strict,
}

impl FieldValidation {
    fn as_str(self) -> &'static str {
        match self {
            FieldValidation::Ignore => "Ignore",
            FieldValidation::Warn => "Warn",
            FieldValidation::Strict => "Strict",
        }
    }
}

/// Parameters of `list` and `delete_collection`.
///
/// Semantics of `resource_version` (as in client-go): unset = the newest data, read from
/// etcd (a consistent read); `"0"` = any data, usually from the API server's cache;
/// another value = at least that new ([`VersionMatch::NotOlderThan`]) or exactly that
/// one ([`VersionMatch::Exact`]).
///
/// ```
/// use k8s_client::api::ListParams;
/// let lp = ListParams::default().labels("app=web").limit(100);
/// assert_eq!(lp.limit, Some(100));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListParams {
    /// `labelSelector`, e.g. `app=web,tier!=db`.
    pub label_selector: Option<String>,
    /// `fieldSelector`, e.g. `metadata.name=x`.
    pub field_selector: Option<String>,
    /// Page size (`limit`).
    pub limit: Option<u32>,
    /// The continue token of the previous page (`continue`). The server refuses it
    /// together with `resource_version` (the token already pins the snapshot).
    pub continue_token: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub version_match: Option<VersionMatch>,
    /// Server-side bound on the request, in seconds (`timeoutSeconds`).
    pub timeout_seconds: Option<u32>,
}

impl ListParams {
    selector_setters!();

    /// Sets the page size.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Sets the continue token.
    #[must_use]
    pub fn continue_token(mut self, token: &str) -> Self {
        self.continue_token = Some(token.to_owned());
        self
    }

    /// Lists at `resource_version` with the given match rule.
    #[must_use]
    pub fn at(mut self, resource_version: &str, version_match: VersionMatch) -> Self {
        self.resource_version = Some(resource_version.to_owned());
        self.version_match = Some(version_match);
        self
    }

    /// Lists from the API server's cache (`resourceVersion=0`): fast, possibly stale.
    #[must_use]
    pub fn any_version(mut self) -> Self {
        self.resource_version = Some("0".to_owned());
        self.version_match = None;
        self
    }

    pub(crate) fn append_query(&self, q: &mut Query) {
        q.opt("labelSelector", self.label_selector.as_deref());
        q.opt("fieldSelector", self.field_selector.as_deref());
        if let Some(limit) = self.limit {
            q.pair("limit", &limit.to_string());
        }
        q.opt("continue", self.continue_token.as_deref());
        q.opt("resourceVersion", self.resource_version.as_deref());
        q.opt(
            "resourceVersionMatch",
            self.version_match.map(VersionMatch::as_str),
        );
        if let Some(t) = self.timeout_seconds {
            q.pair("timeoutSeconds", &t.to_string());
        }
    }
}

/// Parameters of `watch`.
///
/// ```
/// use k8s_client::api::WatchParams;
/// let wp = WatchParams::default().labels("app=web").timeout(60);
/// assert!(wp.bookmarks);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchParams {
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// `timeoutSeconds`: the server ends the watch after this long (default: its own
    /// `--min-request-timeout`-based choice).
    pub timeout_seconds: Option<u32>,
    /// `allowWatchBookmarks` (default true): the server sends `BOOKMARK` events that carry
    /// a newer `resourceVersion` to resume from.
    pub bookmarks: bool,
    /// The largest single event accepted, in bytes (default 16 MiB). A longer line ends the
    /// watch with [`RequestError::EventTooLarge`](super::RequestError::EventTooLarge).
    pub max_event_size: usize,
    /// `sendInitialEvents` (a "streaming list", `WatchList`): the watch first sends the
    /// current state as `ADDED` events, then a bookmark annotated
    /// `k8s.io/initial-events-end` ([`Bookmark::is_initial_events_end`](super::Bookmark::is_initial_events_end)),
    /// then changes — a list without holding it in one response. Sent with
    /// `resourceVersionMatch=NotOlderThan` and bookmarks, as the server requires.
    pub send_initial_events: bool,
}

/// Default [`WatchParams::max_event_size`].
pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

impl Default for WatchParams {
    fn default() -> Self {
        Self {
            label_selector: None,
            field_selector: None,
            timeout_seconds: None,
            bookmarks: true,
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
            send_initial_events: false,
        }
    }
}

impl WatchParams {
    selector_setters!();

    /// Sets `timeoutSeconds`.
    #[must_use]
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout_seconds = Some(seconds);
        self
    }

    /// Turns bookmarks off.
    #[must_use]
    pub fn disable_bookmarks(mut self) -> Self {
        self.bookmarks = false;
        self
    }

    /// Asks for the current state first, as a streaming list (see
    /// [`WatchParams::send_initial_events`]); turns bookmarks on.
    #[must_use]
    pub fn initial_events(mut self) -> Self {
        self.send_initial_events = true;
        self.bookmarks = true;
        self
    }

    /// Sets the largest accepted event size in bytes.
    #[must_use]
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.max_event_size = bytes;
        self
    }

    /// The list parameters with the same selectors (for the list half of `watch_all`).
    pub(crate) fn to_list_params(&self, limit: u32) -> ListParams {
        ListParams {
            label_selector: self.label_selector.clone(),
            field_selector: self.field_selector.clone(),
            limit: Some(limit),
            ..ListParams::default()
        }
    }

    pub(crate) fn append_query(&self, q: &mut Query, resource_version: &str) {
        q.pair("watch", "true");
        q.opt("labelSelector", self.label_selector.as_deref());
        q.opt("fieldSelector", self.field_selector.as_deref());
        if let Some(t) = self.timeout_seconds {
            q.pair("timeoutSeconds", &t.to_string());
        }
        if self.bookmarks || self.send_initial_events {
            q.pair("allowWatchBookmarks", "true");
        }
        if !resource_version.is_empty() {
            q.pair("resourceVersion", resource_version);
        }
        if self.send_initial_events {
            q.pair("sendInitialEvents", "true");
            q.pair("resourceVersionMatch", "NotOlderThan");
        }
    }
}

/// Parameters of `create` and `replace`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostParams {
    /// `dryRun=All`: validate and answer, but persist nothing.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `fieldValidation`.
    pub field_validation: Option<FieldValidation>,
}

impl PostParams {
    /// Turns on dry-run.
    #[must_use]
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// Sets the field manager.
    #[must_use]
    pub fn field_manager(mut self, manager: &str) -> Self {
        self.field_manager = Some(manager.to_owned());
        self
    }

    /// Sets field validation.
    #[must_use]
    pub fn validation(mut self, validation: FieldValidation) -> Self {
        self.field_validation = Some(validation);
        self
    }

    pub(crate) fn append_query(&self, q: &mut Query) {
        if self.dry_run {
            q.pair("dryRun", "All");
        }
        q.opt("fieldManager", self.field_manager.as_deref());
        q.opt(
            "fieldValidation",
            self.field_validation.map(FieldValidation::as_str),
        );
    }
}

/// A patch and its kind; the kind selects the `Content-Type`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Patch<P: Serialize> {
    /// Server-side apply (`application/apply-patch+yaml`; JSON is valid YAML): the fields
    /// this manager owns. Needs [`PatchParams::apply`].
    Apply(P),
    /// JSON merge patch, RFC 7386 (`application/merge-patch+json`).
    Merge(P),
    /// Strategic merge patch (`application/strategic-merge-patch+json`; built-in types only).
    Strategic(P),
    /// JSON patch, RFC 6902 (`application/json-patch+json`): `P` serialises to an array of
    /// operations, e.g. `json!([{"op":"replace","path":"/data/a","value":"b"}])`.
    Json(P),
}

impl<P: Serialize> Patch<P> {
    /// The `Content-Type` of this patch kind.
    pub fn content_type(&self) -> &'static str {
        match self {
            Patch::Apply(_) => "application/apply-patch+yaml",
            Patch::Merge(_) => "application/merge-patch+json",
            Patch::Strategic(_) => "application/strategic-merge-patch+json",
            Patch::Json(_) => "application/json-patch+json",
        }
    }

    pub(crate) fn body(&self) -> &P {
        match self {
            Patch::Apply(p) | Patch::Merge(p) | Patch::Strategic(p) | Patch::Json(p) => p,
        }
    }

    pub(crate) fn is_apply(&self) -> bool {
        matches!(self, Patch::Apply(_))
    }
}

/// Parameters of `patch`.
///
/// ```
/// use k8s_client::api::PatchParams;
/// let pp = PatchParams::apply("my-controller").force();
/// assert!(pp.force);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PatchParams {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `force`: take ownership of conflicting fields (server-side apply only).
    pub force: bool,
    /// `fieldManager` (required for server-side apply).
    pub field_manager: Option<String>,
    /// `fieldValidation`.
    pub field_validation: Option<FieldValidation>,
}

impl PatchParams {
    /// Parameters for server-side apply as `manager`.
    pub fn apply(manager: &str) -> Self {
        Self {
            field_manager: Some(manager.to_owned()),
            ..Self::default()
        }
    }

    /// Forces server-side apply to take over conflicting fields.
    #[must_use]
    pub fn force(mut self) -> Self {
        self.force = true;
        self
    }

    /// Turns on dry-run.
    #[must_use]
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// Sets field validation.
    #[must_use]
    pub fn validation(mut self, validation: FieldValidation) -> Self {
        self.field_validation = Some(validation);
        self
    }

    pub(crate) fn append_query(&self, q: &mut Query) {
        if self.dry_run {
            q.pair("dryRun", "All");
        }
        if self.force {
            q.pair("force", "true");
        }
        q.opt("fieldManager", self.field_manager.as_deref());
        q.opt(
            "fieldValidation",
            self.field_validation.map(FieldValidation::as_str),
        );
    }
}

/// What happens to dependents when an owner is deleted (`propagationPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum PropagationPolicy {
    /// Leave dependents alone.
    Orphan,
    /// Delete the owner now, dependents in the background.
    Background,
    /// Delete dependents first; the owner stays (with a `foregroundDeletion` finalizer) until then.
    Foreground,
}

/// Conditions the object must still meet to be deleted (otherwise 409 Conflict).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Preconditions {
    /// The object's `metadata.uid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The object's `metadata.resourceVersion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

impl Preconditions {
    /// Requires this `metadata.uid`.
    pub fn uid(uid: &str) -> Self {
        Self {
            uid: Some(uid.to_owned()),
            resource_version: None,
        }
    }

    /// Requires this `metadata.resourceVersion`.
    pub fn resource_version(resource_version: &str) -> Self {
        Self {
            uid: None,
            resource_version: Some(resource_version.to_owned()),
        }
    }
}

/// Parameters of `delete` and `delete_collection`, sent as a `DeleteOptions` body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeleteParams {
    /// `dryRun: ["All"]`.
    pub dry_run: bool,
    /// `gracePeriodSeconds` (0 = immediately).
    pub grace_period_seconds: Option<u32>,
    /// `propagationPolicy`.
    pub propagation_policy: Option<PropagationPolicy>,
    /// `preconditions`.
    pub preconditions: Option<Preconditions>,
}

impl DeleteParams {
    /// Background propagation.
    pub fn background() -> Self {
        Self::default().propagation(PropagationPolicy::Background)
    }

    /// Foreground propagation.
    pub fn foreground() -> Self {
        Self::default().propagation(PropagationPolicy::Foreground)
    }

    /// Orphan the dependents.
    pub fn orphan() -> Self {
        Self::default().propagation(PropagationPolicy::Orphan)
    }

    /// Sets the propagation policy.
    #[must_use]
    pub fn propagation(mut self, policy: PropagationPolicy) -> Self {
        self.propagation_policy = Some(policy);
        self
    }

    /// Sets the grace period.
    #[must_use]
    pub fn grace_period(mut self, seconds: u32) -> Self {
        self.grace_period_seconds = Some(seconds);
        self
    }

    /// Turns on dry-run.
    #[must_use]
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// Sets preconditions.
    #[must_use]
    pub fn preconditions(mut self, preconditions: Preconditions) -> Self {
        self.preconditions = Some(preconditions);
        self
    }

    /// The `DeleteOptions` body.
    pub(crate) fn body(&self) -> serde_json::Value {
        let mut o = serde_json::Map::new();
        o.insert("kind".into(), "DeleteOptions".into());
        o.insert("apiVersion".into(), "v1".into());
        if self.dry_run {
            o.insert("dryRun".into(), serde_json::json!(["All"]));
        }
        if let Some(g) = self.grace_period_seconds {
            o.insert("gracePeriodSeconds".into(), g.into());
        }
        if let Some(p) = self.propagation_policy {
            o.insert("propagationPolicy".into(), serde_json::json!(p));
        }
        if let Some(p) = &self.preconditions {
            o.insert("preconditions".into(), serde_json::json!(p));
        }
        serde_json::Value::Object(o)
    }
}

/// Parameters of `pods/log`.
///
/// ```
/// use k8s_client::api::LogParams;
/// let lp = LogParams::default().container("app").tail_lines(100).follow();
/// assert!(lp.follow);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogParams {
    /// `container` (required when the pod has several).
    pub container: Option<String>,
    /// `follow`: keep the stream open.
    pub follow: bool,
    /// `tailLines`.
    pub tail_lines: Option<i64>,
    /// `sinceSeconds`.
    pub since_seconds: Option<i64>,
    /// `sinceTime`: only lines at or after this time (RFC 3339, whole seconds on the
    /// wire, as kubectl's `--since-time`).
    pub since_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// `limitBytes`.
    pub limit_bytes: Option<i64>,
    /// `timestamps`: prefix each line with an RFC 3339 timestamp.
    pub timestamps: bool,
    /// `previous`: the previous, terminated container's log.
    pub previous: bool,
}

impl LogParams {
    /// Sets the container.
    #[must_use]
    pub fn container(mut self, container: &str) -> Self {
        self.container = Some(container.to_owned());
        self
    }

    /// Follows the log.
    #[must_use]
    pub fn follow(mut self) -> Self {
        self.follow = true;
        self
    }

    /// Only the last `n` lines.
    #[must_use]
    pub fn tail_lines(mut self, n: i64) -> Self {
        self.tail_lines = Some(n);
        self
    }

    /// Only lines newer than `seconds`.
    #[must_use]
    pub fn since_seconds(mut self, seconds: i64) -> Self {
        self.since_seconds = Some(seconds);
        self
    }

    /// Only lines at or after `time` (kubectl `--since-time`).
    #[must_use]
    pub fn since_time(mut self, time: jiff::Timestamp) -> Self {
        self.since_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(time));
        self
    }

    /// At most `n` bytes of log.
    #[must_use]
    pub fn limit_bytes(mut self, n: i64) -> Self {
        self.limit_bytes = Some(n);
        self
    }

    /// Prefixes lines with timestamps.
    #[must_use]
    pub fn timestamps(mut self) -> Self {
        self.timestamps = true;
        self
    }

    /// The previous, terminated instance of the container (kubectl `--previous`).
    #[must_use]
    pub fn previous(mut self) -> Self {
        self.previous = true;
        self
    }

    pub(crate) fn append_query(&self, q: &mut Query) {
        q.opt("container", self.container.as_deref());
        if self.follow {
            q.pair("follow", "true");
        }
        for (k, v) in [
            ("tailLines", self.tail_lines),
            ("sinceSeconds", self.since_seconds),
            ("limitBytes", self.limit_bytes),
        ] {
            if let Some(v) = v {
                q.pair(k, &v.to_string());
            }
        }
        if let Some(t) = &self.since_time {
            // Whole seconds, as metav1.Time serialises (and kubectl sends).
            q.pair("sinceTime", &t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
        if self.timestamps {
            q.pair("timestamps", "true");
        }
        if self.previous {
            q.pair("previous", "true");
        }
    }
}

/// A URL query string under construction (form-urlencoded, as client-go sends it).
#[derive(Default)]
pub(crate) struct Query(Option<url::form_urlencoded::Serializer<'static, String>>);

impl Query {
    pub(crate) fn pair(&mut self, key: &str, value: &str) {
        self.0
            .get_or_insert_with(|| url::form_urlencoded::Serializer::new(String::new()))
            .append_pair(key, value);
    }

    pub(crate) fn opt(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.pair(key, v);
        }
    }

    /// `path` followed by `?query` when there is one.
    pub(crate) fn finish(self, path: String) -> String {
        match self.0 {
            Some(mut s) => format!("{path}?{}", s.finish()),
            None => path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(f: impl FnOnce(&mut Query)) -> String {
        let mut q = Query::default();
        f(&mut q);
        q.finish("/p".into())
    }

    #[test]
    fn list_query() {
        let lp = ListParams::default()
            .labels("app=web,tier in (a,b)")
            .fields("metadata.name=x")
            .limit(100)
            .continue_token("tok+/=")
            .at("42", VersionMatch::NotOlderThan);
        assert_eq!(
            q(|q| lp.append_query(q)),
            "/p?labelSelector=app%3Dweb%2Ctier+in+%28a%2Cb%29&fieldSelector=metadata.name%3Dx\
             &limit=100&continue=tok%2B%2F%3D&resourceVersion=42&resourceVersionMatch=NotOlderThan"
        );
        assert_eq!(q(|q| ListParams::default().append_query(q)), "/p");
    }

    #[test]
    fn watch_query() {
        let wp = WatchParams::default().timeout(30);
        assert_eq!(
            q(|q| wp.append_query(q, "7")),
            "/p?watch=true&timeoutSeconds=30&allowWatchBookmarks=true&resourceVersion=7"
        );
        let wp = WatchParams::default().disable_bookmarks();
        assert_eq!(q(|q| wp.append_query(q, "")), "/p?watch=true");
        let wp = WatchParams::default().disable_bookmarks().initial_events();
        assert_eq!(
            q(|q| wp.append_query(q, "")),
            "/p?watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
        );
    }

    #[test]
    fn patch_and_post_query() {
        let pp = PatchParams::apply("mgr").force().dry_run();
        assert_eq!(
            q(|q| pp.append_query(q)),
            "/p?dryRun=All&force=true&fieldManager=mgr"
        );
        let pp = PostParams::default().validation(FieldValidation::Strict);
        assert_eq!(q(|q| pp.append_query(q)), "/p?fieldValidation=Strict");
        assert_eq!(
            Patch::Apply(()).content_type(),
            "application/apply-patch+yaml"
        );
        assert_eq!(
            Patch::Json(()).content_type(),
            "application/json-patch+json"
        );
    }

    #[test]
    fn delete_body() {
        let dp = DeleteParams::foreground()
            .grace_period(0)
            .dry_run()
            .preconditions(Preconditions {
                uid: Some("u".into()),
                resource_version: None,
            });
        assert_eq!(
            dp.body(),
            serde_json::json!({
                "kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"],
                "gracePeriodSeconds": 0, "propagationPolicy": "Foreground",
                "preconditions": {"uid": "u"}
            })
        );
    }

    #[test]
    fn log_query() {
        let lp = LogParams::default()
            .container("c")
            .follow()
            .tail_lines(10)
            .since_seconds(60)
            .timestamps();
        assert_eq!(
            q(|q| lp.append_query(q)),
            "/p?container=c&follow=true&tailLines=10&sinceSeconds=60&timestamps=true"
        );
        let t: jiff::Timestamp = "2026-01-02T03:04:05.678Z".parse().unwrap();
        let lp = LogParams::default().since_time(t).limit_bytes(5).previous();
        assert_eq!(
            q(|q| lp.append_query(q)),
            "/p?limitBytes=5&sinceTime=2026-01-02T03%3A04%3A05Z&previous=true"
        );
    }
}
