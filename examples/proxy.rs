//! `kubectl proxy`, on k8s-client: the same flags, the same output.
//!
//! ```text
//! cargo run --example proxy -- --port=8080
//! Starting to serve on 127.0.0.1:8080
//! Starting to serve on [::1]:8080
//! ```
//! then `curl http://localhost:8080/api/` or `curl http://[::1]:8080/api/`.
//!
//! The cluster comes from `--kubeconfig`/`--context`, else `KUBECONFIG` and
//! `~/.kube/config` as kubectl reads them. Set `RUST_LOG=k8s_client::proxy=debug` to
//! see one line per request.

use clap::{Arg, ArgAction, ArgMatches, Command};
use k8s_client::config::KubeconfigOptions;
use k8s_client::proxy::{
    DEFAULT_ACCEPT_HOSTS, DEFAULT_ACCEPT_PATHS, DEFAULT_REJECT_METHODS, DEFAULT_REJECT_PATHS,
    Proxy, ProxyOptions,
};
use k8s_client::{Client, Config};
use std::process::ExitCode;
use std::time::Duration;

fn command() -> Command {
    let text = |name: &'static str, default: &'static str, help: &'static str| {
        Arg::new(name).long(name).default_value(default).help(help)
    };
    Command::new("proxy")
        .about("Run a proxy to the Kubernetes API server")
        .arg(
            Arg::new("port")
                .long("port")
                .short('p')
                .default_value("8001")
                .value_parser(clap::value_parser!(u16))
                .help("The port on which to run the proxy. Set to 0 to pick a random port."),
        )
        .arg(Arg::new("address").long("address").help(
            "The IP address on which to serve on (default: both 127.0.0.1 and ::1).",
        ))
        .arg(
            Arg::new("unix-socket")
                .long("unix-socket")
                .short('u')
                .help("Unix socket on which to run the proxy."),
        )
        .arg(text(
            "accept-hosts",
            DEFAULT_ACCEPT_HOSTS,
            "Regular expression for hosts that the proxy should accept.",
        ))
        .arg(text(
            "accept-paths",
            DEFAULT_ACCEPT_PATHS,
            "Regular expression for paths that the proxy should accept.",
        ))
        .arg(text(
            "reject-paths",
            DEFAULT_REJECT_PATHS,
            "Regular expression for paths that the proxy should reject.",
        ))
        .arg(text(
            "reject-methods",
            DEFAULT_REJECT_METHODS,
            "Regular expression for HTTP methods that the proxy should reject.",
        ))
        .arg(text("api-prefix", "/", "Prefix to serve the proxied API under."))
        .arg(
            Arg::new("www")
                .long("www")
                .short('w')
                .help("Also serve static files from the given directory under the specified prefix."),
        )
        .arg(
            text(
                "www-prefix",
                "/static/",
                "Prefix to serve static files under, if static file directory is specified.",
            )
            .short('P'),
        )
        .arg(bool_flag(
            "disable-filter",
            "If true, disable request filtering in the proxy. This is dangerous.",
        ))
        .arg(text(
            "keepalive",
            "0s",
            "Keep-alive period for accepted connections (Go duration: 30s, 1m30s). 0 disables it.",
        ))
        .arg(bool_flag(
            "append-server-path",
            "If true, enables automatic path appending of the kube context server path to each request.",
        ))
        .arg(Arg::new("kubeconfig").long("kubeconfig").help("Path to the kubeconfig file to use."))
        .arg(Arg::new("context").long("context").help("The kubeconfig context to use."))
}

/// A kubectl-style boolean flag: `--flag`, `--flag=true`, `--flag=false`.
fn bool_flag(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .num_args(0..=1)
        .require_equals(true)
        .default_value("false")
        .default_missing_value("true")
        .value_parser(clap::value_parser!(bool))
        .action(ArgAction::Set)
        .help(help)
}

/// Parses a Go duration (`300ms`, `30s`, `1m30s`, `1.5h`, `0`). Negative means off.
fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(format!("invalid duration {text:?}"));
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(|| format!("missing unit in duration {text:?}"))?;
        let number: f64 = rest[..number_end]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            unit => return Err(format!("unknown unit {unit:?} in duration {text:?}")),
        };
        total += number * seconds;
        rest = &rest[unit_end..];
    }
    Ok(if negative {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(total)
    })
}

fn options(m: &ArgMatches) -> Result<ProxyOptions, String> {
    let text = |name: &str| m.get_one::<String>(name).cloned().unwrap_or_default();
    let mut options = ProxyOptions::default();
    options.port = *m.get_one::<u16>("port").unwrap_or(&8001);
    options.address = m.get_one::<String>("address").cloned();
    options.unix_socket = m.get_one::<String>("unix-socket").map(Into::into);
    options.accept_hosts = text("accept-hosts");
    options.accept_paths = text("accept-paths");
    options.reject_paths = text("reject-paths");
    options.reject_methods = text("reject-methods");
    options.api_prefix = text("api-prefix");
    options.www = m.get_one::<String>("www").map(Into::into);
    options.www_prefix = text("www-prefix");
    options.disable_filter = m.get_flag_value("disable-filter");
    options.keepalive = parse_go_duration(&text("keepalive"))?;
    options.append_server_path = m.get_flag_value("append-server-path");
    Ok(options)
}

trait FlagValue {
    fn get_flag_value(&self, name: &str) -> bool;
}

impl FlagValue for ArgMatches {
    fn get_flag_value(&self, name: &str) -> bool {
        self.get_one::<bool>(name).copied().unwrap_or(false)
    }
}

async fn run(m: ArgMatches) -> Result<(), Box<dyn std::error::Error>> {
    let options = options(&m)?;
    let mut kubeconfig = KubeconfigOptions::default();
    kubeconfig.kubeconfig = m.get_one::<String>("kubeconfig").map(Into::into);
    kubeconfig.context = m.get_one::<String>("context").cloned();
    let config = Config::from_kubeconfig(&kubeconfig)?;
    let client = Client::try_from(config)?;
    let proxy = Proxy::new(client, options)?.bind().await?;
    for addr in proxy.local_addrs() {
        println!("Starting to serve on {addr}");
    }
    proxy.serve().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let matches = command().get_matches();
    match run(matches).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", k8s_client::error::Report::new(&*e));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_go_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_go_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("1.5h").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_go_duration("300ms").unwrap(),
            Duration::from_millis(300)
        );
        assert_eq!(parse_go_duration("-5s").unwrap(), Duration::ZERO);
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("5x").is_err());
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn flags_have_kubectls_names_and_defaults() {
        let m = command().try_get_matches_from(["proxy"]).unwrap();
        assert_eq!(options(&m).unwrap(), ProxyOptions::default());
        let m = command()
            .try_get_matches_from([
                "proxy",
                "--port=0",
                "--address=::1",
                "--reject-methods=POST",
                "--disable-filter",
                "--append-server-path=true",
                "--keepalive=1m",
                "-P",
                "/files",
            ])
            .unwrap();
        let o = options(&m).unwrap();
        assert_eq!(o.port, 0);
        assert_eq!(o.address.as_deref(), Some("::1"));
        assert_eq!(o.reject_methods, "POST");
        assert!(o.disable_filter);
        assert!(o.append_server_path);
        assert_eq!(o.keepalive, Duration::from_secs(60));
        assert_eq!(o.www_prefix, "/files");
    }
}
