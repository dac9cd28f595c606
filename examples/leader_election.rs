//! Leader election on a Lease: run several copies with the same `--lease`; one leads and
//! prints a heartbeat, the others wait. Kill the leader and another takes over within the
//! lease duration; stop it with Ctrl-C (or SIGTERM) and it releases the Lease, so that a
//! successor takes over at once.
//!
//! ```text
//! cargo run --example leader_election -- --lease demo      # in three terminals
//! ```
//!
//! The cluster comes from `--kubeconfig`/`--context`, else `KUBECONFIG`, `~/.kube/config`
//! or the pod's service account; the namespace from `--namespace`, else the context's.
//! Each leader also records an `events.k8s.io/v1` Event about the Lease (`LeaderElection`),
//! as client-go's resource locks do.

mod api_common;

use clap::{Arg, ArgMatches, Command};
use k8s_client::config::KubeconfigOptions;
use k8s_client::runtime::events::{Event, EventType, Recorder, Reporter};
use k8s_client::runtime::leader::{Ended, LeaderElectionConfig, LeaderElector, LeaderEvent};
use k8s_client::{Client, Config};
use k8s_openapi::api::core::v1::ObjectReference;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn command() -> Command {
    let secs = |name: &'static str, default: &'static str, help: &'static str| {
        Arg::new(name)
            .long(name)
            .default_value(default)
            .value_parser(clap::value_parser!(f64))
            .help(help)
    };
    Command::new("leader_election")
        .about("Leader election on a coordination.k8s.io/v1 Lease")
        .arg(
            Arg::new("kubeconfig")
                .long("kubeconfig")
                .help("Path to the kubeconfig file to use."),
        )
        .arg(
            Arg::new("context")
                .long("context")
                .help("The kubeconfig context to use."),
        )
        .arg(
            Arg::new("namespace")
                .long("namespace")
                .short('n')
                .help("The Lease's namespace."),
        )
        .arg(
            Arg::new("lease")
                .long("lease")
                .default_value("leader-election-example")
                .help("The Lease's name, shared by all candidates."),
        )
        .arg(
            Arg::new("identity")
                .long("identity")
                .help("This candidate's identity (default: host name and a random suffix)."),
        )
        .arg(secs(
            "lease-duration",
            "15",
            "Lease duration in seconds (whole seconds).",
        ))
        .arg(secs("renew-deadline", "10", "Renew deadline in seconds."))
        .arg(secs("retry-period", "2", "Retry period in seconds."))
        .arg(secs(
            "heartbeat",
            "1",
            "Seconds between heartbeats while leading.",
        ))
}

fn duration(m: &ArgMatches, name: &str) -> Duration {
    Duration::from_secs_f64(*m.get_one::<f64>(name).expect("has a default"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let m = command().get_matches();
    let mut options = KubeconfigOptions::default();
    options.kubeconfig = m.get_one::<String>("kubeconfig").map(Into::into);
    options.context = m.get_one::<String>("context").cloned();
    options.namespace = m.get_one::<String>("namespace").cloned();
    let config = if options.kubeconfig.is_some() || options.context.is_some() {
        Config::from_kubeconfig(&options)?
    } else {
        Config::infer()?
    };
    let client = Client::try_from(config)?;
    let namespace = m
        .get_one::<String>("namespace")
        .cloned()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let lease = m
        .get_one::<String>("lease")
        .cloned()
        .expect("has a default");

    let mut election = LeaderElectionConfig::new(&lease).timings(
        duration(&m, "lease-duration"),
        duration(&m, "renew-deadline"),
        duration(&m, "retry-period"),
    );
    if let Some(identity) = m.get_one::<String>("identity") {
        election = election.identity(identity);
    }
    let identity = election.identity.clone();
    let (elector, mut events) = LeaderElector::new(client.clone(), &namespace, election)?;
    let fence = elector.fence();
    println!("identity {identity}: standing for Lease {namespace}/{lease}");

    let recorder = Recorder::new(
        client,
        Reporter::new("k8s-client.example/leader-election").instance(identity.clone()),
    )?;
    let about_lease = ObjectReference {
        api_version: Some("coordination.k8s.io/v1".into()),
        kind: Some("Lease".into()),
        namespace: Some(namespace.clone()),
        name: Some(lease.clone()),
        ..ObjectReference::default()
    };

    let shutdown = CancellationToken::new();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            shutdown.cancel();
        });
    }
    let election = tokio::spawn(elector.run(shutdown.clone()));
    let heartbeat = duration(&m, "heartbeat");

    while let Some(event) = events.recv().await {
        match event {
            LeaderEvent::NewLeader(leader) => println!("new leader: {leader}"),
            LeaderEvent::StartedLeading(guard) => {
                println!("started leading");
                let note = format!("{identity} became leader");
                let _ = recorder.publish(
                    &Event::new(
                        about_lease.clone(),
                        EventType::Normal,
                        "LeaderElection",
                        "Acquire",
                    )
                    .note(note),
                );
                let fence = fence.clone();
                tokio::spawn(async move {
                    let since = Instant::now();
                    let mut n = 0u64;
                    loop {
                        tokio::select! {
                            _ = guard.token().cancelled() => return,
                            _ = tokio::time::sleep(heartbeat) => {}
                        }
                        // The fence, not the token, is what guards work: it also turns
                        // false at the deadline if this process stalls.
                        if fence.is_leader() {
                            n += 1;
                            println!(
                                "heartbeat {n}: leading for {:.1}s, {:.1}s of lease left",
                                since.elapsed().as_secs_f64(),
                                fence.remaining().as_secs_f64()
                            );
                        }
                    }
                });
            }
            LeaderEvent::StoppedLeading => {
                println!("stopped leading");
                break;
            }
            _ => {}
        }
    }
    let ended = election.await?;
    recorder.shutdown(Duration::from_secs(2)).await;
    match ended {
        Ended::LostLeadership => {
            println!("lost the lease; exiting");
            std::process::exit(1);
        }
        _ => {
            println!("released the lease; exiting");
            Ok(())
        }
    }
}
