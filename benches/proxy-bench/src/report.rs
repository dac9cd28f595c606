//! Summaries over rounds, the Markdown report, and its splice into docs/performance.md.

use crate::load::Sample;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// The start marker of this benchmark's region in docs/performance.md.
pub const START_MARKER: &str = "<!-- proxy-bench:start -->";
/// The end marker of this benchmark's region in docs/performance.md.
pub const END_MARKER: &str = "<!-- proxy-bench:end -->";

/// The three ways of reaching the API server that are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// k8s-client's proxy, as a separate process.
    Ours,
    /// `kubectl proxy`.
    Kubectl,
    /// k8s-client's `Client`, no proxy (the ceiling).
    Direct,
}

impl Route {
    /// All of them, in report order.
    pub const ALL: [Route; 3] = [Route::Ours, Route::Kubectl, Route::Direct];

    /// The label in the report.
    pub fn label(self) -> &'static str {
        match self {
            Route::Ours => "k8s-client proxy",
            Route::Kubectl => "kubectl proxy",
            Route::Direct => "direct (k8s-client Client)",
        }
    }
}

/// One round's figures for one path at one concurrency.
#[derive(Clone, Copy, Debug)]
pub struct Round {
    /// Requests per second.
    pub rps: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Completed requests.
    pub requests: usize,
    /// CPU time the proxy process used during the round (`None` going direct, or when
    /// /proc cannot tell).
    pub proxy_cpu: Option<Duration>,
    /// CPU time etcd and kube-apiserver used during the round.
    pub control_plane_cpu: Option<Duration>,
}

impl Round {
    /// The figures of `s`, with the CPU times measured around it.
    pub fn new(
        s: &Sample,
        proxy_cpu: Option<Duration>,
        control_plane_cpu: Option<Duration>,
    ) -> Self {
        Round {
            rps: s.throughput(),
            p50: s.percentile(0.50),
            p99: s.percentile(0.99),
            requests: s.latencies.len(),
            proxy_cpu,
            control_plane_cpu,
        }
    }
}

/// Median, minimum and maximum of one metric over rounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; all zero when there are none.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Spread {
        let mut v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() {
            return Spread {
                median: 0.0,
                min: 0.0,
                max: 0.0,
            };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }

    fn show(&self, decimals: usize) -> String {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median,
            self.min,
            self.max,
            d = decimals
        )
    }
}

/// All rounds of one path at one concurrency.
#[derive(Debug)]
pub struct Cell {
    /// Which path.
    pub path: Route,
    /// Concurrent workers.
    pub concurrency: usize,
    /// One entry per round.
    pub rounds: Vec<Round>,
}

impl Cell {
    /// Requests per second over rounds.
    pub fn rps(&self) -> Spread {
        Spread::of(self.rounds.iter().map(|r| r.rps))
    }

    /// p50 in milliseconds over rounds.
    pub fn p50_ms(&self) -> Spread {
        Spread::of(self.rounds.iter().map(|r| r.p50.as_secs_f64() * 1e3))
    }

    /// p99 in milliseconds over rounds.
    pub fn p99_ms(&self) -> Spread {
        Spread::of(self.rounds.iter().map(|r| r.p99.as_secs_f64() * 1e3))
    }

    /// CPU microseconds per request over all rounds, from one of the CPU times.
    fn cpu_us_per_request(&self, cpu: impl Fn(&Round) -> Option<Duration>) -> Option<f64> {
        let mut total = Duration::ZERO;
        let mut requests = 0;
        for r in &self.rounds {
            total += cpu(r)?;
            requests += r.requests;
        }
        (requests > 0).then(|| total.as_secs_f64() * 1e6 / requests as f64)
    }
}

fn show_us(us: Option<f64>) -> String {
    us.map_or_else(|| "—".to_owned(), |us| format!("{us:.0}"))
}

/// Facts about the run printed with the figures.
#[derive(Debug)]
pub struct Facts {
    /// The command that produced the report.
    pub command: String,
    /// When (UTC, RFC 3339).
    pub when: String,
    /// CPUs available to the process.
    pub cpus: usize,
    /// The CPU model, when /proc/cpuinfo names it.
    pub cpu_model: Option<String>,
    /// /proc/loadavg's 1-minute figure before and after the run.
    pub load_before: Option<String>,
    /// See `load_before`.
    pub load_after: Option<String>,
    /// kube-apiserver's version.
    pub apiserver: String,
    /// `kubectl version --client`'s version.
    pub kubectl: String,
    /// The requested path.
    pub path: String,
    /// Requests per cell and round.
    pub requests: usize,
    /// Rounds.
    pub rounds: usize,
}

fn find(cells: &[Cell], path: Route, concurrency: usize) -> Option<&Cell> {
    cells
        .iter()
        .find(|c| c.path == path && c.concurrency == concurrency)
}

/// The Markdown region (without markers).
pub fn render(facts: &Facts, concurrencies: &[usize], cells: &[Cell]) -> String {
    let mut out = String::new();
    let f = facts;
    let _ = writeln!(out, "## Proxy: k8s-client vs `kubectl proxy`\n");
    let _ = writeln!(
        out,
        "GET of one ConfigMap (`{}`) through k8s-client's proxy (a separate release-built \
         process, `benches/proxy-bench/src/bin/proxy-bench-server.rs`, kubectl's defaults) and \
         through `kubectl proxy --port=0`, both from the same client-certificate admin \
         kubeconfig of a local control plane (`testenv`: etcd + kube-apiserver). \"Direct\" \
         is k8s-client's `Client` with the same credentials and no proxy (TLS, one shared \
         client): the ceiling a proxy can approach. The load generator keeps N workers, each \
         with its own keep-alive HTTP/1.1 connection to the proxy, sending one request after \
         another; each round runs the three paths back to back, rotating their order, after \
         a warm-up of each. Figures are the median over {} round{} of {} requests, with the \
         min–max in parentheses; p50/p99 are per-request latencies within a round.\n",
        f.path,
        f.rounds,
        if f.rounds == 1 { "" } else { "s" },
        f.requests
    );
    let _ = writeln!(out, "Reproduce (from the repository root):\n");
    let _ = writeln!(out, "```sh\n{}\n```\n", f.command);
    let _ = writeln!(
        out,
        "Machine: {} CPUs{}, shared by the control plane, both proxies and the load \
         generator; load average (1 min) {} before, {} after. kube-apiserver {}, kubectl {}. \
         Measured {}.\n",
        f.cpus,
        f.cpu_model
            .as_deref()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default(),
        f.load_before.as_deref().unwrap_or("unknown"),
        f.load_after.as_deref().unwrap_or("unknown"),
        f.apiserver,
        f.kubectl,
        f.when
    );
    let _ = writeln!(out, "| concurrency | path | req/s | p50 ms | p99 ms |");
    let _ = writeln!(out, "|---:|---|---:|---:|---:|");
    for &c in concurrencies {
        for p in Route::ALL {
            if let Some(cell) = find(cells, p, c) {
                let _ = writeln!(
                    out,
                    "| {c} | {} | {} | {} | {} |",
                    p.label(),
                    cell.rps().show(0),
                    cell.p50_ms().show(2),
                    cell.p99_ms().show(2)
                );
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| concurrency | ours / kubectl req/s | ours / direct req/s | p99 ours vs kubectl (ms) |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|");
    let mut verdicts = Vec::new();
    for &c in concurrencies {
        let (Some(o), Some(k), Some(d)) = (
            find(cells, Route::Ours, c),
            find(cells, Route::Kubectl, c),
            find(cells, Route::Direct, c),
        ) else {
            continue;
        };
        let vs_kubectl = o.rps().median / k.rps().median;
        let vs_direct = o.rps().median / d.rps().median;
        let (op99, kp99) = (o.p99_ms().median, k.p99_ms().median);
        let _ = writeln!(
            out,
            "| {c} | {vs_kubectl:.2}× | {vs_direct:.2}× | {op99:.2} vs {kp99:.2} |"
        );
        verdicts.push((
            c,
            vs_kubectl,
            vs_direct,
            op99 < kp99,
            d.rps().median / k.rps().median,
        ));
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "CPU time per request (µs, all rounds; /proc/PID/stat, 10 ms resolution): where the \
         machine's CPU goes.\n"
    );
    let _ = writeln!(
        out,
        "| concurrency | path | proxy process | control plane (etcd + kube-apiserver) |"
    );
    let _ = writeln!(out, "|---:|---|---:|---:|");
    for &c in concurrencies {
        for p in Route::ALL {
            if let Some(cell) = find(cells, p, c) {
                let _ = writeln!(
                    out,
                    "| {c} | {} | {} | {} |",
                    p.label(),
                    show_us(cell.cpu_us_per_request(|r| r.proxy_cpu)),
                    show_us(cell.cpu_us_per_request(|r| r.control_plane_cpu))
                );
            }
        }
    }
    let _ = writeln!(out);
    let max_c = concurrencies.iter().copied().max().unwrap_or(0);
    let throughput_met = verdicts
        .iter()
        .find(|v| v.0 == max_c)
        .is_some_and(|v| v.1 >= 2.0);
    let p99_met = !verdicts.is_empty() && verdicts.iter().all(|v| v.3);
    let _ = writeln!(
        out,
        "Goal (≥2× kubectl proxy's throughput at concurrency {max_c} and lower p99 at \
         every concurrency): throughput **{}**, p99 **{}**.",
        if throughput_met { "met" } else { "not met" },
        if p99_met { "met" } else { "not met" }
    );
    for (c, vs_k, vs_d, _, direct_vs_k) in &verdicts {
        let _ = write!(
            out,
            "\nAt concurrency {c}: our proxy gives {vs_k:.2}× kubectl proxy's throughput and \
             {vs_d:.2}× going direct ({} the 0.9×-of-direct bar); going direct itself gives \
             {direct_vs_k:.2}× kubectl proxy.",
            if *vs_d >= 0.9 { "meets" } else { "misses" }
        );
        if *direct_vs_k < 2.0 {
            let _ = write!(
                out,
                " A proxy adds a hop to the direct path, so 2× kubectl proxy would need it to \
                 beat going direct by {:.2}×: the API server, sharing the CPUs with everything \
                 else, is the ceiling here.",
                2.0 / direct_vs_k
            );
        }
        let cpu = |route| {
            find(cells, route, *c).and_then(|cell| cell.cpu_us_per_request(|r| r.proxy_cpu))
        };
        let plane = find(cells, Route::Ours, *c)
            .and_then(|cell| cell.cpu_us_per_request(|r| r.control_plane_cpu));
        if let (Some(ours), Some(kubectl), Some(plane)) =
            (cpu(Route::Ours), cpu(Route::Kubectl), plane)
        {
            let _ = write!(
                out,
                " CPU per request: our proxy {ours:.0} µs, kubectl proxy {kubectl:.0} µs \
                 ({:.2}× ours), the control plane {plane:.0} µs ({:.1}× our proxy's).",
                kubectl / ours,
                plane / ours
            );
        }
        let _ = writeln!(out);
    }
    let busy = facts
        .load_before
        .as_deref()
        .and_then(|l| l.parse::<f64>().ok())
        .is_some_and(|l| l > facts.cpus as f64);
    if busy {
        let _ = writeln!(
            out,
            "\nThe machine was busy with other work (load average above its CPU count), so \
             the figures vary between rounds — p99 most of all; the min–max ranges show by \
             how much. CPU time per request varies much less."
        );
    }
    out
}

/// Replaces the text between the markers in `doc` with `region`, or appends the markers
/// with `region` when they are absent.
pub fn splice(doc: &str, region: &str) -> String {
    let body = format!("{START_MARKER}\n{}\n{END_MARKER}", region.trim_end());
    if let Some(start) = doc.find(START_MARKER)
        && let Some(end_rel) = doc[start..].find(END_MARKER)
    {
        let end = start + end_rel + END_MARKER.len();
        return format!("{}{body}{}", &doc[..start], &doc[end..]);
    }
    let mut out = doc.to_owned();
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
    }
    out.push_str(&body);
    out.push('\n');
    out
}

/// Writes `region` into the file at `path` (created with a title when missing).
pub fn write_region(path: &Path, region: &str) -> std::io::Result<()> {
    let doc = match std::fs::read_to_string(path) {
        Ok(doc) => doc,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => "# Performance\n".to_owned(),
        Err(err) => return Err(err),
    };
    std::fs::write(path, splice(&doc, region))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_median_min_and_max() {
        assert_eq!(
            Spread::of([3.0, 1.0, 2.0]),
            Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0
            }
        );
        assert_eq!(Spread::of([4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert_eq!(Spread::of([]).median, 0.0);
    }

    #[test]
    fn splice_replaces_only_the_region() {
        let doc = format!("# P\n\nbefore\n{START_MARKER}\nold\n{END_MARKER}\nafter\n");
        let got = splice(&doc, "new\n");
        assert_eq!(
            got,
            format!("# P\n\nbefore\n{START_MARKER}\nnew\n{END_MARKER}\nafter\n")
        );
        assert_eq!(splice(&got, "new\n"), got, "idempotent");
    }

    #[test]
    fn splice_appends_markers_when_absent() {
        assert_eq!(
            splice("# P\n", "x"),
            format!("# P\n\n{START_MARKER}\nx\n{END_MARKER}\n")
        );
        assert_eq!(
            splice("", "x"),
            format!("{START_MARKER}\nx\n{END_MARKER}\n")
        );
    }

    fn cell(path: Route, c: usize, rps: f64, p99_ms: u64) -> Cell {
        Cell {
            path,
            concurrency: c,
            rounds: vec![Round {
                rps,
                p50: Duration::from_millis(1),
                p99: Duration::from_millis(p99_ms),
                requests: 10,
                proxy_cpu: (path != Route::Direct).then(|| Duration::from_millis(3)),
                control_plane_cpu: Some(Duration::from_millis(20)),
            }],
        }
    }

    #[test]
    fn render_states_ratios_and_the_verdict() {
        let facts = Facts {
            command: "cargo run --release -p proxy-bench".into(),
            when: "now".into(),
            cpus: 2,
            cpu_model: None,
            load_before: Some("1.00".into()),
            load_after: None,
            apiserver: "v1.32.0".into(),
            kubectl: "v1.32.4".into(),
            path: "/api/v1/namespaces/bench-proxy/configmaps/probe".into(),
            requests: 10,
            rounds: 1,
        };
        let cells = [
            cell(Route::Ours, 32, 3000.0, 5),
            cell(Route::Kubectl, 32, 1000.0, 9),
            cell(Route::Direct, 32, 3100.0, 4),
        ];
        let text = render(&facts, &[32], &cells);
        assert!(
            text.contains("| 32 | 3.00× | 0.97× | 5.00 vs 9.00 |"),
            "{text}"
        );
        assert!(text.contains("throughput **met**, p99 **met**"), "{text}");
        assert!(
            text.contains("| 32 | kubectl proxy | 300 | 2000 |"),
            "{text}"
        );
        assert!(
            text.contains("| 32 | direct (k8s-client Client) | — | 2000 |"),
            "{text}"
        );
        assert!(
            text.contains("our proxy 300 µs, kubectl proxy 300 µs (1.00× ours), the control plane 2000 µs (6.7× our proxy's)"),
            "{text}"
        );
        assert!(!text.contains("busy with other work"), "{text}");
        let cells = [
            cell(Route::Ours, 32, 1500.0, 9),
            cell(Route::Kubectl, 32, 1000.0, 5),
            cell(Route::Direct, 32, 1600.0, 4),
        ];
        let text = render(&facts, &[32], &cells);
        assert!(
            text.contains("throughput **not met**, p99 **not met**"),
            "{text}"
        );
    }
}
