//! The seed's flow "without kubectl proxy": get a service-account token and call the API
//! with it — no kubeconfig credentials involved in the second half.
//!
//! Default: create the Secret `default-token` (type `kubernetes.io/service-account-token`,
//! annotated `kubernetes.io/service-account.name: default`), wait until the token
//! controller fills `data.token`, build a new client from the server URL, that token and
//! the Secret's `ca.crt` (TLS verified, not insecure), and print `GET /api`.
//! With `--token-request`: ask the TokenRequest API instead (short-lived, audience-bound).
//!
//! ```text
//! cargo run --example sa_token -- [--token-request] [--namespace NS] [--timeout SECS]
//! ```

mod api_common;

use k8s_client::api::{Api, TokenParams};
use k8s_client::config::{AuthConfig, PemSource};
use k8s_client::{Client, Config, SecretString};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use std::time::Duration;

struct Args {
    token_request: bool,
    namespace: Option<String>,
    timeout: Duration,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        token_request: false,
        namespace: None,
        timeout: Duration::from_secs(60),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--token-request" => out.token_request = true,
            "--namespace" | "-n" => out.namespace = it.next(),
            "--timeout" => {
                let secs = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--timeout SECS")?;
                out.timeout = Duration::from_secs(secs);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(out)
}

/// Prints a line every few seconds while `fut` runs.
async fn with_progress<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::pin!(fut);
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    tick.tick().await;
    loop {
        tokio::select! {
            out = &mut fut => return out,
            _ = tick.tick() => eprintln!("  … still waiting for {what}"),
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = args().map_err(|e| {
        format!("{e}\nusage: sa_token [--token-request] [--namespace NS] [--timeout SECS]")
    })?;
    let config = Config::infer()?;
    let client = Client::try_from(config.clone())?;
    let ns = args
        .namespace
        .unwrap_or_else(|| client.default_namespace().to_owned());

    let (token, ca_pem): (SecretString, Vec<u8>) = if args.token_request {
        let sas: Api<ServiceAccount> = Api::namespaced(client, &ns);
        eprintln!("requesting a token for service account {ns}/default (TokenRequest API)");
        let t = sas
            .create_token("default", &TokenParams::default().expiration_seconds(600))
            .await?;
        if let Some(exp) = &t.expiration {
            eprintln!("  token expires at {}", exp.0);
        }
        // The CA a pod would get: the kube-root-ca.crt ConfigMap every namespace has.
        let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(sas.client().clone(), &ns);
        let root = cms.get("kube-root-ca.crt").await?;
        let ca = root
            .data
            .and_then(|d| d.get("ca.crt").cloned())
            .ok_or("kube-root-ca.crt has no ca.crt")?;
        (t.token, ca.into_bytes())
    } else {
        let secrets: Api<Secret> = Api::namespaced(client, &ns);
        eprintln!(
            "creating Secret {ns}/default-token for service account default; waiting for the token controller to fill it (up to {:?})",
            args.timeout
        );
        let filled = with_progress(
            "the token controller",
            secrets.service_account_token_secret("default-token", "default", args.timeout),
        )
        .await?;
        eprintln!(
            "  token filled ({} bytes); CA from the Secret's ca.crt",
            filled.token.expose_secret().len()
        );
        (filled.token, filled.ca_crt)
    };

    // A brand-new client: the server URL (and TLS server name) of the config, nothing else.
    let mut sa_config = Config::new(config.cluster_url.clone());
    sa_config.tls.tls_server_name = config.tls.tls_server_name.clone();
    sa_config.tls.ca = Some(PemSource::Data(ca_pem));
    sa_config.auth = AuthConfig::Token(token);
    let sa_client = Client::try_from(sa_config)?;
    let api: serde_json::Value = sa_client
        .request(http::Request::get("/api").body(Vec::new())?)
        .await?;
    println!("{}", serde_json::to_string_pretty(&api)?);
    Ok(())
}
