//! The client's performance goals, checked against the medians of one run.
//! These are benchmark goals printed in the document, not assertions: each says
//! met or missed with its figure, and a missed one how far ours has to move.

use std::fmt::Write;

use crate::cases::{Better, CLIENT_GO, Case, Metric};
use crate::report::client_stats;
use crate::runner::Run;

/// What a goal compares our median with.
enum Target {
    /// `ours ≤ factor × best of the peers` (lower-is-better metrics) or
    /// `ours ≥ factor × best of the peers` (rates); "best" is the lowest or the
    /// highest median of the peers that ran.
    Peers(&'static [&'static str], f64),
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

const KUBE_RS: &[&str] = &["kube-rs"];
const GO: &[&str] = &[CLIENT_GO];
const KUBE_RS_OR_GO: &[&str] = &["kube-rs", CLIENT_GO];

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
            "One list: in-process time ≤ 1.0× the better of kube-rs and client-go (default)",
            "a",
            InProcessS,
            Peers(KUBE_RS_OR_GO, 1.0),
        ),
        g(
            "One list: peak RSS ≤ kube-rs's",
            "a",
            PeakRssMib,
            Peers(KUBE_RS, 1.0),
        ),
        g(
            "`list_stream`, pages of 500: time ≤ 1.0× kube-rs",
            "b",
            InProcessS,
            Peers(KUBE_RS, 1.0),
        ),
        g(
            "`list_stream`, pages of 500: peak RSS ≤ 12 MiB",
            "b",
            PeakRssMib,
            AtMost(12.0),
        ),
        g(
            "GETs one at a time: req/s ≥ 1.0× client-go (default)",
            "c1",
            PerSecond,
            Peers(GO, 1.0),
        ),
        g(
            "GETs 16 in flight: req/s ≥ 1.0× kube-rs",
            "c16",
            PerSecond,
            Peers(KUBE_RS, 1.0),
        ),
        g(
            "GETs 16 in flight: CPU per request ≤ kube-rs's",
            "c16",
            CpuPerRequestUs,
            Peers(KUBE_RS, 1.0),
        ),
        g(
            "GETs 32 in flight: req/s ≥ 1.0× kube-rs",
            "c32",
            PerSecond,
            Peers(KUBE_RS, 1.0),
        ),
        g(
            "GETs 32 in flight: CPU per request ≤ kube-rs's",
            "c32",
            CpuPerRequestUs,
            Peers(KUBE_RS, 1.0),
        ),
        g(
            "Watch from resourceVersion 0: ≤ 1.0× client-go (default)",
            "d-initial",
            InProcessS,
            Peers(GO, 1.0),
        ),
        g(
            "Informer: start → synced ≤ 1.0× client-go (default)",
            "informer",
            InProcessS,
            Peers(GO, 1.0),
        ),
        g(
            "Informer: RSS 1 s after sync ≤ the lower of kube-rs and client-go (default)",
            "informer",
            SteadyRssMib,
            Peers(KUBE_RS_OR_GO, 1.0),
        ),
        g(
            "Informer: peak RSS ≤ the lower of kube-rs and client-go (default)",
            "informer",
            PeakRssMib,
            Peers(KUBE_RS_OR_GO, 1.0),
        ),
        g("Cold start ≤ kube-rs", "e", WallS, Peers(KUBE_RS, 1.0)),
        g(
            "Cold start ≤ 0.2× Python",
            "e",
            WallS,
            Peers(&["python"], 0.2),
        ),
        g(
            "Exec plugin: exactly 1 run per credential lifetime",
            "f",
            PluginRuns,
            Exactly(1.0),
        ),
        g(
            "Warm discovery makes 0 requests",
            "g-warm",
            Requests,
            Exactly(0.0),
        ),
        g(
            "Cold aggregated discovery makes ≤ 2 requests",
            "g-cold",
            Requests,
            AtMost(2.0),
        ),
    ]
}

fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// How far ours has to move to meet `bound` (a missed goal only).
fn to_meet(ours: f64, bound: f64, metric: Metric) -> String {
    let pct = ((bound - ours) / ours * 100.0).abs();
    let dir = match metric.better() {
        Better::Lower => "−",
        Better::Higher => "+",
    };
    format!(
        "{dir}{pct:.0} % ({} → {} {})",
        num(ours),
        num(bound),
        metric.heading()
    )
}

/// Renders the goals table for the cases that ran.
pub fn render(cases: &[Case], runs: &[Run]) -> String {
    let mut md = String::from(
        "## Goals in this run\n\n| goal | measured | met | to meet it |\n|---|---|---|---|\n",
    );
    let mut any = false;
    for goal in goals() {
        let Some(case) = cases.iter().find(|c| c.id == goal.case) else {
            continue;
        };
        // Goals are about our client: none where it did not run (a run that
        // failed still counts, and shows as "no result").
        if !runs.iter().any(|r| r.case == case.id && r.client == "ours") {
            continue;
        }
        any = true;
        let median = |client: &str| client_stats(runs, case, client, goal.metric).map(|s| s.median);
        let lower = goal.metric.better() == Better::Lower;
        let (measured, met, gap) = match (&goal.target, median("ours")) {
            (_, None) => ("ours: no result".to_string(), "–", String::new()),
            (Target::Peers(peers, factor), Some(o)) => {
                let best = peers
                    .iter()
                    .filter_map(|p| median(p).filter(|v| *v > 0.0).map(|v| (*p, v)))
                    .reduce(|a, b| if (b.1 < a.1) == lower { b } else { a });
                match best {
                    Some((peer, p)) => {
                        let ratio = o / p;
                        let ok = if lower {
                            ratio <= *factor
                        } else {
                            ratio >= *factor
                        };
                        (
                            format!("{ratio:.2}× ({} vs {peer} {})", num(o), num(p)),
                            if ok { "yes" } else { "**no**" },
                            if ok {
                                String::new()
                            } else {
                                to_meet(o, factor * p, goal.metric)
                            },
                        )
                    }
                    None => (
                        format!("{}: no result", peers.join(", ")),
                        "–",
                        String::new(),
                    ),
                }
            }
            (Target::AtMost(v), Some(o)) => {
                let ok = o <= *v;
                (
                    num(o),
                    if ok { "yes" } else { "**no**" },
                    if ok {
                        String::new()
                    } else {
                        to_meet(o, *v, goal.metric)
                    },
                )
            }
            (Target::Exactly(v), Some(o)) => {
                let ok = o == *v;
                (
                    format!("{o:.0}"),
                    if ok { "yes" } else { "**no**" },
                    if ok {
                        String::new()
                    } else {
                        format!("{v:.0} instead of {o:.0}")
                    },
                )
            }
        };
        let _ = writeln!(md, "| {} | {measured} | {met} | {gap} |", goal.text);
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
                steady_rss_kib: Some(rss_kib / 2),
                items: Some(1),
                ..Outcome::default()
            },
            plugin_runs: None,
        }
    }

    #[test]
    fn goals_compare_our_median_with_the_best_peer() {
        let cases = all(&Sizes {
            objects: 10,
            gets: 10,
            watch_events: 1,
            exec_requests: 1,
        });
        let runs = vec![
            run("ours", "a", 0.9, 1024 * 100),
            run("kube-rs", "a", 1.0, 1024 * 90),
            run(CLIENT_GO, "a", 0.6, 1024 * 50),
            run("ours", "informer", 0.5, 1024 * 40),
            run(CLIENT_GO, "informer", 0.6, 1024 * 60),
            run("kube-rs", "informer", 0.7, 1024 * 30),
        ];
        let md = render(&cases, &runs);
        assert!(
            md.contains("| One list: in-process time ≤ 1.0× the better of kube-rs and client-go (default) | 1.50× (0.900 vs client-go (default: protobuf) 0.600) | **no** | −33 % (0.900 → 0.600 in-process s) |"),
            "the better peer is client-go here: {md}"
        );
        assert!(
            md.contains("| One list: peak RSS ≤ kube-rs's | 1.11× (100 vs kube-rs 90.00) | **no** | −10 % (100 → 90.00 peak RSS MiB) |"),
            "{md}"
        );
        assert!(
            md.contains("| Informer: start → synced ≤ 1.0× client-go (default) | 0.83× (0.500 vs client-go (default: protobuf) 0.600) | yes |  |"),
            "{md}"
        );
        assert!(
            md.contains("| Informer: RSS 1 s after sync ≤ the lower of kube-rs and client-go (default) | 1.33× (20.00 vs kube-rs 15.00) | **no** |"),
            "the lower of the two is kube-rs here: {md}"
        );
        assert!(
            !md.contains("GETs"),
            "cases that did not run have no goals row: {md}"
        );
        assert!(!md.to_lowercase().contains("issue"), "{md}");
        let peers_only = render(&cases, &runs[1..3]);
        assert!(peers_only.is_empty(), "no goals without ours: {peers_only}");
    }

    #[test]
    fn rates_need_ours_at_least_the_peer() {
        let cases = all(&Sizes {
            objects: 10,
            gets: 100,
            watch_events: 1,
            exec_requests: 1,
        });
        let get = |client: &str, secs: f64| Run {
            outcome: Outcome {
                in_process_s: Some(secs),
                items: Some(100),
                ..Outcome::default()
            },
            ..run(client, "c16", secs, 0)
        };
        let md = render(&cases, &[get("ours", 0.05), get("kube-rs", 0.04)]);
        assert!(
            md.contains("| GETs 16 in flight: req/s ≥ 1.0× kube-rs | 0.80× (2000 vs kube-rs 2500) | **no** | +25 % (2000 → 2500 per s) |"),
            "{md}"
        );
    }
}
