//! Differential test: for every fixture case under `tests/data/<case>/` with an `args`
//! file, `kubectl config view <args>` and our `config_view` example must print the same
//! document (compared parsed), or both fail.
//!
//! Each case runs in its own directory with a cleared environment: `PATH`, `HOME` set to
//! the case directory, and the `NAME=value` lines of the case's optional `env` file.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The `config_view` example, which `cargo test` builds next to the test binaries.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let path = profile_dir
        .join("examples")
        .join(format!("config_view{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run through `cargo test`, which builds the examples",
        path.display()
    );
    path
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| {
            s.lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/data")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("args").exists())
        .collect();
    cases.sort();
    cases
}

#[derive(Debug)]
enum Outcome {
    Printed(Value),
    Failed(String),
}

fn run(program: &Path, prefix: &[&str], case: &Path) -> Outcome {
    let mut cmd = Command::new(program);
    cmd.args(prefix)
        .args(read_lines(&case.join("args")))
        .current_dir(case)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", case);
    for line in read_lines(&case.join("env")) {
        let (name, value) = line.split_once('=').expect("NAME=value in env file");
        cmd.env(name, value);
    }
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    if !output.status.success() {
        return Outcome::Failed(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let text = String::from_utf8(output.stdout).expect("UTF-8 output");
    let value = if text.trim_start().starts_with('{') {
        serde_json::from_str(&text).expect("JSON output")
    } else {
        serde_yaml_ng::from_str(&text).expect("YAML output")
    };
    Outcome::Printed(value)
}

#[test]
fn config_view_matches_kubectl() {
    let ours = example_binary();
    let kubectl = PathBuf::from("kubectl");
    let cases = cases();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let mut failures = Vec::new();
    let (mut printed, mut failed) = (0, 0);
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy();
        let expected = run(&kubectl, &["config", "view"], case);
        let actual = run(&ours, &[], case);
        match (&expected, &actual) {
            (Outcome::Printed(a), Outcome::Printed(b)) if a == b => printed += 1,
            (Outcome::Failed(_), Outcome::Failed(message)) => {
                // Our error goes to stderr, as one `error: …` line with its causes.
                if message.starts_with("error: ") && message.trim_end().lines().count() == 1 {
                    failed += 1;
                } else {
                    failures.push(format!("case {name}: bad error output {message:?}"));
                }
            }
            _ => failures.push(format!(
                "case {name}:\n  kubectl: {expected:#?}\n  ours:    {actual:#?}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Both kinds of outcome are covered.
    assert!(
        printed >= 25 && failed >= 5,
        "printed {printed}, failed {failed}"
    );
}
