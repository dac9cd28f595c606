//! The service-account token flows end to end against testenv (kube-controller-manager's
//! token controller fills the Secret): the legacy token Secret, the TokenRequest API, and
//! what a program in a pod does with the mounted files (`Config::incluster`).

mod support;

use support::logs::LogBuffer;

use k8s_client::api::{Api, PostParams, RequestError, TokenParams};
use k8s_client::config::{AuthConfig, FakeEnv, PemSource};
use k8s_client::{Client, Config, Error, SecretString};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use std::time::Duration;
use support::api::setup;
use support::api::wait_for_default_sa;

const WAIT: Duration = Duration::from_secs(60);

/// A client for the same server that knows nothing but `token` and `ca_pem`.
fn token_client(server: &str, token: SecretString, ca_pem: Vec<u8>) -> Client {
    let mut config = Config::new(server.parse().unwrap());
    config.tls.ca = Some(PemSource::Data(ca_pem));
    config.auth = AuthConfig::Token(token);
    Client::try_from(config).unwrap()
}

/// `GET /api`, and who the server thinks we are.
async fn whoami(client: &Client) -> Result<String, Error> {
    let api: serde_json::Value = client
        .request(http::Request::get("/api").body(Vec::new()).unwrap())
        .await?;
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"][0], "v1");
    let reviews: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = reviews
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?;
    Ok(review.status.unwrap().user_info.unwrap().username.unwrap())
}

#[tokio::test]
async fn token_secret_filled_by_the_controller_authenticates() {
    let Some((env, client, ns)) = setup("sa-secret").await else {
        return;
    };
    wait_for_default_sa(&client, &ns).await;
    let secrets: Api<Secret> = Api::namespaced(client, &ns);
    let filled = secrets
        .service_account_token_secret("default-token", "default", WAIT)
        .await
        .unwrap();
    assert_eq!(filled.namespace, ns);
    assert!(!format!("{filled:?}").contains(filled.token.expose_secret()));
    // The CA comes from the Secret, not from our kubeconfig: it must verify the server.
    assert_eq!(filled.ca_crt, env.ca_pem().as_bytes());
    let sa = token_client(
        env.server_url(),
        filled.token.clone(),
        filled.ca_crt.clone(),
    );
    assert_eq!(
        whoami(&sa).await.unwrap(),
        format!("system:serviceaccount:{ns}:default")
    );
    // Asking again reuses the Secret.
    let again = secrets
        .service_account_token_secret("default-token", "default", WAIT)
        .await
        .unwrap();
    assert_eq!(again.token, filled.token);
}

#[tokio::test]
async fn token_secret_of_a_missing_service_account_is_deleted() {
    let Some((_, client, ns)) = setup("sa-missing").await else {
        return;
    };
    let secrets: Api<Secret> = Api::namespaced(client, &ns);
    let err = secrets
        .service_account_token_secret("ghost-token", "ghost", WAIT)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Request(RequestError::TokenSecretDeleted { ref service_account, .. }) if service_account == "ghost"),
        "{err:?}"
    );

    // A plain Secret of that name is refused at once, not waited on.
    let mut plain = Secret::default();
    plain.metadata.name = Some("plain".into());
    secrets
        .create(&PostParams::default(), &plain)
        .await
        .unwrap();
    let err = secrets
        .service_account_token_secret("plain", "default", WAIT)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Request(RequestError::NotATokenSecret { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn token_request_tokens_authenticate_for_their_audience_only() {
    let Some((env, client, ns)) = setup("sa-tokenrequest").await else {
        return;
    };
    wait_for_default_sa(&client, &ns).await;
    let sas: Api<ServiceAccount> = Api::namespaced(client, &ns);
    let token = sas
        .create_token("default", &TokenParams::default().expiration_seconds(600))
        .await
        .unwrap();
    assert!(token.expiration.is_some());
    let sa = token_client(
        env.server_url(),
        token.token,
        env.ca_pem().as_bytes().to_vec(),
    );
    assert_eq!(
        whoami(&sa).await.unwrap(),
        format!("system:serviceaccount:{ns}:default")
    );

    // A token for another audience is refused by the API server: 401.
    let other = sas
        .create_token("default", &TokenParams::default().audiences(["vault"]))
        .await
        .unwrap();
    let stranger = token_client(
        env.server_url(),
        other.token,
        env.ca_pem().as_bytes().to_vec(),
    );
    let err = whoami(&stranger).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");

    // No such service account: 404.
    let err = sas
        .create_token("ghost", &TokenParams::default())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn in_cluster_config_from_the_mounted_files() {
    let Some((env, client, ns)) = setup("sa-incluster").await else {
        return;
    };
    wait_for_default_sa(&client, &ns).await;
    let sas: Api<ServiceAccount> = Api::namespaced(client, &ns);
    let token = sas
        .create_token("default", &TokenParams::default())
        .await
        .unwrap();
    // What the kubelet mounts into a pod, under a fake root.
    let root = tempfile::tempdir().unwrap();
    let dir = root
        .path()
        .join("var/run/secrets/kubernetes.io/serviceaccount");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("token"), token.token.expose_secret()).unwrap();
    std::fs::write(dir.join("ca.crt"), env.ca_pem()).unwrap();
    std::fs::write(dir.join("namespace"), &ns).unwrap();
    let url: url::Url = env.server_url().parse().unwrap();
    let fake = FakeEnv::new(root.path())
        .with_var("KUBERNETES_SERVICE_HOST", url.host_str().unwrap())
        .with_var("KUBERNETES_SERVICE_PORT", url.port().unwrap().to_string());
    let config = Config::incluster_with(&fake).unwrap();
    let client = Client::try_from(config).unwrap();
    assert_eq!(client.default_namespace(), ns);
    assert_eq!(
        whoami(&client).await.unwrap(),
        format!("system:serviceaccount:{ns}:default")
    );
    // The default service account has no RBAC rights on Secrets: a typed 403.
    let secrets: Api<Secret> = Api::default_namespaced(client);
    let err = secrets.get("anything").await.unwrap_err();
    assert!(err.is_forbidden(), "{err}");
}

/// Everything logged at TRACE while the closure's future runs on this thread.
#[tokio::test]
async fn tokens_never_reach_logs_or_debug_output() {
    let Some((env, client, ns)) = setup("sa-logs").await else {
        return;
    };
    wait_for_default_sa(&client, &ns).await;
    // A process-wide subscriber first, so no callsite is cached as never enabled.
    LogBuffer::global();
    let captured = LogBuffer::default();
    let subscriber = captured.subscriber();
    // The test runtime is single-threaded: the default subscriber sees every event.
    let _guard = tracing::subscriber::set_default(subscriber);

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let filled = secrets
        .service_account_token_secret("logged-token", "default", WAIT)
        .await
        .unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client, &ns);
    let requested = sas
        .create_token("default", &TokenParams::default())
        .await
        .unwrap();
    let sa = token_client(
        env.server_url(),
        requested.token.clone(),
        env.ca_pem().as_bytes().to_vec(),
    );
    whoami(&sa).await.unwrap();

    let logs = captured.text();
    assert!(!logs.is_empty(), "the subscriber captured nothing");
    for token in [
        filled.token.expose_secret(),
        requested.token.expose_secret(),
    ] {
        assert!(!logs.contains(token), "a token reached the logs");
        assert!(!format!("{filled:?} {requested:?} {sa:?} {secrets:?}").contains(token));
    }
}
