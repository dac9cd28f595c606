//! `--instructions`: user-space instructions per GET, counted by valgrind's callgrind.
//!
//! CPU time per request on a shared 2-core machine moves by ±30 % between rounds;
//! an instruction count does not. Each client runs the GET case twice under
//! callgrind, with `SMALL` and `LARGE` requests; the difference divided by the
//! difference in requests is what one more GET costs in the client's own process
//! (start-up, TLS handshakes and connection set-up cancel out). Kernel time is not
//! counted. Clients valgrind cannot run are left out: Go binaries (valgrind crashes
//! on the Go runtime) and the Python client (too slow under it).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::cases::Case;
use crate::runner::ClientSpec;

/// Requests of the two runs of each client.
const SMALL: usize = 1_000;
const LARGE: usize = 3_000;

/// Whether valgrind can run `client` in reasonable time (see the module docs).
fn countable(client: &str) -> bool {
    !client.starts_with("client-go") && !client.starts_with("python")
}

/// Instructions of one run of `spec` with `argv`, from callgrind's summary.
fn count(spec: &ClientSpec, argv: &[String], kubeconfig: &Path, log: &Path) -> Result<u64, String> {
    let status = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(format!("--log-file={}", log.display()))
        .args(&spec.command)
        .args(argv)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("running valgrind for {}: {e}", spec.name))?;
    let text =
        std::fs::read_to_string(log).map_err(|e| format!("reading {}: {e}", log.display()))?;
    if !status.success() {
        return Err(format!(
            "{} failed under valgrind ({status}); see {}",
            spec.name,
            log.display()
        ));
    }
    text.lines()
        .find_map(|l| {
            l.split_once("Collected :")
                .map(|(_, n)| n.trim().parse::<u64>())
        })
        .ok_or_else(|| format!("no instruction count in {}", log.display()))?
        .map_err(|e| format!("instruction count in {}: {e}", log.display()))
}

/// The GET cases' instructions per request for every countable client, as a
/// Markdown table (ratios against ours).
pub fn measure(
    cases: &[Case],
    clients: &[ClientSpec],
    kubeconfig: &Path,
    work: &Path,
) -> Result<String, String> {
    let mut md = String::from(
        "| case | client | instructions per GET | ours ÷ client |\n|---|---|---|---|\n",
    );
    for case in cases.iter().filter(|c| c.letter == 'c' && !c.exec) {
        let mut per_get: Vec<(String, f64)> = Vec::new();
        for spec in clients
            .iter()
            .filter(|s| case.includes(&s.name) && countable(&s.name))
        {
            let mut counts = [0u64; 2];
            for (slot, n) in counts.iter_mut().zip([SMALL, LARGE]) {
                let argv: Vec<String> = case
                    .argv
                    .iter()
                    .map(|a| {
                        if a.starts_with("n=") {
                            format!("n={n}")
                        } else {
                            a.clone()
                        }
                    })
                    .collect();
                let log = work.join(format!("callgrind-{}-{n}.log", crate::slug(&spec.name)));
                *slot = count(spec, &argv, kubeconfig, &log)?;
            }
            let per = counts[1].saturating_sub(counts[0]) as f64 / (LARGE - SMALL) as f64;
            eprintln!(
                "bench: {} {:>12}: {:.0} instructions per GET",
                case.id, spec.name, per
            );
            per_get.push((spec.name.clone(), per));
        }
        let ours = per_get.iter().find(|(n, _)| n == "ours").map(|(_, v)| *v);
        for (name, per) in &per_get {
            let ratio = ours.map_or("–".into(), |o| format!("{:.2}×", o / per));
            md.push_str(&format!(
                "| {} | {name} | {:.0} k | {ratio} |\n",
                case.id,
                per / 1e3
            ));
        }
    }
    Ok(md)
}
