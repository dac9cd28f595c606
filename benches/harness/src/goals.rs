//! Issue 8's goals, checked against the medians of one run. These are
//! benchmark goals printed in the document, not assertions.

use std::fmt::Write;

use crate::cases::{Case, Metric};
use crate::report::{stats, value};
use crate::runner::Run;

/// What a goal compares our median with.
enum Target {
    /// `ours ≤ factor × peer` (lower-is-better metrics) or `ours ≥ factor × peer` (rates).
    Peer(&'static str, f64),
    /// `ours ≤ value` in the metric's unit.
    AtMost(f64),
    /// `ours == value`.
    Exactly(f64),
}

struct Goal {
    text: &'static str,
    case: &'static str,
    metric: Metric,
    target: Target,
}

fn goals() -> Vec<Goal> {
    use Metric::*;
    use Target::*;
    let g = |text, case, metric, target| Goal {
        text,
        case,
        metric,
        target,
    };
    vec![
        g(
            "(a) in-process time ≤ 1.0× the raw limit",
            "a",
            InProcessS,
            Peer("raw limit", 1.0),
        ),
        g(
            "(a) peak RSS ≤ the raw limit's",
            "a",
            PeakRssMib,
            Peer("raw limit", 1.0),
        ),
        g(
            "(a) in-process time ≤ 0.4× client-go (JSON)",
            "a",
            InProcessS,
            Peer("client-go", 0.4),
        ),
        g(
            "(a) in-process time ≤ 0.4× client-go (protobuf, its default)",
            "a",
            InProcessS,
            Peer("client-go protobuf", 0.4),
        ),
        g(
            "(a) in-process time ≤ 0.4× Python",
            "a",
            InProcessS,
            Peer("python", 0.4),
        ),
        g(
            "(b) paged list: peak RSS ≤ 12 MiB",
            "b",
            PeakRssMib,
            AtMost(12.0),
        ),
        g(
            "(b) paged list: time ≤ kube-rs paged",
            "b",
            InProcessS,
            Peer("kube-rs", 1.0),
        ),
        g(
            "(c) 16 in flight: req/s ≥ 1.0× kube-rs",
            "c16",
            PerSecond,
            Peer("kube-rs", 1.0),
        ),
        g(
            "(c) 16 in flight: req/s ≥ 1.15× client-go",
            "c16",
            PerSecond,
            Peer("client-go", 1.15),
        ),
        g(
            "(c) 16 in flight: CPU per request ≤ 0.85× kube-rs",
            "c16",
            CpuPerRequestUs,
            Peer("kube-rs", 0.85),
        ),
        g(
            "(c) 16 in flight: p99 ≤ kube-rs",
            "c16",
            P99Ms,
            Peer("kube-rs", 1.0),
        ),
        g(
            "(c) 16 in flight: p99 ≤ client-go",
            "c16",
            P99Ms,
            Peer("client-go", 1.0),
        ),
        g(
            "(c) 32 in flight: req/s ≥ 1.0× kube-rs",
            "c32",
            PerSecond,
            Peer("kube-rs", 1.0),
        ),
        g(
            "(c) 32 in flight: req/s ≥ 1.15× client-go",
            "c32",
            PerSecond,
            Peer("client-go", 1.15),
        ),
        g(
            "(c) 32 in flight: CPU per request ≤ 0.85× kube-rs",
            "c32",
            CpuPerRequestUs,
            Peer("kube-rs", 0.85),
        ),
        g(
            "(c) 32 in flight: p99 ≤ kube-rs",
            "c32",
            P99Ms,
            Peer("kube-rs", 1.0),
        ),
        g(
            "(c) 32 in flight: p99 ≤ client-go",
            "c32",
            P99Ms,
            Peer("client-go", 1.0),
        ),
        g(
            "(d) watch of all objects ≤ 1.0× the raw limit",
            "d-initial",
            InProcessS,
            Peer("raw limit", 1.0),
        ),
        g("(e) cold start ≤ kube-rs", "e", WallS, Peer("kube-rs", 1.0)),
        g(
            "(e) cold start ≤ 0.2× Python",
            "e",
            WallS,
            Peer("python", 0.2),
        ),
        g(
            "(f) exactly 1 exec-plugin run",
            "f",
            PluginRuns,
            Exactly(1.0),
        ),
        g(
            "(g) warm discovery makes 0 requests",
            "g-warm",
            Requests,
            Exactly(0.0),
        ),
        g(
            "(g) cold aggregated discovery makes ≤ 2 requests",
            "g-cold",
            Requests,
            AtMost(2.0),
        ),
    ]
}

/// Renders the goals table for the cases that ran.
pub fn render(cases: &[Case], runs: &[Run]) -> String {
    let median = |case: &Case, client: &str, m: Metric| {
        stats(
            runs.iter()
                .filter(|r| r.case == case.id && r.client == client)
                .filter_map(|r| value(r, case, m))
                .collect(),
        )
        .map(|s| s.median)
    };
    let mut md = String::from(
        "## Goals of issue 8 in this run\n\n| goal | measured | met |\n|---|---|---|\n",
    );
    let mut any = false;
    for goal in goals() {
        let Some(case) = cases.iter().find(|c| c.id == goal.case) else {
            continue;
        };
        if !runs.iter().any(|r| r.case == case.id) {
            continue;
        }
        any = true;
        let ours = median(case, "ours", goal.metric);
        let (measured, met) = match (&goal.target, ours) {
            (_, None) => ("ours: no result".to_string(), "–".to_string()),
            (Target::Peer(peer, factor), Some(o)) => match median(case, peer, goal.metric) {
                Some(p) if p > 0.0 => {
                    let ratio = o / p;
                    let met = if goal.metric.better() == crate::cases::Better::Higher {
                        ratio >= *factor
                    } else {
                        ratio <= *factor
                    };
                    (
                        format!("{ratio:.2}× ({o:.4} vs {p:.4})"),
                        if met { "yes" } else { "no" }.to_string(),
                    )
                }
                _ => (format!("{peer}: no result"), "–".to_string()),
            },
            (Target::AtMost(v), Some(o)) => (
                format!("{o:.2}"),
                if o <= *v { "yes" } else { "no" }.to_string(),
            ),
            (Target::Exactly(v), Some(o)) => (
                format!("{o:.0}"),
                if o == *v { "yes" } else { "no" }.to_string(),
            ),
        };
        let _ = writeln!(md, "| {} | {measured} | {met} |", goal.text);
    }
    md.push('\n');
    if any { md } else { String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::{Sizes, all};
    use k8s_client_bench::protocol::Outcome;

    fn run(client: &str, case: &str, in_process_s: f64, rss_kib: u64) -> Run {
        Run {
            client: client.into(),
            case: case.into(),
            round: 0,
            wall_s: in_process_s,
            maxrss_kib: 0,
            cpu_s: 0.0,
            outcome: Outcome {
                in_process_s: Some(in_process_s),
                peak_rss_kib: Some(rss_kib),
                items: Some(1),
                ..Outcome::default()
            },
            plugin_runs: None,
        }
    }

    #[test]
    fn goals_compare_our_median_with_the_peer() {
        let cases = all(&Sizes {
            objects: 10,
            gets: 10,
            watch_events: 1,
            exec_requests: 1,
        });
        let runs = vec![
            run("ours", "a", 0.9, 1000),
            run("raw limit", "a", 1.0, 900),
            run("python", "a", 2.0, 5000),
        ];
        let md = render(&cases, &runs);
        assert!(
            md.contains(
                "| (a) in-process time ≤ 1.0× the raw limit | 0.90× (0.9000 vs 1.0000) | yes |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| (a) peak RSS ≤ the raw limit's | 1.11×"),
            "{md}"
        );
        assert!(
            md.contains("| (a) in-process time ≤ 0.4× Python | 0.45× (0.9000 vs 2.0000) | no |"),
            "{md}"
        );
        assert!(md.contains("client-go: no result"), "{md}");
        assert!(
            !md.contains("(c)"),
            "cases that did not run have no goals row: {md}"
        );
    }
}
