//! `kubectl config view`, reimplemented on `k8s_client::config`.
//!
//! ```text
//! cargo run --example config_view -- [--kubeconfig F] [--context C] [--minify] [--flatten] [--raw] [-o yaml|json]
//! ```
//!
//! Reads `KUBECONFIG` (or `~/.kube/config`) like kubectl, prints the document to stdout,
//! and on error prints the message (with its causes) to stderr and exits with status 1.

use k8s_client::config::{OutputFormat, SystemEnv, ViewOptions, load_for_view, view};
use std::path::PathBuf;
use std::process::ExitCode;

struct Args {
    kubeconfig: Option<PathBuf>,
    options: ViewOptions,
}

fn parse_bool(flag: &str, value: Option<&str>) -> Result<bool, String> {
    match value {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(format!("invalid value {other:?} for --{flag}")),
    }
}

fn parse_args(raw: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        kubeconfig: None,
        options: ViewOptions::default(),
    };
    let mut raw = raw.peekable();
    while let Some(arg) = raw.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if arg.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| raw.next())
                .ok_or_else(|| format!("flag needs an argument: {name}"))
        };
        match flag.as_str() {
            "--kubeconfig" => args.kubeconfig = Some(value("--kubeconfig")?.into()),
            "--context" => args.options.context = Some(value("--context")?),
            "-o" | "--output" => {
                args.options.output = match value("--output")?.as_str() {
                    "yaml" => OutputFormat::Yaml,
                    "json" => OutputFormat::Json,
                    other => {
                        return Err(format!("unsupported output format {other:?} (yaml, json)"));
                    }
                }
            }
            "--minify" => args.options.minify = parse_bool("minify", inline.as_deref())?,
            "--flatten" => args.options.flatten = parse_bool("flatten", inline.as_deref())?,
            "--raw" => args.options.raw = parse_bool("raw", inline.as_deref())?,
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    Ok(args)
}

fn run() -> Result<String, Box<dyn std::error::Error>> {
    let args = parse_args(std::env::args().skip(1))?;
    let kubeconfig = load_for_view(&SystemEnv, args.kubeconfig.as_deref())?;
    Ok(view(&kubeconfig, &args.options)?)
}

fn main() -> ExitCode {
    match run() {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {}", k8s_client::error::Report::new(&*error));
            ExitCode::FAILURE
        }
    }
}
