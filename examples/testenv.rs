//! Starts a private local control plane with `k8s_client::testenv`, calls it, stops it.
//!
//! ```sh
//! cargo xtask testenv-install   # once: builds etcd, kube-apiserver, kube-controller-manager
//! cargo run --all-features --example testenv
//! cargo run --all-features --example testenv -- --without-controller-manager
//! ```

mod api_common;

use k8s_client::testenv::TestEnv;
use std::time::Instant;

fn main() -> std::process::ExitCode {
    api_common::exit(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let with_kcm = !std::env::args().any(|a| a == "--without-controller-manager");
    let env = TestEnv::builder().controller_manager(with_kcm).start()?;
    println!(
        "control plane at {} (ready in {:.1?})",
        env.server_url(),
        started.elapsed()
    );
    println!("  admin kubeconfig:  {}", env.admin_kubeconfig().display());
    println!("  token kubeconfig:  {}", env.token_kubeconfig().display());
    println!("  noperm kubeconfig: {}", env.noperm_kubeconfig().display());
    println!("  controller manager: {}", env.has_controller_manager());

    // A raw request with the admin client certificate, using the raw pieces.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let version: serde_json::Value = runtime.block_on(async {
        let identity = [
            env.admin_cert_pem().as_bytes(),
            env.admin_key_pem().expose_secret(),
        ]
        .concat();
        let client = reqwest_client(env.ca_pem(), &identity)?;
        let body = client
            .get(format!("{}/version", env.server_url()))
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let body: serde_json::Value = serde_json::from_slice(&body)?;
        Ok::<_, Box<dyn std::error::Error>>(body)
    })?;
    println!("GET /version: gitVersion={}", version["gitVersion"]);

    let pids = env.process_ids();
    env.stop();
    let alive = pids
        .iter()
        .filter(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
        .count();
    println!("stopped; {alive} of {} processes still alive", pids.len());
    Ok(())
}

fn reqwest_client(
    ca_pem: &str,
    identity_pem: &[u8],
) -> Result<reqwest::Client, Box<dyn std::error::Error>> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let chain = CertificateDer::pem_slice_iter(identity_pem).collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(identity_pem)?;
    let tls = rustls::ClientConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)?;
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()?)
}
