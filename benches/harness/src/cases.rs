//! The benchmark cases: which client scenario each runs, with which
//! parameters, for which clients, and how its table is read.

/// How a metric compares: lower is better (times, memory) or higher (rates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Smaller values win.
    Lower,
    /// Larger values win.
    Higher,
}

/// A column of a case's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Spawn → exit of the client process, seconds.
    WallS,
    /// The client's own timing of the measured section, seconds.
    InProcessS,
    /// Raw limit: time to receive the bytes alone, seconds.
    BytesS,
    /// Peak resident set of the client process (`VmHWM`), MiB.
    PeakRssMib,
    /// Resident set one second after the measured section (`VmRSS`), MiB.
    SteadyRssMib,
    /// User+system CPU of the whole client process, seconds.
    ProcessCpuS,
    /// Requests or events per second of the measured section.
    PerSecond,
    /// Median latency, ms.
    P50Ms,
    /// 99th percentile latency, ms.
    P99Ms,
    /// CPU of the measured section per request, µs.
    CpuPerRequestUs,
    /// Exec-plugin runs counted by the plugin itself.
    PluginRuns,
    /// HTTP requests the measured section sent, counted by the client.
    Requests,
}

impl Metric {
    /// Column heading.
    pub fn heading(self) -> &'static str {
        match self {
            Metric::WallS => "process wall s",
            Metric::InProcessS => "in-process s",
            Metric::BytesS => "bytes alone s",
            Metric::PeakRssMib => "peak RSS MiB",
            Metric::SteadyRssMib => "RSS 1 s after sync MiB",
            Metric::ProcessCpuS => "process CPU s",
            Metric::PerSecond => "per s",
            Metric::P50Ms => "p50 ms",
            Metric::P99Ms => "p99 ms",
            Metric::CpuPerRequestUs => "CPU µs/req",
            Metric::PluginRuns => "exec-plugin runs",
            Metric::Requests => "requests",
        }
    }

    /// Which direction wins.
    pub fn better(self) -> Better {
        match self {
            Metric::PerSecond => Better::Higher,
            _ => Better::Lower,
        }
    }
}

/// One case of the benchmark.
#[derive(Debug, Clone)]
pub struct Case {
    /// Short id used on the command line (`a`, `b`, `c16`, …).
    pub id: &'static str,
    /// Group of the case on the command line: `--cases c` selects every case
    /// of letter `c` (all GET cases), `--cases c16` only that one.
    pub letter: char,
    /// Table title.
    pub title: String,
    /// The client scenario and its `key=value` parameters.
    pub argv: Vec<String>,
    /// Clients that take part (names as given to the harness); empty = all.
    pub only: Vec<&'static str>,
    /// Columns, the first being the one ratios are computed on.
    pub metrics: Vec<Metric>,
    /// Runs once instead of once per round.
    pub once: bool,
    /// Requests the section makes (for per-request CPU and rates).
    pub requests: usize,
    /// Runs with the exec-plugin kubeconfig instead of the admin one.
    pub exec: bool,
}

impl Case {
    /// Whether `client` takes part. Compression variants (a client name
    /// containing `gzip`) run only where bodies are large enough for the
    /// apiserver to compress them (lists and the initial watch); the raw
    /// clients (names starting with `raw`) have no exec-plugin support, and the
    /// bare-hyper ones (`raw hyper …`) and ours over HTTP/1.1 run only the GET cases; a
    /// streaming-list or transform variant runs only in the cases that name it.
    pub fn includes(&self, client: &str) -> bool {
        if !self.only.is_empty() {
            return self.only.contains(&client);
        }
        if client.contains("streaming") || client.contains("without managedFields") {
            return false;
        }
        if client.contains("gzip") {
            return matches!(self.id, "a" | "b" | "d-initial");
        }
        if client.starts_with("raw hyper") || client == OURS_HTTP1 {
            return self.letter == 'c' && !self.exec;
        }
        !(client.starts_with("raw") && self.exec)
    }
}

/// Ours with HTTP/2 off (a pool of HTTP/1.1 connections), in the GET cases only.
pub const OURS_HTTP1: &str = "ours HTTP/1.1";

/// The name of client-go in its default configuration (protobuf, gzip).
pub const CLIENT_GO: &str = "client-go (default: protobuf)";

/// The clients of the informer case: ours (default wire format, then JSON, then
/// with a streaming list, then with a store that drops `managedFields`), client-go's
/// shared informer and kube-rs's reflector.
pub const INFORMER_CLIENTS: &[&str] = &[
    "ours",
    "ours JSON",
    "ours streaming list",
    "ours without managedFields",
    CLIENT_GO,
    "client-go JSON",
    "kube-rs",
];

/// Sizes of a benchmark run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Sizes {
    /// ConfigMaps in the data set (plus `probe`).
    pub objects: usize,
    /// GETs per run of the GET cases.
    pub gets: usize,
    /// Objects written while watching in the live-watch case.
    pub watch_events: usize,
    /// Requests per run of the exec-plugin case.
    pub exec_requests: usize,
}

fn argv(words: &[String]) -> Vec<String> {
    words.to_vec()
}

/// Every case, in the order of the document.
pub fn all(s: &Sizes) -> Vec<Case> {
    let mut cases = vec![
        Case {
            id: "a",
            letter: 'a',
            title: format!("One list of all {} ConfigMaps", s.objects + 1),
            argv: argv(&["scenario=list".into()]),
            only: vec![],
            metrics: vec![
                Metric::InProcessS,
                Metric::PeakRssMib,
                Metric::WallS,
                Metric::ProcessCpuS,
                Metric::BytesS,
            ],
            once: false,
            requests: 1,
            exec: false,
        },
        Case {
            id: "b",
            letter: 'b',
            title: format!(
                "`list_stream`: {} ConfigMaps in pages of 500",
                s.objects + 1
            ),
            argv: argv(&["scenario=list-paged".into(), "page=500".into()]),
            only: vec![],
            metrics: vec![Metric::InProcessS, Metric::PeakRssMib, Metric::ProcessCpuS],
            once: false,
            requests: s.objects / 500 + 1,
            exec: false,
        },
    ];
    for c in [1, 16, 32] {
        cases.push(Case {
            id: ["c1", "c16", "c32"][[1, 16, 32].iter().position(|x| *x == c).unwrap_or(0)],
            letter: 'c',
            title: format!("{} GETs of one small ConfigMap, {c} in flight", s.gets),
            argv: argv(&[
                "scenario=get".into(),
                format!("n={}", s.gets),
                format!("c={c}"),
            ]),
            only: vec![],
            metrics: vec![
                Metric::PerSecond,
                Metric::P50Ms,
                Metric::P99Ms,
                Metric::CpuPerRequestUs,
                Metric::PeakRssMib,
            ],
            once: false,
            requests: s.gets,
            exec: false,
        });
    }
    cases.push(Case {
        id: "c-qps5",
        letter: 'c',
        title:
            "client-go with its default client-side limit (QPS 5, burst 10): 60 GETs, 16 in flight"
                .into(),
        argv: argv(&[
            "scenario=get".into(),
            "n=60".into(),
            "c=16".into(),
            "qps=5".into(),
        ]),
        only: vec![CLIENT_GO],
        metrics: vec![Metric::InProcessS, Metric::PerSecond],
        once: true,
        requests: 60,
        exec: false,
    });
    cases.push(Case {
        id: "d-initial",
        letter: 'd',
        title: format!(
            "Watch from resourceVersion 0: {} initial ADDED events",
            s.objects + 1
        ),
        argv: argv(&[
            "scenario=watch-initial".into(),
            format!("n={}", s.objects + 1),
        ]),
        only: vec![],
        metrics: vec![Metric::InProcessS, Metric::PeakRssMib, Metric::ProcessCpuS],
        once: false,
        requests: s.objects + 1,
        exec: false,
    });
    cases.push(Case {
        id: "d-live",
        letter: 'd',
        title: format!(
            "Watch while {} ConfigMaps are created: server write → event",
            s.watch_events
        ),
        argv: argv(&[
            "scenario=watch-live".into(),
            "ns=bench-watch".into(),
            format!("n={}", s.watch_events),
        ]),
        only: vec![],
        metrics: vec![
            Metric::P50Ms,
            Metric::P99Ms,
            Metric::PerSecond,
            Metric::ProcessCpuS,
        ],
        once: false,
        requests: s.watch_events,
        exec: false,
    });
    cases.push(Case {
        id: "e",
        letter: 'e',
        title: "Cold start: process start → load kubeconfig → first response".into(),
        argv: argv(&["scenario=cold".into()]),
        only: vec![],
        metrics: vec![Metric::WallS, Metric::InProcessS, Metric::PeakRssMib],
        once: false,
        requests: 1,
        exec: false,
    });
    cases.push(Case {
        id: "f",
        letter: 'f',
        title: format!(
            "Exec credential plugin: runs per {} GETs (16 in flight)",
            s.exec_requests
        ),
        argv: argv(&[
            "scenario=exec".into(),
            format!("n={}", s.exec_requests),
            "c=16".into(),
        ]),
        only: vec![],
        metrics: vec![Metric::PluginRuns, Metric::PerSecond, Metric::WallS],
        once: false,
        requests: s.exec_requests,
        exec: true,
    });
    for (id, cache, what) in [
        ("g-cold", "cold", "cold: empty disk cache"),
        (
            "g-warm",
            "warm",
            "warm: disk cache filled by an earlier client",
        ),
    ] {
        cases.push(Case {
            id,
            letter: 'g',
            title: format!("Full discovery (every group, version and resource), {what}"),
            argv: argv(&["scenario=discovery".into(), format!("cache={cache}")]),
            only: vec!["ours"],
            metrics: vec![Metric::Requests, Metric::InProcessS, Metric::WallS],
            once: false,
            requests: 1,
            exec: false,
        });
    }
    cases.push(Case {
        id: "informer",
        letter: 'i',
        title: format!(
            "Informer over {} ConfigMaps: start → cache synced, then steady state",
            s.objects + 1
        ),
        argv: argv(&["scenario=informer".into()]),
        only: INFORMER_CLIENTS.to_vec(),
        metrics: vec![
            Metric::InProcessS,
            Metric::SteadyRssMib,
            Metric::PeakRssMib,
            Metric::ProcessCpuS,
        ],
        once: false,
        requests: 1,
        exec: false,
    });
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes() -> Sizes {
        Sizes {
            objects: 100,
            gets: 10,
            watch_events: 5,
            exec_requests: 7,
        }
    }

    #[test]
    fn gzip_variants_run_only_where_bodies_are_large() {
        let cases = all(&sizes());
        let with_gzip: Vec<&str> = cases
            .iter()
            .filter(|c| c.includes("ours gzip"))
            .map(|c| c.id)
            .collect();
        assert_eq!(with_gzip, ["a", "b", "d-initial"]);
        let over_http1: Vec<&str> = cases
            .iter()
            .filter(|c| c.includes(OURS_HTTP1))
            .map(|c| c.id)
            .collect();
        assert_eq!(over_http1, ["c1", "c16", "c32"]);
        let qps5 = cases
            .iter()
            .find(|c| c.id == "c-qps5")
            .expect("case exists");
        assert!(qps5.includes(CLIENT_GO) && !qps5.includes("ours"));
        assert!(cases.iter().all(|c| c.id == "c-qps5" || c.includes("ours")));
        let exec = cases.iter().find(|c| c.id == "f").expect("case exists");
        assert!(!exec.includes("raw HTTP/2") && exec.includes("kube-rs"));
        let informer = cases
            .iter()
            .find(|c| c.id == "informer")
            .expect("case exists");
        assert!(informer.includes("ours streaming list") && informer.includes("kube-rs"));
        assert!(informer.includes("ours without managedFields"));
        assert!(!informer.includes("python") && !informer.includes("raw HTTP/1.1"));
        assert!(cases.iter().filter(|c| c.id != "informer").all(|c| {
            !c.includes("ours streaming list") && !c.includes("ours without managedFields")
        }));
        let discovery: Vec<&str> = cases
            .iter()
            .filter(|c| c.letter == 'g')
            .map(|c| c.id)
            .collect();
        assert_eq!(discovery, ["g-cold", "g-warm"]);
        assert!(
            cases
                .iter()
                .filter(|c| c.letter == 'g')
                .all(|c| c.includes("ours") && !c.includes("kube-rs"))
        );
    }

    #[test]
    fn sizes_reach_the_client_arguments() {
        let cases = all(&sizes());
        let c16 = cases.iter().find(|c| c.id == "c16").expect("case exists");
        assert_eq!(c16.argv, ["scenario=get", "n=10", "c=16"]);
        let f = cases.iter().find(|c| c.id == "f").expect("case exists");
        assert!(f.exec && f.argv.contains(&"n=7".to_string()));
        let d = cases
            .iter()
            .find(|c| c.id == "d-initial")
            .expect("case exists");
        assert!(
            d.argv.contains(&"n=101".to_string()),
            "all objects plus probe"
        );
    }
}
