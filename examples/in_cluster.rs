//! What a program running in a pod does: `Config::infer()` finds no kubeconfig and reads
//! the mounted service-account files (`/var/run/secrets/kubernetes.io/serviceaccount/`,
//! `KUBERNETES_SERVICE_HOST`/`_PORT`); outside a cluster it uses the kubeconfig. Then it
//! asks who it is and lists the pods of its own namespace.
//!
//! ```text
//! cargo run --example in_cluster
//! ```

mod api_common;

use k8s_client::api::{Api, ListParams, PostParams};
use k8s_client::{Client, Config};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::Pod;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api_common::exit(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::infer()?;
    if config.origin.in_cluster {
        println!("in-cluster configuration (service-account token, namespace file)");
    } else {
        println!(
            "kubeconfig configuration (context {})",
            config.origin.context.as_deref().unwrap_or("<none>")
        );
    }
    let client = Client::try_from(config)?;
    println!("server: {}", client.cluster_url());
    println!("namespace: {}", client.default_namespace());

    let reviews: Api<SelfSubjectReview> = Api::all(client.clone());
    let me = reviews
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?;
    let user = me.status.and_then(|s| s.user_info).unwrap_or_default();
    println!(
        "authenticated as {} (groups: {})",
        user.username.unwrap_or_default(),
        user.groups.unwrap_or_default().join(", ")
    );

    let pods: Api<Pod> = Api::default_namespaced(client);
    match pods.list(&ListParams::default().limit(20)).await {
        Ok(list) => {
            println!(
                "{} pod(s) in my namespace (first page of 20):",
                list.items.len()
            );
            for pod in list {
                println!("  {}", pod.metadata.name.unwrap_or_default());
            }
        }
        // A service account often may not list pods: RBAC says so with a typed 403.
        Err(e) if e.is_forbidden() => println!("not allowed to list pods here: {e}"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}
