//! The protocol between the harness and each benchmarked client process.
//!
//! A client is started as `CLIENT scenario=NAME key=value …` with `KUBECONFIG`
//! set. It may print `READY` on a line of its own (the watch scenario waits for
//! it before writing objects), and it ends by printing one JSON [`Outcome`] line.
//! The Go and Python peers implement the same protocol.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The scenarios a client may be asked to run.
pub const SCENARIOS: &[&str] = &[
    "list",
    "list-paged",
    "get",
    "watch-initial",
    "watch-live",
    "cold",
    "exec",
    "discovery",
    "informer",
];

/// `key=value` arguments of a client process.
#[derive(Debug, Clone)]
pub struct Args {
    params: BTreeMap<String, String>,
}

impl Args {
    /// Parses the process arguments.
    pub fn from_env() -> Self {
        Self::parse(std::env::args().skip(1))
    }

    /// Parses `key=value` words; a word without `=` is taken as the scenario.
    pub fn parse(words: impl IntoIterator<Item = String>) -> Self {
        let mut params = BTreeMap::new();
        for word in words {
            match word.split_once('=') {
                Some((k, v)) => params.insert(k.to_string(), v.to_string()),
                None => params.insert("scenario".to_string(), word),
            };
        }
        Self { params }
    }

    /// The scenario name.
    pub fn scenario(&self) -> &str {
        self.params.get("scenario").map_or("", String::as_str)
    }

    /// A string parameter with a default.
    pub fn str(&self, key: &str, default: &str) -> String {
        self.params
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    /// A numeric parameter with a default.
    pub fn num(&self, key: &str, default: usize) -> usize {
        self.params
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
}

/// What a client reports at the end of a scenario. Every field is optional
/// because each scenario fills only some of them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// Objects received (list items, watch events) or requests answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<u64>,
    /// HTTP requests the measured section sent, as counted by the client (discovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Time of the measured section inside the process, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_process_s: Option<f64>,
    /// Raw limit only: time to receive the list body without decoding it, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_s: Option<f64>,
    /// Median latency of one request or event, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    /// 99th percentile latency, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// User+system CPU of the measured section, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_s: Option<f64>,
    /// Peak resident set of the client process (`VmHWM` of /proc/self/status,
    /// read just before printing), KiB. Unlike `ru_maxrss` from `wait4`, it
    /// does not include the harness's own pages the child inherited at fork.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_kib: Option<u64>,
    /// Resident set (`VmRSS`) one second after the measured section ended, KiB:
    /// the steady state of a long-running client (the informer scenario).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_rss_kib: Option<u64>,
    /// Why the scenario failed or is not supported by this client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Outcome {
    /// An outcome saying the client cannot run this scenario.
    pub fn failed(why: impl Into<String>) -> Self {
        Self {
            error: Some(why.into()),
            ..Self::default()
        }
    }

    /// Prints the outcome as the final JSON line, with the process's peak RSS.
    pub fn print(mut self) {
        self.peak_rss_kib = peak_rss_kib();
        println!(
            "{}",
            serde_json::to_string(&self).expect("an Outcome always serialises")
        );
    }
}

/// The peak resident set of this process (`VmHWM`), KiB.
pub fn peak_rss_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

/// The current resident set of this process (`VmRSS`), KiB.
pub fn rss_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

/// A `KiB` field of /proc/self/status.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// How long after an informer's sync its steady-state resident set is read.
pub const STEADY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Signals the harness that the client is ready (watch established).
pub fn ready() {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "READY");
    let _ = out.flush();
}

/// User+system CPU time of this process so far, seconds.
pub fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete `rusage` into the pointer it is given;
    // the buffer is a valid, zero-initialised `rusage`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return 0.0;
    }
    // SAFETY: getrusage succeeded, so it initialised the struct (it was zeroed anyway).
    let usage = unsafe { usage.assume_init() };
    timeval_s(usage.ru_utime) + timeval_s(usage.ru_stime)
}

/// Converts a `timeval` to seconds.
pub fn timeval_s(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

/// Wall-clock time since the Unix epoch in nanoseconds (the watch scenario stamps
/// objects with it and compares on receipt; all processes share one clock).
pub fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The `q`-quantile (0..=1) of already sorted samples, nearest-rank.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Sorts latency samples (ms) and returns (p50, p99).
pub fn p50_p99(mut samples: Vec<f64>) -> (Option<f64>, Option<f64>) {
    samples.sort_by(f64::total_cmp);
    (quantile(&samples, 0.5), quantile(&samples, 0.99))
}

/// The annotation carrying the writer's clock in the watch-live scenario.
pub const SENT_ANNOTATION: &str = "bench.k8s-client.io/sent-unix-nanos";

/// Milliseconds from the writer's stamp in `annotations` to now (0 when unstamped).
pub fn latency_ms(annotations: Option<&BTreeMap<String, String>>) -> f64 {
    let now = unix_nanos();
    let sent = annotations
        .and_then(|a| a.get(SENT_ANNOTATION))
        .and_then(|s| s.parse::<u128>().ok())
        .unwrap_or(now);
    now.saturating_sub(sent) as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scenario_and_params() {
        let a = Args::parse(["get".to_string(), "n=10".into(), "c=16".into()]);
        assert_eq!(a.scenario(), "get");
        assert_eq!(a.num("n", 1), 10);
        assert_eq!(a.num("c", 1), 16);
        assert_eq!(a.num("missing", 7), 7);
        assert_eq!(a.str("ns", "bench"), "bench");
    }

    #[test]
    fn nearest_rank_quantiles() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&s, 0.5), Some(50.0));
        assert_eq!(quantile(&s, 0.99), Some(99.0));
        assert_eq!(quantile(&s, 1.0), Some(100.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
