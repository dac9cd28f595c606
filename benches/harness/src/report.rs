//! Turns the measured runs into docs/performance.md: one table per case with
//! medians, min–max and our ratio to every other client, plus the raw limit
//! (the better of the two raw clients, metric by metric).

use std::fmt::Write;

use crate::cases::{Better, Case, Metric};
use crate::runner::Run;

/// The value of `metric` in one run, if the run produced it.
pub fn value(run: &Run, case: &Case, metric: Metric) -> Option<f64> {
    if run.outcome.error.is_some() {
        return None;
    }
    let o = &run.outcome;
    match metric {
        Metric::WallS => Some(run.wall_s),
        Metric::InProcessS => o.in_process_s,
        Metric::BytesS => o.bytes_s,
        Metric::PeakRssMib => {
            Some(o.peak_rss_kib.map_or(run.maxrss_kib as f64, |k| k as f64) / 1024.0)
        }
        Metric::SteadyRssMib => o.steady_rss_kib.map(|k| k as f64 / 1024.0),
        Metric::ProcessCpuS => Some(run.cpu_s),
        Metric::PerSecond => match (o.items, o.in_process_s) {
            (Some(n), Some(t)) if t > 0.0 => Some(n as f64 / t),
            _ => None,
        },
        Metric::P50Ms => o.p50_ms,
        Metric::P99Ms => o.p99_ms,
        Metric::CpuPerRequestUs => o.cpu_s.map(|c| c / case.requests.max(1) as f64 * 1e6),
        Metric::PluginRuns => run.plugin_runs.map(|r| r as f64),
        Metric::Requests => o.requests.map(|r| r as f64),
    }
}

/// Median, min and max of some samples.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Number of samples.
    pub n: usize,
}

/// Statistics of `samples`, `None` when there are none.
pub fn stats(mut samples: Vec<f64>) -> Option<Stats> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    let median = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    };
    Some(Stats {
        median,
        min: samples[0],
        max: samples[n - 1],
        n,
    })
}

/// Name of the raw limit's row: per metric, the better median of the raw
/// clients (HTTP/1.1 and HTTP/2, names starting with [`RAW_PREFIX`]).
pub const RAW_LIMIT: &str = "raw limit (best of HTTP/1.1 and HTTP/2)";
/// Names of the raw clients start with this.
pub const RAW_PREFIX: &str = "raw ";

/// Statistics of `client`'s `metric` in `case`. For [`RAW_LIMIT`], the better
/// median of the raw clients (a single value: min and max are that median).
pub fn client_stats(runs: &[Run], case: &Case, client: &str, metric: Metric) -> Option<Stats> {
    if client == RAW_LIMIT {
        let medians = runs
            .iter()
            .filter(|r| r.case == case.id && r.client.starts_with(RAW_PREFIX))
            .map(|r| r.client.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter_map(|c| client_stats(runs, case, c, metric).map(|s| s.median));
        let best = match metric.better() {
            Better::Lower => medians.reduce(f64::min),
            Better::Higher => medians.reduce(f64::max),
        }?;
        return Some(Stats {
            median: best,
            min: best,
            max: best,
            n: 1,
        });
    }
    stats(
        runs.iter()
            .filter(|r| r.case == case.id && r.client == client)
            .filter_map(|r| value(r, case, metric))
            .collect(),
    )
}

/// The rows of `case`'s table: the clients that take part, then the raw limit
/// when at least two raw clients ran.
pub fn rows<'a>(case: &Case, clients: &'a [String], runs: &[Run]) -> Vec<&'a str> {
    let mut who: Vec<&str> = clients
        .iter()
        .map(String::as_str)
        .filter(|c| case.includes(c))
        .collect();
    let raw = who
        .iter()
        .filter(|c| {
            c.starts_with(RAW_PREFIX) && runs.iter().any(|r| r.case == case.id && r.client == **c)
        })
        .count();
    if raw >= 2 {
        who.push(RAW_LIMIT);
    }
    who
}

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn cell(s: Option<Stats>) -> String {
    match s {
        None => "–".into(),
        Some(s) if s.n == 1 || s.min == s.max => fmt_num(s.median),
        Some(s) => format!(
            "{} ({}–{})",
            fmt_num(s.median),
            fmt_num(s.min),
            fmt_num(s.max)
        ),
    }
}

/// Context printed at the top of the document.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Header {
    /// The exact command that produced the document.
    pub command: String,
    /// When it ran (UTC).
    pub date: String,
    /// Machine description.
    pub machine: String,
    /// kube-apiserver version.
    pub server: String,
    /// Rounds per case.
    pub rounds: usize,
    /// One line per client: name, version, settings.
    pub clients: Vec<String>,
    /// Load average of the machine when the run started and when it ended.
    #[serde(default)]
    pub load: String,
}

/// Regions of docs/performance.md this generator keeps verbatim, by their
/// first and last lines: the proxy benchmark's (written by
/// `cargo xtask bench proxy`), the hand-written protobuf and HTTP/2 sections, the
/// failover benchmark's (`cargo xtask bench failover`), the port-forward benchmark's
/// (`cargo xtask bench portforward`) and the hand-written WebSocket framing comparison.
pub const KEPT: &[(&str, &str)] = &[
    ("<!-- proxy-bench:start -->", "<!-- proxy-bench:end -->"),
    ("<!-- protobuf:start -->", "<!-- protobuf:end -->"),
    ("<!-- http2:start -->", "<!-- http2:end -->"),
    (
        "<!-- failover-bench:start -->",
        "<!-- failover-bench:end -->",
    ),
    (
        "<!-- portforward-bench:start -->",
        "<!-- portforward-bench:end -->",
    ),
    (
        "<!-- websocket-crate:start -->",
        "<!-- websocket-crate:end -->",
    ),
];

/// The kept regions of a previous document, markers included, in the order of
/// [`KEPT`]; a region without both markers is left out.
pub fn kept_regions(previous: &str) -> Vec<&str> {
    KEPT.iter()
        .filter_map(|(start_marker, end_marker)| {
            let start = previous.find(start_marker)?;
            let end = start + previous[start..].find(end_marker)? + end_marker.len();
            Some(&previous[start..end])
        })
        .collect()
}

/// Renders the whole document. `kept` (the kept regions of the previous
/// document, see [`kept_regions`]) goes verbatim after the tables.
pub fn render(
    header: &Header,
    cases: &[Case],
    clients: &[String],
    runs: &[Run],
    kept: &[&str],
    notes: &str,
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Performance\n");
    let _ = writeln!(
        md,
        "_Generated by `{}` on {} — do not edit the tables by hand; the notes at the end come from `benches/harness/notes.md`, and the sections between `<!-- …:start/end -->` markers are kept verbatim when the page is regenerated._\n",
        header.command, header.date
    );
    let _ = writeln!(md, "- Machine: {}", header.machine);
    if !header.load.is_empty() {
        let _ = writeln!(md, "- Load average (1, 5, 15 min): {}", header.load);
    }
    let _ = writeln!(
        md,
        "- Server: kube-apiserver {} (testenv control plane on the same machine, etcd on loopback)",
        header.server
    );
    let _ = writeln!(
        md,
        "- Method: every client runs as its own process, {} interleaved round(s): each round runs every case once per client, the client order rotating each round so drift cancels. Cells are `median (min–max)` over rounds; the raw limit's row is, metric by metric, the better median of the two raw clients. Peak RSS is the child's `VmHWM` read by the client just before it prints its result (`ru_maxrss` from `wait4` would include the harness pages a forked child starts with); process CPU is user+system of the child from `wait4`; in-process times, latencies and section CPU are measured by each client around the measured section.",
        header.rounds
    );
    let _ = writeln!(md, "- Clients:");
    for c in &header.clients {
        let _ = writeln!(md, "  - {c}");
    }
    let _ = writeln!(md);
    for case in cases {
        if !runs.iter().any(|r| r.case == case.id) {
            continue;
        }
        let who = rows(case, clients, runs);
        let _ = writeln!(md, "## {}\n", case.title);
        let ratio_metrics: Vec<Metric> = case.metrics.iter().copied().take(2).collect();
        let mut head = "| client |".to_string();
        for m in &case.metrics {
            let _ = write!(head, " {} |", m.heading());
        }
        let show_ratio = who.len() > 1 && who.contains(&"ours");
        if show_ratio {
            for m in &ratio_metrics {
                let _ = write!(head, " ours ÷ client ({}) |", m.heading());
            }
        }
        let _ = writeln!(md, "{head}");
        let cols = case.metrics.len() + if show_ratio { ratio_metrics.len() } else { 0 };
        let _ = writeln!(md, "|---|{}", "---|".repeat(cols));
        let median = |client: &str, m: Metric| client_stats(runs, case, client, m);
        let mut errors = Vec::new();
        for client in &who {
            let mut row = format!("| {client} |");
            for m in &case.metrics {
                let _ = write!(row, " {} |", cell(median(client, *m)));
            }
            if show_ratio {
                for m in &ratio_metrics {
                    let ratio = match (median("ours", *m), median(client, *m)) {
                        (Some(o), Some(p)) if p.median > 0.0 => {
                            format!("{:.2}×", o.median / p.median)
                        }
                        _ => "–".into(),
                    };
                    let _ = write!(row, " {ratio} |");
                }
            }
            let _ = writeln!(md, "{row}");
            if let Some(e) = runs
                .iter()
                .filter(|r| r.case == case.id && r.client == *client)
                .find_map(|r| r.outcome.error.clone())
            {
                errors.push(format!("{client}: {e}"));
            }
        }
        let dirs: Vec<String> = ratio_metrics
            .iter()
            .map(|m| {
                format!(
                    "{}: {}",
                    m.heading(),
                    if m.better() == Better::Lower {
                        "lower is better, ratio < 1 means ours wins"
                    } else {
                        "higher is better, ratio > 1 means ours wins"
                    }
                )
            })
            .collect();
        if show_ratio {
            let _ = writeln!(md, "\nRatios — {}.", dirs.join("; "));
        }
        for e in errors {
            let _ = writeln!(md, "\n- failed or not supported: {}", e.replace('\n', " "));
        }
        let _ = writeln!(md);
    }
    for region in kept {
        let _ = writeln!(md, "{region}\n");
    }
    md.push_str(&crate::goals::render(cases, runs));
    md.push_str(notes);
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_marked_region_of_the_page_is_kept() {
        let page = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/performance.md"),
        )
        .expect("docs/performance.md is readable");
        for line in page
            .lines()
            .filter(|l| l.starts_with("<!-- ") && l.ends_with(":start -->"))
        {
            assert!(
                KEPT.iter().any(|(start, _)| *start == line),
                "{line} would be lost when the page is regenerated: add it to KEPT"
            );
        }
    }

    #[test]
    fn kept_regions_survive_a_rewrite() {
        let proxy = format!(
            "{}\n## Proxy\n\n| a | b |\n|---|---|\n{}",
            KEPT[0].0, KEPT[0].1
        );
        let protobuf = format!("{}\n## Protobuf\n\nby hand\n{}", KEPT[1].0, KEPT[1].1);
        let http2 = format!("{}\n## HTTP/2\n\nby hand\n{}", KEPT[2].0, KEPT[2].1);
        // The protobuf section may sit anywhere in the old page, even after the notes.
        let previous = format!(
            "# Performance\n\n{http2}\n\nold tables\n\n{proxy}\n\n## Notes\nold\n\n{protobuf}\n"
        );
        assert_eq!(
            kept_regions(&previous),
            [proxy.as_str(), protobuf.as_str(), http2.as_str()]
        );
        assert!(kept_regions("no region").is_empty());
        assert!(kept_regions(&format!("{} but no end", KEPT[1].0)).is_empty());
        let header = Header {
            command: "cmd".into(),
            date: "today".into(),
            machine: "m".into(),
            server: "s".into(),
            rounds: 1,
            clients: vec![],
            load: "1.00 2.00 3.00".into(),
        };
        let md = render(
            &header,
            &[],
            &[],
            &[],
            &kept_regions(&previous),
            "## Notes\nnew\n",
        );
        assert!(
            md.contains(&proxy) && md.contains(&protobuf) && md.contains(&http2),
            "{md}"
        );
        assert!(md.find(&protobuf) < md.find("## Notes\nnew"), "{md}");
        assert!(
            !md.contains("old tables") && !md.contains("## Notes\nold"),
            "{md}"
        );
        assert!(
            md.contains("Load average (1, 5, 15 min): 1.00 2.00 3.00"),
            "{md}"
        );
        assert_eq!(
            kept_regions(&md),
            [proxy.as_str(), protobuf.as_str(), http2.as_str()]
        );
    }

    fn run(client: &str, case: &str, in_process_s: f64, peak_rss_kib: u64) -> Run {
        Run {
            client: client.into(),
            case: case.into(),
            round: 0,
            wall_s: in_process_s,
            maxrss_kib: 0,
            cpu_s: 0.0,
            outcome: k8s_client_bench::protocol::Outcome {
                in_process_s: Some(in_process_s),
                peak_rss_kib: Some(peak_rss_kib),
                items: Some(1),
                ..Default::default()
            },
            plugin_runs: None,
        }
    }

    #[test]
    fn the_raw_limit_is_the_better_raw_client_per_metric() {
        let cases = crate::cases::all(&crate::cases::Sizes {
            objects: 10,
            gets: 10,
            watch_events: 1,
            exec_requests: 1,
        });
        let a = cases.iter().find(|c| c.id == "a").expect("case exists");
        let runs = vec![
            run("raw HTTP/1.1", "a", 0.2, 4096),
            run("raw HTTP/2", "a", 0.3, 2048),
            run("ours", "a", 0.25, 3072),
        ];
        let time = client_stats(&runs, a, RAW_LIMIT, Metric::InProcessS).expect("raw runs");
        let rss = client_stats(&runs, a, RAW_LIMIT, Metric::PeakRssMib).expect("raw runs");
        assert_eq!((time.median, rss.median), (0.2, 2.0));
        let clients: Vec<String> = ["ours", "raw HTTP/1.1", "raw HTTP/2"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            rows(a, &clients, &runs),
            ["ours", "raw HTTP/1.1", "raw HTTP/2", RAW_LIMIT]
        );
        assert_eq!(
            rows(a, &clients, &runs[2..]),
            ["ours", "raw HTTP/1.1", "raw HTTP/2"]
        );
        let header = Header {
            command: "cmd".into(),
            date: "today".into(),
            machine: "m".into(),
            server: "s".into(),
            rounds: 1,
            clients: vec![],
            load: String::new(),
        };
        let md = render(&header, &cases, &clients, &runs, &[], "");
        assert!(
            md.contains(&format!("| {RAW_LIMIT} | 0.200 | 2.00 |")),
            "best time of HTTP/1.1 and best RSS of HTTP/2: {md}"
        );
        assert!(md.contains("| 1.25× | 1.50× |"), "ours ÷ raw limit: {md}");
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        let s = stats(vec![3.0, 1.0, 2.0]).expect("samples");
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = stats(vec![4.0, 1.0, 2.0, 3.0]).expect("samples");
        assert_eq!(s.median, 2.5);
        assert!(stats(vec![]).is_none());
    }

    #[test]
    fn cells_show_min_max_only_when_they_differ() {
        assert_eq!(cell(stats(vec![0.5])), "0.500");
        assert_eq!(cell(stats(vec![1.0, 2.0, 3.0])), "2.00 (1.00–3.00)");
        assert_eq!(cell(None), "–");
    }
}
