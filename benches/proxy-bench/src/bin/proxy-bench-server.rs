//! The proxy under test, as its own process (like `kubectl proxy`): k8s-client's
//! [`Proxy`] with kubectl's defaults, on `127.0.0.1` and a free port, using the
//! kubeconfig given as the only argument. Prints `Starting to serve on ADDR` (kubectl's
//! line) and serves until killed.

use k8s_client::config::KubeconfigOptions;
use k8s_client::proxy::Proxy;
use k8s_client::{Client, Config};
use std::process::ExitCode;

async fn run(kubeconfig: String) -> Result<(), Box<dyn std::error::Error>> {
    let mut options = KubeconfigOptions::default();
    options.kubeconfig = Some(kubeconfig.into());
    let client = Client::try_from(Config::from_kubeconfig(&options)?)?;
    let proxy = Proxy::builder(client)
        .address("127.0.0.1")
        .port(0)
        .build()?
        .bind()
        .await?;
    for addr in proxy.local_addrs() {
        println!("Starting to serve on {addr}");
    }
    proxy.serve().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(kubeconfig), None) = (args.next(), args.next()) else {
        eprintln!("usage: proxy-bench-server KUBECONFIG");
        return ExitCode::from(2);
    };
    match run(kubeconfig).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!(
                "proxy-bench-server: {}",
                k8s_client::error::Report::new(&*err)
            );
            ExitCode::FAILURE
        }
    }
}
